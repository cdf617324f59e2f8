/* Huge blocks: each is a mapping of its own, starting on a 2 MiB boundary,
 * with a descriptor in metadata memory that every 2 MiB slot of the block
 * points to in the page map.
 *
 * Freed huge mappings are kept in a cache (at most 16 mappings and 1 GiB,
 * given back on decay) and reused by later huge allocations, grown or
 * trimmed with mremap when no cached one fits: buffers in ML-style loops come and
 * go at the same sizes, and a fresh mapping costs a page fault per 4 KiB
 * touched. A block may sit in a mapping longer than itself (a reused one);
 * realloc then grows it within the mapping with no system call at all, and
 * otherwise resizes the mapping with mremap, never copying bytes. While a
 * mapping sits in the cache its descriptor stays in the page map marked
 * free, so a second free of the same block is reported as a double free. */
#ifndef CAIRN_HUGE_H
#define CAIRN_HUGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

struct huge {
	uintptr_t addr;
	size_t size;       /* the block: the request rounded up to the OS page size */
	size_t mapped;     /* the mapping, at least size */
	bool live;         /* false while cached after a free */
	uint64_t since;    /* when it was cached, ms */
	bool fresh;        /* never handed out since mapped: reads as zeros */
	struct huge *next; /* cache or descriptor free list. Guarded by huge_lock. */
};

void *huge_alloc(size_t size, size_t align, bool zero);
void huge_free(struct huge *h);
/* Resizes in place or by moving pages; NULL (block unchanged) on failure. */
void *huge_realloc(struct huge *h, size_t size);

static inline struct huge *huge_of(uintptr_t entry)
{
	return (struct huge *)(entry & ~(uintptr_t)3);
}

/* Releases cached mappings older than dirty_decay_ms (all with force);
 * returns the bytes released. */
size_t huge_decay(uint64_t now, bool force);
/* When the oldest cached mapping falls due; UINT64_MAX if never. */
uint64_t huge_decay_deadline(void);

void huge_prefork(void);
void huge_postfork_parent(void);
void huge_postfork_child(void);

#endif
