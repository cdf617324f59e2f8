/* SPDX-License-Identifier: MIT */
/* What the two files of jemalloc's non-standard API share: allocx.c, the
 * exported functions with their resizing and freeing, and route.c, where a
 * request with MALLOCX_* flags is served (an explicit arena, an explicit
 * cache, the calling thread's heap). The flags' fields are read here, in
 * one place for both. */
#ifndef CAIRN_API_ROUTE_H
#define CAIRN_API_ROUTE_H

#include <cairn/jemalloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"

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

/* Block p, handed in to function fn, resolved (cairn_block_lookup). */
static inline struct block lookup(const void *p, const char *fn)
{
	return cairn_block_lookup((void *)p, pagemap_get((uintptr_t)p), fn);
}

/* The flags' arena and cache fields. */
#define NO_ARENA   (~0u)
#define TC_DEFAULT (~0u)
#define TC_NONE    (~1u)

static inline unsigned flags_arena(int flags)
{
	return ((unsigned)flags >> 20) - 1; /* 0 (none) wraps to NO_ARENA */
}

static inline unsigned flags_tcache(int flags)
{
	unsigned v = ((unsigned)flags >> 8) & 0xfff;
	return v == 0 ? TC_DEFAULT : v == 1 ? TC_NONE : v - 2;
}

/* n bytes aligned to align (1 for none), zeroed with zero, from the
 * calling thread's heap as malloc's; NULL with errno ENOMEM when out of
 * memory. mallocx without an arena or cache, and rallocx's moves. Inline,
 * with the common case of cairn_alloc_all_flags below, so that mallocx
 * costs what it did when all of it was one file's. */
static inline void *cairn_alloc_flags(size_t n, size_t align, bool zero)
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

/* A block for n bytes from the arena or cache the flags name (route.c),
 * misuse reported as fn's. */
void *cairn_alloc_routed(size_t n, int flags, const char *fn) HIDDEN;

/* A block for n bytes as the flags ask, misuse reported as fn's: from the
 * flags' arena or cache when they name one, else as cairn_alloc_flags.
 * mallocx, and rallocx's moves to where the flags say. */
static inline void *cairn_alloc_all_flags(size_t n, int flags, const char *fn)
{
	if (likely(flags_arena(flags) == NO_ARENA && flags_tcache(flags) == TC_DEFAULT))
		return cairn_alloc_flags(n, flags_align(flags), flags & MALLOCX_ZERO);
	return cairn_alloc_routed(n, flags, fn);
}

/* Explicit cache tc's heap; a cache that is not live is reported as
 * misuse of fn (one line on stderr, and abort). */
struct heap *cairn_tcache_of(unsigned tc, const char *fn) HIDDEN;

#endif
