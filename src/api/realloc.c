/* SPDX-License-Identifier: MIT */
/* realloc's policy: when a block stays where it is, when it moves, and
 * where to. */
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "control/conf.h"
#include "core/arena.h"
#include "core/counters.h"
#include "core/decay.h"
#include "core/largecache.h"
#include "os/os.h"

/* realloc moves a block it grows to this size or more (and at most
 * LARGE_MAX) into a mapping of its own when cached huge pages can take it
 * closely: a block that grows is likely to grow again, and there it does so
 * without copying, into pages that are resident already. Fresh mappings are
 * not used for it: a mapping per block faults in every page of every new
 * block, where an arena reuses the pages freed blocks left. */
#define REALLOC_MAP_MIN (128ul << 10)

/* Copies block b at p into q (n bytes asked for) and frees b. A large run
 * left for a huge mapping is purged at once: the program's memory is growing
 * past the arenas, and its old pages would otherwise add to the peak it is
 * reaching while they wait for decay. */
static void *move_into(void *p, struct block b, void *q, size_t n)
{
	memcpy(q, p, b.usable < n ? b.usable : n);
	if (b.kind == BLOCK_LARGE && (pagemap_get((uintptr_t)q) & MAP_HUGE)) {
		cairn_prof_leaving(p, b);
		tally_free(heap_self(), b.usable);
		large_free(heap_self(), b.span, true);
	} else
		cairn_release_block(p, b);
	return q;
}

/* Within its run, or into the free pages after it. */
bool cairn_resize_large(void *p, struct block b, size_t n)
{
	if (n <= SMALL_MAX || n > LARGE_MAX)
		return false;
	size_t pages = large_pages(n);
	struct arena *a = span_chunk(b.span)->arena;
	size_t old_pages = b.span->npages;
	/* A sampled block that changes size leaves the samples: its record
	 * holds the size it was sampled at. */
	if (pages != old_pages)
		cairn_prof_leaving(p, b);
	if (pages < b.span->npages)
		arena_shrink_run(a, b.span, pages);
	if (pages > b.span->npages && !arena_grow_run(a, b.span, pages))
		return false;
	large_resized(b.span, old_pages);
	/* Pages taken in from free neighbours hold stale data. */
	if (unlikely(cairn_conf.junk || cairn_conf.zero) && span_bytes(b.span) > b.usable)
		cairn_fill_new((char *)p + b.usable, span_bytes(b.span) - b.usable);
	return true;
}

static void *resize_huge(void *p, struct block b, size_t n)
{
	size_t fresh;
	cairn_prof_leaving(p, b);
	void *q = huge_realloc(b.huge, n, &fresh);
	if (unlikely(q == NULL)) {
		reclaim_for_retry();
		q = huge_realloc(b.huge, n, &fresh);
	}
	if (q == NULL)
		return cairn_out_of_memory();
	if (unlikely(cairn_conf.junk || cairn_conf.zero)) {
		/* New pages are zero: those need junk only. */
		size_t end = cairn_conf.zero ? fresh : b.huge->size;
		if (end > b.usable)
			cairn_fill_new((char *)q + b.usable, end - b.usable);
	}
	return q;
}

void *cairn_resize(void *p, size_t n, const char *fn)
{
	if (p == NULL)
		return cairn_alloc(n);
	if (n == 0) {
		counter_add(zero_reallocs, 1);
		cairn_dealloc(p, fn);
		return NULL;
	}
	if (unlikely(n > PTRDIFF_MAX))
		return cairn_out_of_memory();
	struct block b = cairn_block_lookup(p, pagemap_get((uintptr_t)p), fn);
	if (b.kind != BLOCK_HUGE && n > b.usable && n >= REALLOC_MAP_MIN && n <= LARGE_MAX &&
	    huge_room()) {
		void *q = huge_alloc_cached(n, cairn_conf.zero);
		if (q != NULL) {
			tally_alloc(heap_self(), huge_of(pagemap_get((uintptr_t)q))->size);
			cairn_count_big(q);
			if (unlikely(cairn_conf.junk & JUNK_ALLOC) && !cairn_conf.zero)
				memset(q, 0xa5, align_up(n, os_page_size()));
			return move_into(p, b, q, n);
		}
	}
	switch (b.kind) {
	case BLOCK_SMALL:
		/* In place while the block is big enough and moving would not
		 * at least halve it. */
		if (n <= b.usable && size_class_bytes(n) > b.usable / 2) {
			cairn_tally_resize(b.usable, b.usable);
			return p;
		}
		break;
	case BLOCK_LARGE:
		if (cairn_resize_large(p, b, n)) {
			cairn_tally_resize(b.usable, span_bytes(b.span));
			return p;
		}
		break;
	case BLOCK_HUGE:
		/* Under LARGE_MAX, it goes to an arena once it shrinks below
		 * REALLOC_MAP_MIN or to half its size. */
		if (n > LARGE_MAX || (n >= REALLOC_MAP_MIN && n > b.usable / 2)) {
			void *q = resize_huge(p, b, n);
			if (q != NULL)
				cairn_tally_resize(b.usable,
				                   huge_of(pagemap_get((uintptr_t)q))->size);
			return q;
		}
		break;
	}
	void *q = cairn_alloc(n);
	return q != NULL ? move_into(p, b, q, n) : NULL;
}
