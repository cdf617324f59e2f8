/* SPDX-License-Identifier: MIT */
#include "control/report.h"

#include <string.h>

#include "control/ctl.h"
#include "control/stats.h"
#include "core/util.h"

const char *const report_config_names[] = {
    "debug",       "fill",           "lazy_lock", "malloc_conf", "prof",
    "prof_libgcc", "prof_libunwind", "stats",     "utrace",      "xmalloc",
};
const size_t report_nconfig = sizeof report_config_names / sizeof report_config_names[0];

uint64_t report_stat(const char *name)
{
	uint64_t v = 0;
	stats_read(name, &v);
	return v;
}

/* "<prefix><j><suffix>" into buf (64 bytes). */
const char *report_indexed(char *buf, const char *prefix, unsigned j, const char *suffix)
{
	size_t n = strlen(prefix);
	memcpy(buf, prefix, n);
	n += fmt_u64(buf + n, j);
	size_t s = strlen(suffix);
	memcpy(buf + n, suffix, s + 1);
	return buf;
}

uint64_t report_bin_stat(unsigned c, const char *field)
{
	char name[64];
	report_indexed(name, "bins.", c, ".");
	strcat(name, field);
	return report_stat(name);
}

/* A mallctl value of the given size (bool, unsigned, uint32_t, size_t). */
uint64_t report_ctl(const char *name, size_t size)
{
	union {
		bool b;
		uint32_t u32;
		uint64_t u64;
	} v = {.u64 = 0};
	size_t len = size;
	if (ctl_byname(name, &v, &len, NULL, 0) != 0)
		return 0;
	switch (size) {
	case sizeof(bool):
		return v.b;
	case sizeof(uint32_t):
		return v.u32;
	default:
		return v.u64;
	}
}

const char *report_ctl_string(const char *name)
{
	const char *s = NULL;
	size_t len = sizeof s;
	if (ctl_byname(name, &s, &len, NULL, 0) != 0 || s == NULL)
		return "";
	return s;
}

struct opt_value report_opt(const struct conf_option *o)
{
	struct opt_value r = {o->type, {.z = 0}};
	size_t len = conf_type_size(o->type);
	conf_read(o->name, &r.v, &len);
	return r;
}

struct merged report_merged(void)
{
	struct merged m = {0};
	m.page = report_ctl("arenas.page", sizeof(size_t));
	m.nbins = (unsigned)report_ctl("arenas.nbins", sizeof(unsigned));
	for (unsigned c = 0; c < m.nbins; c++) {
		m.small_allocated += report_bin_stat(c, "curregs") * report_bin_stat(c, "size");
		m.small_nmalloc += report_bin_stat(c, "nmalloc");
		m.small_ndalloc += report_bin_stat(c, "ndalloc");
		m.small_nrequests += report_bin_stat(c, "nrequests");
		m.small_nfills += report_bin_stat(c, "nfills");
		m.small_nflushes += report_bin_stat(c, "nflushes");
	}
	uint64_t allocated = report_stat("allocated");
	m.large_allocated = allocated > m.small_allocated ? allocated - m.small_allocated : 0;
	m.large_nmalloc = report_stat("large_nmalloc") + report_stat("huge_nmalloc");
	m.large_ndalloc = report_stat("large_ndalloc") + report_stat("huge_ndalloc");
	m.large_cur = report_stat("large_curruns") + report_stat("huge_curblocks");
	return m;
}

struct bin_row report_bin(unsigned c)
{
	char name[64];
	struct bin_row r;
	r.size = report_ctl(report_indexed(name, "arenas.bin.", c, ".size"), sizeof(size_t));
	r.nregs = report_ctl(report_indexed(name, "arenas.bin.", c, ".nregs"), sizeof(uint32_t));
	r.slab_size =
	    report_ctl(report_indexed(name, "arenas.bin.", c, ".slab_size"), sizeof(size_t));
	r.nmalloc = report_bin_stat(c, "nmalloc");
	r.ndalloc = report_bin_stat(c, "ndalloc");
	r.nrequests = report_bin_stat(c, "nrequests");
	r.curregs = report_bin_stat(c, "curregs");
	r.curslabs = report_bin_stat(c, "curslabs");
	r.nfills = report_bin_stat(c, "nfills");
	r.nflushes = report_bin_stat(c, "nflushes");
	r.nslabs = report_bin_stat(c, "nslabs");
	return r;
}
