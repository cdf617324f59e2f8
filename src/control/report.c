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

/* stats.arenas.<i>.[<part><j>.]<leaf>, of `size` bytes. */
static uint64_t arena_ctl(unsigned i, const char *part, unsigned j, const char *leaf, size_t size)
{
	char name[96];
	report_indexed(name, "stats.arenas.", i, ".");
	if (part != NULL) {
		size_t n = strlen(name);
		report_indexed(name + n, part, j, ".");
	}
	strcat(name, leaf);
	return report_ctl(name, size);
}

#define Z sizeof(uint64_t) /* size_t and uint64_t alike */

struct arena_report report_arena(unsigned i)
{
	struct arena_report a;
	char name[64];
	a.nthreads = arena_ctl(i, NULL, 0, "nthreads", sizeof(unsigned));
	a.pactive = arena_ctl(i, NULL, 0, "pactive", Z);
	a.pdirty = arena_ctl(i, NULL, 0, "pdirty", Z);
	a.pmuzzy = arena_ctl(i, NULL, 0, "pmuzzy", Z);
	a.mapped_pages = report_stat(report_indexed(name, "arenas.", i, ".mapped_pages"));
	a.mapped = arena_ctl(i, NULL, 0, "mapped", Z);
	a.retained = arena_ctl(i, NULL, 0, "retained", Z);
	a.base = arena_ctl(i, NULL, 0, "base", Z);
	a.resident = arena_ctl(i, NULL, 0, "resident", Z);
	a.tcache_bytes = arena_ctl(i, NULL, 0, "tcache_bytes", Z);
	a.npurge = arena_ctl(i, NULL, 0, "dirty_npurge", Z);
	a.nmadvise = arena_ctl(i, NULL, 0, "dirty_nmadvise", Z);
	a.purged = arena_ctl(i, NULL, 0, "dirty_purged", Z);
	a.muzzy_npurge = arena_ctl(i, NULL, 0, "muzzy_npurge", Z);
	a.muzzy_nmadvise = arena_ctl(i, NULL, 0, "muzzy_nmadvise", Z);
	a.muzzy_purged = arena_ctl(i, NULL, 0, "muzzy_purged", Z);
	a.small_allocated = arena_ctl(i, NULL, 0, "small.allocated", Z);
	a.small_nmalloc = arena_ctl(i, NULL, 0, "small.nmalloc", Z);
	a.small_ndalloc = arena_ctl(i, NULL, 0, "small.ndalloc", Z);
	a.small_nrequests = arena_ctl(i, NULL, 0, "small.nrequests", Z);
	a.small_nfills = arena_ctl(i, NULL, 0, "small.nfills", Z);
	a.small_nflushes = arena_ctl(i, NULL, 0, "small.nflushes", Z);
	a.large_allocated = arena_ctl(i, NULL, 0, "large.allocated", Z);
	a.large_nmalloc = arena_ctl(i, NULL, 0, "large.nmalloc", Z);
	a.large_ndalloc = arena_ctl(i, NULL, 0, "large.ndalloc", Z);
	a.large_nrequests = arena_ctl(i, NULL, 0, "large.nrequests", Z);
	a.large_nfills = arena_ctl(i, NULL, 0, "large.nfills", Z);
	a.large_nflushes = arena_ctl(i, NULL, 0, "large.nflushes", Z);
	return a;
}

bool report_arena_used(const struct arena_report *a)
{
	return a->nthreads != 0 || a->mapped_pages != 0 || a->small_nmalloc != 0 ||
	       a->large_nmalloc != 0;
}

struct huge_report report_huge(void)
{
	struct huge_report h;
	h.allocated = report_stat("huge_allocated");
	h.nmalloc = report_stat("huge_nmalloc");
	h.ndalloc = report_stat("huge_ndalloc");
	h.curblocks = report_stat("huge_curblocks");
	h.cached = report_stat("huge_cached");
	h.released = report_stat("huge_released");
	return h;
}

struct bin_row report_bin(unsigned i, unsigned c)
{
	char name[64];
	struct bin_row r;
	r.size = report_ctl(report_indexed(name, "arenas.bin.", c, ".size"), Z);
	r.nregs = report_ctl(report_indexed(name, "arenas.bin.", c, ".nregs"), sizeof(uint32_t));
	r.slab_size = report_ctl(report_indexed(name, "arenas.bin.", c, ".slab_size"), Z);
	r.nmalloc = arena_ctl(i, "bins.", c, "nmalloc", Z);
	r.ndalloc = arena_ctl(i, "bins.", c, "ndalloc", Z);
	r.nrequests = arena_ctl(i, "bins.", c, "nrequests", Z);
	r.curregs = arena_ctl(i, "bins.", c, "curregs", Z);
	r.curslabs = arena_ctl(i, "bins.", c, "curslabs", Z);
	r.nfills = arena_ctl(i, "bins.", c, "nfills", Z);
	r.nflushes = arena_ctl(i, "bins.", c, "nflushes", Z);
	r.nslabs = arena_ctl(i, "bins.", c, "nslabs", Z);
	r.nreslabs = arena_ctl(i, "bins.", c, "nreslabs", Z);
	return r;
}

struct lextent_row report_lextent(unsigned i, unsigned j)
{
	char name[64];
	struct lextent_row r;
	r.size = report_ctl(report_indexed(name, "arenas.lextent.", j, ".size"), Z);
	r.nmalloc = arena_ctl(i, "lextents.", j, "nmalloc", Z);
	r.ndalloc = arena_ctl(i, "lextents.", j, "ndalloc", Z);
	r.nrequests = arena_ctl(i, "lextents.", j, "nrequests", Z);
	r.curlextents = arena_ctl(i, "lextents.", j, "curlextents", Z);
	return r;
}
