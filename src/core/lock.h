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

#include <stdatomic.h>
#include <stdbool.h>

#include "core/util.h"
#include "os/os.h"

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

/* cairn's mutex: one word that reads 0 when free, 1 when held, 2 when held
 * and a thread may sleep on it (a futex). Taking a free one is one
 * compare-and-swap, releasing it one exchange and, only where a thread
 * sleeps, a wake-up. glibc's pthread_mutex_lock and unlock cost 57
 * instructions a pair where this costs 12 (callgrind), and a large block
 * that goes through its arena takes the arena's lock once to be allocated
 * and once to be freed. */
typedef struct {
	_Atomic int word;
} cairn_mutex;
#define CAIRN_MUTEX_INIT                                                                           \
	{                                                                                          \
		0                                                                                  \
	}

static inline void mutex_init(cairn_mutex *m)
{
	atomic_store_explicit(&m->word, 0, memory_order_relaxed);
}
static inline void mutex_lock(cairn_mutex *m)
{
	int c = 0;
	lock_count_up();
	if (likely(atomic_compare_exchange_strong_explicit(&m->word, &c, 1, memory_order_acquire,
	                                                   memory_order_relaxed)))
		return;
	if (c != 2)
		c = atomic_exchange_explicit(&m->word, 2, memory_order_acquire);
	while (c != 0) {
		os_wait_on(&m->word, 2);
		c = atomic_exchange_explicit(&m->word, 2, memory_order_acquire);
	}
}
static inline bool mutex_trylock(cairn_mutex *m)
{
	int c = 0;
	lock_count_up();
	if (atomic_compare_exchange_strong_explicit(&m->word, &c, 1, memory_order_acquire,
	                                            memory_order_relaxed))
		return true;
	lock_count_down();
	return false;
}
static inline void mutex_unlock(cairn_mutex *m)
{
	if (atomic_exchange_explicit(&m->word, 0, memory_order_release) == 2)
		os_wake_one(&m->word);
	lock_count_down();
}
/* mutex_unlock without the wake-up: true when a thread sleeps on m, and
 * then the caller must wake it (mutex_wake). For paths that make no call,
 * so that they need no stack frame, and end in the wake-up as a tail call
 * where one is needed (the thread caches' large-run hits, alloc.c and
 * free.c). */
static inline bool mutex_unlock_leaves_waiter(cairn_mutex *m)
{
	bool waiter = atomic_exchange_explicit(&m->word, 0, memory_order_release) == 2;
	lock_count_down();
	return waiter;
}
static inline void mutex_wake(cairn_mutex *m)
{
	os_wake_one(&m->word);
}
/* Whether m is held, by any thread, as far as a racy look can tell. */
static inline bool mutex_is_held(cairn_mutex *m)
{
	return atomic_load_explicit(&m->word, memory_order_relaxed) != 0;
}
/* In a fork child: frees m and says whether it was held when the parent
 * forked (by a thread the child does not have, or by the forking one). */
static inline bool mutex_reset_was_held(cairn_mutex *m)
{
	bool held = atomic_load_explicit(&m->word, memory_order_relaxed) != 0;
	atomic_store_explicit(&m->word, 0, memory_order_relaxed);
	return held;
}
#endif
