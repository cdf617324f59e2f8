/* SPDX-License-Identifier: MIT */
/* Large blocks (page runs from SMALL_MAX to LARGE_MAX), as the api hands
 * them out and takes them back: counted, and cached. Each thread heap keeps
 * freed large runs for its thread's next large allocations of the same
 * class, without the arena's lock: at most LARGE_CACHE_COUNT runs of a
 * class and large_limit bytes in all (heap.h says how that bound adapts).
 * Its runs stay allocated as far as the arena knows, marked LARGE_CACHED so
 * that a second free is caught. Runs that sat unused for a trim period go
 * back at the owner's rare event, half of them each period (heap_trim), so
 * a cache filled by a class the thread no longer uses does not hold its
 * pages for as long as the thread lives; the cache of a heap whose thread
 * sits idle is given back by the purging thread (heaps_decay). */
#ifndef CAIRN_LARGECACHE_H
#define CAIRN_LARGECACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/counters.h"
#include "core/decay_request.h"
#include "core/heap.h"
#include "core/sizeclass.h"

struct arena;

/* A large block of npages pages whose first page is a multiple of
 * align_pages pages (1: no constraint) into its chunk, for heap h's thread:
 * from h's cache, else from arena a. NULL when out of memory. */
struct span *large_alloc(struct heap *h, struct arena *a, size_t npages, size_t align_pages);
/* Frees large block s, from h's thread: into h's cache if there is room,
 * else back to its arena; with purge, its pages given back at once. */
void large_free(struct heap *h, struct span *s, bool purge);
/* Counts large block s, resized in place from old_npages pages, as freed
 * from its old class and handed out in its new one (jemalloc's way). */
void large_resized(struct span *s, size_t old_npages);
/* Counts run s, taken from an arena by other means than large_alloc (a
 * created arena's), as a large block handed out; large_free counts its
 * free. */
void large_handed_out(struct span *s);

/* Counts run s, freed (or handed out), to large class lc of the arena
 * whose chunk holds it, whichever heap's thread moves it: so an arena's
 * classes never free more than they handed out. The process's totals are
 * these summed (stats.c), not counters of their own: every thread's large
 * blocks would otherwise add to the same two words. */
static inline void large_counted_to(struct arena *a, unsigned lc, bool freed)
{
	struct lextent_counters *l = &a->counters.lextents[lc];
	if (freed)
		atomic_fetch_add_explicit(&l->ndalloc, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&l->nmalloc, 1, memory_order_relaxed);
}

static inline void large_counted(struct span *s, unsigned lc, bool freed)
{
	large_counted_to(span_chunk(s)->arena, lc, freed);
}

/* The large class of a run of npages pages, or -1 where it has none (a
 * run for an aligned request, a small or a huge size). */
static inline int large_class(size_t npages)
{
	return npages <= LARGE_MAX >> PAGE_SHIFT ? sc_large_of_pages[npages] : -1;
}

/* The owner changes the cache under its heap's lock, since the purging
 * thread empties the caches of idle heaps (heaps_decay); a look at an empty
 * class takes no lock. The lock alone, not slow_path_enter/leave: nothing
 * here sends frees to other heaps. */
static inline void large_lock(struct heap *h)
{
	heap_lock(h);
	uint32_t n = atomic_load_explicit(&h->slow_count, memory_order_relaxed);
	atomic_store_explicit(&h->slow_count, n + 1, memory_order_relaxed);
}

/* Whether h, a thread heap, has a run of large class c cached, by a look
 * without the lock. */
static inline bool large_has_cached(struct heap *h, int c)
{
	return h->kind == HEAP_THREAD && __atomic_load_n(&h->large[c], __ATOMIC_RELAXED) != NULL;
}

/* A cache hit's lock for paths that make no call (the api's hits, so that
 * they need no stack frame): taken only where it is free, since only the
 * purging thread and readers of the statistics ever hold it besides the
 * owner. Released with large_unlock_leaves_waiter. */
static inline bool large_trylock(struct heap *h)
{
	if (!heap_trylock(h))
		return false;
	uint32_t n = atomic_load_explicit(&h->slow_count, memory_order_relaxed);
	atomic_store_explicit(&h->slow_count, n + 1, memory_order_relaxed);
	return true;
}

/* Releases h's lock and says whether a thread waits to be woken
 * (mutex_wake(&h->lock)). */
static inline bool large_unlock_leaves_waiter(struct heap *h)
{
	return mutex_unlock_leaves_waiter(&h->lock);
}

/* Takes the newest run of class c from h's cache (h's lock held), or NULL
 * where the purging thread emptied it since the caller looked. */
static inline struct span *large_cache_pop(struct heap *h, int c)
{
	struct span *s = h->large[c];
	if (s != NULL) {
		h->large[c] = s->next;
		h->large_count[c]--;
		if (h->large_count[c] < h->large_low[c])
			h->large_low[c] = h->large_count[c];
		h->large_bytes -= span_bytes(s);
		s->flags = 0;
	}
	return s;
}

/* The bytes h's cache may hold now. */
static inline size_t large_cache_bound(const struct heap *h)
{
	return __atomic_load_n(&h->large_limit, __ATOMIC_RELAXED);
}

/* Keeps freed run s of class c, `bytes` long, in h's cache if there is
 * room (h's lock held), and says in *room whether there was; returns the
 * bytes cached with s or, if s did not fit, as if it had been (for
 * large_cache_wants_purger). */
static inline size_t large_cache_push(struct heap *h, struct span *s, size_t bytes, int c,
                                      bool *room)
{
	size_t cached = h->large_bytes + bytes;
	*room = h->large_count[c] < LARGE_CACHE_COUNT && cached <= large_cache_bound(h);
	if (*room) {
		s->flags = LARGE_CACHED;
		s->next = h->large[c];
		h->large[c] = s;
		h->large_count[c]++;
		h->large_bytes = cached;
	}
	return cached;
}

/* An idle heap's cache is given back by the purging thread's looks (a
 * busy one's trimmed at its owner's rare event, heap_trim): it must be
 * running once the cache holds much. Whether to ask for it, after a push
 * that made the cache hold `cached` bytes (or would have, had there been
 * room). The threads' state is read second, since a cache that holds
 * much asks on every free and the threads, once started, are most often
 * running. */
static inline bool large_cache_wants_purger(size_t cached, size_t bytes, bool room)
{
	return cached - (room ? 0 : bytes) >= DECAY_REQUEST_PAGES * PAGE_SIZE &&
	       atomic_load_explicit(&cairn_purger_state, memory_order_relaxed) == PURGER_OFF;
}

/* Whether a freed run of arena a may go into h's cache at all: h is a
 * thread's heap, and a is no created arena, whose runs may not outlive it
 * in a thread's cache. */
static inline bool large_cacheable(struct heap *h, struct arena *a)
{
	return h->kind == HEAP_THREAD && !a->created;
}

/* Takes a run of large class c from h's cache, or NULL. Inline, like
 * large_cache_put, so that malloc and free of a cached class cost no more
 * calls than the api's own. */
static inline struct span *large_cache_take(struct heap *h, int c)
{
	if (!large_has_cached(h, c))
		return NULL;
	large_lock(h);
	struct span *s = large_cache_pop(h, c);
	heap_unlock(h);
	return s;
}

/* Keeps freed run s of large class c in h's cache if there is room. */
static inline bool large_cache_put(struct heap *h, struct span *s, int c)
{
	if (!large_cacheable(h, span_chunk(s)->arena))
		return false;
	bool room;
	size_t bytes = span_bytes(s);
	large_lock(h);
	size_t cached = large_cache_push(h, s, bytes, c, &room);
	heap_unlock(h);
	if (large_cache_wants_purger(cached, bytes, room))
		decay_request_start();
	return room;
}

/* A run of large class c from h's cache, counted as handed out; NULL if
 * the class has none cached. */
static inline struct span *large_take_cached(struct heap *h, int c)
{
	struct span *s = large_cache_take(h, c);
	if (s != NULL)
		large_counted(s, (unsigned)c, false);
	return s;
}

/* Counts large block s's free (before the cache may show it: no reader
 * sees it both in use and cached) and keeps it in h's cache if there is
 * room; false if not, and the caller gives it to its arena
 * (large_to_arena), counted already. */
static inline bool large_free_cached(struct heap *h, struct span *s, int c)
{
	large_counted(s, (unsigned)c, true);
	return large_cache_put(h, s, c);
}

/* Gives large block s, its free counted, back to its arena, past every
 * cache; with purge, its pages given back at once. */
void large_to_arena(struct span *s, bool purge);
/* Counts large block s's free and gives it back to its arena. */
void large_release(struct span *s, bool purge);

/* A miss of h's cache for a run of `bytes` bytes of a class it keeps
 * (the owner, without h's lock): where the cache is too full to have
 * taken that run, its bound grows by it, up to LARGE_CACHE_BYTES_MAX. */
void large_cache_missed(struct heap *h, size_t bytes);

/* A cached free large run of exactly npages pages, or NULL. */
struct span *heap_large_take(struct heap *h, size_t npages);
/* Keeps freed large run s in h's cache if there is room; false if not. */
bool heap_large_put(struct heap *h, struct span *s);
/* Gives every run of h's cache back to its arena (h's lock held, or h
 * with no owner); returns the bytes. */
size_t heap_large_flush(struct heap *h);
/* Half of the runs of each class that sat unused since the last trim (the
 * class's low-water mark), the oldest, go back to their arenas; h's lock
 * held. Returns the bytes. */
size_t heap_large_trim(struct heap *h);

#endif
