/* SPDX-License-Identifier: MIT */
/* jemalloc's non-standard allocation API (include/cairn/jemalloc.h):
 * mallocx, rallocx, xallocx, sallocx, dallocx, sdallocx and nallocx, with
 * jemalloc 5's flag bits, on the same core as malloc and its family. The
 * flags' alignment and MALLOCX_ZERO are honoured; the thread-cache and
 * arena bits are accepted and ignored, since cairn has no explicit caches
 * or arenas yet. */
#include <cairn/jemalloc.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "control/conf.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

/* MALLOCX_LG_ALIGN's bits; lg 0 is no alignment asked for. */
#define LG_ALIGN_MASK 0x3f

static inline size_t flags_align(int flags)
{
	return (size_t)1 << (flags & LG_ALIGN_MASK);
}

/* Whether n bytes aligned to align can be asked for at all: within the
 * bounds cairn_alloc_big sets, with room for the alignment and the rounding
 * of a mapping. Where not, nallocx says 0 and mallocx and rallocx fail
 * without trying. */
static inline bool request_ok(size_t n, size_t align)
{
	size_t room = align > CHUNK_SIZE ? align : CHUNK_SIZE;
	return align <= ((size_t)PTRDIFF_MAX >> 1) + 1 && n <= (size_t)PTRDIFF_MAX - room;
}

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

static inline struct block lookup(const void *p, const char *fn)
{
	return cairn_block_lookup((void *)p, pagemap_get((uintptr_t)p), fn);
}

/* mallocx, and rallocx's moves. */
static void *alloc_flags(size_t n, size_t align, bool zero)
{
	if (unlikely(!request_ok(n, align)))
		return cairn_out_of_memory();
	/* A mapping of its own is zero when fresh: only reused pages are
	 * cleared, by the core. */
	if (zero && (n > LARGE_MAX || align >= CHUNK_SIZE))
		return cairn_alloc_big(n ? n : 1, align, true);
	void *p = align > 16 ? cairn_alloc_aligned(align, n) : cairn_alloc(n);
	if (zero && likely(p != NULL))
		memset(p, 0, lookup(p, "mallocx").usable);
	return p;
}

EXPORT void *mallocx(size_t size, int flags)
{
	return alloc_flags(size, flags_align(flags), flags & MALLOCX_ZERO);
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

/* Size 0 resizes to the least block (it does not free, as realloc(p, 0)
 * does); NULL is mallocx. An alignment the block lacks moves it. */
EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
	size_t align = flags_align(flags);
	bool zero = flags & MALLOCX_ZERO;
	if (ptr == NULL)
		return alloc_flags(size, align, zero);
	if (unlikely(!request_ok(size, align)))
		return cairn_out_of_memory();
	if (size == 0)
		size = 1;
	struct block b = lookup(ptr, "rallocx");
	void *q;
	if (align <= 16) {
		q = cairn_realloc(ptr, size);
		if (q == NULL)
			return NULL;
	} else if (((uintptr_t)ptr & (align - 1)) == 0 && size <= b.usable &&
	           usable_for(size, align) > b.usable / 2) {
		/* As realloc keeps a block that shrinks by less than half:
		 * nothing grew, so there is nothing to zero either. */
		return ptr;
	} else {
		q = alloc_flags(size, align, false);
		if (q == NULL)
			return NULL;
		memcpy(q, ptr, b.usable < size ? b.usable : size);
		cairn_free(ptr, "rallocx");
	}
	if (zero) {
		size_t now = lookup(q, "rallocx").usable;
		if (now > b.usable)
			memset((char *)q + b.usable, 0, now - b.usable);
	}
	return q;
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
	huge_realloc(h, len, &fresh); /* len <= mapped: never moves */
	/* The mapping's pages past the old size may hold stale data. */
	if (unlikely(cairn_conf.junk || cairn_conf.zero) && h->size > b.usable)
		cairn_fill_new((char *)p + b.usable, h->size - b.usable);
	return h->size;
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
	return now;
}

EXPORT void dallocx(void *ptr, int flags)
{
	cairn_free(ptr, "dallocx");
}

/* Whether size can be what block b was asked for, with alignment align:
 * jemalloc's rule, that size's own usable size is the block's; or, for the
 * blocks cairn's realloc and rallocx leave larger than that, a size they
 * keep such a block for (a small block kept while shrinking: the usable
 * size the request would have, its alignment counted, is over half the
 * block), or the exact pages of a mapping (which realloc also makes for
 * sizes below LARGE_MAX). */
static bool size_fits(struct block b, size_t size, size_t align)
{
	if (size > b.usable)
		return false;
	if (request_ok(size, align) && usable_for(size, align) == b.usable)
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
	cairn_free(ptr, "sdallocx");
}
