/* SPDX-License-Identifier: MIT */
#include "core/largecache.h"

#include "core/arena.h"
#include "core/counters.h"
#include "core/decay_request.h"
#include "core/sizeclass.h"

static int large_class(size_t npages)
{
	size_t bytes = npages << PAGE_SHIFT;
	if (bytes <= SMALL_MAX || bytes > LARGE_MAX)
		return -1;
	unsigned c = size_class(bytes);
	return sc_size[c] == bytes ? (int)(c - SC_NSMALL) : -1;
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

/* Takes a run of large class c from h's cache, or NULL: the one class
 * computation of the allocation is the caller's. */
static inline struct span *cache_take(struct heap *h, int c)
{
	if (h->kind != HEAP_THREAD || __atomic_load_n(&h->large[c], __ATOMIC_RELAXED) == NULL)
		return NULL;
	large_lock(h);
	struct span *s = h->large[c];
	if (s != NULL) {
		h->large[c] = s->next;
		h->large_count[c]--;
		h->large_bytes -= span_bytes(s);
		s->flags = 0;
	}
	heap_unlock(h);
	return s;
}

/* Keeps run s of large class c in h's cache if there is room. */
static inline bool cache_put(struct heap *h, struct span *s, int c)
{
	/* A created arena's run may not outlive it in a thread's cache. */
	if (h->kind != HEAP_THREAD || span_chunk(s)->arena->created)
		return false;
	size_t bytes = span_bytes(s);
	large_lock(h);
	size_t cached = h->large_bytes + bytes;
	bool room = h->large_count[c] < LARGE_CACHE_COUNT && cached <= LARGE_CACHE_BYTES;
	if (room) {
		s->flags = LARGE_CACHED;
		s->next = h->large[c];
		h->large[c] = s;
		h->large_count[c]++;
		h->large_bytes = cached;
	}
	heap_unlock(h);
	/* The cache is given back only by the purging thread's looks at idle
	 * heaps: it must be running once the cache holds much. */
	if (cached - (room ? 0 : bytes) >= DECAY_REQUEST_PAGES * PAGE_SIZE)
		decay_request_start();
	return room;
}

struct span *heap_large_take(struct heap *h, size_t npages)
{
	int c = large_class(npages);
	return c < 0 ? NULL : cache_take(h, c);
}

bool heap_large_put(struct heap *h, struct span *s)
{
	int c = large_class(s->npages);
	return c >= 0 && cache_put(h, s, c);
}

size_t heap_large_flush(struct heap *h)
{
	size_t bytes = h->large_bytes;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++) {
		while (h->large[c] != NULL) {
			struct span *s = h->large[c];
			/* Atomic: the owner may be peeking (heap_large_take). */
			__atomic_store_n(&h->large[c], s->next, __ATOMIC_RELAXED);
			s->flags = 0;
			arena_free_run(span_chunk(s)->arena, s);
		}
		h->large_count[c] = 0;
	}
	h->large_bytes = 0;
	return bytes;
}

/* The large class a run of npages pages counts to: its own, or the
 * smallest one it fits (a run for an aligned small request is smaller than
 * every large class, as in jemalloc, where it takes the first). */
static unsigned count_class(size_t npages)
{
	size_t bytes = npages << PAGE_SHIFT;
	if (bytes <= SMALL_MAX)
		return 0;
	unsigned c = size_class(bytes > LARGE_MAX ? LARGE_MAX : bytes);
	return c - SC_NSMALL;
}

/* Counted to the arena whose chunk holds the run, whichever heap's thread
 * moves it: so an arena's classes never free more than they handed out. */
static inline struct lextent_counters *lextent_at(struct span *s, unsigned lc)
{
	return &span_chunk(s)->arena->counters.lextents[lc];
}

static inline struct lextent_counters *lextent_of(struct span *s, size_t npages)
{
	return lextent_at(s, count_class(npages));
}

#define lextent_add(s, npages, name)                                                               \
	atomic_fetch_add_explicit(&lextent_of(s, npages)->name, 1, memory_order_relaxed)

void large_resized(struct span *s, size_t old_npages)
{
	if (count_class(old_npages) == count_class(s->npages))
		return;
	/* Into the new class before out of the old one: no class is ever seen
	 * freeing a block it did not hand out. */
	lextent_add(s, s->npages, nmalloc);
	lextent_add(s, old_npages, ndalloc);
}

void large_handed_out(struct span *s)
{
	counter_add(large_nmalloc, 1);
	lextent_add(s, s->npages, nmalloc);
}

/* The class is found once per call and serves the cache and the
 * counters both; a run of no class (an aligned request's) counts to the
 * class it fits. */
struct span *large_alloc(struct heap *h, struct arena *a, size_t npages, size_t align_pages)
{
	int c = align_pages == 1 ? large_class(npages) : -1;
	struct span *s = c >= 0 ? cache_take(h, c) : NULL;
	if (s == NULL) {
		s = arena_alloc_run(a, npages, align_pages);
		if (s == NULL)
			return NULL;
	}
	counter_add(large_nmalloc, 1);
	atomic_fetch_add_explicit(
	    &lextent_at(s, c >= 0 ? (unsigned)c : count_class(npages))->nmalloc, 1,
	    memory_order_relaxed);
	return s;
}

void large_free(struct heap *h, struct span *s, bool purge)
{
	int c = large_class(s->npages);
	counter_add(large_ndalloc, 1);
	atomic_fetch_add_explicit(
	    &lextent_at(s, c >= 0 ? (unsigned)c : count_class(s->npages))->ndalloc, 1,
	    memory_order_relaxed);
	if (purge)
		arena_free_run_purged(span_chunk(s)->arena, s);
	else if (c < 0 || !cache_put(h, s, c))
		arena_free_run(span_chunk(s)->arena, s);
}
