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
	bool json, general, merged, bins, large;
};

/* A statistic of the last snapshot by its stats_read name (0 if none). */
uint64_t report_stat(const char *name);
/* bins.<c>.<field> */
uint64_t report_bin_stat(unsigned c, const char *field);
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

/* The small classes summed, and the rest (large runs and huge blocks,
 * jemalloc's "large") as what is left of the totals. */
struct merged {
	uint64_t small_allocated, small_nmalloc, small_ndalloc, small_nrequests;
	uint64_t small_nfills, small_nflushes;
	uint64_t large_allocated, large_nmalloc, large_ndalloc, large_cur;
	uint64_t page;
	unsigned nbins;
};
struct merged report_merged(void);

/* One size class: its geometry and counters. */
struct bin_row {
	uint64_t size, nregs, slab_size;
	uint64_t nmalloc, ndalloc, nrequests, curregs, curslabs, nfills, nflushes, nslabs;
};
struct bin_row report_bin(unsigned c);

/* The JSON report (stats_print_json.c). */
void stats_print_json(struct emit *e, const struct sections *s);

#endif
