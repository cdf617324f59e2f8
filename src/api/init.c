/* SPDX-License-Identifier: MIT */
/* The process's life as cairn sees it: bootstrap, thread attach, thread
 * exit, fork. */
#define _GNU_SOURCE
#include "api/init.h"
#include "api/stats_report.h"

#include <errno.h>
#include <pthread.h>

#include "cairn.h"

#include "control/conf.h"
#include "core/background.h"
#include "core/explicit.h"
#include "core/huge.h"
#include "core/lock.h"
#include "core/meta.h"
#include "core/pool.h"
#include "core/tally.h"
#include "core/params.h"
#include "os/os.h"
#include "prof/profiler.h"

#define EXPORT __attribute__((visibility("default")))

/* A program may define its own; the executable's definition wins. */
EXPORT const char *malloc_conf __attribute__((weak)) = NULL;

/* ------------------------------------------------------------ bootstrap
 *
 * Initialisation runs under init_lock; calls back into malloc from inside
 * it (pthread_atfork may allocate) are served from arena 0's shared heap,
 * which exists before anything that could recurse. */

_Atomic int cairn_init_state;
static cairn_mutex init_lock = CAIRN_MUTEX_INIT;
static pthread_t init_thread; /* Guarded by init_lock. */
static bool core_ready;
static bool use_thread_heaps;

static void thread_exit(void *v);
static void prefork(void);
static void postfork_parent(void);
static void postfork_child(void);

/* The key's destructor is how cairn learns that the leading thread left
 * with pthread_exit (see background_leader_exiting); a thread without a
 * heap (thread heaps off, or none needed yet) has no value to destroy, so
 * the leader gets a stand-in. */
static void watch_leader(void)
{
	if (os_thread_id() == os_process_id() && pthread_getspecific(cairn_heap_key) == NULL)
		pthread_setspecific(cairn_heap_key, &cairn_heap_empty);
}

/* The core never reads the options: it receives what it needs of them here,
 * once they are parsed and before any core code that reads them runs
 * (arenas_init is the first). Nothing changes the options afterwards. */
_Static_assert((int)CORE_THP_DEFAULT == THP_DEFAULT && (int)CORE_THP_ALWAYS == THP_ALWAYS &&
                   (int)CORE_THP_NEVER == THP_NEVER,
               "thp values");
_Static_assert((int)CORE_METADATA_THP_DISABLED == METADATA_THP_DISABLED &&
                   (int)CORE_METADATA_THP_AUTO == METADATA_THP_AUTO &&
                   (int)CORE_METADATA_THP_ALWAYS == METADATA_THP_ALWAYS,
               "metadata_thp values");

/* The profiler's share of the options (prof/ is below control/). */
static void prof_params_from_conf(void)
{
	cairn_prof = (struct prof_params){
	    .prefix = cairn_conf.prof_prefix,
	    .on = cairn_conf.prof,
	    .active = cairn_conf.prof_active,
	    .thread_active_init = cairn_conf.prof_thread_active_init,
	    .lg_sample = cairn_conf.lg_prof_sample,
	    .accum = cairn_conf.prof_accum,
	    .lg_interval = cairn_conf.lg_prof_interval,
	    .gdump = cairn_conf.prof_gdump,
	    .final = cairn_conf.prof_final,
	    .leak = cairn_conf.prof_leak,
	    .leak_error = cairn_conf.prof_leak_error,
	    .bt_max = cairn_conf.prof_bt_max,
	};
}

static void core_params_from_conf(void)
{
	cairn_core = (struct core_params){
	    .dirty_decay_ms = cairn_conf.dirty_decay_ms,
	    .muzzy_decay_ms = cairn_conf.muzzy_decay_ms,
	    .retain = cairn_conf.retain,
	    .background_thread = cairn_conf.background_thread,
	    .max_background_threads = cairn_conf.max_background_threads,
	    .thp = cairn_conf.thp,
	    .metadata_thp = cairn_conf.metadata_thp,
	};
}

COLD bool cairn_init_slow(void)
{
	if (atomic_load_explicit(&cairn_init_state, memory_order_acquire) == INIT_RUNNING &&
	    pthread_equal(init_thread, pthread_self()))
		return core_ready;
	int saved = errno;
	mutex_lock(&init_lock);
	if (atomic_load_explicit(&cairn_init_state, memory_order_relaxed) == INIT_DONE) {
		mutex_unlock(&init_lock);
		return true;
	}
	init_thread = pthread_self();
	atomic_store_explicit(&cairn_init_state, INIT_RUNNING, memory_order_release);

	os_init();
	conf_init(malloc_conf);
	if (cairn_conf.narenas == 0) {
		/* One arena per CPU the process may use: its affinity mask,
		 * and its cgroup's cpu.max quota where there is one. */
		unsigned cpus = os_ncpus();
		unsigned quota = os_cgroup_cpus();
		cairn_conf.narenas = quota != 0 && quota < cpus ? quota : cpus;
	}
	/* Thread heaps cache classes up to tcache_max; junk and zero fill on
	 * slow paths only, so they turn thread heaps off altogether. */
	int max_class = -1;
	for (int c = 0; c < SC_NSMALL && sc_size[c] <= cairn_conf.tcache_max; c++)
		max_class = c;
	cairn_tcache_max_class = max_class;
	use_thread_heaps = cairn_conf.tcache && !cairn_conf.junk && !cairn_conf.zero;
	core_params_from_conf();
	stats_report_init();

	if (!arenas_init(cairn_conf.narenas) || !shared_heaps_init()) {
		atomic_store_explicit(&cairn_init_state, INIT_NONE, memory_order_release);
		mutex_unlock(&init_lock);
		errno = ENOMEM;
		return false;
	}
	core_ready = true;
	if (pthread_key_create(&cairn_heap_key, thread_exit) == 0) {
		atomic_store_explicit(&cairn_heap_key_ready, 1, memory_order_release);
		watch_leader();
	} else {
		use_thread_heaps = false;
	}
	pthread_atfork(prefork, postfork_parent, postfork_child);
	/* The profiler starts last: what the C library allocates for cairn's
	 * own set-up (musl's pthread_atfork keeps a record for the process's
	 * life) is not the program's, and a leak report at exit must not list
	 * it. Out of memory for its tables, the profiler stays off. */
	prof_params_from_conf();
	prof_boot();
	if (cairn_conf.confirm_conf)
		conf_print();
	atomic_store_explicit(&cairn_init_state, INIT_DONE, memory_order_release);
	mutex_unlock(&init_lock);
	errno = saved;
	return true;
}

/* Initialise before main even if nothing allocated yet, so confirm_conf
 * reports and option errors show up at start-up. Not in the prefixed
 * library: a program that links it may never call it, and then it should
 * cost nothing (no mappings, no purging threads); its first call
 * initialises it. */
#ifndef CAIRN_PREFIXED
__attribute__((constructor)) static void cairn_constructor(void)
{
	ensure_init();
}
#endif

/* The profiler's dump at exit. A destructor rather than atexit, which may
 * allocate. */
__attribute__((destructor)) static void cairn_destructor(void)
{
	prof_exit();
}

/* ------------------------------------------------------------ threads */

struct heap *cairn_attach_heap(void)
{
	struct heap *h = heap_self();
	if (h == &cairn_heap_empty && use_thread_heaps &&
	    atomic_load_explicit(&cairn_init_state, memory_order_acquire) == INIT_DONE) {
		struct heap *mine = heap_acquire();
		if (mine != NULL) {
			/* A parked heap keeps what its last thread set. */
			mine->tcache_off = false;
			tally_reset(mine);
			prof_thread_start(mine);
			heap_set_self(mine);
			/* After heap_set_self: where there is no thread pointer
			 * to read, the id is the heap's pointer. */
			heap_own(mine, heap_owner_id());
			h = mine;
		}
	}
	return h;
}

static void thread_exit(void *v)
{
	struct heap *h = v;
	/* A later round of the key's destructors, which the value set below
	 * brings: the work is done. Where the key holds the thread's heap
	 * (CAIRN_TLS_PTHREAD), it must keep that value for the destructors
	 * still to run; elsewhere the thread-local variable does, and leaving
	 * the key empty ends the rounds. Before, each of glibc's four rounds
	 * asked the kernel for the thread's and the process's ids. */
	if (h == &cairn_heap_dead) {
#ifdef CAIRN_TLS_PTHREAD
		heap_set_self(&cairn_heap_dead);
#endif
		return;
	}
	if (h != NULL && h->kind == HEAP_THREAD) {
		heap_abandon(h);
		background_poll();
	}
	/* Only pthread_exit gets here in the leading thread: exit() runs no
	 * key destructors. */
	if (os_thread_id() == os_process_id())
		background_leader_exiting();
	/* Allocations from destructors that run after this one are served by
	 * the shared heaps; re-setting the key keeps that state for them. */
	heap_set_self(&cairn_heap_dead);
}

/* ------------------------------------------------------------ fork
 *
 * No lock is held across fork. glibc runs the prepare handlers first and
 * only then takes its stdio list lock (and, in a multi-threaded process,
 * waits for it); a thread that holds a FILE's lock and calls realloc
 * (getline) while the forking thread holds an allocator lock, with a third
 * thread in fflush(NULL) holding the list lock and waiting for that FILE,
 * closes a cycle (glibc's tst-malloc-fork-deadlock). And a fork from a
 * signal handler that interrupted this thread inside cairn would wait
 * forever for the locks it holds itself (glibc's tst-mallocfork2), or, if
 * the signal landed inside fork, for init_lock.
 *
 * So prepare only waits until the slow paths that other threads are in
 * have ended, and not even that when the forking thread holds a cairn lock
 * (src/core/lock.h), then returns holding nothing. The parent has nothing
 * to undo. The child re-initialises every lock and never uses what a lock
 * held at the fork guarded: such an arena, heap, heap pool, huge cache or
 * metadata region may be half changed, by a thread that is gone or by this
 * very thread, which goes on with its change if the signal handler that
 * forked returns. It is retired and leaked, and a fresh one takes its
 * place. The heaps of the other threads that are whole are parked for reuse,
 * so the child can free what they held. */

static void prefork(void)
{
	heaps_prefork();
}

static void postfork_parent(void)
{
}

static void postfork_child(void)
{
	int saved = errno;
	background_postfork_child();
	meta_postfork_child(); /* first: the others may take metadata */
	pagemap_postfork_child();
	huge_postfork_child();
	arenas_postfork_child();
	explicit_postfork_child();
	prof_postfork_child();
	/* A thread that was initialising cairn when the parent forked: it did
	 * everything but say so (the handlers are registered last). */
	mutex_init(&init_lock);
	if (atomic_load(&cairn_init_state) == INIT_RUNNING && core_ready &&
	    !pthread_equal(init_thread, pthread_self()))
		atomic_store(&cairn_init_state, INIT_DONE);
	heaps_postfork_child();
	/* The forking thread leads the child. */
	watch_leader();
	/* Last: restarting the purging threads allocates. */
	background_postfork_child_restart();
	errno = saved;
}
