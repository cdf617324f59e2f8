/* SPDX-License-Identifier: MIT */
/* What the statistics report (stats_print.c, stats_print_json.c) shows,
 * read the way a program reads it: through mallctl's tree (ctl_byname),
 * the options' reader (conf_read) and the snapshot's names (stats_read),
 * so that the report and those reads agree after the same refresh. */
#ifndef CAIRN_CONTROL_REPORT_H
#define CAIRN_CONTROL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/conf.h"
#include "control/emit.h"

/* Which sections malloc_stats_print's letters leave in. */
struct sections {
	bool json, general, merged, arenas, bins, large;
};

/* A statistic of the last snapshot by its stats_read name (0 if none). */
uint64_t report_stat(const char *name);
/* A mallctl value of `size` bytes (bool, uint32_t, unsigned, size_t), 0 if
 * the name is none. */
uint64_t report_ctl(const char *name, size_t size);
/* A mallctl string value, "" if the name is none. */
const char *report_ctl_string(const char *name);
/* "<prefix><j><suffix>" into buf (64 bytes); returns buf. */
const char *report_indexed(char *buf, const char *prefix, unsigned j, const char *suffix);

/* The config.* names, all bool but malloc_conf (a string). */
extern const char *const report_config_names[];
extern const size_t report_nconfig;

/* An option's value in force, as opt.<name> reads it. */
struct opt_value {
	enum conf_type type;
	union {
		bool b;
		unsigned u;
		size_t z;
		ssize_t s;
		const char *str;
	} v;
};
struct opt_value report_opt(const struct conf_option *o);

/* stats.arenas.<i> for the merged statistics: every arena's summed. */
#define REPORT_MERGED 4096

/* Arena i's numbers (i < arenas.narenas, or REPORT_MERGED), as
 * stats.arenas.<i>.* reads them. Huge blocks are in no arena: their own
 * struct below. */
struct arena_report {
	uint64_t nthreads, pactive, pdirty, pmuzzy, mapped_pages;
	uint64_t mapped, retained, base, resident, tcache_bytes;
	uint64_t npurge, nmadvise, purged;                   /* dirty runs */
	uint64_t muzzy_npurge, muzzy_nmadvise, muzzy_purged; /* muzzy runs */
	uint64_t small_allocated, small_nmalloc, small_ndalloc, small_nrequests;
	uint64_t small_nfills, small_nflushes;
	uint64_t large_allocated, large_nmalloc, large_ndalloc, large_nrequests;
	uint64_t large_nfills, large_nflushes;
};
struct arena_report report_arena(unsigned i);
/* Whether arena i is worth a section: a thread draws from it, it has
 * mapped pages, or it has handed out a block. The others are as jemalloc's
 * uninitialized arenas, which its report leaves out. */
bool report_arena_used(const struct arena_report *a);

/* The huge blocks (over 1 MiB, a mapping each, in no arena). */
struct huge_report {
	uint64_t allocated, nmalloc, ndalloc, curblocks, cached, released;
};
struct huge_report report_huge(void);

/* One small size class of arena i: its geometry and counters. */
struct bin_row {
	uint64_t size, nregs, slab_size;
	uint64_t nmalloc, ndalloc, nrequests, curregs, curslabs, nfills, nflushes, nslabs, nreslabs;
};
struct bin_row report_bin(unsigned i, unsigned c);

/* One large size class j of arena i (index nbins + j in jemalloc's table). */
struct lextent_row {
	uint64_t size, nmalloc, ndalloc, nrequests, curlextents;
};
struct lextent_row report_lextent(unsigned i, unsigned j);

/* The JSON report (stats_print_json.c). */
void stats_print_json(struct emit *e, const struct sections *s);

#endif
