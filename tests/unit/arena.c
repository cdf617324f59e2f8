/* SPDX-License-Identifier: MIT */
/* The page heap of an arena (arena.c): runs split and coalesce, every page names its
 * span, alignment, in-place shrink and grow, empty chunks beyond the spare
 * go back to the OS, and decay with chunks on huge pages releases whole
 * chunks before it splits one. Uses a private arena so nothing else
 * interferes. */
#include <string.h>

#include "check.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/params.h"
#include "os/os.h"

static struct arena arena;

static int pages_point_to(struct span *s)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	for (uint32_t i = first; i < first + s->npages; i++)
		if (chunk_page_span(c, i) != &c->spans[first])
			return 0;
	return 1;
}

int main(void)
{
	/* The parameters the api would give the core by default; no purging
	 * thread: the test runs decay itself. */
	cairn_core.dirty_decay_ms = 10000;
	cairn_core.muzzy_decay_ms = 0;
	cairn_core.max_background_threads = 1;
	cairn_core.background_thread = false;
	pthread_mutex_init(&arena.lock, NULL);

	TEST_CASE("runs")
	{
		struct span *a = arena_alloc_run(&arena, 10, 1);
		struct span *b = arena_alloc_run(&arena, 10, 1);
		struct span *c = arena_alloc_run(&arena, 10, 1);
		REQUIRE(a && b && c, "runs allocated");
		struct chunk *ch = span_chunk(a);
		CHECK(((uintptr_t)ch & (CHUNK_SIZE - 1)) == 0, "chunk aligned to its size");
		CHECK(pagemap_get(a->start) == ((uintptr_t)ch | MAP_CHUNK),
		      "page map names the chunk");
		CHECK(pagemap_get(a->start + 5 * PAGE_SIZE) == ((uintptr_t)ch | MAP_CHUNK),
		      "inside too");
		CHECK(span_page(a) == HDR_PAGES, "first run right after the header (%u)",
		      span_page(a));
		CHECK(b->start == a->start + 10 * PAGE_SIZE &&
		          c->start == b->start + 10 * PAGE_SIZE,
		      "runs are carved in address order");
		CHECK(a->state == SPAN_LARGE && a->npages == 10, "state and length");
		CHECK(pages_point_to(a) && pages_point_to(b) && pages_point_to(c), "span_at");
		CHECK(ch->free_pages == DATA_PAGES - 30, "free pages %u", ch->free_pages);
		CHECK(ch->spans[0].state == SPAN_HEADER, "header span");
		memset((void *)a->start, 1, 10 * PAGE_SIZE);

		/* Free the outer two, then the middle: one run covering the chunk. */
		arena_free_run(&arena, a);
		arena_free_run(&arena, c);
		CHECK(a->state == SPAN_FREE, "freed run is free");
		struct span *c_run = chunk_page_span(ch, span_page(b) + 10);
		CHECK(c_run->state == SPAN_FREE && c_run->npages == DATA_PAGES - 20,
		      "c merged with the free tail (%u pages)", c_run->npages);
		arena_free_run(&arena, b);
		struct span *all = &ch->spans[HDR_PAGES];
		CHECK(all->state == SPAN_FREE && all->npages == DATA_PAGES, "all merged: %u",
		      all->npages);
		CHECK(pages_point_to(all), "every free page names the merged run");
		CHECK(ch->free_pages == DATA_PAGES, "the chunk is empty");
		CHECK(all->flags == RUN_DIRTY && arena.dirty_pages >= DATA_PAGES,
		      "its freed pages are dirty");

		/* Alignment within the chunk. */
		struct span *pad = arena_alloc_run(&arena, 3, 1);
		struct span *al = arena_alloc_run(&arena, 5, 64);
		REQUIRE(pad && al, "aligned run");
		CHECK((al->start & (64 * PAGE_SIZE - 1)) == 0, "64-page aligned: %lx",
		      (long)al->start);
		CHECK(al->npages == 5 && pages_point_to(al), "aligned run shape");
		struct span *head = chunk_page_span(ch, span_page(pad) + 3);
		CHECK(head->state == SPAN_FREE, "the skipped pages stay free");

		/* Shrink in place; the tail merges with the free pages after it. */
		struct span *g = arena_alloc_run(&arena, 20, 1);
		REQUIRE(g != NULL, "run for shrink");
		arena_shrink_run(&arena, g, 6);
		CHECK(g->npages == 6 && g->state == SPAN_LARGE && pages_point_to(g), "shrunk to 6");
		struct span *after = chunk_page_span(ch, span_page(g) + 6);
		CHECK(after->state == SPAN_FREE && after->npages > 14, "tail merged (%u)",
		      after->npages);

		/* Grow in place into free pages; fail when the next run is in use. */
		CHECK(arena_grow_run(&arena, g, 12) && g->npages == 12 && pages_point_to(g),
		      "grow");
		struct span *blocker = arena_alloc_run(&arena, 1, 1);
		REQUIRE(blocker != NULL, "blocker");
		CHECK(blocker->start == g->start + 12 * PAGE_SIZE, "blocker right after g");
		CHECK(!arena_grow_run(&arena, g, 13) && g->npages == 12,
		      "cannot grow into a used run");

		arena_free_run(&arena, blocker);
		arena_free_run(&arena, g);
		arena_free_run(&arena, al);
		arena_free_run(&arena, pad);
		CHECK(all->state == SPAN_FREE && all->npages == DATA_PAGES, "back to one run");
	}

	TEST_CASE("chunk_release")
	{
		/* Two chunks in use, both emptied: their pages are dirty until decay
		 * releases them, and a chunk released whole leaves the page map and
		 * the address space (retain:false). */
		struct span *x = arena_alloc_run(&arena, DATA_PAGES, 1);
		struct span *y = arena_alloc_run(&arena, DATA_PAGES, 1);
		REQUIRE(x && y && span_chunk(x) != span_chunk(y), "two full chunks");
		uintptr_t xchunk = (uintptr_t)span_chunk(x), ychunk = (uintptr_t)span_chunk(y);
		CHECK(arena.dirty_pages == 0, "nothing dirty while both are full (%zu)",
		      arena.dirty_pages);
		arena_free_run(&arena, x);
		arena_free_run(&arena, y);
		CHECK(arena.dirty_pages == 2 * DATA_PAGES, "both dirty (%zu pages)",
		      arena.dirty_pages);
		CHECK(pagemap_get(ychunk) != 0, "still mapped before decay");
		CHECK(arena_decay_deadline(&arena) != UINT64_MAX, "decay has a deadline");
		size_t released = arena_decay(&arena, os_now_ms(), true);
		CHECK(released >= 2 * CHUNK_SIZE, "forced decay released %zu bytes", released);
		CHECK(arena.dirty_pages == 0 && arena.dirty.head == NULL, "no dirty run left");
		CHECK(pagemap_get(ychunk) == 0 && pagemap_get(xchunk) == 0,
		      "empty chunks unmapped");
		CHECK(arena_decay_deadline(&arena) == UINT64_MAX, "nothing left to decay");
		CHECK(arena_alloc_run(&arena, DATA_PAGES + 1, 1) == NULL,
		      "a run larger than a chunk fails");
	}

	TEST_CASE("decay_curve")
	{
		cairn_core.dirty_decay_ms = 1000;
		cairn_core.muzzy_decay_ms = 0;
		/* What a case before left: nothing, in a full run. */
		arena_decay(&arena, os_now_ms(), true);

		/* The curve bounds the dirty pages: eight 20-page runs freed together
		 * may keep 1 - smoothstep(0.5) = half of their pages halfway through
		 * dirty_decay_ms, so a pass then purges the four oldest and no more. */
		cairn_hugepage_chunks = false;
		struct span *runs[8], *gaps[8];
		for (int i = 0; i < 8; i++) {
			runs[i] = arena_alloc_run(&arena, 20, 1);
			gaps[i] = arena_alloc_run(&arena, 1, 1); /* keeps the runs apart */
			REQUIRE(runs[i] && gaps[i], "runs for the curve");
		}
		for (int i = 0; i < 8; i++)
			arena_free_run(&arena, runs[i]);
		uint64_t freed_at = os_now_ms();
		CHECK(arena.dirty_pages == 160, "160 pages dirty (%zu)", arena.dirty_pages);
		arena_decay(&arena, freed_at + 500, false);
		CHECK(arena.dirty_pages == 80, "halfway along the curve: 80 pages dirty, not %zu",
		      arena.dirty_pages);
		arena_decay(&arena, freed_at + 1000, false);
		CHECK(arena.dirty_pages == 0, "at dirty_decay_ms: none dirty (%zu)",
		      arena.dirty_pages);
		for (int i = 0; i < 8; i++)
			arena_free_run(&arena, gaps[i]);
		arena_decay(&arena, freed_at, true);
	}

	TEST_CASE("decay_huge_pages")
	{
		/* Halfway along the decay curve (dirty_decay_ms 1000, at 500 ms) with
		 * a 40-page run free in an otherwise full chunk and a whole chunk
		 * free: without huge pages both go; with chunks on huge pages the
		 * whole chunk goes and the run that would split a huge page waits
		 * until it is due. */
		cairn_core.dirty_decay_ms = 1000;
		cairn_core.muzzy_decay_ms = 0;
		/* What a case before left: nothing, in a full run. */
		arena_decay(&arena, os_now_ms(), true);
		for (int huge = 0; huge < 2; huge++) {
			cairn_hugepage_chunks = huge;
			struct span *most = arena_alloc_run(&arena, DATA_PAGES - 40, 1);
			struct span *part = arena_alloc_run(&arena, 40, 1);
			struct span *whole = arena_alloc_run(&arena, DATA_PAGES, 1);
			REQUIRE(most && part && whole, "runs for the huge-page case");
			REQUIRE(span_chunk(most) == span_chunk(part) &&
			            span_chunk(whole) != span_chunk(part),
			        "the 40 pages share the first chunk; the whole run has its own");
			uintptr_t wchunk = (uintptr_t)span_chunk(whole);
			arena_free_run(&arena, part);
			arena_free_run(&arena, whole);
			uint64_t t0 = os_now_ms();
			CHECK(arena.dirty_pages == DATA_PAGES + 40, "dirty: %zu",
			      arena.dirty_pages);
			arena_decay(&arena, t0 + 500, false);
			CHECK(pagemap_get(wchunk) == 0,
			      "huge=%d: the empty chunk is released at 500 ms", huge);
			if (huge)
				CHECK(arena.dirty_pages == 40,
				      "huge pages: the 40 pages in the full chunk wait (%zu dirty)",
				      arena.dirty_pages);
			else
				CHECK(arena.dirty_pages == 0,
				      "4 KiB pages: the 40 pages go too (%zu dirty)",
				      arena.dirty_pages);
			arena_decay(&arena, t0 + 1100, false);
			CHECK(arena.dirty_pages == 0,
			      "huge=%d: everything is purged once due (%zu dirty)", huge,
			      arena.dirty_pages);
			arena_free_run(&arena, most);
			arena_decay(&arena, t0, true);
		}
	}
	return CHECK_DONE();
}
