/* SPDX-License-Identifier: MIT */
/* jemalloc's non-standard allocation API (include/cairn/jemalloc.h):
 * mallocx, rallocx, xallocx, sallocx, dallocx, sdallocx and nallocx, with
 * jemalloc 5's flag bits, on the same core as malloc and its family.
 *
 * Where a block goes for the flags' arena or cache is route.c's; here are
 * the exported functions, the resizing and the freeing with the flags. Only
 * these functions read the flags: malloc and free never do. */
#include <cairn/jemalloc.h>
#include <errno.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "api/route.h"
#include "control/conf.h"
#include "core/counters.h"
#include "core/largecache.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

/* The usable size of the block that cairn_alloc (align <= 16) or
 * cairn_alloc_aligned hands out for n bytes: alloc.c's dispatch, followed
 * without allocating. It has to stay in step with alloc.c; tests/api/allocx.c
 * checks nallocx against sallocx of real blocks. Needs cairn initialised
 * (the OS page size). */
static size_t usable_for(size_t n, size_t align)
{
	if (align > 16) {
		if (n == 0)
			n = 1;
		size_t want = n > align ? n : align;
		if (align <= PAGE_SIZE && want <= SMALL_MAX) {
			unsigned c = sc_aligned_class[__builtin_ctzl(align) - 5][size_class(want)];
			if (c < SC_NSMALL)
				return sc_size[c];
		}
		/* A run goes where the pages it needs with the slack for
		 * its alignment fit in a chunk (arena_alloc_run). */
		size_t align_pages = align > PAGE_SIZE ? align >> PAGE_SHIFT : 1;
		if (align < CHUNK_SIZE && n <= LARGE_MAX &&
		    large_pages(n) + align_pages - 1 <= DATA_PAGES)
			return large_pages(n) << PAGE_SHIFT;
		return align_up(n, os_page_size());
	}
	if (n <= SMALL_MAX)
		return sc_size[size_class(n)];
	if (n <= LARGE_MAX)
		return large_pages(n) << PAGE_SHIFT;
	return align_up(n, os_page_size());
}

EXPORT void *mallocx(size_t size, int flags)
{
	return cairn_alloc_all_flags(size, flags, "mallocx");
}

EXPORT size_t nallocx(size_t size, int flags)
{
	size_t align = flags_align(flags);
	if (!request_ok(size, align) || !ensure_init())
		return 0;
	return usable_for(size, align);
}

EXPORT size_t sallocx(const void *ptr, int flags)
{
	return lookup(ptr, "sallocx").usable;
}

/* A huge block resized within the mapping it sits in, to the most of
 * [size, hi] that fits there; its usable size after. */
static size_t huge_in_place(void *p, struct block b, size_t size, size_t hi)
{
	struct huge *h = b.huge;
	size_t len = hi < h->mapped ? align_up(hi, os_page_size()) : h->mapped;
	if (len < size || len == h->size)
		return h->size;
	size_t fresh;
	cairn_prof_leaving(p, b);
	huge_realloc(h, len, &fresh); /* len <= mapped: never moves */
	/* The mapping's pages past the old size may hold stale data. */
	if (unlikely(cairn_conf.junk || cairn_conf.zero) && h->size > b.usable)
		cairn_fill_new((char *)p + b.usable, h->size - b.usable);
	return h->size;
}

/* Whether realloc's own policy (in place, into cached huge pages, a
 * mapping moved by mremap) is bound to leave a block of size bytes aligned
 * to align, wherever it puts it: every block over SMALL_MAX is a run of
 * whole pages or a mapping, and every mapping starts on a CHUNK_SIZE
 * boundary, moved or not. An over-aligned block that grows then costs no
 * copy where a plain one would cost none (a Rust Vec of 64-aligned
 * elements, say). */
static bool realloc_keeps_align(size_t size, size_t align)
{
	return size > SMALL_MAX &&
	       (align <= PAGE_SIZE || (align <= CHUNK_SIZE && size > LARGE_MAX));
}

/* A block aligned beyond what realloc_keeps_align covers, resized where it
 * is: a large run within its pages and the free pages after it, a huge
 * block within its mapping. */
static bool resize_in_place(void *ptr, struct block b, size_t size)
{
	if (b.kind == BLOCK_LARGE && cairn_resize_large(ptr, b, size)) {
		cairn_tally_resize(b.usable, span_bytes(b.span));
		return true;
	}
	if (b.kind == BLOCK_HUGE && size > LARGE_MAX && huge_in_place(ptr, b, size, size) >= size) {
		cairn_tally_resize(b.usable, b.huge->size);
		return true;
	}
	return false;
}

/* rallocx, reporting misuse as fn's. Size 0 resizes to the least block
 * (it does not free, as realloc(p, 0) does); NULL is mallocx. An alignment
 * the block lacks moves it. */
static void *realloc_flags(void *ptr, size_t size, int flags, const char *fn)
{
	size_t align = flags_align(flags);
	bool zero = flags & MALLOCX_ZERO;
	if (ptr == NULL)
		return cairn_alloc_all_flags(size, flags, fn);
	if (unlikely(!request_ok(size, align)))
		return cairn_out_of_memory();
	if (size == 0)
		size = 1;
	struct block b = lookup(ptr, fn);
	void *q;
	if (flags_arena(flags) != NO_ARENA || flags_tcache(flags) != TC_DEFAULT) {
		/* A move goes where the flags say; a block that has the size
		 * and alignment asked for already stays. */
		if (((uintptr_t)ptr & (align - 1)) == 0 && usable_for(size, align) == b.usable)
			return ptr;
		q = cairn_alloc_all_flags(size, flags & ~MALLOCX_ZERO, fn);
		if (q == NULL)
			return NULL;
		memcpy(q, ptr, b.usable < size ? b.usable : size);
		cairn_dealloc(ptr, fn);
	} else if (align <= 16 || realloc_keeps_align(size, align)) {
		q = cairn_resize(ptr, size, fn);
		if (q == NULL)
			return NULL;
	} else if (((uintptr_t)ptr & (align - 1)) == 0 && resize_in_place(ptr, b, size)) {
		q = ptr;
	} else if (((uintptr_t)ptr & (align - 1)) == 0 && size <= b.usable &&
	           usable_for(size, align) > b.usable / 2) {
		/* As realloc keeps a block that shrinks by less than half:
		 * nothing grew, so there is nothing to zero either. */
		return ptr;
	} else {
		q = cairn_alloc_flags(size, align, false);
		if (q == NULL)
			return NULL;
		memcpy(q, ptr, b.usable < size ? b.usable : size);
		cairn_dealloc(ptr, fn);
	}
	if (zero) {
		size_t now = lookup(q, fn).usable;
		if (now > b.usable)
			memset((char *)q + b.usable, 0, now - b.usable);
	}
	return q;
}

EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
	return realloc_flags(ptr, size, flags, "rallocx");
}

/* cairn.h: realloc's meaning of NULL and of size 0, rallocx's keeping of
 * the alignment. */
EXPORT void *cairn_realloc_aligned(void *ptr, size_t size, size_t alignment)
{
	if (!is_pow2(alignment)) {
		errno = EINVAL;
		return NULL;
	}
	if (ptr != NULL && size == 0) {
		counter_add(zero_reallocs, 1);
		cairn_dealloc(ptr, "cairn_realloc_aligned");
		return NULL;
	}
	return realloc_flags(ptr, size, MALLOCX_ALIGN(alignment), "cairn_realloc_aligned");
}

/* In place only: a large run shrinks, or grows into the free pages after
 * it; a huge block within its mapping. A small block stays as it is, and so
 * does a block not aligned as the flags ask. */
EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags)
{
	size_t align = flags_align(flags);
	struct block b = lookup(ptr, "xallocx");
	if (((uintptr_t)ptr & (align - 1)) != 0)
		return b.usable;
	if (size == 0)
		size = 1;
	size_t hi = size + extra < size ? SIZE_MAX : size + extra;
	size_t now = b.usable;
	switch (b.kind) {
	case BLOCK_SMALL:
		break;
	case BLOCK_LARGE:
		if (size <= now && now <= hi)
			break;
		size_t want = hi < LARGE_MAX ? hi : LARGE_MAX;
		if ((want > SMALL_MAX && want >= size && cairn_resize_large(ptr, b, want)) ||
		    (size > SMALL_MAX && size < want && cairn_resize_large(ptr, b, size)))
			now = span_bytes(b.span);
		break;
	case BLOCK_HUGE:
		now = huge_in_place(ptr, b, size, hi);
		break;
	}
	if ((flags & MALLOCX_ZERO) && now > b.usable)
		memset((char *)ptr + b.usable, 0, now - b.usable);
	if (now != b.usable)
		cairn_tally_resize(b.usable, now);
	return now;
}

/* Frees with the flags' cache: a small block into explicit cache tc when
 * the cache owns its slab, a large one past the thread's cache of runs
 * with MALLOCX_TCACHE_NONE. Everything else as free. */
static void free_flags(void *ptr, int flags, const char *fn)
{
	unsigned tc = flags_tcache(flags);
	if (likely(tc == TC_DEFAULT) || ptr == NULL || unlikely(cairn_conf.junk)) {
		cairn_dealloc(ptr, fn);
		return;
	}
	struct heap *h = tc == TC_NONE ? NULL : cairn_tcache_of(tc, fn);
	struct block b = lookup(ptr, fn);
	if (h != NULL && b.kind == BLOCK_SMALL &&
	    heap_free_fast(h->owner_id, h, b.span, ptr, cairn_span_emptied)) {
		tally_free(heap_self(), b.usable);
		return;
	}
	if (h == NULL && b.kind == BLOCK_LARGE) {
		cairn_release_block_uncached(ptr, b);
		return;
	}
	cairn_dealloc(ptr, fn);
}

EXPORT void dallocx(void *ptr, int flags)
{
	free_flags(ptr, flags, "dallocx");
}

/* Whether size can be what block b was asked for, with alignment align:
 * jemalloc's rule, that size's own usable size is the block's; or, for the
 * blocks cairn's realloc and rallocx leave larger than that, a size they
 * keep such a block for (a small block, or with rallocx a block of any kind
 * aligned above 16, kept while shrinking: the usable size the request would
 * have, its alignment counted, is over half the block), or the exact pages of a mapping (which
 * realloc also makes for sizes below LARGE_MAX). */
static bool size_fits(struct block b, size_t size, size_t align)
{
	if (size > b.usable)
		return false;
	if (request_ok(size, align) && usable_for(size, align) == b.usable)
		return true;
	/* rallocx keeps a block of any kind aligned above 16 that shrinks by
	 * less than half (realloc_flags). */
	if (align > 16 && request_ok(size, align) && usable_for(size, align) > b.usable / 2)
		return true;
	switch (b.kind) {
	case BLOCK_SMALL:
		return request_ok(size, align) && usable_for(size, align) > b.usable / 2;
	case BLOCK_HUGE:
		return align_up(size, os_page_size()) == b.usable;
	default:
		return false;
	}
}

EXPORT void sdallocx(void *ptr, size_t size, int flags)
{
	if (ptr == NULL)
		return;
	struct block b = lookup(ptr, "sdallocx");
	if (unlikely(!size_fits(b, size, flags_align(flags))))
		cairn_report_size("sdallocx", ptr, size, b.usable);
	free_flags(ptr, flags, "sdallocx");
}
