/* SPDX-License-Identifier: MIT */
/* Decay's one owner: what decides when freed memory goes back to the
 * kernel. The modules that hold freed memory each know how to purge what
 * they hold on their curves (arena_decay, heaps_decay, huge_decay); they ask
 * for decay through decay_request.h and never run it on a timer
 * themselves. Decay runs from three places, all of them here:
 *   - decay_pass, from the purging threads (background.c): everything due,
 *     and when to look next;
 *   - decay_tick, from the api's large and huge slow paths when there are
 *     no purging threads (background_thread:false): a bounded share;
 *   - purge_all and reclaim_for_retry, on demand (malloc_trim, cairn_purge,
 *     a request that failed for lack of memory).
 * Besides these, an arena purges a few due runs when a run is freed into
 * it, its lock held anyway (DECAY_BUDGET in arena.c): a cost bounded per
 * call, with no lock taken for it. */
#ifndef CAIRN_DECAY_H
#define CAIRN_DECAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* What one purging thread carries from one pass to the next. Thread k of n
 * looks after arenas k, k + n, ...; thread 0 also after the huge cache, the
 * thread heaps and the cgroup memory limit. */
struct decay_cursor {
	unsigned k, n;
	bool has_cgroup_limit;
	uint64_t last_cgroup_check;
};

void decay_cursor_init(struct decay_cursor *c, unsigned k, unsigned n);
/* Purges what is due for cursor c's share (everything when the cgroup
 * memory limit is near) and returns when to pass next: UINT64_MAX when
 * nothing is left to wait for. */
uint64_t decay_pass(struct decay_cursor *c, uint64_t now);
/* Without purging threads: a bounded amount of arena a's due purging, the
 * huge cache and (at most once a millisecond) the parked heaps. Call with
 * no allocator lock held. */
void decay_tick(struct arena *a);
/* Purges every arena, every idle heap and the huge cache now (what is due,
 * or everything with force); returns the bytes released. */
size_t purge_all(bool force);
/* Arena a's free pages, now, after the calling thread's cached large runs
 * went back to their arenas. Returns the bytes released. */
size_t purge_arena(struct arena *a);
/* For a request that failed for lack of memory or address space, before it
 * is tried once more: gives back everything cairn holds that nothing uses
 * (the calling thread's cached blocks, every heap's cached large runs, the
 * free pages of idle heaps, the arenas' free pages, the huge cache) and
 * unmaps the chunks that are wholly free, retain or not. Memory other live
 * threads hold in their bins stays theirs. Call with no allocator lock
 * held. Returns the bytes released. */
size_t reclaim_for_retry(void);

#endif
