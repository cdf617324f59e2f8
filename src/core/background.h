/* SPDX-License-Identifier: MIT */
/* The background purging threads.
 *
 * Decay needs a clock to move on even when the program stops calling
 * malloc: a process that freed most of its heap and went idle must still
 * give the memory back. With background_thread:true (the default) cairn
 * starts its purging threads lazily, the first time an arena holds
 * BACKGROUND_KICK_PAGES dirty pages, a thread heap caches as many bytes of
 * freed large runs, or a huge mapping is cached, so a
 * process that never frees much never has one. A thread sleeps until the
 * next decay deadline, purges with no arena lock held across a system call,
 * and sleeps without a timeout when nothing is left to purge and no live
 * thread's heap is due another look (heaps_decay backs off to 64 times
 * dirty_decay_ms between looks at an idle heap). It also
 * watches the cgroup memory limit and purges everything at once when usage
 * comes within 10% of it. */
#ifndef CAIRN_BACKGROUND_H
#define CAIRN_BACKGROUND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKGROUND_KICK_PAGES 512 /* 2 MiB */

struct arena;

/* Tells the purging threads there is something to purge; the first time,
 * asks for them to be started. Never blocks or allocates, so it may be
 * called with allocator locks held. */
void background_kick(void);
/* Asks for the threads to be started if they are not running, without
 * waking them if they are: for memory that only their looks at idle thread
 * heaps give back, which a running thread keeps track of by itself. */
void background_want(void);
/* Starts the threads if a kick asked for them. Call only where no
 * allocator lock is held (starting a thread allocates). */
void background_poll_slow(void);
extern _Atomic bool cairn_background_pending __attribute__((visibility("hidden")));
static inline void background_poll(void)
{
	if (__builtin_expect(atomic_load_explicit(&cairn_background_pending, memory_order_relaxed),
	                     0))
		background_poll_slow();
}
/* Without purging threads (background_thread:false), the large and huge
 * slow paths call this to move decay along: a bounded amount of arena a's
 * due purging, the huge cache and (at most once a millisecond) the parked
 * heaps. Call with no allocator lock held. */
void decay_tick(struct arena *a);
/* Purges every arena and the huge cache now; returns the bytes released. */
size_t purge_all(bool force);
/* For a request that failed for lack of memory or address space, before it
 * is tried once more: gives back everything cairn holds that nothing uses
 * (the calling thread's cached blocks, every heap's cached large runs, the
 * free pages of idle heaps, the arenas' free pages, the huge cache) and
 * unmaps the chunks that are wholly free, retain or not. Memory other live
 * threads hold in their bins stays theirs. Call with no allocator lock
 * held. Returns the bytes released. */
size_t reclaim_for_retry(void);
/* Whether the purging threads are running (for tests and stats). */
bool background_running(void);
/* Called when the thread leading the process exits while the process goes
 * on (pthread_exit in main): from then on the purging threads watch for
 * being the only threads left, and then end, so that the process does. */
void background_leader_exiting(void);

void background_postfork_child(void);
void background_postfork_child_restart(void);

#endif
