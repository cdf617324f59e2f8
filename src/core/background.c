/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "core/background.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/params.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/huge.h"
#include "core/lock.h"
#include "os/os.h"

#define MAX_THREADS 64

/* BG_STOPPED: the threads ended because nothing else was left running in
 * the process; they are never started again (but in a child of fork). */
enum { BG_OFF, BG_STARTING, BG_RUNNING, BG_STOPPED };

static _Atomic int bg_state;
static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond = PTHREAD_COND_INITIALIZER;
static unsigned bg_nthreads;      /* Guarded by bg_lock. */
static _Atomic unsigned bg_idle;  /* threads asleep with nothing due */
static bool bg_kicked;            /* Guarded by bg_lock. */
static _Atomic unsigned bg_alive; /* threads that have not returned */
/* The thread leading the process (main, or the one that forked) has
 * exited its own way (pthread_exit) while other threads run. The process
 * then ends when its last thread exits, and a purging thread must never be
 * that last thread: glibc would wait for it forever, with every signal
 * blocked, so that not even SIGTERM ends the process. */
static _Atomic bool leader_gone;

/* How often a thread looks at the cgroup memory limit while it has work. */
#define CGROUP_CHECK_MS 1000
/* Sleep at least this long between passes, so decay is batched. */
#define MIN_SLEEP_MS 10

size_t purge_all(bool force)
{
	uint64_t now = os_now_ms();
	/* The caller's own heap first: its cached large runs go back to
	 * their arenas, to be purged with the rest. */
	size_t released = force ? heap_purge_self() : 0;
	/* Then the other heaps, whose idle ones (all, with force) give
	 * their cached large runs back too, before the arenas purge. */
	uint64_t ignored = UINT64_MAX;
	released += heaps_decay(now, force, &ignored);
	for (unsigned i = 0; i < cairn_narenas; i++)
		released += arena_decay(&cairn_arenas[i], now, force);
	released += huge_decay(now, force);
	return released;
}

size_t reclaim_for_retry(void)
{
	/* Nothing below allocates, so this never runs inside itself. */
	/* The caller's bins go back to their slabs first: slabs that empty go
	 * back to their arenas, and chunks that empty can then be unmapped. */
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD)
		heap_flush(h);
	/* Every heap's cached large runs and idle slab pages, the arenas'
	 * dirty and muzzy pages (whole free chunks unmapped unless retain is
	 * on) and the huge cache. */
	size_t released = purge_all(true);
	/* Then every wholly free chunk, retain or not. */
	for (unsigned i = 0; i < cairn_narenas; i++)
		released += arena_release_empty(&cairn_arenas[i]);
	return released;
}

void decay_tick(struct arena *a)
{
	static _Atomic uint64_t last_heaps;
	uint64_t now = os_now_ms();
	arena_decay_step(a, now);
	huge_decay(now, false);
	/* Parked heaps at most once a millisecond: it takes a global lock. */
	if (atomic_exchange_explicit(&last_heaps, now, memory_order_relaxed) != now) {
		uint64_t ignored = UINT64_MAX;
		heaps_decay(now, false, &ignored);
	}
}

static bool near_cgroup_limit(void)
{
	uint64_t limit, current;
	return os_cgroup_memory(&limit, &current) && current >= limit - limit / 10;
}

static bool has_cgroup_limit;

/* Once the leader is gone, how long until thread 0 counts the threads
 * again: from MIN_SLEEP_MS after the leader's exit, doubling up to
 * LONELY_POLL_MAX_MS while other threads run. */
#define LONELY_POLL_MAX_MS 100

/* Whether only the purging threads are left in the process. */
static bool alone(void)
{
	unsigned live = os_live_threads();
	return live != 0 && live <= atomic_load(&bg_alive);
}

/* Ends every purging thread, so that the process ends: glibc makes the
 * last thread to return call exit(0), as it would have for the program's
 * own last thread. */
static void stop_all(void)
{
	mutex_lock(&bg_lock);
	atomic_store(&bg_state, BG_STOPPED);
	pthread_cond_broadcast(&bg_cond);
	mutex_unlock(&bg_lock);
}

static void *bg_main(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uint64_t last_cgroup_check = 0;
	uint64_t lonely_poll = MIN_SLEEP_MS;
	atomic_fetch_add(&bg_alive, 1);
	while (atomic_load(&bg_state) != BG_STOPPED) {
		uint64_t now = os_now_ms();
		uint64_t next = UINT64_MAX;
		bool force = false;
		if (k == 0 && atomic_load(&leader_gone)) {
			if (alone()) {
				stop_all();
				break;
			}
			next = now + lonely_poll;
			lonely_poll = lonely_poll * 2 < LONELY_POLL_MAX_MS ? lonely_poll * 2
			                                                   : LONELY_POLL_MAX_MS;
		}
		if (k == 0 && now - last_cgroup_check >= CGROUP_CHECK_MS) {
			last_cgroup_check = now;
			force = near_cgroup_limit();
		}
		/* Under a cgroup memory limit thread 0 keeps looking at it, idle
		 * or not, so a limit approached while nothing decays still
		 * gets everything purged. */
		bool limited = k == 0 && has_cgroup_limit;
		for (unsigned i = k; i < cairn_narenas; i += bg_nthreads) {
			arena_decay(&cairn_arenas[i], now, force);
			uint64_t d = arena_decay_deadline(&cairn_arenas[i]);
			if (d < next)
				next = d;
		}
		if (k == 0) {
			huge_decay(now, force);
			uint64_t d = huge_decay_deadline();
			if (d < next)
				next = d;
			heaps_decay(now, force, &next);
			if ((next != UINT64_MAX || limited) && now + CGROUP_CHECK_MS < next)
				next = now + CGROUP_CHECK_MS;
		}
		/* While pages wait, pass every 1/20 of the decay time so that
		 * purging follows the decay curve. */
		if (next != UINT64_MAX && cairn_core.dirty_decay_ms > 0) {
			uint64_t step = (uint64_t)cairn_core.dirty_decay_ms / 20;
			if (now + step < next)
				next = now + step;
		}
		mutex_lock(&bg_lock);
		if (!bg_kicked && atomic_load(&bg_state) != BG_STOPPED) {
			if (next == UINT64_MAX) {
				atomic_fetch_add(&bg_idle, 1);
				pthread_cond_wait(&bg_cond, &bg_lock);
				atomic_fetch_sub(&bg_idle, 1);
			} else {
				uint64_t wake =
				    next > now + MIN_SLEEP_MS ? next : now + MIN_SLEEP_MS;
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				uint64_t delta = wake - now;
				ts.tv_sec += (time_t)(delta / 1000);
				ts.tv_nsec += (long)(delta % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&bg_cond, &bg_lock, &ts);
			}
		}
		bg_kicked = false;
		mutex_unlock(&bg_lock);
	}
	atomic_fetch_sub(&bg_alive, 1);
	return NULL;
}

/* Starts the threads; called by the one caller that moved the state from
 * BG_OFF to BG_STARTING, with no allocator lock held (pthread_create
 * allocates). */
static void start_threads(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bg_cond, &ca);
	pthread_condattr_destroy(&ca);
	unsigned n = cairn_core.max_background_threads;
	if (n > cairn_narenas)
		n = cairn_narenas;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	bg_nthreads = n ? n : 1;
	uint64_t limit, current;
	has_cgroup_limit = os_cgroup_memory(&limit, &current);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	unsigned started = 0;
	for (unsigned k = 0; k < bg_nthreads; k++) {
		pthread_t t;
		if (pthread_create(&t, &attr, bg_main, (void *)(uintptr_t)k) == 0) {
			pthread_setname_np(t, "cairn-purge");
			started++;
		}
	}
	pthread_attr_destroy(&attr);
	atomic_store(&bg_state, started ? BG_RUNNING : BG_OFF);
}

/* Starting threads allocates, so it never happens where kicked (the
 * kicker may hold allocator locks): the kick leaves a request that
 * background_poll() carries out at a point where no lock is held. */
_Atomic bool cairn_background_pending;

void background_kick(void)
{
	if (!cairn_core.background_thread)
		return;
	int state = atomic_load_explicit(&bg_state, memory_order_acquire);
	if (state == BG_OFF) {
		atomic_store_explicit(&cairn_background_pending, true, memory_order_relaxed);
		return;
	}
	/* Wake an idle thread. trylock: the kicker may hold other locks, and
	 * a missed wake-up only delays purging until the next kick. With
	 * dirty_decay_ms:-1 nothing ever falls due, and a woken thread would
	 * only go back to sleep: every free would cost two context switches. */
	if (state == BG_RUNNING && cairn_core.dirty_decay_ms >= 0 &&
	    atomic_load_explicit(&bg_idle, memory_order_relaxed) > 0 && mutex_trylock(&bg_lock)) {
		bg_kicked = true;
		pthread_cond_broadcast(&bg_cond);
		mutex_unlock(&bg_lock);
	}
}

void background_want(void)
{
	if (cairn_core.background_thread &&
	    atomic_load_explicit(&bg_state, memory_order_acquire) == BG_OFF)
		atomic_store_explicit(&cairn_background_pending, true, memory_order_relaxed);
}

void background_poll_slow(void)
{
	atomic_store_explicit(&cairn_background_pending, false, memory_order_relaxed);
	int expected = BG_OFF;
	if (atomic_compare_exchange_strong(&bg_state, &expected, BG_STARTING))
		start_threads();
}

bool background_running(void)
{
	return atomic_load(&bg_state) == BG_RUNNING;
}

void background_leader_exiting(void)
{
	if (atomic_exchange(&leader_gone, true))
		return;
	/* Wake thread 0 to start counting; no allocator lock is held here. */
	if (atomic_load(&bg_state) == BG_RUNNING) {
		mutex_lock(&bg_lock);
		bg_kicked = true;
		pthread_cond_broadcast(&bg_cond);
		mutex_unlock(&bg_lock);
	}
}

/* The threads did not come along into the child. This runs first in the
 * child, before anything that could kick; background_postfork_child_restart
 * runs last and starts them again if they ran in the parent (or were being
 * started). Threads that had stopped (BG_STOPPED: the parent's leader was
 * gone) are not restarted here; the child is BG_OFF like a new process, and
 * its first kick starts them. Nothing was locked for the fork (see
 * src/core/lock.h): bg_lock is re-initialised whoever held it. */
void background_postfork_child(void)
{
	int state = atomic_load(&bg_state);
	bool ran_before_fork = state == BG_RUNNING || state == BG_STARTING;
	pthread_mutex_init(&bg_lock, NULL);
	atomic_store(&bg_idle, 0);
	atomic_store(&bg_alive, 0);
	atomic_store(&leader_gone, false);
	bg_kicked = false;
	atomic_store(&bg_state, BG_OFF);
	atomic_store(&cairn_background_pending, ran_before_fork);
}

void background_postfork_child_restart(void)
{
	background_poll();
}
