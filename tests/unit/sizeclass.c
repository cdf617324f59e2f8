/* SPDX-License-Identifier: MIT */
/* Size classes (core/sizeclass.h over the generated table): size_class(),
 * spacing, slab geometry, the divisibility constants the free path uses
 * to reject interior pointers, and the large class of a run by its pages. */
#include "check.h"
#include "core/block.h"
#include "core/sizeclass.h"

static unsigned lookup(size_t n)
{
	return size_class(n);
}

int main(void)
{
	TEST_CASE("bounds")
	{
		CHECK(sc_size[0] == 16, "smallest class %u", sc_size[0]);
		/* A block travelling to its owner names one further along in
		 * its third word where it has one: every class but the first
		 * (core/heap.h, outbox_link). */
		CHECK(sc_size[0] < BLOCK_AHEAD_MIN && sc_size[1] >= BLOCK_AHEAD_MIN,
		      "only the first class (%u) is too small for the hint", sc_size[0]);
		CHECK(sc_size[SC_NSMALL - 1] == SMALL_MAX, "largest small class %u",
		      sc_size[SC_NSMALL - 1]);
		CHECK(sc_size[SC_NCLASSES - 1] == LARGE_MAX, "largest class %u",
		      sc_size[SC_NCLASSES - 1]);
	}

	TEST_CASE("spacing")
	{
		/* Strictly increasing, every class a multiple of 16, four classes per
		 * doubling above 128 bytes: waste below 25% of the class. */
		for (int c = 1; c < SC_NCLASSES; c++) {
			CHECK(sc_size[c] > sc_size[c - 1], "class %d not increasing", c);
			CHECK(sc_size[c] % 16 == 0, "class %d size %u not 16-aligned", c,
			      sc_size[c]);
			if (sc_size[c - 1] >= 128)
				CHECK((sc_size[c] - sc_size[c - 1]) * 4 <= sc_size[c - 1],
				      "class %d step too wide", c);
		}
		int per_doubling = 0;
		for (int c = 0; c < SC_NCLASSES; c++)
			if (sc_size[c] > 1024 && sc_size[c] <= 2048)
				per_doubling++;
		CHECK(per_doubling == 4, "%d classes in (1024, 2048]", per_doubling);
	}

	TEST_CASE("lookup")
	{
		/* Every size maps to the smallest class that holds it. */
		int bad = 0;
		for (size_t n = 1; n <= LARGE_MAX; n += n < 65536 ? 1 : 7) {
			unsigned c = lookup(n);
			if (sc_size[c] < n || (c > 0 && sc_size[c - 1] >= n))
				bad++;
		}
		CHECK(bad == 0, "%d sizes map to the wrong class", bad);
		CHECK(lookup(0) == 0, "size 0 maps to class %u", lookup(0));
	}

	TEST_CASE("slabs")
	{
		/* Slabs tile exactly (no tail: any multiple of the block size inside
		 * the slab is a block), hold at least 4 blocks and at least 16 KiB. */
		for (int c = 0; c < SC_NSMALL; c++) {
			unsigned long bytes = (unsigned long)sc_slab_pages[c] << PAGE_SHIFT;
			CHECK(bytes % sc_size[c] == 0, "class %d slab has a tail", c);
			CHECK(sc_slab_blocks[c] == bytes / sc_size[c], "class %d block count", c);
			CHECK(sc_slab_blocks[c] >= 4 && bytes >= 16384, "class %d slab too small",
			      c);
			/* The divisibility test against a real division, for every
			 * offset in the slab. */
			int wrong = 0;
			for (uint32_t x = 0; x < bytes; x++) {
				int fast = (uint64_t)x * sc_div_magic[c] < sc_div_magic[c];
				if (fast != (x % sc_size[c] == 0))
					wrong++;
			}
			CHECK(wrong == 0, "class %d: %d offsets misjudged", c, wrong);
		}
	}
	TEST_CASE("large_of_pages")
	{
		/* A run of n pages is large class c exactly when c's size is n
		 * pages (a run of a small class's size is none). */
		for (size_t n = 0; n <= LARGE_MAX >> PAGE_SHIFT; n++) {
			int want = -1;
			for (int c = SC_NSMALL; c < SC_NCLASSES; c++)
				if ((size_t)sc_size[c] == n << PAGE_SHIFT)
					want = c - SC_NSMALL;
			CHECK(sc_large_of_pages[n] == want, "%zu pages: large class %d, want %d", n,
			      sc_large_of_pages[n], want);
		}
	}
	return CHECK_DONE();
}
