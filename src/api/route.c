/* SPDX-License-Identifier: MIT */
/* Where a request with jemalloc's MALLOCX_* flags is served (route.h):
 * an explicit arena, an explicit cache, or the calling thread's heap as
 * malloc's. allocx.c's exported functions come here for every block they
 * hand out.
 *
 * MALLOCX_ARENA(i) allocates from arena i alone: a created arena's own
 * heap and chunks, or an automatic arena's shared heap, under their
 * locks; no thread cache is used then. MALLOCX_TCACHE(tc) allocates small
 * blocks from explicit cache tc and frees them into it (allocx.c's
 * free_flags); MALLOCX_TCACHE_NONE goes past the calling thread's heap to
 * its arena. An arena or cache number that is not live is misuse: one line
 * on stderr, and abort. */
#include <cairn/jemalloc.h>
#include <stdlib.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "api/route.h"
#include "control/conf.h"
#include "core/background.h"
#include "core/decay.h"
#include "core/explicit.h"
#include "core/largecache.h"
#include "os/os.h"
#include "prof/profiler.h"

__attribute__((noreturn, cold)) static void report_dead(const char *fn, const char *what, size_t i)
{
	char num[24], call[48];
	num[fmt_u64(num, i)] = '\0';
	size_t n = strlen(fn);
	if (n > sizeof call - 4)
		n = sizeof call - 4;
	memcpy(call, fn, n);
	memcpy(call + n, "():", 4);
	cairn_message(call, " invalid ", what, " ", num, " (not created, or destroyed)", NULL);
	abort();
}

struct heap *cairn_tcache_of(unsigned tc, const char *fn)
{
	struct heap *h = explicit_tcache_get(tc);
	if (unlikely(h == NULL))
		report_dead(fn, "thread cache", tc);
	return h;
}

/* The small class that serves n bytes (n > 0) aligned to align, as
 * alloc.c's dispatch chooses it; SC_NSMALL where no small class does. */
static unsigned small_class_for(size_t n, size_t align)
{
	size_t want = n > align ? n : align;
	if (want > SMALL_MAX || align > PAGE_SIZE)
		return SC_NSMALL;
	return align > 16 ? sc_aligned_class[__builtin_ctzl(align) - 5][size_class(want)]
	                  : size_class(n);
}

/* Small block p of class c, just taken from a heap, zeroed or filled as
 * asked for and as the options say. */
static void *small_prepared(void *p, unsigned c, bool zero)
{
	if (p != NULL && (zero || unlikely(cairn_conf.junk || cairn_conf.zero))) {
		if (zero)
			memset(p, 0, sc_size[c]);
		else
			cairn_fill_new(p, sc_size[c]);
	}
	return p;
}

/* One try at n bytes aligned to align from arena a (e, if a created
 * one), following alloc.c's dispatch (allocx.c's usable_for says the
 * same sizes). */
static void *arena_try(struct explicit_arena *e, struct arena *a, size_t n, size_t align, bool zero)
{
	unsigned c = small_class_for(n, align);
	if (c < SC_NSMALL)
		return small_prepared(
		    e != NULL ? explicit_alloc_small(e, c) : heap_shared_alloc(a, c), c, zero);
	size_t align_pages = align > PAGE_SIZE ? align >> PAGE_SHIFT : 1;
	if (align < CHUNK_SIZE && n <= LARGE_MAX &&
	    large_pages(n) + align_pages - 1 <= DATA_PAGES) {
		struct span *s =
		    e != NULL ? explicit_alloc_run(e, large_pages(n), align_pages)
		              : large_alloc(&cairn_heap_empty, a, large_pages(n), align_pages);
		if (s == NULL)
			return NULL;
		if (zero)
			memset((void *)s->start, 0, span_bytes(s));
		else if (unlikely(cairn_conf.junk || cairn_conf.zero))
			cairn_fill_new((void *)s->start, span_bytes(s));
		return (void *)s->start;
	}
	size_t halign = align > CHUNK_SIZE ? align : CHUNK_SIZE;
	zero |= cairn_conf.zero;
	void *p = e != NULL ? explicit_alloc_huge(e, n, halign, zero) : huge_alloc(n, halign, zero);
	if (p != NULL && unlikely(cairn_conf.junk & JUNK_ALLOC) && !zero)
		memset(p, 0xa5, align_up(n, os_page_size()));
	return p;
}

void *cairn_alloc_in_arena(unsigned ai, size_t n, size_t align, bool zero, const char *fn)
{
	if (unlikely(!request_ok(n, align)) || !ensure_init())
		return cairn_out_of_memory();
	struct explicit_arena *e = NULL;
	struct arena *a;
	if (ai < cairn_narenas) {
		a = &cairn_arenas[ai];
	} else {
		e = explicit_arena_get(ai);
		if (unlikely(e == NULL))
			report_dead(fn, "arena", ai);
		a = &e->arena;
	}
	if (n == 0)
		n = 1;
	/* These blocks pass the thread's bins, but not the profiler: a
	 * sampled small one comes from its slabs, whatever the arena (so a
	 * reset or destroy of a created arena leaves it allocated, and
	 * counted, until it is freed). */
	unsigned c = small_class_for(n, align);
	void *p = NULL;
	if (unlikely(cairn_prof.on) && c < SC_NSMALL && cairn_bypass_due(heap_self(), sc_size[c]))
		p = small_prepared(prof_sample_small(heap_self(), c), c, zero); /* counted there */
	if (p == NULL) {
		p = arena_try(e, a, n, align, zero);
		if (unlikely(p == NULL)) {
			reclaim_for_retry();
			p = arena_try(e, a, n, align, zero);
		}
		/* The calling thread's, as every block it is handed
		 * (thread.allocated): a free of it counts there too. */
		if (p != NULL)
			tally_alloc(heap_self(), lookup(p, fn).usable);
	}
	background_poll();
	if (unlikely(p == NULL))
		return cairn_out_of_memory();
	if (unlikely(cairn_prof.on) && c >= SC_NSMALL)
		cairn_count_big(p);
	return p;
}

/* heap_alloc_slow's way out for an explicit cache: as alloc.c's for a
 * thread heap. */
static COLD NOINLINE void *tcache_after(struct heap *h, unsigned cls, void *p)
{
	if (p == NULL) {
		reclaim_for_retry();
		p = heap_alloc_again(h, cls);
	}
	background_poll();
	return p != NULL ? p : cairn_out_of_memory();
}

static NOINLINE void *tcache_refill(size_t size, unsigned cls, struct heap *h)
{
	return heap_alloc_slow(h, cls, size, tcache_after);
}

/* A block from explicit cache h: its small blocks; the others as without
 * a cache. */
static void *alloc_tcache(struct heap *h, size_t n, size_t align, bool zero)
{
	if (unlikely(!request_ok(n, align)))
		return cairn_out_of_memory();
	size_t m = n ? n : 1;
	unsigned c = small_class_for(m, align);
	if (c >= SC_NSMALL)
		return cairn_alloc_flags(n, align, zero);
	/* The cache's countdown is its own, not the calling thread's,
	 * which the profiler samples on. */
	if (unlikely(cairn_prof.on) && cairn_bypass_due(heap_self(), sc_size[c])) {
		void *p = prof_sample_small(heap_self(), c);
		if (p != NULL)
			return small_prepared(p, c, zero);
	}
	void *p = heap_pop(h, c, m, tcache_refill);
	/* The cache's blocks are the calling thread's in thread.allocated:
	 * the cache's own tally is no thread's. */
	if (p != NULL)
		tally_alloc(heap_self(), sc_size[c]);
	return small_prepared(p, c, zero);
}

/* What the flags ask for, beyond the alignment and zeroing cairn_alloc_flags
 * does: cairn_alloc_all_flags's arena and cache cases. */
void *cairn_alloc_routed(size_t n, int flags, const char *fn)
{
	size_t align = flags_align(flags);
	bool zero = flags & MALLOCX_ZERO;
	unsigned ai = flags_arena(flags), tc = flags_tcache(flags);
	if (ai == NO_ARENA && tc == TC_DEFAULT)
		return cairn_alloc_flags(n, align, zero);
	if (!ensure_init())
		return cairn_out_of_memory();
	if (ai != NO_ARENA)
		return cairn_alloc_in_arena(ai, n, align, zero, fn);
	if (tc == TC_NONE)
		return cairn_alloc_in_arena(arena_of_caller()->index, n, align, zero, fn);
	return alloc_tcache(cairn_tcache_of(tc, fn), n, align, zero);
}
