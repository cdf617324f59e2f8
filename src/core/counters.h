/* SPDX-License-Identifier: MIT */
/* Storage for the statistics counters of stats.def: the process-wide ones
 * here, the per-arena ones in struct arena (struct arena_counters), the
 * per-heap ones in struct heap (struct heap_counters). Only slow paths
 * count: the fast paths gain no instruction. */
#ifndef CAIRN_COUNTERS_H
#define CAIRN_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/sizeclass_params.h"
#include "core/util.h"
#include "sizeclass_table.h"

struct global_counters {
#define GLOBAL(name, doc) _Atomic uint64_t name;
#include "core/stats.def"
};

extern struct global_counters cairn_counters HIDDEN;

/* Adds n (which may be negative, for a gauge) to process-wide counter
 * name. */
#define counter_add(name, n)                                                                       \
	atomic_fetch_add_explicit(&cairn_counters.name, (uint64_t)(n), memory_order_relaxed)

/* The large size classes: lextent c is size class SC_NSMALL + c. */
#define SC_NLARGE (SC_NCLASSES - SC_NSMALL)

/* Per arena and large class. Atomic, as a run taken from or put into a
 * heap's cache is counted without the arena's lock. */
struct lextent_counters {
#define LEXTENT(name, doc) _Atomic uint64_t name;
#include "core/stats.def"
};

struct arena_counters {
#define ARENA(name, doc) uint64_t name;
#include "core/stats.def"
	struct lextent_counters lextents[SC_NLARGE];
};

/* Per heap, one per small class: a refill touches one of these only. */
struct heap_counters {
#define CLASS(name, doc) uint64_t name;
#include "core/stats.def"
	/* Blocks flushes took back out of the bin, ever, and those the last
	 * refill gave it (0 after a flush): the requests the bin served are
	 * nmalloc - nflushed - bin_given. */
	uint64_t nflushed;
	uint64_t bin_given;
};

#endif
