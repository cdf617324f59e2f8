/* SPDX-License-Identifier: MIT */
/* Asking for decay: the modules that hold freed memory (the arenas, the
 * thread heaps' large-run caches, the heap pool, the huge cache) say here
 * that they hold some; they never purge on a timer themselves and never
 * call the module that does (decay.c, above them), so that nothing sits
 * in a cycle with it. What a request does:
 *   - with purging threads on (background_thread:true) and running, wakes
 *     the ones asleep with nothing due;
 *   - with them not started yet, leaves a request to start them, which the
 *     api layer carries out (background_poll) where no lock is held, since
 *     starting a thread allocates;
 *   - with background_thread:false, nothing: the api's slow paths move
 *     decay along themselves (decay_tick).
 * The purging threads (background.c) sleep here, on the same lock and
 * condition variable. Nothing here blocks or allocates, so requests may be
 * made with allocator locks held. */
#ifndef CAIRN_DECAY_REQUEST_H
#define CAIRN_DECAY_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

/* A request wakes the purging threads once this many pages lie dirty in
 * an arena, or this many bytes sit in a thread heap's large-run cache. */
#define DECAY_REQUEST_PAGES 512 /* 2 MiB */

/* The purging threads' state. PURGER_STOPPED: they ended because nothing
 * else was left running in the process (see background.c); they are
 * never started again (but in a child of fork). */
enum purger_state { PURGER_OFF, PURGER_STARTING, PURGER_RUNNING, PURGER_STOPPED };

/* There is memory to purge: wakes the idle purging threads, or asks for
 * them to be started. */
void decay_request(void);
/* Asks for the purging threads to be started if they are not running,
 * without waking them if they are: for memory that only their looks at idle
 * thread heaps give back, which a running thread keeps track of itself. */
void decay_request_start(void);
/* Whether the purging threads are running. */
bool decay_purger_running(void);

/* A request to start the threads is waiting for background_poll. */
extern _Atomic bool cairn_purger_pending HIDDEN;
extern _Atomic int cairn_purger_state HIDDEN; /* enum purger_state */

/* For the purging threads: sleeps until now + ms (forever for UINT64_MAX)
 * unless a request or purger_wake_all came since the thread last slept. */
void purger_sleep(uint64_t now, uint64_t wake_at);
/* Wakes every purging thread, idle or not, even with decay off. */
void purger_wake_all(void);
/* Sets up the clock of the condition variable; before the threads start. */
void purger_sleep_init(void);
/* In a fork child: forgets every sleeper and request, re-initialises the
 * lock; leaves a request to start the threads again if they ran. */
void decay_request_postfork_child(void);

#endif
