/* SPDX-License-Identifier: MIT */
/* Arenas: the shared state behind the thread heaps.
 *
 * Each arena owns chunks and serves page runs from them (the page heap):
 * from size-segregated bins of free runs, preferring the fullest chunk,
 * split on allocation, coalesced with both neighbours on free. Freed pages
 * go through the life cycle dirty -> muzzy -> released on decay curves
 * (dirty_decay_ms, muzzy_decay_ms); a chunk released whole is unmapped.
 *
 * Four files: arena.c (the page heap: chunks, runs, slabs), arena_fit.c
 * (the search for a free run, the splits), arena_decay.c (decay of the free
 * runs), arena_runs.h (the index of free runs and the page entries they all
 * use).
 * The shared heap that goes with each arena is the heap module's
 * (heap_shared_alloc).
 *
 * Lock order: heaps_lock -> a shared heap's lock -> arena.lock -> huge_lock
 * -> meta_lock -> the page map's lock. Arenas are locked in index order. */
#ifndef CAIRN_ARENA_H
#define CAIRN_ARENA_H

#include <stdatomic.h>

#include "core/chunk.h"
#include "core/counters.h"
#include "core/lock.h"

#define RUN_BINS 64

struct runlist {
	struct span *head, *tail;
};

struct arena {
	cairn_mutex lock;                /* the page heap below */
	struct span *runs[RUN_BINS];     /* free runs by size. Guarded by lock. */
	uint64_t runs_nonempty;          /* bit b: runs[b] non-empty. Guarded by lock. */
	struct runlist dirty, muzzy;     /* free runs by age, oldest first. Guarded by lock. */
	size_t dirty_pages, muzzy_pages; /* Guarded by lock. */
	size_t released_bytes;           /* given back by decay, ever. Guarded by lock. */
	/* Free runs looked at by the searches for a run, ever: what shows that
	 * a search is bounded (tests/unit/arena.c). Guarded by lock. */
	uint64_t fit_visits;
	unsigned index;
	struct arena_counters counters; /* Guarded by lock. */
	/* Set in a fork child whose parent held the arena's lock
	 * (arenas_postfork_child): nothing is taken from it any more, and
	 * `successor` serves in its place. */
	bool retired;
	struct arena *successor;
	/* An arena the program created (core/explicit.h): only requests that
	 * name it use it, its chunks are linked on `chunks` and stay mapped
	 * until it is reset (decay purges their pages, never unmaps them), and
	 * it never lends pages to another arena or borrows from one. */
	bool created;
	struct chunk *chunks; /* Guarded by lock. */
	/* This arena's decay times (arena.<i>.dirty_decay_ms), where the bit
	 * of decay_own says so (1 dirty, 2 muzzy); else the options'. Zero,
	 * as an arena starts, is the options'. */
	_Atomic int64_t dirty_decay_ms, muzzy_decay_ms;
	_Atomic uint8_t decay_own;
};

/* A decay time that stands for the options' (arena_set_decay_ms). */
#define ARENA_DECAY_DEFAULT INT64_MIN

#include "core/params.h"

static inline int64_t arena_dirty_decay_ms(struct arena *a)
{
	if (!(atomic_load_explicit(&a->decay_own, memory_order_acquire) & 1))
		return cairn_core.dirty_decay_ms;
	return atomic_load_explicit(&a->dirty_decay_ms, memory_order_relaxed);
}

static inline int64_t arena_muzzy_decay_ms(struct arena *a)
{
	if (!(atomic_load_explicit(&a->decay_own, memory_order_acquire) & 2))
		return cairn_core.muzzy_decay_ms;
	return atomic_load_explicit(&a->muzzy_decay_ms, memory_order_relaxed);
}

/* Sets a's dirty (or muzzy) decay time; ARENA_DECAY_DEFAULT for the
 * options'. */
static inline void arena_set_decay_ms(struct arena *a, bool dirty, int64_t ms)
{
	uint8_t bit = dirty ? 1 : 2;
	if (ms == ARENA_DECAY_DEFAULT) {
		atomic_fetch_and(&a->decay_own, (uint8_t)~bit);
		return;
	}
	atomic_store(dirty ? &a->dirty_decay_ms : &a->muzzy_decay_ms, ms);
	atomic_fetch_or(&a->decay_own, bit);
}

extern struct arena *cairn_arenas HIDDEN;
extern unsigned cairn_narenas HIDDEN;
/* Whether chunks sit on transparent huge pages (thp:always, or thp:default
 * with the kernel's THP mode "always"): decay then avoids splitting them. */
extern bool cairn_hugepage_chunks HIDDEN;

bool arenas_init(unsigned narenas);
/* Sets up a created arena numbered index in a's zeroed memory. */
void arena_init_created(struct arena *a, unsigned index);
/* Gives every chunk of created arena a back to the OS at once (unmapped,
 * its page map entries cleared first): every block in it is freed. The
 * arena stays usable. Waits for runs that decay is purging with the lock
 * released. */
void arena_reset(struct arena *a);

/* A run of npages pages whose first page is a multiple of align_pages pages
 * from the chunk start (1 for no constraint); state and owner are left for
 * the caller to set. When no chunk can be mapped, from another arena's free
 * pages. NULL when out of memory. Takes arena->lock. */
struct span *arena_alloc_run(struct arena *a, size_t npages, size_t align_pages);
/* Returns a span (slab or large run) to the free runs. Takes arena->lock. */
void arena_free_run(struct arena *a, struct span *s);
/* Frees run s with its pages purged first, not left to decay. */
void arena_free_run_purged(struct arena *a, struct span *s);
/* Shrinks a large run in place to npages; the tail becomes free. */
void arena_shrink_run(struct arena *a, struct span *s, size_t npages);
/* Grows a large run in place to npages if the pages after it are free. */
bool arena_grow_run(struct arena *a, struct span *s, size_t npages);

/* Decay (arena_decay.c). */

/* The bounded share of due purging a slow path pays. */
#define DECAY_BUDGET 4

/* Purges what is due (everything with force), with no lock held across the
 * system calls; returns the bytes given back to the kernel. */
size_t arena_decay(struct arena *a, uint64_t now, bool force);
/* The bounded share of due purging a slow path pays. */
void arena_decay_step(struct arena *a, uint64_t now);
/* When the oldest dirty or muzzy run of a falls due; UINT64_MAX if never. */
uint64_t arena_decay_deadline(struct arena *a);
/* Purges, a's lock held, at most budget of a's runs: those due (all with
 * force) and, with curve, those the decay curve says to. The lock is
 * dropped around each system call. */
void arena_decay_locked(struct arena *a, uint64_t now, unsigned budget, bool force, bool curve);

/* Unmaps a's chunks that are wholly free, whatever retain says: for a
 * request that failed for lack of address space. Returns the bytes
 * unmapped. */
size_t arena_release_empty(struct arena *a);

struct heap;

/* Slab for class cls owned by heap h, from a fresh run. */
struct span *arena_new_slab(struct arena *a, struct heap *h, unsigned cls);

void arenas_postfork_child(void);
/* The same for one arena outside cairn_arenas (a created one). */
void arena_postfork_child_one(struct arena *a);

#endif
