/* SPDX-License-Identifier: MIT */
/* Basic malloc/free behaviour: malloc(0) gives unique non-NULL pointers,
 * every size 0..4096 and a sample of sizes up to 64 MiB is at least 16-byte
 * aligned (and writable at both ends), huge blocks start on a 2 MiB
 * boundary, live blocks never overlap, free(NULL) is a no-op,
 * malloc_usable_size(NULL) is 0 and cairn_version() is "0.1.0". */
#include <stdint.h>
#include <string.h>
#include <malloc.h>
#include <cairn.h>
#include "check.h"
#include "rng.h"

#define MiB ((size_t)1 << 20)

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static void test_malloc_zero(void)
{
	enum { N = 1000 };
	static void *p[N];
	int nulls = 0, dups = 0;

	for (int i = 0; i < N; i++) {
		p[i] = malloc(0);
		if (!p[i])
			nulls++;
	}
	CHECK(nulls == 0, "malloc(0) returned NULL %d times of %d", nulls, N);
	/* Live blocks are distinct: compare each with every other. */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (p[i] && p[i] == p[j])
				dups++;
	CHECK(dups == 0, "malloc(0) handed out the same pointer twice (%d pairs)", dups);
	int misaligned = 0;
	for (int i = 0; i < N; i++)
		if (!aligned(p[i], 16))
			misaligned++;
	CHECK(misaligned == 0, "%d malloc(0) results not 16-byte aligned", misaligned);
	for (int i = 0; i < N; i++)
		free(p[i]);
}

/* Every size 0..4096, several blocks of each live at once. */
static void test_align_small(void)
{
	enum { K = 4 };
	int bad = 0, nulls = 0;
	size_t first_bad = 0;

	for (size_t n = 0; n <= 4096; n++) {
		void *p[K];
		for (int k = 0; k < K; k++) {
			p[k] = malloc(n);
			if (!p[k]) {
				nulls++;
				continue;
			}
			if (!aligned(p[k], 16) && bad++ == 0)
				first_bad = n;
			if (n) {
				((unsigned char *)p[k])[0] = 0x11;
				((unsigned char *)p[k])[n - 1] = 0x22;
			}
		}
		for (int k = 0; k < K; k++)
			free(p[k]);
	}
	CHECK(nulls == 0, "malloc(n) returned NULL %d times for n in 0..4096", nulls);
	CHECK(bad == 0, "%d blocks of sizes 0..4096 not 16-byte aligned (first size %zu)", bad,
	      first_bad);
}

/* Sizes from 4097 up to 64 MiB, growing by ~9% plus odd offsets. */
static void test_align_sample(void)
{
	for (size_t n = 4097; n <= 64 * MiB; n += n / 11 + 13) {
		size_t sizes[3] = {n, n + 1, n - 7};
		for (int i = 0; i < 3; i++) {
			size_t m = sizes[i] > 64 * MiB ? 64 * MiB : sizes[i];
			unsigned char *p = malloc(m);
			CHECK(p != NULL, "malloc(%zu) returned NULL", m);
			if (!p)
				continue;
			CHECK(aligned(p, 16), "malloc(%zu) = %p not 16-byte aligned", m, (void *)p);
			if (m > MiB)
				CHECK(aligned(p, 2 * MiB),
				      "huge malloc(%zu) = %p not 2 MiB aligned", m, (void *)p);
			p[0] = 1;
			p[m - 1] = 2;
			CHECK(malloc_usable_size(p) >= m, "malloc_usable_size(malloc(%zu)) = %zu",
			      m, malloc_usable_size(p));
			free(p);
		}
	}
	/* Exactly 64 MiB, and the edges of the huge range. */
	size_t edges[] = {MiB, MiB + 1, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 64 * MiB};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		unsigned char *p = malloc(edges[i]);
		CHECK(p != NULL, "malloc(%zu) returned NULL", edges[i]);
		if (!p)
			continue;
		CHECK(aligned(p, 16), "malloc(%zu) = %p not 16-byte aligned", edges[i], (void *)p);
		if (edges[i] > MiB)
			CHECK(aligned(p, 2 * MiB), "huge malloc(%zu) = %p not 2 MiB aligned",
			      edges[i], (void *)p);
		p[0] = 1;
		p[edges[i] - 1] = 2;
		free(p);
	}
}

/* Several huge blocks live at once are each 2 MiB aligned and disjoint. */
static void test_huge_live(void)
{
	enum { N = 6 };
	unsigned char *p[N];
	size_t n[N];

	for (int i = 0; i < N; i++) {
		n[i] = MiB + 1 + (size_t)i * 700 * 1024;
		p[i] = malloc(n[i]);
		REQUIRE(p[i] != NULL, "malloc(%zu) returned NULL", n[i]);
		CHECK(aligned(p[i], 2 * MiB), "huge malloc(%zu) = %p not 2 MiB aligned", n[i],
		      (void *)p[i]);
		memset(p[i], 'A' + i, n[i]);
	}
	for (int i = 0; i < N; i++) {
		size_t off = 0;
		while (off < n[i] && p[i][off] == 'A' + i)
			off++;
		CHECK(off == n[i], "huge block %d (%zu bytes) overwritten at offset %zu", i, n[i],
		      off);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
}

/* Many live blocks of mixed sizes: fill each with its own byte, then check
 * none was overwritten by a neighbour. Sizes from a fixed seed. */
static void test_no_overlap(void)
{
	enum { N = 3000 };
	static unsigned char *p[N];
	static size_t n[N];
	uint64_t seed = 12345;
	int corrupt = 0;

	for (int i = 0; i < N; i++) {
		uint32_t r = (uint32_t)(rng_next(&seed) >> 32);
		/* Mostly small, some large, a few huge. */
		if (i % 500 == 499)
			n[i] = MiB + r % (2 * MiB);
		else if (i % 50 == 49)
			n[i] = 32769 + r % (MiB - 32769);
		else
			n[i] = r % 2000;
		p[i] = malloc(n[i]);
		REQUIRE(p[i] != NULL, "malloc(%zu) returned NULL", n[i]);
		memset(p[i], (unsigned char)i, n[i]);
	}
	for (int i = 0; i < N; i++) {
		for (size_t j = 0; j < n[i]; j++) {
			if (p[i][j] != (unsigned char)i) {
				if (corrupt++ < 5)
					fprintf(stderr,
					        "block %d (%zu bytes at %p) changed at %zu\n", i,
					        n[i], (void *)p[i], j);
				break;
			}
		}
	}
	CHECK(corrupt == 0, "%d of %d live blocks were overwritten by others", corrupt, N);
	for (int i = 0; i < N; i += 2)
		free(p[i]);
	for (int i = 1; i < N; i += 2)
		free(p[i]);
}

int main(void)
{
	TEST_CASE("null_and_version")
	{
		free(NULL); /* must simply return */
		CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
		      malloc_usable_size(NULL));
		const char *v = cairn_version();
		CHECK(v != NULL && strcmp(v, "0.1.0") == 0, "cairn_version() = \"%s\"",
		      v ? v : "(null)");
		CHECK(strcmp(CAIRN_VERSION, "0.1.0") == 0, "CAIRN_VERSION = \"%s\"", CAIRN_VERSION);
	}

	TEST_CASE("malloc_zero") test_malloc_zero();
	TEST_CASE("align_small") test_align_small();
	TEST_CASE("align_sample") test_align_sample();
	TEST_CASE("huge_live") test_huge_live();
	TEST_CASE("no_overlap") test_no_overlap();
	return CHECK_DONE();
}
