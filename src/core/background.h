/* SPDX-License-Identifier: MIT */
/* The purging threads: only the threads themselves. When and what they
 * purge is decay.c's (decay_pass); how they are asked for and how they
 * sleep is decay_request.h's.
 *
 * Decay needs a clock to move on even when the program stops calling
 * malloc: a process that freed most of its heap and went idle must still
 * give the memory back. With background_thread:true (the default) cairn
 * starts its purging threads lazily, the first time decay is requested (an
 * arena holds DECAY_REQUEST_PAGES dirty pages, a thread heap caches as many
 * bytes of freed large runs, a huge mapping is cached, a thread exits), so
 * a process that never frees much never has one. A thread sleeps until
 * decay_pass's next deadline and without a timeout when nothing is left to
 * wait for. */
#ifndef CAIRN_BACKGROUND_H
#define CAIRN_BACKGROUND_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/decay_request.h"
#include "core/params.h"

/* Whether decay runs in the purging threads (background_thread, as last
 * set: it starts as the option says, mallctl may change it). When not, the
 * api's large and huge slow paths run it (decay_tick). */
static inline bool background_enabled(void)
{
	return atomic_load_explicit(&cairn_core.background_thread, memory_order_relaxed);
}
/* mallctl's background_thread and max_background_threads: with on, starts
 * the threads if they are not running; with off, stops them and returns
 * once they have ended (as jemalloc does). A new max (0: keep) takes
 * effect at once: running threads are stopped and started again. Call
 * with no allocator lock held (starting a thread allocates). Returns false
 * if threads were asked for and none could be started. */
bool background_set(bool on, unsigned max);

/* Starts the threads if a request asked for them. Call only where no
 * allocator lock is held (starting a thread allocates): the api layer does,
 * after its slow paths. */
void background_poll_slow(void);
static inline void background_poll(void)
{
	if (__builtin_expect(atomic_load_explicit(&cairn_purger_pending, memory_order_relaxed), 0))
		background_poll_slow();
}
/* Whether the purging threads are running (for tests and stats). */
bool background_running(void);
/* How many are. */
unsigned background_threads(void);
/* Called when the thread leading the process exits while the process goes
 * on (pthread_exit in main): from then on the purging threads watch for
 * being the only threads left, and then end, so that the process does. */
void background_leader_exiting(void);

/* In a fork child, first (before anything could request decay) and last
 * (starts the threads again if they ran in the parent). */
void background_postfork_child(void);
void background_postfork_child_restart(void);

#endif
