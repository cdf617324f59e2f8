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

struct span *heap_large_take(struct heap *h, size_t npages)
{
	int c = large_class(npages);
	if (h->kind != HEAP_THREAD || c < 0 ||
	    __atomic_load_n(&h->large[c], __ATOMIC_RELAXED) == NULL)
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

bool heap_large_put(struct heap *h, struct span *s)
{
	int c = large_class(s->npages);
	/* A created arena's run may not outlive it in a thread's cache. */
	if (h->kind != HEAP_THREAD || c < 0 || span_chunk(s)->arena->created)
		return false;
	large_lock(h);
	bool room = h->large_count[c] < LARGE_CACHE_COUNT &&
	            h->large_bytes + span_bytes(s) <= LARGE_CACHE_BYTES;
	if (room) {
		s->flags = LARGE_CACHED;
		s->next = h->large[c];
		h->large[c] = s;
		h->large_count[c]++;
		h->large_bytes += span_bytes(s);
	}
	bool want_purger = h->large_bytes >= DECAY_REQUEST_PAGES * PAGE_SIZE;
	heap_unlock(h);
	/* The cache is given back only by the purging thread's looks at idle
	 * heaps: it must be running once the cache holds much. */
	if (want_purger)
		decay_request_start();
	return room;
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
static inline struct lextent_counters *lextent_of(struct span *s, size_t npages)
{
	return &span_chunk(s)->arena->counters.lextents[count_class(npages)];
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

struct span *large_alloc(struct heap *h, struct arena *a, size_t npages, size_t align_pages)
{
	struct span *s = align_pages == 1 ? heap_large_take(h, npages) : NULL;
	if (s == NULL)
		s = arena_alloc_run(a, npages, align_pages);
	if (s != NULL)
		large_handed_out(s);
	return s;
}

void large_free(struct heap *h, struct span *s, bool purge)
{
	counter_add(large_ndalloc, 1);
	lextent_add(s, s->npages, ndalloc);
	if (purge)
		arena_free_run_purged(span_chunk(s)->arena, s);
	else if (!heap_large_put(h, s))
		arena_free_run(span_chunk(s)->arena, s);
}
