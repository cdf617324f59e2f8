/* SPDX-License-Identifier: MIT */
/* mallctl's stats.*: the statistics of the last snapshot, which a write to
 * epoch takes (control/stats.c), by jemalloc's names and types.
 *
 * stats.arenas.<i>.* is arena i's share (i < arenas.narenas) or, for
 * 4096 (MALLCTL_ARENAS_ALL), the sum over the arenas. Where cairn's numbers
 * mean other than jemalloc's, README's mallctl section says so: huge blocks
 * (over 1 MiB, a mapping each) are in no arena, so stats.allocated is more
 * than the arenas' small + large; bins' nrequests are brought up to date at
 * a bin's next refill or flush; lextents count blocks the program holds,
 * not the runs in the heaps' caches (tcache_bytes has those); purges are
 * not told apart by stage, so all are dirty_* and muzzy_* stay 0.
 * jemalloc's names for what cairn does not have (mutex profiling, extents,
 * hpa_shard, abandoned_vm...) are not in the tree: ENOENT, as jemalloc
 * answers for a name that is not there. */
#include <errno.h>
#include <sys/types.h>

#include "control/ctl_tree.h"
#include "control/stats.h"
#include "core/arena.h"
#include "core/explicit.h"
#include "core/params.h"

/* Reads "<prefix>.<number>.[<part>.<number>.]<node's arg>". */
static uint64_t read_indexed(const char *prefix, size_t i, const char *part, size_t j,
                             const char *stat)
{
	char name[96];
	size_t len = 0;
	for (const char *s = prefix; *s != '\0'; s++)
		name[len++] = *s;
	len += fmt_u64(name + len, i);
	name[len++] = '.';
	if (part != NULL) {
		for (const char *s = part; *s != '\0'; s++)
			name[len++] = *s;
		len += fmt_u64(name + len, j);
		name[len++] = '.';
	}
	for (const char *s = stat; *s != '\0' && len < sizeof name - 1; s++)
		name[len++] = *s;
	name[len] = '\0';
	uint64_t v = 0;
	stats_read(name, &v);
	return v;
}

/* stats.arenas.<i>.<leaf>: mib[2] is i. */
static uint64_t get_arena(const struct node *n, const size_t *mib)
{
	return read_indexed("arenas.", mib[2], NULL, 0, n->arg);
}

/* stats.arenas.<i>.bins.<j>.<leaf> and lextents.<j>.<leaf>: mib[4] is j. */
static uint64_t get_arena_bin(const struct node *n, const size_t *mib)
{
	return read_indexed("arenas.", mib[2], "bins.", mib[4], n->arg);
}

static uint64_t get_arena_lextent(const struct node *n, const size_t *mib)
{
	return read_indexed("arenas.", mib[2], "lextents.", mib[4], n->arg);
}

static uint64_t get_zero(const struct node *n, const size_t *mib)
{
	return 0;
}

static uint64_t get_dss(const struct node *n, const size_t *mib)
{
	return (uintptr_t) "disabled";
}

/* Every arena decays on the options' curves. */
static uint64_t get_dirty_decay_ms(const struct node *n, const size_t *mib)
{
	return (uint64_t)(ssize_t)cairn_core.dirty_decay_ms;
}

static uint64_t get_muzzy_decay_ms(const struct node *n, const size_t *mib)
{
	return (uint64_t)(ssize_t)cairn_core.muzzy_decay_ms;
}

/* jemalloc's meaning: the average time between a purging thread's passes.
 * cairn does not time them: its threads run from start-up, so it is the
 * time since then over the passes per thread. */
static uint64_t get_run_interval(const struct node *n, const size_t *mib)
{
	uint64_t runs = 0, threads = 0, uptime = 0;
	stats_read("background_runs", &runs);
	stats_read("background_threads", &threads);
	stats_read("uptime", &uptime);
	if (runs == 0 || threads == 0)
		return 0;
	return uptime / runs * threads;
}

/* An automatic arena, a live created one, or all of them. */
static bool valid_stats_arena(size_t i)
{
	return i < cairn_narenas || explicit_arena_get(i) != NULL || i == ARENAS_ALL;
}

static bool valid_bin(size_t j)
{
	return j < SC_NSMALL;
}

static bool valid_lextent(size_t j)
{
	return j < SC_NLARGE;
}

#define ASTAT(nm, t, stat)                                                                         \
	{                                                                                          \
		.name = nm, .leaf = ctl_read_value, .type = t, .get = get_arena, .arg = stat       \
	}
#define BSTAT(nm, t, stat)                                                                         \
	{                                                                                          \
		.name = nm, .leaf = ctl_read_value, .type = t, .get = get_arena_bin, .arg = stat   \
	}
#define LSTAT(nm, t, stat)                                                                         \
	{                                                                                          \
		.name = nm, .leaf = ctl_read_value, .type = t, .get = get_arena_lextent,           \
		.arg = stat                                                                        \
	}

static const struct node bin_kids[] = {
    BSTAT("nmalloc", V_UINT64, "nmalloc"),
    BSTAT("ndalloc", V_UINT64, "ndalloc"),
    BSTAT("nrequests", V_UINT64, "nrequests"),
    BSTAT("curregs", V_SIZE, "curregs"),
    BSTAT("nfills", V_UINT64, "nfills"),
    BSTAT("nflushes", V_UINT64, "nflushes"),
    BSTAT("nslabs", V_UINT64, "nslabs"),
    /* Not counted: a bin's slab is changed on a slow path that does not
     * count it. */
    BSTAT("nreslabs", V_UINT64, "nreslabs"),
    BSTAT("curslabs", V_SIZE, "curslabs"),
    BSTAT("nonfull_slabs", V_SIZE, "nonfull_slabs"),
};
static const struct node bin_numbered[] = {NUMBERED(bin_kids, valid_bin)};

/* Each large block is one request: nrequests is nmalloc. */
static const struct node lextent_kids[] = {
    LSTAT("nmalloc", V_UINT64, "nmalloc"),
    LSTAT("ndalloc", V_UINT64, "ndalloc"),
    LSTAT("nrequests", V_UINT64, "nmalloc"),
    LSTAT("curlextents", V_SIZE, "curlextents"),
};
static const struct node lextent_numbered[] = {NUMBERED(lextent_kids, valid_lextent)};

static const struct node small_kids[] = {
    ASTAT("allocated", V_SIZE, "small_allocated"), ASTAT("nmalloc", V_UINT64, "small_nmalloc"),
    ASTAT("ndalloc", V_UINT64, "small_ndalloc"),   ASTAT("nrequests", V_UINT64, "small_nrequests"),
    ASTAT("nfills", V_UINT64, "small_nfills"),     ASTAT("nflushes", V_UINT64, "small_nflushes"),
};

/* As in jemalloc, large blocks are not filled in batches: nfills is
 * nmalloc. Freed runs go into a heap's cache one at a time and leave it
 * by decay, not in flushes: nflushes is 0. */
static const struct node large_kids[] = {
    ASTAT("allocated", V_SIZE, "large_allocated"), ASTAT("nmalloc", V_UINT64, "large_nmalloc"),
    ASTAT("ndalloc", V_UINT64, "large_ndalloc"),   ASTAT("nrequests", V_UINT64, "large_nmalloc"),
    ASTAT("nfills", V_UINT64, "large_nmalloc"),    VALUE("nflushes", V_UINT64, get_zero),
};

static const struct node arena_kids[] = {
    ASTAT("nthreads", V_UNSIGNED, "nthreads"),
    /* Every automatic arena is made at cairn's first call. */
    STAT("uptime", V_UINT64, "uptime"),
    VALUE("dss", V_STRING, get_dss),
    VALUE("dirty_decay_ms", V_SSIZE, get_dirty_decay_ms),
    VALUE("muzzy_decay_ms", V_SSIZE, get_muzzy_decay_ms),
    ASTAT("pactive", V_SIZE, "active_pages"),
    ASTAT("pdirty", V_SIZE, "dirty_pages"),
    ASTAT("pmuzzy", V_SIZE, "muzzy_pages"),
    ASTAT("mapped", V_SIZE, "mapped"),
    ASTAT("retained", V_SIZE, "retained"),
    /* An arena's metadata is its chunks' headers; the heaps' and the page
     * map's are no arena's (stats.metadata has them), and none is on
     * transparent huge pages of its own. */
    ASTAT("base", V_SIZE, "base"),
    VALUE("internal", V_SIZE, get_zero),
    VALUE("metadata_thp", V_SIZE, get_zero),
    ASTAT("resident", V_SIZE, "resident"),
    ASTAT("dirty_npurge", V_UINT64, "npurge"),
    ASTAT("dirty_nmadvise", V_UINT64, "nmadvise"),
    ASTAT("dirty_purged", V_UINT64, "purged"),
    ASTAT("muzzy_npurge", V_UINT64, "muzzy_npurge"),
    ASTAT("muzzy_nmadvise", V_UINT64, "muzzy_nmadvise"),
    ASTAT("muzzy_purged", V_UINT64, "muzzy_purged"),
    INNER("small", small_kids),
    INNER("large", large_kids),
    INNER("bins", bin_numbered),
    INNER("lextents", lextent_numbered),
    ASTAT("tcache_bytes", V_SIZE, "tcache_bytes"),
};
static const struct node arena_numbered[] = {NUMBERED(arena_kids, valid_stats_arena)};

static const struct node bg_stats_kids[] = {
    STAT("num_threads", V_SIZE, "background_threads"),
    STAT("num_runs", V_UINT64, "background_runs"),
    VALUE("run_interval", V_UINT64, get_run_interval),
};

static const struct node stats_kids[] = {
    STAT("allocated", V_SIZE, "allocated"),
    STAT("active", V_SIZE, "active"),
    STAT("metadata", V_SIZE, "metadata"),
    /* Not counted apart (as stats.arenas.<i>.metadata_thp): 0. */
    VALUE("metadata_thp", V_SIZE, ctl_get_false),
    STAT("resident", V_SIZE, "resident"),
    STAT("mapped", V_SIZE, "mapped"),
    STAT("retained", V_SIZE, "retained"),
    INNER("background_thread", bg_stats_kids),
    STAT("zero_reallocs", V_SIZE, "zero_reallocs"),
    INNER("arenas", arena_numbered),
};

const struct node ctl_stats_tree = INNER("stats", stats_kids);
