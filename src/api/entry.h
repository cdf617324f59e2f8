/* SPDX-License-Identifier: MIT */
/* The two entry points every exported allocation function is built on, and
 * the out-of-line paths behind them (alloc.c, free.c). Shared by malloc.c,
 * cxx.c and realloc.c so that the C++ operators get the same inlined fast
 * path as malloc and free.
 *
 * malloc(n), n <= 1024, on the thread-cache path:
 *   heap = TLS load; class = heap->class_of[n]; block = heap->bin[class];
 *   block's free mark == the bin's slab (an empty bin's LIST_END fails it,
 *   as a block written over does); bin = block->next; prefetch it; clear
 *   the block's free mark. Nothing is counted: a bin holds no more blocks
 *   than the event countdown covers, charged as it took them
 *   (core/refill.c), so its end is where the rare event or a sample is due.
 * free(p) on the thread-cache path:
 *   word = page map's chunk word [p >> 21] (after a bound check): where the
 *   page entries of the arena chunk there are, or a stub's whose span is no
 *   thread's, biased by the slot's first page number;
 *   span = *(word + (p >> 12) * 8);
 *   span->fast_owner == the thread pointer (heap_owner_id);
 *   (p - span->start) * magic < magic (p is a block
 *   boundary); p's free mark != span (not already free);
 *   push p onto span->local_free; --used, and only if that empties the slab
 *   a call to give it back.
 * Neither takes a lock or an atomic read-modify-write. */
#ifndef CAIRN_ENTRY_H
#define CAIRN_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"
#include "core/sizeclass.h"

void *cairn_alloc_medium(size_t n) HIDDEN;
void *cairn_alloc_refill(size_t size, unsigned cls, struct heap *h) HIDDEN;
void *cairn_alloc_aligned(size_t align, size_t n) HIDDEN;
void cairn_free_slow(void *p, uintptr_t entry, const char *fn) HIDDEN;
void cairn_free_small_slow(void *p, struct span *s, const char *fn) HIDDEN;
void cairn_span_emptied(struct heap *h, struct span *s) HIDDEN;

typedef void *alloc_medium_fn(size_t n);

/* cairn_alloc with the caller's own ways out: `refill` when the bin is
 * empty (a heap_slow_fn), `medium` for n > LOOKUP_MAX. operator new passes
 * ones that run its new-handler loop on failure, so that its fast path is
 * malloc's, with nothing kept across a call. */
static ALWAYS_INLINE void *cairn_alloc_via(size_t n, heap_slow_fn *refill, alloc_medium_fn *medium)
{
	if (likely(n <= LOOKUP_MAX)) {
		struct heap *h = heap_self();
		uintptr_t cls = h->class_of[n];
		/* Hides that cls fits a byte, so that gcc indexes the bin with
		 * the register it loaded cls into instead of zero-extending a
		 * copy (one instruction per malloc). Emits nothing. */
		__asm__("" : "+r"(cls));
		return heap_pop(h, cls, n, refill);
	}
	return medium(n);
}

static ALWAYS_INLINE void *cairn_alloc(size_t n)
{
	return cairn_alloc_via(n, cairn_alloc_refill, cairn_alloc_medium);
}

static ALWAYS_INLINE void cairn_dealloc(void *p, const char *fn)
{
	struct span *s = pagemap_span((uintptr_t)p);
	if (likely(s != NULL)) {
		/* pagemap_stub where no arena chunk is: the slow path tells a
		 * huge block, a foreign pointer and a free run apart. */
		if (likely(heap_free_fast(heap_owner_id(), NULL, s, p, cairn_span_emptied)))
			return;
		cairn_free_small_slow(p, s, fn);
		return;
	}
	cairn_free_slow(p, 0, fn);
}

#endif
