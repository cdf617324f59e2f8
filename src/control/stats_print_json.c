/* SPDX-License-Identifier: MIT */
/* malloc_stats_print's JSON form ('J'): the keys of jemalloc's report,
 * where cairn has the value, and cairn's own beside them. */
#include <string.h>

#include "cairn.h"
#include "control/report.h"

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
	emit_json_close(e, '}');
	emit_json_close(e, '}');
}

static void json_merged(struct emit *e, const struct sections *s)
{
	struct merged m = report_merged();
	emit_json_object(e, "stats.arenas");
	emit_json_object(e, "merged");
	emit_json_u64(e, "narenas", report_stat("narenas"));
	emit_json_u64(e, "nheaps", report_stat("nheaps"));
	emit_json_i64(e, "dirty_decay_ms", cairn_conf.dirty_decay_ms);
	emit_json_i64(e, "muzzy_decay_ms", cairn_conf.muzzy_decay_ms);
	emit_json_u64(e, "pactive", report_stat("active_pages"));
	emit_json_u64(e, "pdirty", report_stat("dirty") / m.page);
	emit_json_u64(e, "pmuzzy", report_stat("muzzy") / m.page);
	/* Decay's counts, dirty and muzzy pages together. */
	emit_json_u64(e, "dirty_npurge", report_stat("npurge"));
	emit_json_u64(e, "dirty_nmadvise", report_stat("nmadvise"));
	emit_json_u64(e, "dirty_purged", report_stat("purged"));
	emit_json_u64(e, "slab_nmadvise", report_stat("slab_nmadvise"));
	emit_json_u64(e, "slab_purged", report_stat("slab_purged"));
	emit_json_object(e, "small");
	emit_json_u64(e, "allocated", m.small_allocated);
	emit_json_u64(e, "nmalloc", m.small_nmalloc);
	emit_json_u64(e, "ndalloc", m.small_ndalloc);
	emit_json_u64(e, "nrequests", m.small_nrequests);
	emit_json_u64(e, "nfills", m.small_nfills);
	emit_json_u64(e, "nflushes", m.small_nflushes);
	emit_json_close(e, '}');
	emit_json_object(e, "large");
	emit_json_u64(e, "allocated", m.large_allocated);
	emit_json_u64(e, "nmalloc", m.large_nmalloc);
	emit_json_u64(e, "ndalloc", m.large_ndalloc);
	emit_json_u64(e, "curlextents", m.large_cur);
	emit_json_close(e, '}');
	emit_json_u64(e, "mapped", report_stat("mapped"));
	emit_json_u64(e, "retained", report_stat("retained"));
	emit_json_u64(e, "resident", report_stat("resident"));
	emit_json_u64(e, "metadata", report_stat("metadata"));
	emit_json_u64(e, "large_curruns", report_stat("large_curruns"));
	emit_json_u64(e, "large_cached", report_stat("large_cached"));
	emit_json_u64(e, "huge_curblocks", report_stat("huge_curblocks"));
	emit_json_u64(e, "huge_allocated", report_stat("huge_allocated"));
	emit_json_u64(e, "huge_cached", report_stat("huge_cached"));
	emit_json_u64(e, "huge_released", report_stat("huge_released"));
	if (s->bins) {
		emit_json_array(e, "bins");
		for (unsigned c = 0; c < m.nbins; c++) {
			struct bin_row r = report_bin(c);
			emit_json_object(e, NULL);
			emit_json_u64(e, "nmalloc", r.nmalloc);
			emit_json_u64(e, "ndalloc", r.ndalloc);
			emit_json_u64(e, "curregs", r.curregs);
			emit_json_u64(e, "nrequests", r.nrequests);
			emit_json_u64(e, "nfills", r.nfills);
			emit_json_u64(e, "nflushes", r.nflushes);
			emit_json_u64(e, "nslabs", r.nslabs);
			emit_json_u64(e, "curslabs", r.curslabs);
			emit_json_close(e, '}');
		}
		emit_json_close(e, ']');
	}
	/* No per-class counts for large blocks in the snapshot: the array
	 * is there, empty, for readers that look for it. */
	if (s->large) {
		emit_json_array(e, "lextents");
		emit_json_close(e, ']');
	}
	emit_json_close(e, '}');
	emit_json_close(e, '}');
}

void stats_print_json(struct emit *e, const struct sections *s)
{
	if (s->general)
		json_general(e);
	json_totals(e);
	if (s->merged)
		json_merged(e, s);
}
