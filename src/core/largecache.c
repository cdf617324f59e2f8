/* SPDX-License-Identifier: MIT */
#include "core/largecache.h"

#include <stdatomic.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/counters.h"
#include "core/decay_request.h"
#include "core/sizeclass.h"

struct span *heap_large_take(struct heap *h, size_t npages)
{
	int c = large_class(npages);
	return c < 0 ? NULL : large_cache_take(h, c);
}

bool heap_large_put(struct heap *h, struct span *s)
{
	int c = large_class(s->npages);
	return c >= 0 && large_cache_put(h, s, c);
}

/* Gives class c's cached runs past its `keep` newest back to their arenas;
 * returns their bytes. The stack holds the newest first, so those that go
 * are the oldest. */
static size_t release_past(struct heap *h, unsigned c, unsigned keep)
{
	struct span **link = &h->large[c];
	for (unsigned i = 0; i < keep && *link != NULL; i++)
		link = &(*link)->next;
	struct span *s = *link;
	/* Atomic: the owner may be peeking (heap_large_take) while the
	 * purging thread flushes an idle heap's cache. */
	__atomic_store_n(link, NULL, __ATOMIC_RELAXED);
	size_t bytes = 0;
	while (s != NULL) {
		struct span *next = s->next; /* arena_free_run relinks s */
		bytes += span_bytes(s);
		s->flags = 0;
		arena_free_run(span_chunk(s)->arena, s);
		s = next;
	}
	/* Atomic: the owner reads it without the lock on a miss
	 * (large_cache_missed). */
	__atomic_store_n(&h->large_bytes, h->large_bytes - bytes, __ATOMIC_RELAXED);
	h->large_count[c] = (uint8_t)keep;
	h->large_low[c] = (uint8_t)keep;
	return bytes;
}

/* The room the thread heaps' bounds took above LARGE_CACHE_BYTES, all of
 * them together: at most LARGE_CACHE_EXTRA_ALL. */
static _Atomic size_t extra_all;

/* h's bound gives up to `bytes` of what it took above LARGE_CACHE_BYTES
 * back to extra_all. Owner and purging thread may both change a bound: the
 * read-modify-writes are atomic, so that what goes back is exactly what
 * was taken. */
static void bound_shrink(struct heap *h, size_t bytes)
{
	size_t limit = __atomic_load_n(&h->large_limit, __ATOMIC_RELAXED), give;
	do {
		give = limit - LARGE_CACHE_BYTES < bytes ? limit - LARGE_CACHE_BYTES : bytes;
		if (give == 0)
			return;
	} while (!__atomic_compare_exchange_n(&h->large_limit, &limit, limit - give, true,
	                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	atomic_fetch_sub_explicit(&extra_all, give, memory_order_relaxed);
}

size_t heap_large_flush(struct heap *h)
{
	size_t bytes = 0;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++)
		bytes += release_past(h, c, 0);
	bound_shrink(h, SIZE_MAX);
	return bytes;
}

size_t heap_large_trim(struct heap *h)
{
	size_t bytes = 0;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++)
		bytes += release_past(h, c, h->large_count[c] - (h->large_low[c] + 1u) / 2);
	/* Runs that sat unused a whole period were room the thread did not
	 * need: the bound shrinks by as much. */
	bound_shrink(h, bytes);
	return bytes;
}

void large_cache_missed(struct heap *h, size_t bytes)
{
	size_t limit = __atomic_load_n(&h->large_limit, __ATOMIC_RELAXED);
	if (h->kind != HEAP_THREAD ||
	    __atomic_load_n(&h->large_bytes, __ATOMIC_RELAXED) + bytes <= limit)
		return;
	size_t want = LARGE_CACHE_BYTES_MAX - limit < bytes ? LARGE_CACHE_BYTES_MAX - limit : bytes;
	size_t all = atomic_load_explicit(&extra_all, memory_order_relaxed), take;
	do {
		take = LARGE_CACHE_EXTRA_ALL - all < want ? LARGE_CACHE_EXTRA_ALL - all : want;
		if (take == 0)
			return;
	} while (!atomic_compare_exchange_weak_explicit(
	    &extra_all, &all, all + take, memory_order_relaxed, memory_order_relaxed));
	__atomic_fetch_add(&h->large_limit, take, __ATOMIC_RELAXED);
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
	large_counted(s, count_class(s->npages), false);
}

/* The class is found once per call and serves the cache and the
 * counters both; a run of no class (an aligned request's) counts to the
 * class it fits. */
struct span *large_alloc(struct heap *h, struct arena *a, size_t npages, size_t align_pages)
{
	int c = align_pages == 1 ? large_class(npages) : -1;
	struct span *s = c >= 0 ? large_take_cached(h, c) : NULL;
	if (s != NULL)
		return s;
	if (c >= 0)
		large_cache_missed(h, npages << PAGE_SHIFT);
	s = arena_alloc_run(a, npages, align_pages);
	if (s != NULL)
		large_counted(s, c >= 0 ? (unsigned)c : count_class(npages), false);
	return s;
}

void large_to_arena(struct span *s, bool purge)
{
	if (purge)
		arena_free_run_purged(span_chunk(s)->arena, s);
	else
		arena_free_run(span_chunk(s)->arena, s);
}

void large_release(struct span *s, bool purge)
{
	large_counted(s, count_class(s->npages), true);
	large_to_arena(s, purge);
}

void large_free(struct heap *h, struct span *s, bool purge)
{
	int c = purge ? -1 : large_class(s->npages);
	if (c < 0)
		large_release(s, purge);
	else if (!large_free_cached(h, s, c))
		large_to_arena(s, false);
}
