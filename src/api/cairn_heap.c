/* SPDX-License-Identifier: MIT */
/* cairn.h's heaps: a heap is a created arena (core/explicit.h), and a
 * cairn_heap_t * is that arena's descriptor. The allocating calls are
 * mallocx's with MALLOCX_ARENA (route.c: cairn_alloc_in_arena). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "cairn.h"
#include "core/explicit.h"

#define EXPORT __attribute__((visibility("default")))

struct cairn_heap;

static inline unsigned arena_of(const cairn_heap_t *heap)
{
	return ((const struct explicit_arena *)(const void *)heap)->arena.index;
}

EXPORT cairn_heap_t *cairn_heap_create(void)
{
	unsigned i;
	if (!ensure_init())
		return cairn_out_of_memory();
	if (!explicit_arena_create(&i)) {
		/* ENOMEM unless every number is taken. */
		errno = explicit_narenas() >= ARENAS_MAX ? EAGAIN : ENOMEM;
		return NULL;
	}
	return (cairn_heap_t *)(void *)explicit_arena_get(i);
}

EXPORT unsigned cairn_heap_arena(const cairn_heap_t *heap)
{
	return arena_of(heap);
}

EXPORT void *cairn_heap_malloc(cairn_heap_t *heap, size_t size)
{
	return cairn_alloc_in_arena(arena_of(heap), size, 1, false, "cairn_heap_malloc");
}

EXPORT void *cairn_heap_calloc(cairn_heap_t *heap, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n))
		return cairn_out_of_memory();
	return cairn_alloc_in_arena(arena_of(heap), n, 1, true, "cairn_heap_calloc");
}

EXPORT void *cairn_heap_aligned_alloc(cairn_heap_t *heap, size_t alignment, size_t size)
{
	if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	return cairn_alloc_in_arena(arena_of(heap), size, alignment, false,
	                            "cairn_heap_aligned_alloc");
}

EXPORT void *cairn_heap_realloc(cairn_heap_t *heap, void *ptr, size_t size)
{
	unsigned i = arena_of(heap);
	if (ptr == NULL)
		return cairn_alloc_in_arena(i, size, 1, false, "cairn_heap_realloc");
	struct block b = cairn_block_lookup(ptr, pagemap_get((uintptr_t)ptr), "cairn_heap_realloc");
	unsigned in = ~0u;
	explicit_lookup(ptr, &in);
	/* Kept where it is when it is in h and its size class is the one
	 * asked for, or it shrinks by less than half. */
	if (in == i && size <= b.usable && size > b.usable / 2)
		return ptr;
	void *q = cairn_alloc_in_arena(i, size, 1, false, "cairn_heap_realloc");
	if (q == NULL)
		return NULL;
	memcpy(q, ptr, b.usable < size ? b.usable : size);
	cairn_dealloc(ptr, "cairn_heap_realloc");
	return q;
}

static struct explicit_arena *live(cairn_heap_t *heap, const char *fn)
{
	unsigned i = arena_of(heap);
	struct explicit_arena *e = explicit_arena_get(i);
	if (e == NULL || (void *)e != (void *)heap)
		cairn_fatal_ptr(fn, "invalid heap", heap, " (destroyed, or not a heap)");
	return e;
}

EXPORT void cairn_heap_reset(cairn_heap_t *heap)
{
	explicit_arena_reset(live(heap, "cairn_heap_reset")->arena.index);
}

EXPORT void cairn_heap_destroy(cairn_heap_t *heap)
{
	explicit_arena_destroy(live(heap, "cairn_heap_destroy")->arena.index);
}
