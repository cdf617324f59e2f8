/* SPDX-License-Identifier: MIT */
/* malloc_stats_print's JSON form ('J'): the keys of jemalloc's report,
 * where cairn has the value, and cairn's own beside them. */
#include <string.h>

#include "cairn.h"
#include "control/report.h"
#include "core/util.h"

static void json_opt(struct emit *e, const char *key, const struct opt_value *v)
{
	switch (v->type) {
	case CONF_TYPE_BOOL:
		emit_json_bool(e, key, v->v.b);
		break;
	case CONF_TYPE_UNSIGNED:
		emit_json_u64(e, key, v->v.u);
		break;
	case CONF_TYPE_SIZE:
		emit_json_u64(e, key, v->v.z);
		break;
	case CONF_TYPE_SSIZE:
		emit_json_i64(e, key, v->v.s);
		break;
	case CONF_TYPE_STRING:
		emit_json_string(e, key, v->v.str);
		break;
	}
}

static void json_general(struct emit *e)
{
	emit_json_string(e, "version", CAIRN_VERSION);
	emit_json_object(e, "config");
	for (size_t i = 0; i < report_nconfig; i++) {
		char name[64] = "config.";
		strcat(name, report_config_names[i]);
		if (strcmp(report_config_names[i], "malloc_conf") == 0)
			emit_json_string(e, report_config_names[i], report_ctl_string(name));
		else
			emit_json_bool(e, report_config_names[i],
			               report_ctl(name, sizeof(bool)) != 0);
	}
	emit_json_close(e, '}');
	emit_json_object(e, "opt");
	for (size_t i = 0; i < conf_noptions; i++) {
		struct opt_value v = report_opt(&conf_options[i]);
		json_opt(e, conf_options[i].name, &v);
	}
	emit_json_close(e, '}');

	emit_json_object(e, "arenas");
	emit_json_u64(e, "narenas", report_ctl("arenas.narenas", sizeof(unsigned)));
	emit_json_i64(e, "dirty_decay_ms", cairn_conf.dirty_decay_ms);
	emit_json_i64(e, "muzzy_decay_ms", cairn_conf.muzzy_decay_ms);
	emit_json_u64(e, "quantum", report_ctl("arenas.quantum", sizeof(size_t)));
	emit_json_u64(e, "page", report_ctl("arenas.page", sizeof(size_t)));
	emit_json_u64(e, "tcache_max", report_ctl("arenas.tcache_max", sizeof(size_t)));
	unsigned nbins = (unsigned)report_ctl("arenas.nbins", sizeof(unsigned));
	emit_json_u64(e, "nbins", nbins);
	emit_json_array(e, "bin");
	for (unsigned c = 0; c < nbins; c++) {
		char name[64];
		emit_json_object(e, NULL);
		emit_json_u64(
		    e, "size",
		    report_ctl(report_indexed(name, "arenas.bin.", c, ".size"), sizeof(size_t)));
		emit_json_u64(
		    e, "nregs",
		    report_ctl(report_indexed(name, "arenas.bin.", c, ".nregs"), sizeof(uint32_t)));
		emit_json_u64(e, "slab_size",
		              report_ctl(report_indexed(name, "arenas.bin.", c, ".slab_size"),
		                         sizeof(size_t)));
		emit_json_close(e, '}');
	}
	emit_json_close(e, ']');
	unsigned nlextents = (unsigned)report_ctl("arenas.nlextents", sizeof(unsigned));
	emit_json_u64(e, "nlextents", nlextents);
	emit_json_array(e, "lextent");
	for (unsigned j = 0; j < nlextents; j++) {
		char name[64];
		emit_json_object(e, NULL);
		emit_json_u64(e, "size",
		              report_ctl(report_indexed(name, "arenas.lextent.", j, ".size"),
		                         sizeof(size_t)));
		emit_json_close(e, '}');
	}
	emit_json_close(e, ']');
	emit_json_close(e, '}');
}

static void json_totals(struct emit *e)
{
	emit_json_object(e, "stats");
	emit_json_u64(e, "allocated", report_stat("allocated"));
	emit_json_u64(e, "active", report_stat("active"));
	emit_json_u64(e, "metadata", report_stat("metadata"));
	emit_json_u64(e, "resident", report_stat("resident"));
	emit_json_u64(e, "mapped", report_stat("mapped"));
	emit_json_u64(e, "retained", report_stat("retained"));
	emit_json_object(e, "background_thread");
	emit_json_u64(e, "num_threads", report_stat("background_threads"));
	emit_json_u64(e, "num_runs", report_stat("background_runs"));
	emit_json_u64(e, "run_interval",
	              report_ctl("stats.background_thread.run_interval", sizeof(uint64_t)));
	emit_json_close(e, '}');
	emit_json_close(e, '}');
}

/* One arena's object (i < arenas.narenas), or "merged" (REPORT_MERGED)
 * with what is in no arena beside it: the huge blocks and the purges
 * inside slabs. */
static void json_arena(struct emit *e, const struct sections *s, unsigned i)
{
	bool merged = i == REPORT_MERGED;
	struct arena_report a = report_arena(i);
	if (merged) {
		emit_json_u64(e, "narenas", report_stat("narenas"));
		emit_json_u64(e, "nheaps", report_stat("nheaps"));
	}
	emit_json_u64(e, "nthreads", a.nthreads);
	emit_json_u64(e, "uptime", report_stat("uptime"));
	emit_json_string(e, "dss", "disabled");
	emit_json_i64(e, "dirty_decay_ms", cairn_conf.dirty_decay_ms);
	emit_json_i64(e, "muzzy_decay_ms", cairn_conf.muzzy_decay_ms);
	emit_json_u64(e, "pactive", a.pactive);
	emit_json_u64(e, "pdirty", a.pdirty);
	emit_json_u64(e, "pmuzzy", a.pmuzzy);
	emit_json_u64(e, "dirty_npurge", a.npurge);
	emit_json_u64(e, "dirty_nmadvise", a.nmadvise);
	emit_json_u64(e, "dirty_purged", a.purged);
	emit_json_u64(e, "muzzy_npurge", a.muzzy_npurge);
	emit_json_u64(e, "muzzy_nmadvise", a.muzzy_nmadvise);
	emit_json_u64(e, "muzzy_purged", a.muzzy_purged);
	if (merged) {
		emit_json_u64(e, "slab_nmadvise", report_stat("slab_nmadvise"));
		emit_json_u64(e, "slab_purged", report_stat("slab_purged"));
	}
	emit_json_object(e, "small");
	emit_json_u64(e, "allocated", a.small_allocated);
	emit_json_u64(e, "nmalloc", a.small_nmalloc);
	emit_json_u64(e, "ndalloc", a.small_ndalloc);
	emit_json_u64(e, "nrequests", a.small_nrequests);
	emit_json_u64(e, "nfills", a.small_nfills);
	emit_json_u64(e, "nflushes", a.small_nflushes);
	emit_json_close(e, '}');
	emit_json_object(e, "large");
	emit_json_u64(e, "allocated", a.large_allocated);
	emit_json_u64(e, "nmalloc", a.large_nmalloc);
	emit_json_u64(e, "ndalloc", a.large_ndalloc);
	emit_json_u64(e, "nrequests", a.large_nrequests);
	emit_json_u64(e, "nfills", a.large_nfills);
	emit_json_u64(e, "nflushes", a.large_nflushes);
	emit_json_close(e, '}');
	if (merged) {
		struct huge_report h = report_huge();
		emit_json_object(e, "huge");
		emit_json_u64(e, "allocated", h.allocated);
		emit_json_u64(e, "nmalloc", h.nmalloc);
		emit_json_u64(e, "ndalloc", h.ndalloc);
		emit_json_u64(e, "curblocks", h.curblocks);
		emit_json_u64(e, "cached", h.cached);
		emit_json_u64(e, "released", h.released);
		emit_json_close(e, '}');
	}
	emit_json_u64(e, "mapped", a.mapped);
	emit_json_u64(e, "retained", a.retained);
	emit_json_u64(e, "base", a.base);
	emit_json_u64(e, "tcache_bytes", a.tcache_bytes);
	emit_json_u64(e, "resident", a.resident);
	if (s->bins) {
		unsigned nbins = (unsigned)report_ctl("arenas.nbins", sizeof(unsigned));
		emit_json_array(e, "bins");
		for (unsigned c = 0; c < nbins; c++) {
			struct bin_row r = report_bin(i, c);
			emit_json_object(e, NULL);
			emit_json_u64(e, "nmalloc", r.nmalloc);
			emit_json_u64(e, "ndalloc", r.ndalloc);
			emit_json_u64(e, "curregs", r.curregs);
			emit_json_u64(e, "nrequests", r.nrequests);
			emit_json_u64(e, "nfills", r.nfills);
			emit_json_u64(e, "nflushes", r.nflushes);
			emit_json_u64(e, "nslabs", r.nslabs);
			emit_json_u64(e, "nreslabs", r.nreslabs);
			emit_json_u64(e, "curslabs", r.curslabs);
			emit_json_close(e, '}');
		}
		emit_json_close(e, ']');
	}
	/* Every class, as arenas.lextent[] lists them (jemalloc's report has
	 * curlextents only; its mallctl names have the counts too). */
	if (s->large) {
		unsigned nlextents = (unsigned)report_ctl("arenas.nlextents", sizeof(unsigned));
		emit_json_array(e, "lextents");
		for (unsigned j = 0; j < nlextents; j++) {
			struct lextent_row r = report_lextent(i, j);
			emit_json_object(e, NULL);
			emit_json_u64(e, "nmalloc", r.nmalloc);
			emit_json_u64(e, "ndalloc", r.ndalloc);
			emit_json_u64(e, "nrequests", r.nrequests);
			emit_json_u64(e, "curlextents", r.curlextents);
			emit_json_close(e, '}');
		}
		emit_json_close(e, ']');
	}
}

/* "stats.arenas": "merged" and an object per arena in use, keyed by its
 * index as jemalloc's. */
static void json_arenas(struct emit *e, const struct sections *s)
{
	emit_json_object(e, "stats.arenas");
	if (s->merged) {
		emit_json_object(e, "merged");
		json_arena(e, s, REPORT_MERGED);
		emit_json_close(e, '}');
	}
	if (s->arenas) {
		unsigned narenas = (unsigned)report_ctl("arenas.narenas", sizeof(unsigned));
		for (unsigned i = 0; i < narenas; i++) {
			struct arena_report a = report_arena(i);
			if (!report_arena_used(&a))
				continue;
			char key[24];
			key[fmt_u64(key, i)] = '\0';
			emit_json_object(e, key);
			json_arena(e, s, i);
			emit_json_close(e, '}');
		}
	}
	emit_json_close(e, '}');
}

void stats_print_json(struct emit *e, const struct sections *s)
{
	if (s->general)
		json_general(e);
	json_totals(e);
	if (s->merged || s->arenas)
		json_arenas(e, s);
}
