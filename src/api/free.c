/* SPDX-License-Identifier: MIT */
/* Freeing: the slow paths behind free's fast path (entry.h), and the
 * pointer validation every path that takes a pointer from the program
 * shares (free's slow path, realloc, malloc_usable_size). A pointer cairn
 * did not hand out, one inside a block, or one to a block already free
 * stops the program with one line on stderr, and so does a size given with
 * a block (sdallocx) that it cannot have been asked for. */
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "control/conf.h"
#include "core/background.h"
#include "core/decay.h"
#include "core/largecache.h"
#include "prof/profiler.h"

__attribute__((noreturn, cold)) static void report_freed(const char *fn, const void *p)
{
	if (strcmp(fn, "free") == 0)
		cairn_fatal_ptr(fn, "double free of", p, "");
	cairn_fatal_ptr(fn, "invalid pointer", p, " (already freed)");
}

__attribute__((noreturn, cold)) static void report_foreign(const char *fn, const void *p)
{
	cairn_fatal_ptr(fn, "invalid pointer", p, " (not allocated by cairn)");
}

__attribute__((noreturn, cold)) static void report_interior(const char *fn, const void *p)
{
	cairn_fatal_ptr(fn, "invalid pointer", p, " (inside a block, not its start)");
}

/* "cairn: sdallocx(): invalid size N for 0x... (a block of usable size U)",
 * formatted without allocating. */
void cairn_report_size(const char *fn, const void *p, size_t size, size_t usable)
{
	char what[64] = "invalid size ", tail[64] = " (a block of usable size ";
	size_t n = strlen(what);
	n += fmt_u64(what + n, size);
	memcpy(what + n, " for", 5);
	n = strlen(tail);
	n += fmt_u64(tail + n, usable);
	memcpy(tail + n, ")", 2);
	cairn_fatal_ptr(fn, what, p, tail);
}

struct block cairn_block_lookup(void *p, uintptr_t entry, const char *fn)
{
	uintptr_t a = (uintptr_t)p;
	struct block b = {0};
	if (entry == 0)
		report_foreign(fn, p);
	if (entry & MAP_HUGE) {
		struct huge *h = huge_of(entry);
		if (a < h->addr || a >= h->addr + h->size)
			report_foreign(fn, p);
		if (!h->live)
			report_freed(fn, p);
		if (a != h->addr)
			report_interior(fn, p);
		b.kind = BLOCK_HUGE;
		b.huge = h;
		b.usable = h->size;
		return b;
	}
	struct span *s = chunk_span_of((struct chunk *)(entry - MAP_CHUNK), a);
	switch (s->state) {
	case SPAN_SMALL:
		if ((uint64_t)(uint32_t)(a - s->start) * s->div_magic >= s->div_magic)
			report_interior(fn, p);
		if (block_is_free(p, s))
			report_freed(fn, p);
		b.kind = BLOCK_SMALL;
		b.usable = sc_size[s->cls];
		break;
	case SPAN_LARGE:
		if (a != s->start)
			report_interior(fn, p);
		if (s->flags & LARGE_CACHED)
			report_freed(fn, p);
		b.kind = BLOCK_LARGE;
		b.usable = span_bytes(s);
		break;
	case SPAN_FREE:
		report_freed(fn, p);
	default:
		report_foreign(fn, p);
	}
	b.span = s;
	return b;
}

void cairn_prof_leaving(void *p, struct block b)
{
	switch (b.kind) {
	case BLOCK_SMALL:
		/* A sampled small block's slab is the profiler's heap's,
		 * which is told of its frees (shared_heap_on_free). */
		break;
	case BLOCK_LARGE:
		if (unlikely(b.span->flags & LARGE_SAMPLED)) {
			b.span->flags &= ~LARGE_SAMPLED;
			prof_unsample(p, b.usable);
		}
		break;
	case BLOCK_HUGE:
		if (unlikely(b.huge->sampled)) {
			b.huge->sampled = false;
			prof_unsample(p, b.usable);
		}
		break;
	}
}

/* cairn_release_block's work; with past_cache, a large run goes back to its
 * arena past the thread's cache of runs. */
static void release(void *p, struct block b, bool past_cache)
{
	cairn_prof_leaving(p, b);
	if (unlikely(cairn_conf.junk & JUNK_FREE) && b.usable > 2 * sizeof(void *))
		memset((char *)p + 2 * sizeof(void *), 0x5a, b.usable - 2 * sizeof(void *));
	switch (b.kind) {
	case BLOCK_SMALL:
		heap_free_slow(heap_self(), b.span, p);
		break;
	case BLOCK_LARGE: {
		struct heap *h = heap_self();
		tally_free(h, b.usable);
		large_free(past_cache ? &cairn_heap_empty : large_cache_heap(h), b.span, false);
		break;
	}
	case BLOCK_HUGE:
		tally_free(heap_self(), b.usable);
		huge_free(b.huge);
		break;
	}
	/* If this free is what calls for the purging threads, start them
	 * now: it may be the program's last call into the allocator. */
	if (background_enabled())
		background_poll();
	else if (b.kind != BLOCK_SMALL)
		decay_tick(arena_of_caller());
}

void cairn_release_block(void *p, struct block b)
{
	release(p, b, false);
}

void cairn_release_block_uncached(void *p, struct block b)
{
	release(p, b, true);
}

/* free() of a large block whose run s the caller found, where the common
 * case below does not hold: the checks and the release of
 * cairn_block_lookup and cairn_release_block for this one kind, with what
 * a large block does not need (the switch over kinds) left out. */
static NOINLINE void free_large(void *p, struct span *s, const char *fn);

static NOINLINE void free_large_rest(void *p, struct span *s, const char *fn)
{
	if ((uintptr_t)p != s->start)
		report_interior(fn, p);
	if (s->flags & LARGE_CACHED)
		report_freed(fn, p);
	struct block b = {.kind = BLOCK_LARGE, .usable = span_bytes(s), .span = s};
	/* A sampled block is accounted here, its mark cleared, and then goes
	 * free_large's common way where that holds now (into the thread's
	 * cache with no lock but the heap's, nothing due): a sample is
	 * every 512 KiB allocated by default, a few large blocks apart. */
	if (unlikely(s->flags & LARGE_SAMPLED)) {
		cairn_prof_leaving(p, b);
		return free_large(p, s, fn);
	}
	if (unlikely(cairn_conf.junk)) {
		cairn_release_block(p, b);
		return;
	}
	struct heap *h = heap_self();
	tally_free(h, b.usable);
	int c = large_class(s->npages);
	if (unlikely(c < 0) || unlikely(h->tcache_off))
		large_release(s, false);
	else if (unlikely(!large_free_cached(h, s, c)))
		large_to_arena(s, false);
	/* As cairn_release_block: the cache may just have called for the
	 * purging threads, and this free may be the program's last call. */
	if (background_enabled())
		background_poll();
	else
		decay_tick(arena_of_caller());
}

/* The rest of free_large's common case where it is not the usual one: a
 * thread waits on the heap's lock, the cache asks for the purging
 * threads, or it had no room for run s, counted as freed already. */
static NOINLINE void free_large_after(struct heap *h, struct span *s, bool waiter, bool room,
                                      size_t cached)
{
	if (waiter)
		mutex_wake(&h->lock);
	if (large_cache_wants_purger(cached, span_bytes(s), room))
		decay_request_start();
	if (!room)
		large_to_arena(s, false);
	background_poll();
}

/* free() of a large block: into the thread's cache in the common case
 * (the block's start, not sampled, no junk filling, a class the cache
 * keeps, the cache on, the purging threads running), with no call but
 * the tail calls of the rest, so that it needs no stack frame; the heap's
 * lock only if it is free, as cairn_alloc_big's hits. */
static NOINLINE void free_large(void *p, struct span *s, const char *fn)
{
	struct heap *h = heap_self();
	struct arena *a = span_chunk(s)->arena;
	int c = large_class(s->npages);
	if (likely((uintptr_t)p == s->start) &&
	    likely(!(s->flags & (LARGE_CACHED | LARGE_SAMPLED))) && likely(!cairn_conf.junk) &&
	    likely(c >= 0) && likely(!h->tcache_off) && likely(background_enabled()) &&
	    likely(large_cacheable(h, a)) && likely(large_trylock(h))) {
		size_t bytes = span_bytes(s);
		h->tally.deallocated += bytes;
		/* Counted before the cache shows it: no reader sees it both
		 * in use and cached. */
		large_counted_to(a, (unsigned)c, true);
		bool room;
		size_t cached = large_cache_push(h, s, bytes, c, &room);
		bool waiter = large_unlock_leaves_waiter(h);
		if (unlikely(waiter) || unlikely(!room) ||
		    unlikely(large_cache_wants_purger(cached, bytes, room)))
			free_large_after(h, s, waiter, room, cached);
		else
			background_poll();
		return;
	}
	free_large_rest(p, s, fn);
}

NOINLINE void cairn_free_slow(void *p, uintptr_t entry, const char *fn)
{
	if (p == NULL)
		return;
	cairn_release_block(p, cairn_block_lookup(p, entry, fn));
}

/* A pointer in the page map's window that the fast path did not take: most
 * often a small block freed by a thread that does not own its slab (a
 * remote free); s is pagemap_stub's span (SPAN_FREE) where no arena chunk
 * is, for a huge block, a foreign pointer or NULL. Nothing here or below
 * changes errno: the OS layer preserves it. */
NOINLINE void cairn_free_small_slow(void *p, struct span *s, const char *fn)
{
	/* A large block first, before this function's frame: s is its run
	 * already, and a second page-map lookup (cairn_block_lookup) would
	 * find the same. */
	if (s->state == SPAN_LARGE) {
		free_large(p, s, fn);
		return;
	}
	uintptr_t a = (uintptr_t)p;
	if (likely(s->state == SPAN_SMALL) &&
	    likely((a - s->start) * s->div_magic < s->div_magic) && likely(!block_is_free(p, s)) &&
	    likely(!cairn_conf.junk)) {
		/* A thread that only frees gets a heap too, so that its
		 * remote frees travel in batches. */
		struct heap *self = heap_self();
		if (unlikely(self == &cairn_heap_empty))
			self = cairn_attach_heap();
		heap_free_slow(self, s, p);
		background_poll();
		return;
	}
	cairn_free_slow(p, pagemap_get(a), fn);
}

/* The free fast path's call when a slab has no block in use any more: it
 * may go back to its arena, which may then call for the purging threads. */
NOINLINE void cairn_span_emptied(struct heap *h, struct span *s)
{
	heap_span_emptied(h, s);
	background_poll();
}
