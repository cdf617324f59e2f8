/* SPDX-License-Identifier: MIT */
#include "core/background.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "core/arena.h"
#include "core/decay.h"
#include "core/lock.h"
#include "core/params.h"
#include "os/os.h"

#define MAX_THREADS 64
/* Sleep at least this long between passes, so decay is batched. */
#define MIN_SLEEP_MS 10

static _Atomic unsigned alive; /* threads started that have not returned */
/* The thread leading the process (main, or the one that forked) has
 * exited its own way (pthread_exit) while other threads run. The process
 * then ends when its last thread exits, and a purging thread must never be
 * that last thread: glibc would wait for it forever, with every signal
 * blocked, so that not even SIGTERM ends the process. */
static _Atomic bool leader_gone;

/* Once the leader is gone, how long until thread 0 counts the threads
 * again: from MIN_SLEEP_MS after the leader's exit, doubling up to
 * LONELY_POLL_MAX_MS while other threads run. */
#define LONELY_POLL_MAX_MS 100

/* Whether only the purging threads are left in the process. */
static bool alone(void)
{
	unsigned live = os_live_threads();
	return live != 0 && live <= atomic_load(&alive);
}

/* Ends every purging thread, so that the process ends: glibc makes the
 * last thread to return call exit(0), as it would have for the program's
 * own last thread. */
static void stop_all(void)
{
	atomic_store(&cairn_purger_state, PURGER_STOPPED);
	purger_wake_all();
}

static void *purger_main(void *arg)
{
	struct decay_cursor *cursor = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uint64_t lonely_poll = MIN_SLEEP_MS;
	while (atomic_load(&cairn_purger_state) != PURGER_STOPPED) {
		uint64_t now = os_now_ms();
		uint64_t next = decay_pass(cursor, now);
		if (cursor->k == 0 && atomic_load(&leader_gone)) {
			if (alone()) {
				stop_all();
				break;
			}
			if (now + lonely_poll < next)
				next = now + lonely_poll;
			lonely_poll = lonely_poll * 2 < LONELY_POLL_MAX_MS ? lonely_poll * 2
			                                                   : LONELY_POLL_MAX_MS;
		}
		if (next != UINT64_MAX && next < now + MIN_SLEEP_MS)
			next = now + MIN_SLEEP_MS;
		purger_sleep(now, next);
	}
	atomic_fetch_sub(&alive, 1);
	return NULL;
}

/* Starts the threads; called by the one caller that moved the state from
 * PURGER_OFF to PURGER_STARTING, with no allocator lock held
 * (pthread_create allocates). A cursor per thread, in static memory: the
 * threads never end but with the process (or in a fork child, where they
 * are gone and start again with fresh cursors). */
static void start_threads(void)
{
	static struct decay_cursor cursors[MAX_THREADS];
	purger_sleep_init();
	unsigned n = atomic_load(&cairn_core.max_background_threads);
	if (n > cairn_narenas)
		n = cairn_narenas;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (n == 0)
		n = 1;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	unsigned started = 0;
	for (unsigned k = 0; k < n; k++) {
		decay_cursor_init(&cursors[k], k, n);
		pthread_t t;
		/* Counted before it runs, so that background_set, which
		 * waits for alive to reach 0, cannot miss a thread that has
		 * not reached purger_main yet. */
		atomic_fetch_add(&alive, 1);
		if (pthread_create(&t, &attr, purger_main, &cursors[k]) == 0) {
			os_thread_name(t, "cairn-purge");
			started++;
		} else {
			atomic_fetch_sub(&alive, 1);
		}
	}
	pthread_attr_destroy(&attr);
	atomic_store(&cairn_purger_state, started ? PURGER_RUNNING : PURGER_OFF);
}

void background_poll_slow(void)
{
	atomic_store_explicit(&cairn_purger_pending, false, memory_order_relaxed);
	int expected = PURGER_OFF;
	if (background_enabled() &&
	    atomic_compare_exchange_strong(&cairn_purger_state, &expected, PURGER_STARTING))
		start_threads();
}

bool background_running(void)
{
	return decay_purger_running();
}

unsigned background_threads(void)
{
	return atomic_load(&alive);
}

/* One change of background_set at a time: a second caller waits for the
 * threads the first stops or starts. */
static cairn_mutex set_lock = CAIRN_MUTEX_INIT;

/* A millisecond's sleep, waiting for the purging threads to end. */
static void nap(void)
{
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
}

bool background_set(bool on, unsigned max)
{
	mutex_lock(&set_lock);
	bool restart = max != 0 && max != atomic_load(&cairn_core.max_background_threads);
	if (max != 0)
		atomic_store(&cairn_core.max_background_threads, max);
	if (!on || restart) {
		/* Off first, so that no request starts them again meanwhile
		 * (background_poll_slow checks); a start under way is let
		 * finish, then everything it started is stopped. Threads that
		 * had stopped on their own (PURGER_STOPPED) are waited for
		 * the same way. */
		atomic_store(&cairn_core.background_thread, false);
		while (atomic_load(&cairn_purger_state) == PURGER_STARTING)
			nap();
		if (atomic_load(&cairn_purger_state) != PURGER_OFF) {
			stop_all();
			while (atomic_load(&alive) != 0)
				nap();
			atomic_store(&cairn_purger_state, PURGER_OFF);
		}
	}
	atomic_store(&cairn_core.background_thread, on);
	bool ok = true;
	if (on && atomic_load(&cairn_purger_state) == PURGER_OFF) {
		background_poll_slow();
		ok = atomic_load(&cairn_purger_state) == PURGER_RUNNING;
	}
	mutex_unlock(&set_lock);
	return ok;
}

void background_leader_exiting(void)
{
	if (atomic_exchange(&leader_gone, true))
		return;
	/* Wake thread 0 to start counting; no allocator lock is held here. */
	if (atomic_load(&cairn_purger_state) == PURGER_RUNNING)
		purger_wake_all();
}

/* The threads did not come along into the child. This runs first in the
 * child, before anything that could request decay; the restart runs last
 * and starts them again if they ran in the parent (or were being started).
 * Threads that had stopped (the parent's leader was gone) are not
 * restarted here; the child is like a new process, and its first request
 * starts them. */
void background_postfork_child(void)
{
	atomic_store(&alive, 0);
	mutex_init(&set_lock);
	atomic_store(&leader_gone, false);
	decay_request_postfork_child();
}

void background_postfork_child_restart(void)
{
	background_poll();
}
