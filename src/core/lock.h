/* SPDX-License-Identifier: MIT */
/* cairn's mutexes, and what fork needs to know about them.
 *
 * No cairn lock is held across fork (see "fork" in src/api/init.c): a lock
 * taken in the prepare handler and released after it would deadlock with
 * glibc's stdio locks, which fork takes after every prepare handler has run.
 * Instead the child finds out which locks were held when the parent forked
 * (a trylock fails) and never uses what they guarded: it may be half
 * changed, by a thread that no longer exists or by the forking thread itself,
 * interrupted by the signal whose handler forked. Each structure behind a
 * mutex is therefore reached by a lock-then-check: after taking the lock,
 * code that finds the structure "retired" releases it and goes to the
 * structure's successor (or leaks what it was returning). The child
 * re-initialises every mutex, so code that was about to take a retired
 * structure's lock when the parent forked does not hang on it.
 *
 * Each thread counts the cairn locks it holds or is about to take (the count
 * goes up before the lock is taken and down after it is released). prefork
 * reads it: a thread that forks from a signal handler which interrupted
 * cairn (count above zero) must wait for nothing, since what it would wait
 * for could be waiting for a lock it holds itself. The variant built to be
 * dlopen-safe has no static TLS and no count: it never waits. */
#ifndef CAIRN_LOCK_H
#define CAIRN_LOCK_H

#include <pthread.h>
#include <stdbool.h>

#include "core/util.h"

#ifdef CAIRN_TLS_PTHREAD
static inline void lock_count_up(void)
{
}
static inline void lock_count_down(void)
{
}
/* Whether the calling thread may hold a cairn lock: always, as far as the
 * dlopen-safe variant can tell. */
static inline bool lock_held_by_self(void)
{
	return true;
}
#else
extern __thread int cairn_tls_locks HIDDEN __attribute__((tls_model("initial-exec")));
/* A compiler barrier on each side: the count must be up before the lock is
 * taken and down only after it is released, as a signal handler running on
 * this thread sees it. */
static inline void lock_count_up(void)
{
	cairn_tls_locks++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static inline void lock_count_down(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	cairn_tls_locks--;
}
static inline bool lock_held_by_self(void)
{
	return cairn_tls_locks != 0;
}
#endif

static inline void mutex_lock(pthread_mutex_t *m)
{
	lock_count_up();
	pthread_mutex_lock(m);
}

static inline bool mutex_trylock(pthread_mutex_t *m)
{
	lock_count_up();
	if (pthread_mutex_trylock(m) == 0)
		return true;
	lock_count_down();
	return false;
}

static inline void mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	lock_count_down();
}

/* In a fork child: re-initialises m and says whether it was held when the
 * parent forked. */
static inline bool mutex_reset_was_held(pthread_mutex_t *m)
{
	bool held = pthread_mutex_trylock(m) != 0;
	pthread_mutex_init(m, NULL);
	return held;
}

#endif
