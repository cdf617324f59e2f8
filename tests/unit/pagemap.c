/* SPDX-License-Identifier: MIT */
/* The page map: every kind of block resolves with one lookup, foreign and
 * out-of-range addresses resolve to nothing, huge blocks cover every 2 MiB
 * slot they span; the free fast path's chunk words lead to the page entries
 * of the arena chunk where the tagged word names one and to pagemap_stub
 * everywhere else in the window, through every growth of the window and
 * every unmapping. */
#include <stdlib.h>
#include <sys/mman.h>

#include "cairn.h"
#include "check.h"
#include "core/chunk.h"
#include "core/huge.h"
#include "sizeclass_table.h"

static int stack_probe;

/* Slots of the window in use whose chunk word does not go with its tagged
 * word: the first and the last page of the slot must find the span that
 * the chunk's own entries name, or pagemap_stub. */
static size_t words_disagree(void)
{
	_Atomic(uintptr_t) *e = atomic_load(&cairn_pagemap);
	const struct pagemap_window *w = pagemap_window_of(e);
	size_t bad = 0;
	for (uintptr_t i = 0; i < w->n; i++) {
		uintptr_t v = atomic_load(&pagemap_tagged(e)[i]);
		uintptr_t slot = (w->lo + i) << CHUNK_SHIFT;
		for (uintptr_t a = slot; a < slot + CHUNK_SIZE; a += CHUNK_SIZE - PAGE_SIZE) {
			const struct span *want =
			    (v & MAP_TAGS) == MAP_CHUNK
			        ? chunk_span_of((struct chunk *)(v - MAP_CHUNK), a)
			        : &pagemap_stub;
			bad += pagemap_span(a) != want;
		}
	}
	return bad;
}

int main(void)
{
	void *small = malloc(100);
	void *large = malloc(200000);
	size_t hsize = 5 * CHUNK_SIZE + 12345;
	char *huge = malloc(hsize);
	REQUIRE(small && large && huge, "allocations");

	TEST_CASE("small_and_large")
	{
		uintptr_t e = pagemap_get((uintptr_t)small);
		CHECK((e & MAP_TAGS) == MAP_CHUNK, "small block is in a chunk");
		struct span *s = chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)small);
		CHECK(s->state == SPAN_SMALL && sc_size[s->cls] == 112, "small span, class 112");

		e = pagemap_get((uintptr_t)large);
		CHECK((e & MAP_TAGS) == MAP_CHUNK, "large block is in a chunk");
		s = chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)large);
		CHECK(s->state == SPAN_LARGE && s->start == (uintptr_t)large,
		      "large span starts at p");
		CHECK(chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)large + 100000) ==
		          s,
		      "every page of a large block names its span");
	}

	TEST_CASE("huge")
	{
		CHECK(((uintptr_t)huge & (CHUNK_SIZE - 1)) == 0, "huge block on a 2 MiB boundary");
		uintptr_t e = pagemap_get((uintptr_t)huge);
		CHECK((e & MAP_TAGS) == MAP_HUGE, "huge tag");
		struct huge *h = huge_of(e);
		CHECK(h->addr == (uintptr_t)huge && h->size >= hsize && h->live, "huge descriptor");
		for (size_t off = 0; off < hsize; off += CHUNK_SIZE / 2)
			CHECK(pagemap_get((uintptr_t)huge + off) == e, "slot at +%zu", off);
		CHECK(pagemap_get((uintptr_t)huge + hsize - 1) == e, "last byte");
	}

	TEST_CASE("chunk_words")
	{
		uintptr_t e = pagemap_get((uintptr_t)small);
		CHECK(pagemap_span((uintptr_t)small) ==
		          chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)small),
		      "a small block's chunk word leads to its slab");
		e = pagemap_get((uintptr_t)large);
		for (size_t off = 0; off < 200000; off += PAGE_SIZE)
			CHECK(pagemap_span((uintptr_t)large + off) ==
			          chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)large),
			      "page +%zu of a large block leads to its span", off);
		for (size_t off = 0; off < hsize; off += PAGE_SIZE) {
			const struct span *s = pagemap_span((uintptr_t)huge + off);
			if (s != &pagemap_stub || s->fast_owner != 0 || s->state != SPAN_FREE) {
				CHECK(
				    false,
				    "page +%zu of the stub: span %p, not the stub, free, no owner",
				    off, (void *)s);
				break;
			}
		}
		CHECK(pagemap_span((uintptr_t)1 << 50) == NULL,
		      "beyond 47 bits: outside the window");
		CHECK(pagemap_span(UINTPTR_MAX) == NULL, "the top of the address space");
		CHECK(words_disagree() == 0, "every chunk word goes with its tagged word");
	}

	TEST_CASE("foreign")
	{
		CHECK(pagemap_get((uintptr_t)&stack_probe) == 0, "static data is not ours");
		int local;
		CHECK(pagemap_get((uintptr_t)&local) == 0, "the stack is not ours");
		void *m =
		    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		/* A foreign mapping may share the last 2 MiB slot of a huge block, so
		 * its slot can name that block: the range check then rejects it. */
		uintptr_t e = pagemap_get((uintptr_t)m);
		CHECK(e == 0 || ((e & MAP_TAGS) == MAP_HUGE &&
		                 ((uintptr_t)m < huge_of(e)->addr ||
		                  (uintptr_t)m >= huge_of(e)->addr + huge_of(e)->size)),
		      "a foreign mapping is not ours");
		CHECK(pagemap_get((uintptr_t)1 << 50) == 0, "beyond 47 bits");
		CHECK(pagemap_get(UINTPTR_MAX) == 0, "the top of the address space");
		CHECK(pagemap_get(0) == 0, "NULL");
		munmap(m, 1 << 20);
	}

	/* A freed huge block stays marked as freed while cached; a block too
	 * big for the cache leaves the map at once. */
	TEST_CASE("freed_huge")
	{
		uintptr_t e = pagemap_get((uintptr_t)huge);
		struct huge *h = huge_of(e);
		free(huge);
		CHECK(pagemap_get((uintptr_t)huge) == e && !h->live,
		      "cached huge block marked free");
		char *big = malloc(100 << 20);
		REQUIRE(big != NULL, "100 MiB");
		free(big);
		CHECK(pagemap_get((uintptr_t)big) != 0, "a cached huge block stays in the map");
		CHECK(cairn_purge(-1) >= (100 << 20), "purge releases the cache");
		CHECK(pagemap_get((uintptr_t)big) == 0, "a released huge block leaves the map");
		char *giant = malloc((size_t)1100 << 20); /* over the cache's bound: never cached */
		REQUIRE(giant != NULL, "1100 MiB");
		free(giant);
		CHECK(pagemap_get((uintptr_t)giant) == 0,
		      "a block too big for the cache leaves at once");
		CHECK(pagemap_span((uintptr_t)giant) == NULL ||
		          pagemap_span((uintptr_t)giant) == &pagemap_stub,
		      "its chunk words lead to the stub again");
		CHECK(words_disagree() == 0, "after huge blocks came and went, %zu slots disagree",
		      words_disagree());
	}

	/* Address space far below what cairn has mapped makes the window
	 * grow (a copy); the words of both kinds are copied together. */
	TEST_CASE("grown")
	{
		const struct pagemap_window *before =
		    pagemap_window_of(atomic_load(&cairn_pagemap));
		uintptr_t lo = before->lo;
		REQUIRE(lo > 64, "the window starts above 128 MiB");
		uintptr_t want = (lo - 64) << CHUNK_SHIFT;
		REQUIRE(pagemap_reserve(want, CHUNK_SIZE), "reserve a slot far below the window");
		const struct pagemap_window *after = pagemap_window_of(atomic_load(&cairn_pagemap));
		CHECK(after != before && after->lo <= want >> CHUNK_SHIFT, "the window grew");
		CHECK(pagemap_span(want) == &pagemap_stub &&
		          pagemap_span(want + CHUNK_SIZE - 1) == &pagemap_stub &&
		          pagemap_get(want) == 0,
		      "the new slot: the stub, nothing tagged");
		CHECK(pagemap_span((uintptr_t)small) ==
		          chunk_span_of((struct chunk *)(pagemap_get((uintptr_t)small) - MAP_CHUNK),
		                        (uintptr_t)small),
		      "a small block's chunk word survives the copy");
		CHECK(words_disagree() == 0, "after the growth, %zu slots disagree",
		      words_disagree());
	}
	free(small);
	free(large);
	return CHECK_DONE();
}
