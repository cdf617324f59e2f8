/* SPDX-License-Identifier: MIT */
/* Allocation: the slow paths behind malloc's fast path (entry.h), the
 * aligned choice, large and huge blocks. Every failure ends in
 * cairn_out_of_memory, after one retry that reclaims what cairn holds
 * unused (reclaim_for_retry), with no lock held. */
#include "api/alloc.h"

#include <errno.h>
#include <string.h>

#include "api/entry.h"
#include "api/init.h"
#include "api/stats_report.h"
#include "control/conf.h"
#include "core/background.h"
#include "core/decay.h"
#include "core/largecache.h"
#include "os/os.h"
#include "prof/profiler.h"

COLD void *cairn_out_of_memory(void)
{
	errno = ENOMEM;
	return NULL;
}

COLD void cairn_fill_new(void *p, size_t len)
{
	if (cairn_conf.zero)
		memset(p, 0, len);
	else if (cairn_conf.junk & JUNK_ALLOC)
		memset(p, 0xa5, len);
}

/* ------------------------------------------------------------ small */

/* heap_alloc_slow's way out when it has no block, when the purging
 * threads wait to be started, or when a stats_interval report is due: once
 * more after reclaiming, the threads started, the report written, with no
 * lock held. */
static COLD NOINLINE void *refill_after(struct heap *h, unsigned cls, void *p)
{
	/* A sample due: from the profiler's slabs, or as usual when this
	 * thread does not sample now. */
	if (p == NULL && h->sample_left <= 0) {
		p = prof_sample_small(h, cls);
		if (p == NULL)
			p = heap_alloc_again(h, cls);
	}
	if (p == NULL) {
		reclaim_for_retry();
		p = heap_alloc_again(h, cls);
	}
	background_poll();
	stats_interval_poll();
	return p != NULL ? p : cairn_out_of_memory();
}

/* heap_pop's slow path for a thread heap. */
static ALWAYS_INLINE void *refill_thread(size_t size, unsigned cls, struct heap *h)
{
	return heap_alloc_slow(h, cls, size, refill_after);
}

/* A small allocation for a thread that has no heap of its own yet (or any
 * more): initialises cairn if that is still to do, and attaches a heap when
 * it can; else serves it from an arena's shared heap. */
static COLD void *alloc_unattached(unsigned cls, size_t size)
{
	if (!ensure_init())
		return cairn_out_of_memory();
	struct heap *h = cairn_attach_heap();
	if (h->kind == HEAP_THREAD)
		return heap_pop(h, cls, size, refill_thread);
	struct arena *a = arena_unattached();
	void *p = NULL;
	if (unlikely(cairn_bypass_due(h, sc_size[cls])))
		p = prof_sample_small(h, cls);
	if (p == NULL)
		p = heap_shared_alloc(a, cls);
	if (unlikely(p == NULL)) {
		reclaim_for_retry();
		p = heap_shared_alloc(a, cls);
		if (p == NULL)
			return cairn_out_of_memory();
	}
	if (unlikely(cairn_conf.junk || cairn_conf.zero))
		cairn_fill_new(p, sc_size[cls]);
	return p;
}

/* heap_pop's slow path for the exported functions: the thread heaps' own,
 * after the sentinels' (bootstrap and attach), which the core leaves to
 * this layer. */
NOINLINE void *cairn_alloc_refill(size_t size, unsigned cls, struct heap *h)
{
	if (h->kind == HEAP_SENTINEL)
		return alloc_unattached(cls, size);
	return refill_thread(size, cls, h);
}

/* ------------------------------------------------------------ large, huge */

/* Counts and, when due, samples a big block of usable bytes at p for h's
 * thread. The page-map entry the sampler wants is looked up only for a
 * sample. */
static inline void count_big(struct heap *h, void *p, size_t usable)
{
	/* The common case of cairn_bypass_due inline: a thread heap's
	 * countdown that brings neither the rare event nor a sample due. */
	if (likely(h->kind == HEAP_THREAD) && likely(heap_count_big(h, (int64_t)usable)))
		return;
	if (unlikely(cairn_bypass_due(h, usable)))
		prof_sample_big(h, p, usable, pagemap_get((uintptr_t)p));
}

/* What every large block handed out to h's thread gets, run s at hand. */
static ALWAYS_INLINE void *large_handed(struct heap *h, struct span *s)
{
	size_t usable = span_bytes(s);
	tally_alloc(h, usable);
	if (unlikely(cairn_conf.junk || cairn_conf.zero))
		cairn_fill_new((void *)s->start, usable);
	/* Counted here, where the run is at hand, rather than through
	 * cairn_count_big's page-map lookup of the pointer. */
	count_big(h, (void *)s->start, usable);
	return (void *)s->start;
}

static void *alloc_large(size_t n, size_t align_pages)
{
	size_t pages = large_pages(n);
	/* A thread whose first request is large takes its heap now: its
	 * blocks then come from the arena its small ones will, not from one
	 * picked by its stack's address, and its freed runs are cached. */
	struct heap *h = heap_self();
	if (unlikely(h == &cairn_heap_empty))
		h = cairn_attach_heap();
	struct span *s =
	    large_alloc(large_cache_heap(h), h->kind == HEAP_THREAD ? h->arena : arena_unattached(),
	                pages, align_pages);
	return s != NULL ? large_handed(h, s) : NULL;
}

/* A fresh mapping is zero already, so only reused pages are cleared (by
 * huge_alloc). */
static void *alloc_huge(size_t n, size_t align, bool zero)
{
	zero |= cairn_conf.zero;
	void *p = huge_alloc(n, align, zero);
	if (p == NULL)
		return NULL;
	size_t usable = huge_of(pagemap_get((uintptr_t)p))->size;
	tally_alloc(heap_self(), usable);
	if (unlikely(cairn_conf.junk & JUNK_ALLOC) && !zero)
		memset(p, 0xa5, align_up(n, os_page_size()));
	count_big(heap_self(), p, usable);
	return p;
}

bool cairn_bypass_due(struct heap *h, size_t usable)
{
	if (h->kind == HEAP_THREAD) {
		if (heap_event_count(h, usable))
			stats_interval_poll();
		return h->sample_left <= 0;
	}
	return cairn_prof.on && prof_shared_due(usable);
}

void cairn_count_big(void *p)
{
	struct heap *h = heap_self();
	uintptr_t entry = pagemap_get((uintptr_t)p);
	size_t usable =
	    entry & MAP_HUGE
	        ? huge_of(entry)->size
	        : span_bytes(chunk_span_of((struct chunk *)(entry - MAP_CHUNK), (uintptr_t)p));
	if (unlikely(cairn_bypass_due(h, usable)))
		prof_sample_big(h, p, usable, entry);
}

static NOINLINE void *alloc_big_uncached(size_t n, size_t align, bool zero)
{
	if (unlikely(n > PTRDIFF_MAX || align > ((size_t)PTRDIFF_MAX >> 1) + 1) || !ensure_init())
		return cairn_out_of_memory();
	if (!background_enabled())
		decay_tick(arena_of_caller());
	void *p = NULL;
	for (int round = 0; p == NULL && round < 2; round++) {
		/* The second round after reclaiming (no lock is held here). */
		if (round > 0)
			reclaim_for_retry();
		if (align < CHUNK_SIZE && n <= LARGE_MAX)
			p = alloc_large(n, align > PAGE_SIZE ? align >> PAGE_SHIFT : 1);
		if (p == NULL)
			p = alloc_huge(n, align > CHUNK_SIZE ? align : CHUNK_SIZE, zero);
	}
	if (unlikely(p == NULL))
		return cairn_out_of_memory();
	return p;
}

/* The rest of a cache hit where its common case (below) does not hold,
 * or where a thread waited on the heap's lock: run s, taken from h's
 * cache and counted as handed out. */
static NOINLINE void *cached_handed(struct heap *h, struct span *s)
{
	if (!background_enabled())
		decay_tick(arena_of_caller());
	return large_handed(h, s);
}

static NOINLINE void *cached_after_wake(struct heap *h, struct span *s, int c, size_t n,
                                        size_t align, bool zero)
{
	mutex_wake(&h->lock);
	if (s == NULL)
		return alloc_big_uncached(n, align, zero);
	large_counted(s, (unsigned)c, false);
	return cached_handed(h, s);
}

NOINLINE void *cairn_alloc_big(size_t n, size_t align, bool zero)
{
	/* A hit in the thread's cache of large runs first, with nothing else
	 * on the way: a run in the cache means a thread heap, so cairn is
	 * initialised, and an exact class cannot overflow. A hit's every
	 * step is here, with no call but the tail calls of its rare cases,
	 * so that it needs no stack frame: the heap's lock only if it is
	 * free (it is held only briefly, by the purging thread or a reader
	 * of the statistics; the run then comes from the arena), and
	 * large_handed's common case inline. */
	if (likely(n > SMALL_MAX && n <= LARGE_MAX && align <= PAGE_SIZE)) {
		struct heap *h = heap_self();
		int c = (int)(size_class(n) - SC_NSMALL);
		if (likely(large_has_cached(h, c)) && likely(large_trylock(h))) {
			struct span *s = large_cache_pop(h, c);
			if (unlikely(large_unlock_leaves_waiter(h)))
				return cached_after_wake(h, s, c, n, align, zero);
			if (likely(s != NULL)) {
				large_counted(s, (unsigned)c, false);
				int64_t usable = (int64_t)span_bytes(s);
				/* A run of a large class weighs EVENT_WEIGHT_MAX on
				 * the rare event's count: saying so spares
				 * heap_count_big its comparison. (Not so for every
				 * run: an aligned small request's may be smaller.) */
				_Static_assert(EVENT_WEIGHT_MAX <= SMALL_MAX,
				               "a large class weighs the most");
				if (usable <= (int64_t)SMALL_MAX)
					__builtin_unreachable();
				if (likely(background_enabled()) &&
				    likely(!(cairn_conf.junk | cairn_conf.zero)) &&
				    likely(heap_count_big(h, usable))) {
					h->tally.allocated += (uint64_t)usable;
					return (void *)s->start;
				}
				return cached_handed(h, s);
			}
		}
	}
	return alloc_big_uncached(n, align, zero);
}

NOINLINE void *cairn_alloc_medium(size_t n)
{
	/* Only cairn_alloc calls this, for n > LOOKUP_MAX: saying so spares
	 * size_class its first test. */
	if (n <= LOOKUP_MAX)
		__builtin_unreachable();
	if (likely(n <= SMALL_MAX))
		return heap_pop(heap_self(), size_class(n), n, cairn_alloc_refill);
	return cairn_alloc_big(n, 1, false);
}

void *cairn_alloc_aligned(size_t align, size_t n)
{
	if (align <= 16)
		return cairn_alloc(n);
	if (unlikely(n > PTRDIFF_MAX || align > ((size_t)PTRDIFF_MAX >> 1) + 1) || !ensure_init())
		return cairn_out_of_memory();
	/* Size 0 gets a distinct block like any other: one byte's worth. A
	 * run of zero pages or a mapping of zero bytes cannot be a block. */
	if (n == 0)
		n = 1;
	size_t want = n > align ? n : align;
	if (align <= PAGE_SIZE && want <= SMALL_MAX) {
		/* Slabs start on a page and tile it exactly, so every block of a
		 * class whose size is a multiple of align is aligned. */
		unsigned c = sc_aligned_class[__builtin_ctzl(align) - 5][size_class(want)];
		if (c < SC_NSMALL)
			return heap_pop(heap_self(), c, n, cairn_alloc_refill);
	}
	return cairn_alloc_big(n, align, false);
}
