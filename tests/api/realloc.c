/* SPDX-License-Identifier: MIT */
/* realloc: contents survive moves across the small/large/huge boundaries in
 * both directions (the first min(old usable, new size) bytes), a doubling
 * chain 16 B -> 64 MiB and back, growth and shrink within one size class
 * stay in place, realloc(NULL, n) allocates, realloc(NULL, 0) is non-NULL,
 * realloc(p, 0) frees p and returns NULL, reallocarray works like realloc. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"
#include "proc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)((i * 2654435761u) >> 13) ^ (unsigned char)seed;
}

static void fill(unsigned char *p, size_t from, size_t to, unsigned seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = pat(i, seed);
}

/* Returns the first offset in [0, n) that does not hold the pattern, or n. */
static size_t verify(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(i, seed))
			return i;
	return n;
}

static size_t min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Every pair of sizes from this list, both directions. */
static void test_cross_ranges(void)
{
	static const size_t sz[] = {1,     16,     17,      100, 4096,    32767,       32768,
	                            32769, 100000, MiB - 1, MiB, MiB + 1, 3 * MiB + 7, 9 * MiB};
	const int n = sizeof sz / sizeof sz[0];
	unsigned seed = 1;

	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			unsigned char *p = malloc(sz[i]);
			REQUIRE(p != NULL, "malloc(%zu) returned NULL", sz[i]);
			size_t u = malloc_usable_size(p);
			fill(p, 0, u, ++seed);
			unsigned char *q = realloc(p, sz[j]);
			CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", sz[i], sz[j]);
			if (!q) {
				free(p);
				continue;
			}
			CHECK(((uintptr_t)q & 15) == 0, "realloc(%zu -> %zu) = %p misaligned",
			      sz[i], sz[j], (void *)q);
			size_t keep = min(u, sz[j]);
			size_t at = verify(q, keep, seed);
			CHECK(at == keep, "realloc(%zu -> %zu): byte %zu of %zu lost", sz[i], sz[j],
			      at, keep);
			CHECK(malloc_usable_size(q) >= sz[j], "realloc(%zu -> %zu): usable %zu",
			      sz[i], sz[j], malloc_usable_size(q));
			/* The new block is fully ours. */
			memset(q, 0, sz[j]);
			free(q);
		}
	}
}

/* Double from 16 B to 64 MiB, adding pattern for the new part each time,
 * then halve back down to 16 B, checking what remains at each step. */
static void test_doubling(void)
{
	unsigned seed = 99;
	size_t n = 16;
	unsigned char *p = malloc(n);
	REQUIRE(p != NULL, "malloc(16) returned NULL");
	fill(p, 0, n, seed);

	while (n < 64 * MiB) {
		size_t m = n * 2;
		unsigned char *q = realloc(p, m);
		REQUIRE(q != NULL, "realloc(%zu -> %zu) returned NULL", n, m);
		size_t at = verify(q, n, seed);
		CHECK(at == n, "growing %zu -> %zu lost byte %zu", n, m, at);
		fill(q, n, m, seed);
		p = q;
		n = m;
	}
	while (n > 16) {
		size_t m = n / 2;
		unsigned char *q = realloc(p, m);
		REQUIRE(q != NULL, "realloc(%zu -> %zu) returned NULL", n, m);
		size_t at = verify(q, m, seed);
		CHECK(at == m, "shrinking %zu -> %zu lost byte %zu", n, m, at);
		p = q;
		n = m;
	}
	free(p);

	/* Odd sizes, growing by 1.5 and shrinking by 2/3, to hit unaligned
	 * lengths on every range. */
	n = 3;
	p = malloc(n);
	REQUIRE(p != NULL, "malloc(3) returned NULL");
	fill(p, 0, n, seed);
	while (n < 20 * MiB) {
		size_t m = n + n / 2 + 1;
		unsigned char *q = realloc(p, m);
		REQUIRE(q != NULL, "realloc(%zu -> %zu) returned NULL", n, m);
		size_t at = verify(q, n, seed);
		CHECK(at == n, "growing %zu -> %zu lost byte %zu", n, m, at);
		fill(q, n, m, seed);
		p = q;
		n = m;
	}
	while (n > 3) {
		size_t m = n * 2 / 3;
		unsigned char *q = realloc(p, m);
		REQUIRE(q != NULL, "realloc(%zu -> %zu) returned NULL", n, m);
		size_t at = verify(q, m, seed);
		CHECK(at == m, "shrinking %zu -> %zu lost byte %zu", n, m, at);
		p = q;
		n = m;
	}
	free(p);
}

/* The class a request of n (1..1 MiB) lands in. */
static size_t class_of(size_t n)
{
	if (n <= 128)
		return n <= 16 ? 16 : (n + 15) & ~(size_t)15;
	size_t pow = 128;
	while (pow * 2 < n)
		pow *= 2;
	size_t step = pow / 4;
	return (n + step - 1) / step * step;
}

/* Within one class (small or large), realloc keeps the pointer. */
static void test_in_place(void)
{
	unsigned char *p = malloc(20);
	REQUIRE(p != NULL, "malloc(20) returned NULL");
	fill(p, 0, 20, 5);
	unsigned char *q = realloc(p, 30);
	CHECK(q == p, "realloc(malloc(20), 30) moved %p -> %p (both class 32)", (void *)p,
	      (void *)q);
	if (q) {
		CHECK(verify(q, 20, 5) == 20, "realloc(20 -> 30) lost contents");
		p = q;
	}
	free(p);

	int moved = 0, tested = 0;
	size_t prev = 0;
	for (size_t c = 16; c <= MiB; prev = c, c = class_of(c + 1)) {
		size_t lo = prev + 1, hi = c;
		p = malloc(lo);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", lo);
		fill(p, 0, lo, 7);
		/* Grow to the top of the class, shrink to the bottom, and back. */
		size_t steps[] = {hi, lo, (lo + hi) / 2, hi};
		for (int k = 0; k < 4; k++) {
			q = realloc(p, steps[k]);
			REQUIRE(q != NULL, "realloc(-> %zu) returned NULL", steps[k]);
			tested++;
			if (q != p && moved++ < 5)
				fprintf(stderr, "realloc to %zu in class %zu moved the block\n",
				        steps[k], c);
			p = q;
		}
		CHECK(verify(p, lo, 7) == lo, "contents lost in class %zu", c);
		free(p);
	}
	CHECK(moved == 0, "%d of %d same-class reallocs moved the block", moved, tested);
}

/* realloc(p, 0) frees p: done many times on huge blocks, the address space
 * would grow by gigabytes if it did not. */
static void test_realloc_zero(void)
{
	void *p = realloc(NULL, 0);
	CHECK(p != NULL, "realloc(NULL, 0) returned NULL");
	free(p);

	p = realloc(NULL, 100);
	CHECK(p != NULL, "realloc(NULL, 100) returned NULL");
	CHECK(p == NULL || malloc_usable_size(p) >= 100, "realloc(NULL, 100): usable %zu",
	      p ? malloc_usable_size(p) : 0);
	free(p);

	size_t sizes[] = {1, 64, 5000, 32768, 100000, MiB, 2 * MiB, 8 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		p = malloc(sizes[i]);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", sizes[i]);
		void *q = realloc(p, 0);
		CHECK(q == NULL, "realloc(malloc(%zu), 0) returned %p, want NULL", sizes[i], q);
		free(q);
	}

	long before = vm_size_kib();
	REQUIRE(before > 0, "cannot read VmSize in /proc/self/status");
	int nonnull = 0;
	for (int i = 0; i < 400; i++) {
		unsigned char *b = malloc(8 * MiB);
		REQUIRE(b != NULL, "malloc(8 MiB) #%d returned NULL", i);
		b[0] = 1;
		void *q = realloc(b, 0);
		if (q) {
			nonnull++;
			free(q);
		}
	}
	long after = vm_size_kib();
	size_t grown = after > before ? (size_t)(after - before) * 1024 : 0;
	CHECK(nonnull == 0, "realloc(p, 0) returned non-NULL %d times", nonnull);
	CHECK(grown < 256 * MiB, "address space grew by %zu MiB over 400 realloc(8 MiB, 0)",
	      grown / MiB);
}

static void test_reallocarray(void)
{
	unsigned char *p = reallocarray(NULL, 10, 10);
	REQUIRE(p != NULL, "reallocarray(NULL, 10, 10) returned NULL");
	CHECK(malloc_usable_size(p) >= 100, "reallocarray(NULL, 10, 10): usable %zu",
	      malloc_usable_size(p));
	fill(p, 0, 100, 3);
	unsigned char *q = reallocarray(p, 1000, 1000);
	REQUIRE(q != NULL, "reallocarray(p, 1000, 1000) returned NULL");
	CHECK(verify(q, 100, 3) == 100, "reallocarray(p, 1000, 1000) lost contents");
	CHECK(malloc_usable_size(q) >= 1000000, "usable %zu", malloc_usable_size(q));
	memset(q, 1, 1000000);
	p = reallocarray(q, 3, 7);
	REQUIRE(p != NULL, "reallocarray(q, 3, 7) returned NULL");
	CHECK(p[0] == 1 && p[20] == 1, "reallocarray shrink lost contents");
	free(p);
}

/* Blocks from the aligned allocators realloc like any other: grow to
 * twice the size, shrink to a third, then to 10 bytes. */
static void test_realloc_aligned(void)
{
	size_t aligns[] = {64, 4096, 65536, 2 * MiB};
	size_t sizes[] = {100, 50000, 3 * MiB};

	for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			size_t n = sizes[i];
			unsigned char *p = memalign(aligns[a], n);
			REQUIRE(p != NULL, "memalign(%zu, %zu) returned NULL", aligns[a], n);
			fill(p, 0, n, 11);

			unsigned char *q = realloc(p, 2 * n);
			REQUIRE(q != NULL, "realloc(memalign(%zu, %zu), %zu) returned NULL",
			        aligns[a], n, 2 * n);
			CHECK(verify(q, n, 11) == n, "growing memalign(%zu, %zu) lost contents",
			      aligns[a], n);
			fill(q, n, 2 * n, 11);

			p = realloc(q, n / 3);
			REQUIRE(p != NULL, "realloc to %zu returned NULL", n / 3);
			CHECK(verify(p, n / 3, 11) == n / 3,
			      "shrinking memalign(%zu, %zu) to %zu lost contents", aligns[a], n,
			      n / 3);

			q = realloc(p, 10);
			REQUIRE(q != NULL, "realloc to 10 returned NULL");
			CHECK(verify(q, 10, 11) == 10,
			      "shrinking memalign(%zu, %zu) to 10 lost contents", aligns[a], n);
			free(q);
		}
	}
}

int main(void)
{
	TEST_CASE("cross_ranges") test_cross_ranges();
	TEST_CASE("doubling") test_doubling();
	TEST_CASE("in_place") test_in_place();
	TEST_CASE("realloc_zero") test_realloc_zero();
	TEST_CASE("reallocarray") test_reallocarray();
	TEST_CASE("realloc_aligned") test_realloc_aligned();
	return CHECK_DONE();
}
