/* SPDX-License-Identifier: MIT */
/* malloc_stats_print's report: the text form here, JSON in
 * stats_print_json.c, the values from report.c. */
#include "control/stats_print.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cairn.h"
#include "control/report.h"
#include "control/stats.h"
#include "core/util.h"

static struct sections parse_opts(const char *opts)
{
	struct sections s = {
	    .general = true, .merged = true, .arenas = true, .bins = true, .large = true};
	for (; opts != NULL && *opts != '\0'; opts++) {
		switch (*opts) {
		case 'J':
			s.json = true;
			break;
		case 'g':
			s.general = false;
			break;
		case 'm':
			s.merged = false;
			break;
		case 'b':
			s.bins = false;
			break;
		case 'l':
			s.large = false;
			break;
		case 'a':
			s.arenas = false;
			break;
		default:
			/* d x e h: sections cairn has none of; other
			 * letters are ignored, as jemalloc does. */
			break;
		}
	}
	return s;
}

/* ------------------------------------------------------------ text */

static void text_value(struct emit *e, const char *label, uint64_t v)
{
	emit_str(e, label);
	emit_u64(e, v);
	emit_eol(e);
}

static void text_opt(struct emit *e, const struct opt_value *v)
{
	switch (v->type) {
	case CONF_TYPE_BOOL:
		emit_str(e, v->v.b ? "true" : "false");
		break;
	case CONF_TYPE_UNSIGNED:
		emit_u64(e, v->v.u);
		break;
	case CONF_TYPE_SIZE:
		emit_u64(e, v->v.z);
		break;
	case CONF_TYPE_SSIZE:
		emit_i64(e, v->v.s);
		break;
	case CONF_TYPE_STRING:
		emit_str(e, "\"");
		emit_str(e, v->v.str);
		emit_str(e, "\"");
		break;
	}
}

static void text_general(struct emit *e)
{
	emit_str(e, "Version: \"");
	emit_str(e, CAIRN_VERSION);
	emit_str(e, "\"");
	emit_eol(e);
	emit_line(e, "Build-time option settings");
	for (size_t i = 0; i < report_nconfig; i++) {
		char name[64] = "config.";
		strcat(name, report_config_names[i]);
		emit_str(e, "  ");
		emit_str(e, name);
		emit_str(e, ": ");
		if (strcmp(report_config_names[i], "malloc_conf") == 0) {
			emit_str(e, "\"");
			emit_str(e, report_ctl_string(name));
			emit_str(e, "\"");
		} else {
			emit_str(e, report_ctl(name, sizeof(bool)) ? "true" : "false");
		}
		emit_eol(e);
	}
	emit_line(e, "Run-time option settings");
	for (size_t i = 0; i < conf_noptions; i++) {
		struct opt_value v = report_opt(&conf_options[i]);
		emit_str(e, "  opt.");
		emit_str(e, conf_options[i].name);
		emit_str(e, ": ");
		text_opt(e, &v);
		emit_eol(e);
	}
	text_value(e, "Arenas: ", report_ctl("arenas.narenas", sizeof(unsigned)));
	text_value(e, "Quantum size: ", report_ctl("arenas.quantum", sizeof(size_t)));
	text_value(e, "Page size: ", report_ctl("arenas.page", sizeof(size_t)));
	text_value(e, "Maximum thread-cached size class: ",
	           report_ctl("arenas.tcache_max", sizeof(size_t)));
	text_value(e, "Number of bin size classes: ", report_ctl("arenas.nbins", sizeof(unsigned)));
	text_value(
	    e, "Number of large size classes: ", report_ctl("arenas.nlextents", sizeof(unsigned)));
}

static void text_totals(struct emit *e)
{
	emit_str(e, "Allocated: ");
	emit_u64(e, report_stat("allocated"));
	emit_str(e, ", active: ");
	emit_u64(e, report_stat("active"));
	emit_str(e, ", metadata: ");
	emit_u64(e, report_stat("metadata"));
	emit_str(e, ", resident: ");
	emit_u64(e, report_stat("resident"));
	emit_str(e, ", mapped: ");
	emit_u64(e, report_stat("mapped"));
	emit_str(e, ", retained: ");
	emit_u64(e, report_stat("retained"));
	emit_eol(e);
	emit_str(e, "Background threads: ");
	emit_u64(e, report_stat("background_threads"));
	emit_str(e, ", num_runs: ");
	emit_u64(e, report_stat("background_runs"));
	emit_str(e, ", run_interval: ");
	emit_u64(e, report_ctl("stats.background_thread.run_interval", sizeof(uint64_t)));
	emit_str(e, " ns");
	emit_eol(e);
}

/* ------------------------------------------------------------ arenas */

#define W 13 /* a counter column */

/* A row of the small/large/huge/total table; rest (nrequests, nfills,
 * nflushes) NULL: "-". */
static void text_counts_row(struct emit *e, const char *label, uint64_t allocated, uint64_t nmalloc,
                            uint64_t ndalloc, const uint64_t *rest)
{
	emit_str_w(e, label, 8);
	emit_u64_w(e, allocated, 16);
	emit_u64_w(e, nmalloc, W + 3);
	emit_u64_w(e, ndalloc, W + 3);
	for (int i = 0; i < 3; i++) {
		if (rest != NULL)
			emit_u64_w(e, rest[i], W + 3);
		else
			emit_str_w(e, "-", -(W + 3));
	}
	emit_eol(e);
}

static void text_bins(struct emit *e, unsigned i, uint64_t page)
{
	static const char *const head[] = {"allocated", "nmalloc", "ndalloc",
	                                   "nrequests", "curregs", "curslabs"};
	static const char *const tail[] = {"nfills", "nflushes", "nslabs"};
	unsigned nbins = (unsigned)report_ctl("arenas.nbins", sizeof(unsigned));
	emit_str_w(e, "bins:", 8);
	emit_str_w(e, "size", -8);
	emit_str_w(e, "ind", -4);
	for (size_t k = 0; k < sizeof head / sizeof head[0]; k++)
		emit_str_w(e, head[k], -W);
	emit_str_w(e, "regs", -6);
	emit_str_w(e, "pgs", -4);
	emit_str_w(e, "util", -7);
	for (size_t k = 0; k < sizeof tail / sizeof tail[0]; k++)
		emit_str_w(e, tail[k], -W);
	emit_eol(e);
	for (unsigned c = 0; c < nbins; c++) {
		struct bin_row r = report_bin(i, c);
		emit_str_w(e, "", 8);
		emit_u64_w(e, r.size, 8);
		emit_u64_w(e, c, 4);
		emit_u64_w(e, r.curregs * r.size, W);
		emit_u64_w(e, r.nmalloc, W);
		emit_u64_w(e, r.ndalloc, W);
		emit_u64_w(e, r.nrequests, W);
		emit_u64_w(e, r.curregs, W);
		emit_u64_w(e, r.curslabs, W);
		emit_u64_w(e, r.nregs, 6);
		emit_u64_w(e, page ? r.slab_size / page : 0, 4);
		emit_str(e, "  ");
		size_t before = e->line_len;
		emit_ratio(e, r.curregs, r.curslabs * r.nregs);
		size_t ulen = e->line_len - before;
		if (ulen < 5)
			emit_str_w(e, "", (int)(5 - ulen));
		emit_u64_w(e, r.nfills, W);
		emit_u64_w(e, r.nflushes, W);
		emit_u64_w(e, r.nslabs, W);
		emit_eol(e);
	}
}

/* jemalloc's large table: a row per class that has served a request, a
 * "---" line where classes without one were left out. */
static void text_lextents(struct emit *e, unsigned i)
{
	static const char gap[] = "                     ---";
	unsigned nbins = (unsigned)report_ctl("arenas.nbins", sizeof(unsigned));
	unsigned nlextents = (unsigned)report_ctl("arenas.nlextents", sizeof(unsigned));
	emit_str_w(e, "large:", 6);
	emit_str_w(e, "size", -14);
	emit_str_w(e, "ind", -4);
	emit_str_w(e, "allocated", -W);
	emit_str_w(e, "nmalloc", -W);
	emit_str_w(e, "ndalloc", -W);
	emit_str_w(e, "nrequests", -W);
	emit_str_w(e, "curlextents", -W);
	emit_eol(e);
	bool in_gap = false;
	for (unsigned j = 0; j < nlextents; j++) {
		struct lextent_row r = report_lextent(i, j);
		bool was_in_gap = in_gap;
		in_gap = r.nrequests == 0;
		if (was_in_gap && !in_gap)
			emit_line(e, gap);
		if (in_gap)
			continue;
		emit_u64_w(e, r.size, 20);
		emit_u64_w(e, nbins + j, 4);
		emit_u64_w(e, r.curlextents * r.size, W);
		emit_u64_w(e, r.nmalloc, W);
		emit_u64_w(e, r.ndalloc, W);
		emit_u64_w(e, r.nrequests, W);
		emit_u64_w(e, r.curlextents, W);
		emit_eol(e);
	}
	if (in_gap)
		emit_line(e, gap);
}

/* One arena's section (i < arenas.narenas), or the merged one
 * (REPORT_MERGED), which adds what is in no arena: the huge blocks, and
 * the purges inside slabs, counted process-wide only. */
static void text_arena(struct emit *e, const struct sections *s, unsigned i)
{
	bool merged = i == REPORT_MERGED;
	uint64_t page = report_ctl("arenas.page", sizeof(size_t));
	struct arena_report a = report_arena(i);
	struct huge_report h = report_huge();
	if (merged) {
		emit_str(e, "arenas: ");
		emit_u64(e, report_stat("narenas"));
		emit_str(e, ", thread heaps: ");
		emit_u64(e, report_stat("nheaps"));
		emit_eol(e);
	}
	text_value(e, "assigned threads: ", a.nthreads);
	emit_str(e, "pages: active ");
	emit_u64(e, a.pactive);
	emit_str(e, ", dirty ");
	emit_u64(e, a.pdirty);
	emit_str(e, ", muzzy ");
	emit_u64(e, a.pmuzzy);
	emit_str(e, ", mapped ");
	emit_u64(e, a.mapped_pages);
	emit_eol(e);
	emit_str(e, "decay: dirty runs purged ");
	emit_u64(e, a.npurge);
	emit_str(e, ", madvise calls ");
	emit_u64(e, a.nmadvise);
	emit_str(e, ", pages purged ");
	emit_u64(e, a.purged);
	emit_str(e, "; muzzy runs given back ");
	emit_u64(e, a.muzzy_npurge);
	emit_str(e, ", madvise calls ");
	emit_u64(e, a.muzzy_nmadvise);
	emit_str(e, ", pages ");
	emit_u64(e, a.muzzy_purged);
	if (merged) {
		emit_str(e, "; inside slabs: madvise calls ");
		emit_u64(e, report_stat("slab_nmadvise"));
		emit_str(e, ", pages purged ");
		emit_u64(e, report_stat("slab_purged"));
	}
	emit_eol(e);

	emit_str_w(e, "", 8);
	emit_str_w(e, "allocated", -16);
	emit_str_w(e, "nmalloc", -(W + 3));
	emit_str_w(e, "ndalloc", -(W + 3));
	emit_str_w(e, "nrequests", -(W + 3));
	emit_str_w(e, "nfills", -(W + 3));
	emit_str_w(e, "nflushes", -(W + 3));
	emit_eol(e);
	const uint64_t small_rest[3] = {a.small_nrequests, a.small_nfills, a.small_nflushes};
	const uint64_t large_rest[3] = {a.large_nrequests, a.large_nfills, a.large_nflushes};
	text_counts_row(e, "small:", a.small_allocated, a.small_nmalloc, a.small_ndalloc,
	                small_rest);
	text_counts_row(e, "large:", a.large_allocated, a.large_nmalloc, a.large_ndalloc,
	                large_rest);
	uint64_t total_allocated = a.small_allocated + a.large_allocated;
	uint64_t total_nmalloc = a.small_nmalloc + a.large_nmalloc;
	uint64_t total_ndalloc = a.small_ndalloc + a.large_ndalloc;
	if (merged) {
		text_counts_row(e, "huge:", h.allocated, h.nmalloc, h.ndalloc, NULL);
		total_allocated += h.allocated;
		total_nmalloc += h.nmalloc;
		total_ndalloc += h.ndalloc;
	}
	text_counts_row(e, "total:", total_allocated, total_nmalloc, total_ndalloc, NULL);
	text_value(e, "active: ", a.pactive * page);
	text_value(e, "mapped: ", a.mapped);
	text_value(e, "retained: ", a.retained);
	text_value(e, "base: ", a.base);
	text_value(e, "tcache_bytes: ", a.tcache_bytes);
	text_value(e, "resident: ", a.resident);
	if (merged) {
		emit_str(e, "huge blocks: in use ");
		emit_u64(e, h.curblocks);
		emit_str(e, ", bytes ");
		emit_u64(e, h.allocated);
		emit_str(e, ", cached bytes ");
		emit_u64(e, h.cached);
		emit_str(e, ", released bytes ");
		emit_u64(e, h.released);
		emit_eol(e);
	}
	if (s->bins)
		text_bins(e, i, page);
	if (s->large)
		text_lextents(e, i);
}

/* ------------------------------------------------------------ the report */

void stats_print(void (*write)(void *opaque, const char *s), void *opaque, const char *opts)
{
	struct sections s = parse_opts(opts);
	struct emit e;
	emit_init(&e, write, opaque);
	stats_refresh();
	if (s.json) {
		emit_json_begin(&e);
		emit_json_object(&e, "jemalloc");
		stats_print_json(&e, &s);
		emit_json_close(&e, '}');
		emit_json_end(&e);
		return;
	}
	emit_line(&e, "___ Begin cairn statistics ___");
	if (s.general)
		text_general(&e);
	text_totals(&e);
	if (s.merged) {
		emit_line(&e, "Merged arenas stats:");
		text_arena(&e, &s, REPORT_MERGED);
	}
	if (s.arenas) {
		unsigned narenas = (unsigned)report_ctl("arenas.narenas", sizeof(unsigned));
		for (unsigned i = 0; i < narenas; i++) {
			struct arena_report a = report_arena(i);
			if (!report_arena_used(&a))
				continue;
			emit_str(&e, "arenas[");
			emit_u64(&e, i);
			emit_str(&e, "]:");
			emit_eol(&e);
			text_arena(&e, &s, i);
		}
	}
	emit_line(&e, "--- End cairn statistics ---");
	emit_finish(&e);
}
