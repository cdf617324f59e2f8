/* SPDX-License-Identifier: MIT */
/* Huge blocks: each is a mapping of its own, starting on a 2 MiB boundary,
 * with a descriptor in metadata memory that every 2 MiB slot of the block
 * points to in the page map. Requests above LARGE_MAX get one, and so does a
 * block that realloc grows past REALLOC_MAP_MIN while cached pages can take
 * it (src/api/realloc.c).
 *
 * Freed huge mappings are kept in a cache (at most 64 mappings and 1 GiB,
 * no more than the peak of live huge bytes makes room for, given back on
 * decay) as a pool of resident pages: buffers in ML-style loops come and go
 * at sizes all over the place, and a fresh mapping costs a page fault (and
 * the kernel's zeroing) per 4 KiB touched. A request takes, in order:
 *   - a cached mapping that fits closely, whole, with no system call;
 *   - else the head of the longest one where it lies, if that is long
 *     enough: the rest stays cached, in the same VMA;
 *   - else the longest ones, assembled: mremap moves their pages, page
 *     tables and all (a whole page-table page per 2 MiB where both sides
 *     are 2 MiB-aligned), into one fresh range, and the last piece grows
 *     into fresh pages for what the cache could not supply.
 * Pages that moved keep their VMA, so a mapping spans up to HUGE_PIECES
 * VMAs; the descriptor records where each ends, since mremap moves only
 * ranges within one VMA. A freed block is cached as its pieces.
 *
 * A block may sit in a mapping longer than itself (a reused one); realloc
 * then grows it within the mapping with no system call at all, else takes
 * the cached mappings that follow it in the address space, else grows its
 * last piece in place or moves the pieces with mremap, never copying bytes
 * unless a move fails. While a mapping sits in the cache its descriptor
 * stays in the page map marked free, so a second free of the same block is
 * reported as a double free. */
#ifndef CAIRN_HUGE_H
#define CAIRN_HUGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "core/util.h"

/* The most VMAs one huge mapping may span. Each costs an entry of the
 * process's VMA table (vm.max_map_count, 65530 by default), so it stays
 * small; an assembled block uses at most this many cached mappings. */
#define HUGE_PIECES 8
/* The most mappings the cache of freed ones holds (huge_cache.c). */
#define HUGE_CACHE_MAX_COUNT 64

struct huge {
	uintptr_t addr;
	size_t size;          /* the block: the request rounded up to the OS page size */
	size_t mapped;        /* the mapping, at least size */
	uint64_t since;       /* when it was cached, ms */
	size_t cached;        /* the mapping's bytes when it was cached: what the
	                         decay curve lets wait a share of */
	struct huge *next;    /* cache or descriptor free list. Guarded by huge_lock. */
	bool live;            /* false while cached after a free */
	bool fresh;           /* never handed out since mapped: reads as zeros */
	bool sampled;         /* the heap profiler keeps a record of it */
	unsigned char pieces; /* VMAs the mapping may span, 1..HUGE_PIECES */
	/* Where each piece ends (an offset; the last one's is mapped) and which
	 * VMA it is part of: an id given when the VMA was mapped or moved, so
	 * that two neighbouring pieces of one VMA can count as one. */
	size_t piece_end[HUGE_PIECES];
	uint64_t piece_vma[HUGE_PIECES];
	/* The created arena the live block belongs to, and its neighbours on
	 * that arena's list; NULL for the others. */
	struct huge_set *set;
	struct huge *set_prev, *set_next;
};

/* The live huge blocks of a created arena, so that its reset can free
 * them all. */
struct huge_set {
	cairn_mutex lock;
	struct huge *head; /* Guarded by lock. */
	unsigned arena;    /* the arena's number */
};

void *huge_alloc(size_t size, size_t align, bool zero);
/* The same, for a block that belongs to set (a created arena's). */
void *huge_alloc_in(struct huge_set *set, size_t size, size_t align, bool zero);
/* Frees every live block of set. */
void huge_free_set(struct huge_set *set);
/* A huge block of under 2 MiB made from cached pages alone, or NULL: from a
 * cached mapping at most twice its size, or from the head of one at least
 * 2 MiB longer than the block's slot, of which it keeps no more than twice
 * its size resident. No system call but that purge. */
void *huge_alloc_cached(size_t size, bool zero);
/* Whether there are few enough live huge blocks for one more that need not
 * be huge: each costs VMAs (see MANY_BLOCKS in huge.c). */
bool huge_room(void);
void huge_free(struct huge *h);
/* Resizes in place or by moving pages; NULL (block unchanged) on failure.
 * Sets *fresh_from to the offset past which the block's pages are new and
 * zero; between its old size and there they may hold stale data. */
void *huge_realloc(struct huge *h, size_t size, size_t *fresh_from);

static inline struct huge *huge_of(uintptr_t entry)
{
	return (struct huge *)(entry & ~(uintptr_t)3);
}

/* Releases cached mappings older than dirty_decay_ms (all with force)
 * and, with curve, the oldest cached bytes beyond what the decay curve
 * lets wait (core/decay_curve.h), as the arenas' pages; returns the bytes
 * released. */
size_t huge_decay(uint64_t now, bool force, bool curve);
/* When the oldest cached mapping falls due; UINT64_MAX if never. */
uint64_t huge_decay_deadline(void);

/* For the statistics: the bytes and count of live huge blocks, and the
 * bytes of the cached mappings. */
void huge_stats(size_t *live, size_t *blocks, size_t *cached);

/* In a fork child: retires the cache if the parent forked while its lock
 * was held. */
void huge_postfork_child(void);

#endif
