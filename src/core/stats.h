/* SPDX-License-Identifier: MIT */
/* A snapshot of every statistic of stats.def, summed over the arenas and
 * the heaps. */
#ifndef CAIRN_STATS_H
#define CAIRN_STATS_H

#include <stdint.h>

#include "sizeclass_table.h"

struct stats_bin {
#define CLASS(name, doc)       uint64_t name;
#define CLASS_TOTAL(name, doc) uint64_t name;
#include "core/stats.def"
};

struct stats {
#define TOTAL(name, doc)  uint64_t name;
#define GLOBAL(name, doc) uint64_t name;
#define ARENA(name, doc)  uint64_t name;
#include "core/stats.def"
	struct stats_bin bins[SC_NSMALL];
};

/* Fills *st. Takes each arena's and each heap's lock in turn (never two at
 * once), so each one's numbers are of one moment and the sums satisfy
 * allocated <= active <= resident and active <= mapped; the fast paths of
 * other threads go on meanwhile, so the per-class counts of blocks in use
 * are those of a moment close to it. Call with no allocator lock held. */
void stats_snapshot(struct stats *st);

#endif
