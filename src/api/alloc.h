/* SPDX-License-Identifier: MIT */
/* The allocation core of the api layer, behind the fast paths of entry.h:
 * what malloc and its family, the C++ operators and every other exported
 * function that allocates or frees share. alloc.c allocates (size dispatch,
 * the aligned choice, fill, one retry after reclaiming), free.c resolves
 * pointers and frees (with the misuse reports), realloc.c resizes. */
#ifndef CAIRN_API_ALLOC_H
#define CAIRN_API_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/chunk.h"
#include "core/huge.h"
#include "core/sizeclass.h"
#include "core/tally.h"

/* Fails an allocation: errno ENOMEM, NULL. The one place that says so. */
void *cairn_out_of_memory(void) HIDDEN;

/* A block above SMALL_MAX, or aligned beyond what a slab gives (align
 * a power of two; 1 for none): a page run or, above LARGE_MAX or with
 * align of 2 MiB or more, a mapping of its own. Zeroed with zero (calloc),
 * else zeroed or junk-filled as the options say. Moves decay along when
 * there are no purging threads; tries once more after reclaiming memory;
 * NULL with errno ENOMEM after that. */
void *cairn_alloc_big(size_t n, size_t align, bool zero) HIDDEN;
/* Fills len bytes at p, fresh for the program, as the zero and junk
 * options say. */
void cairn_fill_new(void *p, size_t len) HIDDEN;

/* The heap whose cache large runs go to and come from: the thread's, or a
 * sentinel (no cache) when it has none or turned it off
 * (thread.tcache.enabled). */
static inline struct heap *large_cache_heap(struct heap *h)
{
	return h->tcache_off ? &cairn_heap_empty : h;
}

/* A block resized in place counts, as in jemalloc, as freed at its old
 * usable size and allocated at its new one (thread.allocated). */
static inline void cairn_tally_resize(size_t old_usable, size_t new_usable)
{
	struct heap *h = heap_self();
	tally_free(h, old_usable);
	tally_alloc(h, new_usable);
}

/* Pages of the run for a large block of n bytes, n <= LARGE_MAX. */
static inline size_t large_pages(size_t n)
{
	if (n <= SMALL_MAX)
		return (n + PAGE_SIZE - 1) >> PAGE_SHIFT;
	return size_class_bytes(n) >> PAGE_SHIFT;
}

/* A block the program handed in, resolved (cairn_block_lookup). */
enum block_kind { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE };

struct block {
	enum block_kind kind;
	struct span *span;
	struct huge *huge;
	size_t usable;
};

/* Resolves p, whose page map entry is entry, for function fn; stops the
 * program with one line on stderr if cairn did not hand p out, if p points
 * inside a block, or if the block is free. */
struct block cairn_block_lookup(void *p, uintptr_t entry, const char *fn) HIDDEN;
/* Frees block b at p (junk-filled first if the options say so). */
void cairn_release_block(void *p, struct block b) HIDDEN;
/* The same, a large block's run given back to its arena past the thread's
 * cache of runs (MALLOCX_TCACHE_NONE). */
void cairn_release_block_uncached(void *p, struct block b) HIDDEN;

/* Stops the program with one line on stderr: size cannot be the size that
 * the block at p, of usable size usable, was asked for (fn: sdallocx). */
__attribute__((noreturn, cold)) void cairn_report_size(const char *fn, const void *p, size_t size,
                                                       size_t usable) HIDDEN;

/* n bytes aligned to align from arena ai alone (automatic or created),
 * zeroed with zero; NULL with errno ENOMEM when out of memory. An arena
 * that is not live is reported as misuse of fn (route.c). */
void *cairn_alloc_in_arena(unsigned ai, size_t n, size_t align, bool zero, const char *fn) HIDDEN;

/* realloc(p, n), reporting misuse as fn's. */
void *cairn_resize(void *p, size_t n, const char *fn) HIDDEN;
/* Resizes large block b at p in place to n bytes (SMALL_MAX < n <=
 * LARGE_MAX): shrinks its run, or grows it into the free pages after it.
 * False, the block unchanged, where it cannot. */
bool cairn_resize_large(void *p, struct block b, size_t n) HIDDEN;

/* `usable` bytes that thread heap h (or its stand-in, for a thread without
 * one) hands out past its bins' countdown: counted down on it, or on the
 * profiler's countdown for threads without a heap, so that every path
 * samples by the same rule. True when a sample is due: the caller then
 * takes it (prof_sample_small, prof_sample_big). */
bool cairn_bypass_due(struct heap *h, size_t usable) HIDDEN;

/* Large or huge block p, just allocated by a thread: its bytes counted
 * down (cairn_bypass_due), like a small block's, so that the heap
 * profiler samples it when its turn comes. */
void cairn_count_big(void *p) HIDDEN;
/* Block b at p leaves as it is (freed, or resized in place): the heap
 * profiler's record of it goes if it was sampled. Nothing to do, and one
 * compare, when it was not. */
void cairn_prof_leaving(void *p, struct block b) HIDDEN;

#endif
