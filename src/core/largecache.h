/* SPDX-License-Identifier: MIT */
/* Large blocks (page runs from SMALL_MAX to LARGE_MAX), as the api hands
 * them out and takes them back: counted, and cached. Each thread heap keeps freed large runs for
 * its thread's next large allocations of the same class, without the arena's lock. At most
 * LARGE_CACHE_COUNT runs of a class and LARGE_CACHE_BYTES in all per heap. Its runs stay allocated
 * as far as the arena knows, marked LARGE_CACHED so that a second free is caught. The cache of a
 * heap whose thread sits idle is given back by the purging thread (heaps_decay). */
#ifndef CAIRN_LARGECACHE_H
#define CAIRN_LARGECACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/heap.h"

#define LARGE_CACHE_COUNT 8
#define LARGE_CACHE_BYTES (4ul << 20)

struct arena;

/* A large block of npages pages whose first page is a multiple of
 * align_pages pages (1: no constraint) into its chunk, for heap h's thread:
 * from h's cache, else from arena a. NULL when out of memory. */
struct span *large_alloc(struct heap *h, struct arena *a, size_t npages, size_t align_pages);
/* Frees large block s, from h's thread: into h's cache if there is room,
 * else back to its arena; with purge, its pages given back at once. */
void large_free(struct heap *h, struct span *s, bool purge);
/* Counts large block s, resized in place from old_npages pages, as freed
 * from its old class and handed out in its new one (jemalloc's way). */
void large_resized(struct span *s, size_t old_npages);
/* Counts run s, taken from an arena by other means than large_alloc (a
 * created arena's), as a large block handed out; large_free counts its
 * free. */
void large_handed_out(struct span *s);

/* A cached free large run of exactly npages pages, or NULL. */
struct span *heap_large_take(struct heap *h, size_t npages);
/* Keeps freed large run s in h's cache if there is room; false if not. */
bool heap_large_put(struct heap *h, struct span *s);
/* Gives every run of h's cache back to its arena (h's lock held, or h
 * with no owner); returns the bytes. */
size_t heap_large_flush(struct heap *h);

#endif
