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
static ALWAYS_INLINE void *refill_thread(struct heap *h, unsigned cls, size_t size)
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
NOINLINE void *cairn_alloc_refill(struct heap *h, unsigned cls, size_t size)
{
	if (h->kind == HEAP_SENTINEL)
		return alloc_unattached(cls, size);
	return refill_thread(h, cls, size);
}

/* ------------------------------------------------------------ large, huge */

static void *alloc_large(size_t n, size_t align_pages)
{
	size_t pages = large_pages(n);
	/* A thread whose first request is large takes its heap now: its
	 * blocks then come from the arena its small ones will, not from one
	 * picked by its stack's address, and its freed runs are cached. */
	struct heap *h = cairn_attach_heap();
	struct span *s =
	    large_alloc(large_cache_heap(h), h->kind == HEAP_THREAD ? h->arena : arena_unattached(),
	                pages, align_pages);
	if (s == NULL)
		return NULL;
	tally_alloc(h, span_bytes(s));
	if (unlikely(cairn_conf.junk || cairn_conf.zero))
		cairn_fill_new((void *)s->start, span_bytes(s));
	return (void *)s->start;
}

/* A fresh mapping is zero already, so only reused pages are cleared (by
 * huge_alloc). */
static void *alloc_huge(size_t n, size_t align, bool zero)
{
	zero |= cairn_conf.zero;
	void *p = huge_alloc(n, align, zero);
	if (p != NULL)
		tally_alloc(heap_self(), huge_of(pagemap_get((uintptr_t)p))->size);
	if (p != NULL && unlikely(cairn_conf.junk & JUNK_ALLOC) && !zero)
		memset(p, 0xa5, align_up(n, os_page_size()));
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

NOINLINE void *cairn_alloc_big(size_t n, size_t align, bool zero)
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
	cairn_count_big(p);
	return p;
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
