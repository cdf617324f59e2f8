/* SPDX-License-Identifier: MIT */
/* The decay curve that the arenas' free runs (arena_decay.c) and the huge
 * cache (huge_cache.c) both follow, so that freed memory of every size goes
 * back to the kernel at the same pace. */
#ifndef CAIRN_DECAY_CURVE_H
#define CAIRN_DECAY_CURVE_H

#include <stdint.h>

#include "core/util.h"

/* The share of memory freed age_ms ago that may still wait, for a decay
 * time of decay_ms (> 0): all of it when just freed, none at decay_ms,
 * 1 - smoothstep(age / decay_ms) in between (as jemalloc's curve): little
 * goes back in the first moments, when reuse is likely, and most of it
 * around the middle. Summed over what waits at the start of a pass, it is
 * the most that may wait; the pass releases the oldest until no more does.
 * (Taking what it releases off the sum as well would release far too
 * much: a young piece's allowance is nearly all of it, so each release
 * would bring the total barely closer to its limit.) */
static inline double decay_curve_share(uint64_t age_ms, int64_t decay_ms)
{
	double x = (double)age_ms / (double)decay_ms;
	if (x >= 1.0)
		return 0.0;
	return 1.0 - x * x * (3.0 - 2.0 * x);
}

#endif
