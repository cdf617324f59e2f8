/* SPDX-License-Identifier: MIT */
#include "core/decay_request.h"

#include <pthread.h>
#include <time.h>

#include "core/lock.h"
#include "core/params.h"

_Atomic bool cairn_purger_pending;
_Atomic int cairn_purger_state;

/* The one pthread mutex: condition variables wait on nothing else. Counted
 * among the calling thread's locks like cairn's own (core/lock.h). */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;

static void sleep_lock_take(void)
{
	lock_count_up();
	pthread_mutex_lock(&sleep_lock);
}

static bool sleep_lock_try(void)
{
	lock_count_up();
	if (pthread_mutex_trylock(&sleep_lock) == 0)
		return true;
	lock_count_down();
	return false;
}

static void sleep_lock_release(void)
{
	pthread_mutex_unlock(&sleep_lock);
	lock_count_down();
}
static _Atomic unsigned idle; /* threads asleep with nothing due */
static bool woken;            /* since the last sleep. Guarded by sleep_lock. */

void decay_request(void)
{
	if (!atomic_load_explicit(&cairn_core.background_thread, memory_order_relaxed))
		return;
	int state = atomic_load_explicit(&cairn_purger_state, memory_order_acquire);
	if (state == PURGER_OFF) {
		atomic_store_explicit(&cairn_purger_pending, true, memory_order_relaxed);
		return;
	}
	/* trylock: the caller may hold other locks, and a missed wake-up
	 * only delays purging until the next request. With dirty_decay_ms:-1
	 * nothing ever falls due, and a woken thread would only go back to
	 * sleep: every free would cost two context switches. */
	if (state == PURGER_RUNNING && cairn_core.dirty_decay_ms >= 0 &&
	    atomic_load_explicit(&idle, memory_order_relaxed) > 0 && sleep_lock_try()) {
		woken = true;
		pthread_cond_broadcast(&sleep_cond);
		sleep_lock_release();
	}
}

void decay_request_start(void)
{
	if (atomic_load_explicit(&cairn_core.background_thread, memory_order_relaxed) &&
	    atomic_load_explicit(&cairn_purger_state, memory_order_acquire) == PURGER_OFF)
		atomic_store_explicit(&cairn_purger_pending, true, memory_order_relaxed);
}

bool decay_purger_running(void)
{
	return atomic_load_explicit(&cairn_purger_state, memory_order_relaxed) == PURGER_RUNNING;
}

void purger_sleep_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sleep_cond, &ca);
	pthread_condattr_destroy(&ca);
}

void purger_sleep(uint64_t now, uint64_t wake_at)
{
	sleep_lock_take();
	if (!woken && atomic_load(&cairn_purger_state) != PURGER_STOPPED) {
		if (wake_at == UINT64_MAX) {
			atomic_fetch_add(&idle, 1);
			pthread_cond_wait(&sleep_cond, &sleep_lock);
			atomic_fetch_sub(&idle, 1);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t delta = wake_at > now ? wake_at - now : 0;
			ts.tv_sec += (time_t)(delta / 1000);
			ts.tv_nsec += (long)(delta % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&sleep_cond, &sleep_lock, &ts);
		}
	}
	woken = false;
	sleep_lock_release();
}

void purger_wake_all(void)
{
	sleep_lock_take();
	woken = true;
	pthread_cond_broadcast(&sleep_cond);
	sleep_lock_release();
}

/* The threads did not come along into the child; nothing was locked for
 * the fork (see src/core/lock.h): the lock is re-initialised whoever held
 * it. Threads that had stopped (the parent's leader was gone) are not
 * asked for again: the child starts like a new process. */
void decay_request_postfork_child(void)
{
	int state = atomic_load(&cairn_purger_state);
	bool ran_before_fork = state == PURGER_RUNNING || state == PURGER_STARTING;
	pthread_mutex_init(&sleep_lock, NULL);
	atomic_store(&idle, 0);
	woken = false;
	atomic_store(&cairn_purger_state, PURGER_OFF);
	atomic_store(&cairn_purger_pending, ran_before_fork);
}
