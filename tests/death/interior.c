/* SPDX-License-Identifier: MIT */
/* Death tests: free() (and malloc_usable_size()) of a pointer inside a
 * block cairn handed out, not at its start: p+8 and p+16 of small blocks,
 * p+16 and p+4096 of a large one, p+16, p+4096 and p+1 MiB of a huge one,
 * p+16 of an aligned block. Each stops the program with SIGABRT and
 *   cairn: free(): invalid pointer 0x... (inside a block, not its start)
 * Each misuse runs in a forked child; the blocks are allocated before the
 * fork and stay valid in the parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

#include "death.h"

static void call_free(void *p)
{
	free(p);
}

static void call_usable_size(void *p)
{
	volatile size_t n = malloc_usable_size(p);
	(void)n;
}

static void expect_interior_free(const char *what, char *block, size_t offset)
{
	char label[128];
	snprintf(label, sizeof label, "free(%s + %zu)", what, offset);
	expect_death(label, call_free, block + offset, "free", INTERIOR, block + offset);
}

int main(void)
{
	char *s16 = malloc(16), *s64 = malloc(64), *s1000 = malloc(1000);
	char *s32k = malloc(32768), *large = malloc(100000), *huge = malloc(8 << 20);
	char *aligned = memalign(4096, 200);
	REQUIRE(s16 && s64 && s1000 && s32k && large && huge && aligned, "allocation failed");

	TEST_CASE("free_small")
	{
		expect_interior_free("malloc(16)", s16, 8);
		expect_interior_free("malloc(64)", s64, 8);
		expect_interior_free("malloc(64)", s64, 16);
		expect_interior_free("malloc(64)", s64, 63);
		expect_interior_free("malloc(1000)", s1000, 16);
		expect_interior_free("malloc(1000)", s1000, 512);
		expect_interior_free("malloc(32768)", s32k, 16384);
	}
	/* Every small class, the sizes that are not powers of two too (48,
	 * 80, 96 ... whose test is a multiply, not a mask): a block of each
	 * is in a slab its thread owns, so free takes the fast path's check. */
	TEST_CASE("free_every_class")
	{
		int classes = 0;
		for (size_t n = 1; n <= 32768; n++) {
			char *p = malloc(n);
			REQUIRE(p != NULL, "malloc(%zu) failed", n);
			size_t size = malloc_usable_size(p);
			char what[64];
			snprintf(what, sizeof what, "malloc(%zu)", size);
			size_t offsets[] = {8, 16, (size / 2) & ~(size_t)15, size - 16, size - 1};
			for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
				if (offsets[i] != 0 && offsets[i] < size && offsets[i] % size != 0)
					expect_interior_free(what, p, offsets[i]);
			free(p);
			classes++;
			n = size;
		}
		CHECK(classes >= 40, "%d small classes up to 32 KiB, at least 40", classes);
	}
	TEST_CASE("free_large")
	{
		expect_interior_free("malloc(100000)", large, 16);
		expect_interior_free("malloc(100000)", large, 4096);
		expect_interior_free("malloc(100000)", large, 65536);
	}
	TEST_CASE("free_huge")
	{
		expect_interior_free("malloc(8 MiB)", huge, 16);
		expect_interior_free("malloc(8 MiB)", huge, 4096);
		expect_interior_free("malloc(8 MiB)", huge, 1 << 20);
	}
	TEST_CASE("free_aligned") expect_interior_free("memalign(4096, 200)", aligned, 16);

	TEST_CASE("usable_size")
	{
		expect_death("malloc_usable_size(malloc(64) + 16)", call_usable_size, s64 + 16,
		             "malloc_usable_size", INTERIOR, s64 + 16);
		expect_death("malloc_usable_size(malloc(100000) + 4096)", call_usable_size,
		             large + 4096, "malloc_usable_size", INTERIOR, large + 4096);
		expect_death("malloc_usable_size(malloc(8 MiB) + 4096)", call_usable_size,
		             huge + 4096, "malloc_usable_size", INTERIOR, huge + 4096);
	}

	/* In the parent the blocks are untouched and free normally. */
	CHECK(malloc_usable_size(s64) >= 64 && malloc_usable_size(large) >= 100000 &&
	          malloc_usable_size(huge) >= (8 << 20),
	      "usable sizes in the parent after the children");
	free(s16);
	free(s64);
	free(s1000);
	free(s32k);
	free(large);
	free(huge);
	free(aligned);
	return CHECK_DONE();
}
