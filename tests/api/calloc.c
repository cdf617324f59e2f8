/* SPDX-License-Identifier: MIT */
/* calloc returns zeroed memory, also when the block reuses memory that was
 * dirtied and freed just before (small slabs, large runs, cached huge
 * mappings), for single blocks and for whole batches; calloc(0, n) and
 * calloc(n, 0) give valid blocks. */
#include <stdint.h>
#include <string.h>
#include <malloc.h>
#include "check.h"

#define MiB ((size_t)1 << 20)

/* First non-zero offset in [0, n), or n. */
static size_t first_nonzero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return i;
	return n;
}

static const size_t sizes[] = {1,     15,    16,    17,     64,     100, 1000,    4096,   10000,
                               32768, 32769, 40000, 100000, 500000, MiB, MiB + 1, 4 * MiB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Dirty one block, free it, calloc the same size; many rounds. */
static void test_reuse_single(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		int rounds = n > MiB ? 20 : 100, dirty = 0;
		for (int r = 0; r < rounds; r++) {
			unsigned char *p = malloc(n);
			REQUIRE(p != NULL, "malloc(%zu) returned NULL", n);
			memset(p, 0xff, malloc_usable_size(p));
			free(p);
			/* Same bytes as nmemb * size in a few different splits. */
			unsigned char *q = r % 2 || n % 4 ? calloc(1, n) : calloc(n / 4, 4);
			REQUIRE(q != NULL, "calloc for %zu bytes returned NULL", n);
			size_t at = first_nonzero(q, n);
			if (at != n && dirty++ == 0)
				fprintf(stderr, "calloc(%zu) round %d: byte %zu is 0x%02x\n", n, r,
				        at, q[at]);
			memset(q, 0xee, n);
			free(q);
		}
		CHECK(dirty == 0, "calloc(%zu) returned dirty memory %d times of %d", n, dirty,
		      rounds);
	}
}

/* Fill many blocks of one size, free them all, calloc them all back. */
static void test_reuse_batch(void)
{
	enum { N = 300 };
	static unsigned char *p[N];

	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		int count = n > MiB ? 4 : n > 32768 ? 30 : N;
		for (int k = 0; k < count; k++) {
			p[k] = malloc(n);
			REQUIRE(p[k] != NULL, "malloc(%zu) returned NULL", n);
			memset(p[k], 0xa5 ^ k, malloc_usable_size(p[k]));
		}
		for (int k = 0; k < count; k++)
			free(p[k]);
		int dirty = 0;
		for (int k = 0; k < count; k++) {
			p[k] = calloc(n, 1);
			REQUIRE(p[k] != NULL, "calloc(%zu, 1) returned NULL", n);
			if (first_nonzero(p[k], n) != n)
				dirty++;
		}
		CHECK(dirty == 0, "%d of %d calloc(%zu, 1) blocks after a batch free were dirty",
		      dirty, count, n);
		for (int k = 0; k < count; k++)
			free(p[k]);
	}
}

/* A block grown with realloc and then freed leaves dirty bytes past its
 * old end; calloc of the grown size must not see them. */
static void test_after_realloc(void)
{
	for (size_t n = 24; n <= 2 * MiB; n = n * 3 + 5) {
		unsigned char *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", n);
		memset(p, 0x5a, n);
		unsigned char *q = realloc(p, 2 * n);
		REQUIRE(q != NULL, "realloc(%zu -> %zu) returned NULL", n, 2 * n);
		memset(q, 0x5a, 2 * n);
		q = realloc(q, n / 2 + 1);
		REQUIRE(q != NULL, "realloc shrink returned NULL");
		free(q);
		unsigned char *c = calloc(2, n);
		REQUIRE(c != NULL, "calloc(2, %zu) returned NULL", n);
		CHECK(first_nonzero(c, 2 * n) == 2 * n, "calloc(2, %zu) after realloc dirty at %zu",
		      n, first_nonzero(c, 2 * n));
		free(c);
	}
}

static void test_zero_counts(void)
{
	void *a = calloc(0, 0), *b = calloc(0, 100), *c = calloc(100, 0);
	CHECK(a != NULL, "calloc(0, 0) returned NULL");
	CHECK(b != NULL, "calloc(0, 100) returned NULL");
	CHECK(c != NULL, "calloc(100, 0) returned NULL");
	CHECK(a != b && b != c && a != c, "calloc of zero bytes gave equal pointers");
	CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0 && ((uintptr_t)c & 15) == 0,
	      "calloc of zero bytes misaligned");
	free(a);
	free(b);
	free(c);
}

/* Products that do not overflow but use large counts of small elements. */
static void test_products(void)
{
	struct {
		size_t nmemb, size;
	} t[] = {{1000, 1000}, {3, 1 << 20}, {1 << 20, 3}, {32769, 1}, {1, 32769}, {4097, 8}};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t n = t[i].nmemb * t[i].size;
		unsigned char *p = calloc(t[i].nmemb, t[i].size);
		REQUIRE(p != NULL, "calloc(%zu, %zu) returned NULL", t[i].nmemb, t[i].size);
		CHECK(malloc_usable_size(p) >= n, "calloc(%zu, %zu): usable %zu", t[i].nmemb,
		      t[i].size, malloc_usable_size(p));
		CHECK(first_nonzero(p, n) == n, "calloc(%zu, %zu) not zero at %zu", t[i].nmemb,
		      t[i].size, first_nonzero(p, n));
		memset(p, 0xcc, n);
		free(p);
	}
}

int main(void)
{
	TEST_CASE("reuse_single") test_reuse_single();
	TEST_CASE("reuse_batch") test_reuse_batch();
	TEST_CASE("after_realloc") test_after_realloc();
	TEST_CASE("zero_counts") test_zero_counts();
	TEST_CASE("products") test_products();
	return CHECK_DONE();
}
