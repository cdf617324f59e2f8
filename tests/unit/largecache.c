/* SPDX-License-Identifier: MIT */
/* A thread heap's large-run cache: heap_large_put keeps a freed run of a
 * large class (LARGE_CACHED, counted per class and in bytes) up to
 * LARGE_CACHE_COUNT runs a class and large_limit bytes in all and refuses
 * beyond, and refuses runs of no large class and heaps that are not thread
 * heaps; the arena keeps seeing cached runs as allocated; heap_large_take
 * gives back the newest run of exactly the class asked and NULL for any
 * other; heap_large_flush returns every run to its arena, which sees the
 * pages free, and says how many bytes went; heap_large_trim returns half of
 * the runs each class kept through a whole period, the oldest, and keeps
 * those put since the last trim; the bound in bytes grows by the misses of a
 * full cache, up to LARGE_CACHE_BYTES_MAX, and falls by what trims give
 * back, down to LARGE_CACHE_BYTES, within room that all thread heaps share
 * (LARGE_CACHE_EXTRA_ALL). Uses a private arena and a
 * thread heap of its own; no purging thread. */
#include <string.h>

#include "check.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/largecache.h"
#include "core/params.h"
#include "core/sizeclass.h"

static struct arena arena;
static struct heap heap, shared;

/* The index in heap.large of the class of npages pages. */
static unsigned lc(size_t npages)
{
	return size_class(npages << PAGE_SHIFT) - SC_NSMALL;
}

/* A large run of npages pages, with a one-page run after it so that it
 * never merges with its free neighbours when freed. */
static struct span *run(size_t npages)
{
	struct span *s = arena_alloc_run(&arena, npages, 1);
	struct span *gap = arena_alloc_run(&arena, 1, 1);
	REQUIRE(s != NULL && gap != NULL, "run of %zu pages", npages);
	return s;
}

/* Every page of run s (still described by its own span or merged into a
 * larger free run) is free as far as the arena knows. */
static int pages_free(uintptr_t start, size_t npages)
{
	struct chunk *c = span_chunk_of((void *)start);
	uint32_t first = (uint32_t)((start >> PAGE_SHIFT) & (CHUNK_PAGES - 1));
	for (uint32_t i = first; i < first + npages; i++)
		if (chunk_page_span(c, i)->state != SPAN_FREE)
			return 0;
	return 1;
}

/* Puts n fresh runs of npages pages into the test heap's cache. */
static void keep_fresh(unsigned n, size_t npages)
{
	for (unsigned i = 0; i < n; i++)
		REQUIRE(heap_large_put(&heap, run(npages)), "run %u of %zu pages kept", i, npages);
}

/* Trims the test heap's cache n times. */
static void trim_times(int n)
{
	for (int i = 0; i < n; i++)
		heap_large_trim(&heap);
}

#define C80K 20  /* pages of the 80 KiB class, the least large one */
#define C96K 24  /* pages of the 96 KiB class */
#define C1M  256 /* pages of the 1 MiB class, LARGE_MAX */

int main(void)
{
	cairn_core.dirty_decay_ms = 3600000; /* nothing falls due while the test runs */
	cairn_core.muzzy_decay_ms = 0;
	cairn_core.max_background_threads = 1;
	cairn_core.background_thread = false;
	mutex_init(&arena.lock);
	heap_init(&heap, &arena, HEAP_THREAD);
	heap_init(&shared, &arena, HEAP_SHARED);

	REQUIRE((C80K << PAGE_SHIFT) > SMALL_MAX &&
	            sc_size[size_class(C80K << PAGE_SHIFT)] == C80K << PAGE_SHIFT &&
	            sc_size[size_class(C96K << PAGE_SHIFT)] == C96K << PAGE_SHIFT &&
	            sc_size[size_class(C1M << PAGE_SHIFT)] == C1M << PAGE_SHIFT &&
	            (C1M << PAGE_SHIFT) == LARGE_MAX,
	        "80 KiB, 96 KiB and 1 MiB are large classes");

	/* One run kept: flagged, counted, the arena's view unchanged. */
	struct span *a[LARGE_CACHE_COUNT + 1];
	for (int i = 0; i <= LARGE_CACHE_COUNT; i++)
		a[i] = run(C80K);
	struct chunk *ch = span_chunk(a[0]);
	uint32_t free_before = ch->free_pages;
	CHECK(heap_large_put(&heap, a[0]), "a 80 KiB run is kept");
	CHECK(a[0]->flags == LARGE_CACHED, "flagged LARGE_CACHED (%u)", a[0]->flags);
	CHECK(heap.large[lc(C80K)] == a[0], "on its class's list");
	CHECK(heap.large_count[lc(C80K)] == 1, "counted (%u)", heap.large_count[lc(C80K)]);
	CHECK(heap.large_bytes == C80K * PAGE_SIZE, "bytes %zu", heap.large_bytes);
	CHECK(a[0]->state == SPAN_LARGE && ch->free_pages == free_before,
	      "the arena still sees the run allocated");

	/* Up to LARGE_CACHE_COUNT of a class, then refused. */
	bool all = true;
	for (int i = 1; i < LARGE_CACHE_COUNT; i++)
		all = all && heap_large_put(&heap, a[i]);
	CHECK(all, "the first %d runs of the class are kept", LARGE_CACHE_COUNT);
	CHECK(heap.large_count[lc(C80K)] == LARGE_CACHE_COUNT, "count %u",
	      heap.large_count[lc(C80K)]);
	CHECK(!heap_large_put(&heap, a[LARGE_CACHE_COUNT]), "one more of the class is refused");
	CHECK(a[LARGE_CACHE_COUNT]->flags == 0, "the refused run is not flagged");
	CHECK(heap.large_count[lc(C80K)] == LARGE_CACHE_COUNT &&
	          heap.large_bytes == LARGE_CACHE_COUNT * C80K * PAGE_SIZE,
	      "nor counted (%u runs, %zu bytes)", heap.large_count[lc(C80K)], heap.large_bytes);

	/* Another class has a count of its own, but the bytes are shared:
	 * 320 KiB cached, three 1 MiB runs fit under 4 MiB, the fourth does
	 * not. */
	struct span *m[4];
	for (int i = 0; i < 4; i++)
		m[i] = run(C1M);
	size_t before = heap.large_bytes;
	CHECK(heap_large_put(&heap, m[0]) && heap_large_put(&heap, m[1]) &&
	          heap_large_put(&heap, m[2]),
	      "three 1 MiB runs are kept");
	CHECK(heap.large_bytes == before + 3 * LARGE_MAX && heap.large_bytes <= LARGE_CACHE_BYTES,
	      "bytes %zu", heap.large_bytes);
	CHECK(heap.large_count[lc(C1M)] == 3, "1 MiB count %u", heap.large_count[lc(C1M)]);
	CHECK(heap.large_bytes + LARGE_MAX > LARGE_CACHE_BYTES, "a fourth would pass the bound");
	CHECK(!heap_large_put(&heap, m[3]), "the fourth is refused: LARGE_CACHE_BYTES");
	CHECK(m[3]->flags == 0 && heap.large_count[lc(C1M)] == 3, "and not kept");
	CHECK(!heap_large_put(&heap, a[LARGE_CACHE_COUNT]),
	      "a full class stays full whatever the bytes");

	/* Runs of no large class, and heaps that are not thread heaps. */
	struct span *odd = run(11);  /* 44 KiB: between two classes */
	struct span *small = run(8); /* 32 KiB: SMALL_MAX, a small class */
	struct span *toobig = run(C1M + 1);
	struct span *c48 = run(C96K);
	size_t bytes_now = heap.large_bytes;
	CHECK(!heap_large_put(&heap, odd) && odd->flags == 0, "44 KiB: no class, refused");
	CHECK(!heap_large_put(&heap, small) && small->flags == 0, "32 KiB: small, refused");
	CHECK(!heap_large_put(&heap, toobig) && toobig->flags == 0, "past LARGE_MAX: refused");
	CHECK(!heap_large_put(&shared, c48) && c48->flags == 0 && shared.large_bytes == 0,
	      "a shared heap keeps no runs");
	CHECK(heap.large_bytes == bytes_now, "nothing counted for the refused runs");
	CHECK(heap_large_take(&shared, C80K) == NULL, "a shared heap gives none");

	/* Take: exactly the class asked, newest first, unflagged. */
	CHECK(heap_large_take(&heap, C96K) == NULL, "no 96 KiB run cached: NULL");
	CHECK(heap_large_take(&heap, 11) == NULL, "no class: NULL");
	CHECK(heap_large_take(&heap, 8) == NULL, "a small size: NULL");
	CHECK(heap_large_take(&heap, C1M + 1) == NULL, "past LARGE_MAX: NULL");
	struct span *t = heap_large_take(&heap, C80K);
	CHECK(t == a[LARGE_CACHE_COUNT - 1], "the newest 80 KiB run comes back");
	CHECK(t != NULL && t->npages == C80K && t->flags == 0, "80 KiB, unflagged");
	CHECK(heap.large_count[lc(C80K)] == LARGE_CACHE_COUNT - 1 &&
	          heap.large_bytes == bytes_now - C80K * PAGE_SIZE,
	      "uncounted (%u runs, %zu bytes)", heap.large_count[lc(C80K)], heap.large_bytes);
	t = heap_large_take(&heap, C1M);
	CHECK(t == m[2] && t->npages == C1M && t->flags == 0, "the newest 1 MiB run");
	CHECK(heap_large_put(&heap, m[3]), "room again for a 1 MiB run");

	/* Flush: every run back to the arena, the bytes returned. */
	struct span *cached[2 * LARGE_CACHE_COUNT];
	uintptr_t starts[2 * LARGE_CACHE_COUNT];
	size_t pages[2 * LARGE_CACHE_COUNT];
	int ncached = 0;
	size_t pages_cached = 0;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++)
		for (struct span *s = heap.large[c]; s != NULL; s = s->next) {
			REQUIRE(ncached < 2 * LARGE_CACHE_COUNT, "cached runs fit the array");
			cached[ncached] = s;
			starts[ncached] = s->start;
			pages[ncached] = s->npages;
			pages_cached += s->npages;
			ncached++;
		}
	CHECK(ncached == LARGE_CACHE_COUNT - 1 + 3, "%d runs cached", ncached);
	CHECK(pages_cached * PAGE_SIZE == heap.large_bytes, "large_bytes is their sum");
	/* The chunks they live in, each once, and their free pages. */
	struct chunk *chunks[8];
	uint32_t chunk_free[8];
	int nchunks = 0;
	for (int i = 0; i < ncached; i++) {
		struct chunk *c = span_chunk(cached[i]);
		int k = 0;
		while (k < nchunks && chunks[k] != c)
			k++;
		if (k == nchunks) {
			REQUIRE(nchunks < 8, "few chunks");
			chunks[nchunks] = c;
			chunk_free[nchunks] = c->free_pages;
			nchunks++;
		}
	}
	size_t expect = heap.large_bytes;
	size_t flushed = heap_large_flush(&heap);
	CHECK(flushed == expect, "flush returns the bytes: %zu of %zu", flushed, expect);
	CHECK(heap.large_bytes == 0, "no bytes left (%zu)", heap.large_bytes);
	int empty = 1;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++)
		if (heap.large[c] != NULL || heap.large_count[c] != 0)
			empty = 0;
	CHECK(empty, "every class empty");
	int freed = 1;
	for (int i = 0; i < ncached; i++)
		if (!pages_free(starts[i], pages[i]))
			freed = 0;
	CHECK(freed, "the arena sees every flushed page free");
	size_t gained = 0;
	for (int k = 0; k < nchunks; k++)
		gained += chunks[k]->free_pages - chunk_free[k];
	CHECK(gained == pages_cached, "the chunks gained %zu free pages, not %zu", gained,
	      pages_cached);
	CHECK(arena.dirty_pages >= pages_cached, "the flushed pages are dirty (%zu)",
	      arena.dirty_pages);
	CHECK(heap_large_take(&heap, C80K) == NULL, "nothing to take after a flush");
	CHECK(heap_large_flush(&heap) == 0, "a second flush gives nothing");

	/* Trim: of the runs a class kept through a whole period (its
	 * low-water mark), half go back, the oldest; runs put since the last
	 * trim stay. */
	struct span *r[6];
	for (int i = 0; i < 6; i++) {
		r[i] = run(C80K);
		REQUIRE(heap_large_put(&heap, r[i]), "80 KiB run %d kept", i);
	}
	CHECK(heap_large_trim(&heap) == 0 && heap.large_count[lc(C80K)] == 6,
	      "runs put since the last trim stay (%u)", heap.large_count[lc(C80K)]);
	CHECK(heap_large_take(&heap, C80K) == r[5] && heap_large_take(&heap, C80K) == r[4],
	      "two taken, the newest");
	CHECK(heap_large_put(&heap, r[4]), "one put back");
	/* 4 runs sat through the period: 2 go, r[0] and r[1]. */
	uintptr_t r0 = r[0]->start, r1 = r[1]->start;
	size_t trimmed = heap_large_trim(&heap);
	CHECK(trimmed == 2 * C80K * PAGE_SIZE, "two runs' bytes trimmed: %zu", trimmed);
	CHECK(heap.large_count[lc(C80K)] == 3 && heap.large_bytes == 3 * C80K * PAGE_SIZE,
	      "three left (%u runs, %zu bytes)", heap.large_count[lc(C80K)], heap.large_bytes);
	CHECK(pages_free(r0, C80K) && pages_free(r1, C80K), "the two oldest are free in the arena");
	CHECK(heap.large[lc(C80K)] == r[4] && r[4]->next == r[3] && r[3]->next == r[2] &&
	          r[2]->next == NULL,
	      "the newest three stay, in order");
	CHECK(heap_large_trim(&heap) == 2 * C80K * PAGE_SIZE &&
	          heap_large_trim(&heap) == C80K * PAGE_SIZE,
	      "then two more, then the last");
	CHECK(heap.large_count[lc(C80K)] == 0 && heap.large_bytes == 0 &&
	          heap.large[lc(C80K)] == NULL,
	      "none left after three trims unused");

	/* The bound in bytes: LARGE_CACHE_BYTES at first; a miss of a cache
	 * too full to have taken the run missed raises it by that run, up to
	 * LARGE_CACHE_BYTES_MAX; runs a trim finds unused lower it again, not
	 * below LARGE_CACHE_BYTES; a flush sets it back. */
	CHECK(heap.large_limit == LARGE_CACHE_BYTES, "the bound starts at %zu (%zu)",
	      LARGE_CACHE_BYTES, heap.large_limit);
	struct span *g[LARGE_CACHE_BYTES / LARGE_MAX + 2];
	unsigned ng = LARGE_CACHE_BYTES / LARGE_MAX;
	for (unsigned i = 0; i < ng + 2; i++)
		g[i] = run(C1M);
	for (unsigned i = 0; i < ng; i++)
		REQUIRE(heap_large_put(&heap, g[i]), "1 MiB run %u kept", i);
	CHECK(!heap_large_put(&heap, g[ng]), "a full cache refuses one more 1 MiB run");
	/* The miss goes through the api's way in: large_alloc, which takes
	 * the run from the arena. */
	struct span *missed = large_alloc(&heap, &arena, C1M + 1, 1);
	CHECK(missed != NULL && heap.large_limit == LARGE_CACHE_BYTES,
	      "a miss of no class leaves the bound (%zu)", heap.large_limit);
	struct span *got = large_alloc(&heap, &arena, C1M, 1);
	CHECK(got == g[ng - 1] && heap.large_count[lc(C1M)] == ng - 1,
	      "a 1 MiB run is cached: a hit");
	CHECK(heap.large_limit == LARGE_CACHE_BYTES, "a hit leaves the bound (%zu)",
	      heap.large_limit);
	CHECK(heap_large_put(&heap, got), "the run taken goes back");
	size_t c96 = C96K * PAGE_SIZE;
	got = large_alloc(&heap, &arena, C96K, 1);
	CHECK(got != NULL, "a 96 KiB run from the arena: a miss");
	CHECK(heap.large_limit == LARGE_CACHE_BYTES + c96,
	      "a miss of a full cache raises the bound by its run (%zu)", heap.large_limit);
	CHECK(heap_large_put(&heap, got), "so that the run missed is kept when freed");
	CHECK(heap_large_take(&heap, C1M) == g[ng - 1], "one 1 MiB run taken");
	large_cache_missed(&heap, c96);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES + c96,
	      "a miss with room for its run leaves the bound (%zu)", heap.large_limit);
	large_cache_missed(&shared, LARGE_CACHE_BYTES_MAX);
	CHECK(shared.large_limit == LARGE_CACHE_BYTES, "a shared heap's bound stays (%zu)",
	      shared.large_limit);
	large_cache_missed(&heap, LARGE_CACHE_BYTES_MAX);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES_MAX, "the bound stops at %zu (%zu)",
	      LARGE_CACHE_BYTES_MAX, heap.large_limit);
	_Static_assert(LARGE_CACHE_BYTES + LARGE_CACHE_EXTRA_ALL >= LARGE_CACHE_BYTES_MAX,
	               "one heap alone may reach LARGE_CACHE_BYTES_MAX");
	/* The cache holds ng - 1 runs of 1 MiB and one of 96 KiB, none taken
	 * since they were put: a trim keeps them all, the next gives back
	 * half of each class's (rounded up, as above) and lowers the bound
	 * by as much. */
	size_t held = heap.large_bytes;
	CHECK(held == (ng - 1) * LARGE_MAX + c96, "bytes %zu", held);
	CHECK(heap_large_trim(&heap) == 0 && heap.large_limit == LARGE_CACHE_BYTES_MAX,
	      "runs put since the last trim leave the bound (%zu)", heap.large_limit);
	size_t back = heap_large_trim(&heap);
	size_t want = (ng - 1 - (ng - 1) / 2) * LARGE_MAX + c96;
	CHECK(back == want, "the trim gives back %zu bytes (%zu)", want, back);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES_MAX - back, "the bound falls by them (%zu)",
	      heap.large_limit);
	trim_times(2);
	CHECK(heap.large_bytes == 0 && heap.large_limit > LARGE_CACHE_BYTES,
	      "all gone; the bound fell by what went (%zu)", heap.large_limit);
	large_cache_missed(&heap, LARGE_CACHE_BYTES_MAX);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES_MAX, "raised again (%zu)", heap.large_limit);
	keep_fresh(ng, C1M);
	trim_times(4); /* unused, they go in four trims: none, 2, 1, 1 */
	CHECK(heap.large_bytes == 0 && heap.large_limit == LARGE_CACHE_BYTES_MAX - ng * LARGE_MAX,
	      "trims lower it by what they gave back (%zu)", heap.large_limit);
	/* A trim gives back more than the bound took: the bound stops at
	 * LARGE_CACHE_BYTES. */
	keep_fresh(ng, C1M);
	large_cache_missed(&heap, LARGE_MAX / 2);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES + LARGE_MAX / 2, "raised by half a MiB (%zu)",
	      heap.large_limit);
	trim_times(4);
	CHECK(heap.large_bytes == 0 && heap.large_limit == LARGE_CACHE_BYTES,
	      "never below LARGE_CACHE_BYTES (%zu)", heap.large_limit);

	/* The room above LARGE_CACHE_BYTES is shared by every thread heap, at
	 * most LARGE_CACHE_EXTRA_ALL in all: what one took, another cannot
	 * take until it goes back. */
	static struct heap other;
	heap_init(&other, &arena, HEAP_THREAD);
	large_cache_missed(&heap, LARGE_CACHE_BYTES_MAX);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES + LARGE_CACHE_EXTRA_ALL,
	      "one heap takes all the room (%zu)", heap.large_limit);
	large_cache_missed(&other, LARGE_CACHE_BYTES_MAX);
	CHECK(other.large_limit == LARGE_CACHE_BYTES, "none left for another (%zu)",
	      other.large_limit);
	heap_large_flush(&heap);
	CHECK(heap.large_limit == LARGE_CACHE_BYTES, "a flush sets the bound back (%zu)",
	      heap.large_limit);
	large_cache_missed(&other, LARGE_CACHE_BYTES_MAX);
	CHECK(other.large_limit == LARGE_CACHE_BYTES_MAX,
	      "what the flush gave back is there for the other (%zu)", other.large_limit);
	heap_large_flush(&other);
	return CHECK_DONE();
}
