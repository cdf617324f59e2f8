/* SPDX-License-Identifier: MIT */
/* The page heap of an arena (arena.c): runs split and coalesce, every page names its
 * span, alignment, in-place shrink and grow, empty chunks beyond the spare
 * go back to the OS, and decay with chunks on huge pages releases whole
 * chunks before it splits one. Uses a private arena so nothing else
 * interferes. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/params.h"
#include "os/os.h"

static struct arena arena;
static struct arena hdr_arena; /* for the header case: chunks of its own */

/* Header pages of chunk c the kernel holds (mincore). */
static uint32_t header_resident(struct chunk *c)
{
	unsigned char v[HDR_PAGES];
	if (mincore(c, HDR_PAGES * PAGE_SIZE, v) != 0)
		return ~0u;
	uint32_t n = 0;
	for (size_t i = 0; i < HDR_PAGES; i++)
		n += v[i] & 1;
	return n;
}

static int pages_point_to(struct span *s)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	for (uint32_t i = first; i < first + s->npages; i++)
		if (chunk_page_span(c, i) != s)
			return 0;
	return 1;
}

/* Whether every page of chunk c names what the page heap promises
 * (arena_runs.h, page entries): a span in use on each of its pages; a free
 * run on its end pages, and SLOT_INSIDE (free, no fast owner) on the
 * others; and whether every slot below slots_top either heads a span or is
 * on the free list, reading SPAN_FREE, with no page naming it. Reports the
 * first break. */
static int chunk_entries_ok(struct chunk *c)
{
	struct span *inside = &c->spans[SLOT_INSIDE];
	bool heads[CHUNK_PAGES] = {false};
	if (inside->state != SPAN_FREE || inside->fast_owner != 0) {
		fprintf(stderr, "SLOT_INSIDE heads something\n");
		return 0;
	}
	for (uint32_t p = 0; p < CHUNK_PAGES;) {
		struct span *s = chunk_page_span(c, p);
		size_t slot = (size_t)(s - c->spans);
		if (s == inside || slot >= c->slots_top || span_page(s) != p ||
		    span_chunk(s) != c || s->npages == 0 || p + s->npages > CHUNK_PAGES) {
			fprintf(stderr, "page %u: not the head of its span (slot %zu)\n", p, slot);
			return 0;
		}
		heads[slot] = true;
		uint32_t end = p + s->npages;
		for (uint32_t i = p + 1; i < end; i++) {
			struct span *d = chunk_page_span(c, i);
			bool ok = s->state != SPAN_FREE || i == end - 1 ? d == s : d == inside;
			if (!ok) {
				fprintf(stderr, "page %u of the span at %u (state %u): slot %zu\n",
				        i, p, s->state, (size_t)(d - c->spans));
				return 0;
			}
		}
		p = end;
	}
	uint32_t free_slots = 0;
	for (struct span *f = c->slots_free; f != NULL; f = f->next, free_slots++) {
		size_t slot = (size_t)(f - c->spans);
		if (slot <= SLOT_INSIDE || slot >= c->slots_top || heads[slot] ||
		    f->state != SPAN_FREE || f->fast_owner != 0 || free_slots > CHUNK_PAGES) {
			fprintf(stderr, "free slot %zu heads a span or reads as one\n", slot);
			return 0;
		}
	}
	uint32_t used = 0;
	for (uint32_t i = 0; i < CHUNK_PAGES; i++)
		used += heads[i];
	if (used + free_slots + 1 != c->slots_top) {
		fprintf(stderr, "slots: %u head spans, %u free, top %u\n", used, free_slots,
		        c->slots_top);
		return 0;
	}
	return 1;
}

/* Purges the arena over and over, its lock released across each purge,
 * until told to stop. */
static atomic_bool purging_stop;
static void *purge_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&purging_stop))
		arena_decay(&arena, os_now_ms(), true);
	return NULL;
}

/* The lowest n bits of a step of a fixed sequence: the same ops every run. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1664525u + 1013904223u;
	return (rnd_state >> 8) % n;
}

int main(void)
{
	/* The parameters the api would give the core by default; no purging
	 * thread: the test runs decay itself. */
	cairn_core.dirty_decay_ms = 10000;
	cairn_core.muzzy_decay_ms = 0;
	cairn_core.max_background_threads = 1;
	cairn_core.background_thread = false;
	mutex_init(&arena.lock);

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
		CHECK(ch->spans[SLOT_HEADER].state == SPAN_HEADER &&
		          chunk_page_span(ch, 0) == &ch->spans[SLOT_HEADER],
		      "header span");
		memset((void *)a->start, 1, 10 * PAGE_SIZE);

		/* Free the outer two, then the middle: one run covering the chunk. */
		arena_free_run(&arena, a);
		arena_free_run(&arena, c);
		CHECK(a->state == SPAN_FREE, "freed run is free");
		struct span *c_run = chunk_page_span(ch, span_page(b) + 10);
		CHECK(c_run->state == SPAN_FREE && c_run->npages == DATA_PAGES - 20,
		      "c merged with the free tail (%u pages)", c_run->npages);
		arena_free_run(&arena, b);
		struct span *all = chunk_page_span(ch, HDR_PAGES);
		CHECK(all->state == SPAN_FREE && all->npages == DATA_PAGES, "all merged: %u",
		      all->npages);
		CHECK(chunk_entries_ok(ch), "every page names what it must");
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
		all = chunk_page_span(ch, HDR_PAGES);
		CHECK(all->state == SPAN_FREE && all->npages == DATA_PAGES, "back to one run");
		CHECK(chunk_entries_ok(ch), "every page names what it must, again");
	}

	TEST_CASE("page_entries")
	{
		/* Splits, aligned splits, merges, shrinks, grows and purges in a fixed
		 * random order: after each, every page of the chunks names what
		 * it must, so that any pointer into a free run reads as freed
		 * and any pointer into a span in use finds that span. */
		enum { LIVE = 48 };
		struct span *live[LIVE] = {0};
		int bad = 0;
		for (int step = 0; step < 4000 && !bad; step++) {
			unsigned k = rnd(LIVE);
			if (live[k] == NULL) {
				size_t align = rnd(4) == 0 ? (size_t)1 << rnd(7) : 1;
				live[k] = arena_alloc_run(&arena, 1 + rnd(rnd(2) ? 8 : 200), align);
				REQUIRE(live[k] != NULL, "run allocated");
				CHECK((span_page(live[k]) & (align - 1)) == 0, "aligned to %zu",
				      align);
			} else if (rnd(5) == 0 && live[k]->npages > 1) {
				arena_shrink_run(&arena, live[k], 1 + rnd(live[k]->npages - 1));
			} else if (rnd(5) == 0) {
				arena_grow_run(&arena, live[k], live[k]->npages + 1 + rnd(20));
			} else if (rnd(40) == 0) {
				/* Purged runs merge with those in their state. */
				arena_decay(&arena, os_now_ms(), true);
			} else {
				arena_free_run(&arena, live[k]);
				live[k] = NULL;
			}
			for (unsigned i = 0; i < LIVE && !bad; i++)
				if (live[i] != NULL && !chunk_entries_ok(span_chunk(live[i])))
					bad = step + 1;
		}
		CHECK(!bad, "page entries as promised (first break at step %d)", bad);
		for (unsigned i = 0; i < LIVE; i++)
			if (live[i] != NULL)
				arena_free_run(&arena, live[i]);
		arena_decay(&arena, os_now_ms(), true);
	}

	TEST_CASE("purge_beside_frees")
	{
		/* A run decay purges is off every list, with the arena unlocked:
		 * its neighbours freed meanwhile do not merge with it, and it
		 * merges afterwards with those in its new state. The entries
		 * hold all along (checked under the lock). */
		enum { LIVE = 48 };
		struct span *live[LIVE] = {0};
		int bad = 0;
		pthread_t t;
		atomic_store(&purging_stop, false);
		REQUIRE(pthread_create(&t, NULL, purge_loop, NULL) == 0, "purging thread");
		for (int step = 0; step < 20000 && !bad; step++) {
			unsigned k = rnd(LIVE);
			if (live[k] == NULL) {
				live[k] = arena_alloc_run(&arena, 1 + rnd(40), 1);
				REQUIRE(live[k] != NULL, "run allocated");
			} else {
				arena_free_run(&arena, live[k]);
				live[k] = NULL;
			}
			mutex_lock(&arena.lock);
			for (unsigned i = 0; i < LIVE && !bad; i++)
				if (live[i] != NULL && !chunk_entries_ok(span_chunk(live[i])))
					bad = step + 1;
			mutex_unlock(&arena.lock);
		}
		atomic_store(&purging_stop, true);
		pthread_join(t, NULL);
		CHECK(!bad, "page entries as promised (first break at step %d)", bad);
		for (unsigned i = 0; i < LIVE; i++)
			if (live[i] != NULL)
				arena_free_run(&arena, live[i]);
		arena_decay(&arena, os_now_ms(), true);
	}

	TEST_CASE("bounded_search")
	{
		/* Free runs of 40 pages, too short for a 32-page block aligned to
		 * 16 pages (which asks for 47), fill the bin the search starts
		 * in: whether there are 10 or 10,000 of them, the search looks at
		 * no more than 2 x 16 runs per block (16 in the bin where it
		 * starts, 16 in the next), where a search that passes over runs
		 * too short without counting them would look at all 10,000. */
		uint64_t visits[3];
		unsigned counts[3] = {10, 100, 10000};
		for (int t = 0; t < 3; t++) {
			unsigned n = counts[t];
			struct span **held = os_map_aligned(2 * n * sizeof(*held), PAGE_SIZE);
			REQUIRE(held != NULL, "room for the runs");
			/* 40 free pages between runs kept in use. */
			for (unsigned i = 0; i < n; i++) {
				held[2 * i] = arena_alloc_run(&arena, 40, 1);
				held[2 * i + 1] = arena_alloc_run(&arena, 1, 1);
				REQUIRE(held[2 * i] && held[2 * i + 1], "run %u", i);
			}
			for (unsigned i = 0; i < n; i++)
				arena_free_run(&arena, held[2 * i]);
			uint64_t before = arena.fit_visits;
			struct span *s[8];
			for (int j = 0; j < 8; j++) {
				s[j] = arena_alloc_run(&arena, 32, 16);
				REQUIRE(s[j] != NULL && (span_page(s[j]) & 15) == 0,
				        "aligned block");
			}
			visits[t] = arena.fit_visits - before;
			for (int j = 0; j < 8; j++)
				arena_free_run(&arena, s[j]);
			for (unsigned i = 0; i < n; i++)
				arena_free_run(&arena, held[2 * i + 1]);
			os_unmap(held, 2 * n * sizeof(*held));
			arena_decay(&arena, os_now_ms(), true);
		}
		CHECK(visits[0] <= 8 * 2 * 16 && visits[1] <= 8 * 2 * 16 && visits[2] <= 8 * 2 * 16,
		      "runs looked at for 8 aligned blocks: %llu with 10 free runs, %llu with "
		      "100, %llu with 10,000",
		      (unsigned long long)visits[0], (unsigned long long)visits[1],
		      (unsigned long long)visits[2]);
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

	TEST_CASE("header_written")
	{
		/* A chunk's header is written only as far as it has had spans at
		 * once: with 16-page runs, its page entries and 33 slots, two 4 KiB
		 * pages (0.4% of the chunk), where a descriptor at every page's
		 * place wrote nine; the kernel holds no more of it (mincore), the
		 * statistics count just those, freed slots are used again, and a
		 * chunk of one-page spans still finds a slot for each. */
		enum core_thp thp = cairn_core.thp;
		cairn_core.thp = CORE_THP_NEVER; /* no huge page behind the header */
		mutex_init(&hdr_arena.lock);
		enum { RUNS = 3 * (DATA_PAGES / 16) };
		static struct span *runs[RUNS];
		for (int round = 0; round < 2; round++) {
			for (int i = 0; i < RUNS; i++) {
				runs[i] = arena_alloc_run(&hdr_arena, 16, 1);
				REQUIRE(runs[i] != NULL, "run %d", i);
			}
			uint64_t written = 0;
			for (int i = 0; i < RUNS; i++) {
				struct chunk *c = span_chunk(runs[i]);
				if (i > 0 && c == span_chunk(runs[i - 1]))
					continue;
				uint32_t pages = header_pages_written(c->slots_top);
				written += pages;
				CHECK(header_resident(c) == pages,
				      "round %d: %u header pages resident, %u written (%u slots)",
				      round, header_resident(c), pages, c->slots_top);
				CHECK(pages * PAGE_SIZE <= (CHUNK_SIZE / 200 > PAGE_SIZE
				                                ? CHUNK_SIZE / 200
				                                : PAGE_SIZE),
				      "header of %u pages over 0.5%% of the chunk", pages);
				CHECK(chunk_entries_ok(c), "entries");
			}
			CHECK(hdr_arena.counters.header_pages == written,
			      "round %d: header_pages %llu, written %llu", round,
			      (unsigned long long)hdr_arena.counters.header_pages,
			      (unsigned long long)written);
			for (int i = 0; i < RUNS; i++)
				arena_free_run(&hdr_arena, runs[i]);
		}
		arena_decay(&hdr_arena, os_now_ms(), true);
		CHECK(hdr_arena.counters.header_pages == 0 && hdr_arena.counters.mapped_pages == 0,
		      "chunks released: %llu header pages, %llu pages mapped",
		      (unsigned long long)hdr_arena.counters.header_pages,
		      (unsigned long long)hdr_arena.counters.mapped_pages);

		static struct span *pages[DATA_PAGES];
		for (uint32_t i = 0; i < DATA_PAGES; i++) {
			pages[i] = arena_alloc_run(&hdr_arena, 1, 1);
			REQUIRE(pages[i] != NULL && span_chunk(pages[i]) == span_chunk(pages[0]),
			        "one-page run %u in the first chunk", i);
		}
		struct chunk *c = span_chunk(pages[0]);
		CHECK(c->free_pages == 0 && chunk_entries_ok(c) && c->slots_top == 2 + DATA_PAGES,
		      "a full chunk of one-page spans: %u slots", c->slots_top);
		for (uint32_t i = 0; i < DATA_PAGES; i += 2)
			arena_free_run(&hdr_arena, pages[i]);
		for (uint32_t i = 1; i < DATA_PAGES; i += 2)
			arena_free_run(&hdr_arena, pages[i]);
		CHECK(chunk_page_span(c, HDR_PAGES)->npages == DATA_PAGES && chunk_entries_ok(c),
		      "freed, one run again");
		arena_decay(&hdr_arena, os_now_ms(), true);
		cairn_core.thp = thp;
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
