/* SPDX-License-Identifier: MIT */
/* A snapshot of every statistic of stats.def, summed over the arenas and
 * the heaps. */
#ifndef CAIRN_STATS_H
#define CAIRN_STATS_H

#include <stdint.h>

#include "core/counters.h"
#include "sizeclass_table.h"

struct stats_bin {
#define CLASS(name, doc)       uint64_t name;
#define CLASS_TOTAL(name, doc) uint64_t name;
#include "core/stats.def"
};

struct stats_lextent {
#define LEXTENT(name, doc)       uint64_t name;
#define LEXTENT_TOTAL(name, doc) uint64_t name;
#include "core/stats.def"
};

/* One arena's, or (the last of stats_snapshot's arenas) the sum over
 * them. */
struct stats_arena {
#define ARENA(name, doc)       uint64_t name;
#define ARENA_TOTAL(name, doc) uint64_t name;
#include "core/stats.def"
	struct stats_bin bins[SC_NSMALL];
	struct stats_lextent lextents[SC_NLARGE];
	uint64_t fresh_pages; /* slab pages not written yet, taken out of active_pages */
};

struct stats {
#define TOTAL(name, doc)  uint64_t name;
#define GLOBAL(name, doc) uint64_t name;
#define ARENA(name, doc)  uint64_t name;
#include "core/stats.def"
	struct stats_bin bins[SC_NSMALL];
	struct stats_lextent lextents[SC_NLARGE];
};

/* Fills *st. Takes each arena's and each heap's lock in turn (never two at
 * once), so each one's numbers are of one moment and the sums satisfy
 * allocated <= active <= resident and active <= mapped; the fast paths of
 * other threads go on meanwhile, so the per-class counts of blocks in use
 * are those of a moment close to it. Call with no allocator lock held. */
void stats_snapshot(struct stats *st);
/* Fills arenas[0..n-1] with arena i's numbers for each automatic arena i <
 * n (those of a heap whose arena is another are left out) and arenas[n]
 * with their sums, in the same pass as stats_snapshot (arenas NULL: none). */
void stats_snapshot_arenas(struct stats *st, struct stats_arena *arenas, unsigned n);
/* Room for n + 1 arenas' numbers, from cairn's metadata (never freed);
 * NULL when out of memory. */
struct stats_arena *stats_arenas_new(unsigned n);

#endif
