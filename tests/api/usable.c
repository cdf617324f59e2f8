/* SPDX-License-Identifier: MIT */
/* malloc_usable_size: equals the size class for small (1..65536) and large
 * (32769..1048576) requests, n rounded up to the page size for huge ones;
 * and the whole usable size is writable without touching a neighbour. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"
#include "rng.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static size_t page;

/* The class a request of n (1..1 MiB) lands in: multiples of 16 up to 128,
 * then 4 classes per doubling. */
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

static size_t expected_usable(size_t n)
{
	if (n <= MiB)
		return class_of(n);
	return (n + page - 1) / page * page;
}

/* The classes the contract spells out, to check class_of itself. */
static const size_t listed[] = {
    16,  32,  48,  64,  80,  96,   112,  128,   160,   192,   224,   256,   320,   384,
    448, 512, 640, 768, 896, 1024, 1280, 28672, 32768, 40960, 49152, 57344, 65536, 81920,
};

static void test_class_table(void)
{
	size_t all[128];
	int n = 0;

	/* Walk the classes by asking class_of for the next one. */
	for (size_t c = 16; c <= MiB; c = class_of(c + 1)) {
		REQUIRE(n < 128, "too many classes");
		all[n++] = c;
	}
	CHECK(n == 8 + 4 * 13, "%d classes from 16 to 1 MiB, expected 60", n);
	CHECK(all[n - 1] == MiB, "last class %zu", all[n - 1]);
	for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) {
		int found = 0;
		for (int j = 0; j < n; j++)
			found |= all[j] == listed[i];
		CHECK(found, "class %zu missing from the computed table", listed[i]);
	}

	/* Each class boundary, against the library. */
	size_t prev = 0;
	for (int j = 0; j < n; j++) {
		size_t c = all[j];
		size_t probe[3] = {prev + 1, (prev + 1 + c) / 2, c};
		for (int k = 0; k < 3; k++) {
			void *p = malloc(probe[k]);
			REQUIRE(p != NULL, "malloc(%zu) returned NULL", probe[k]);
			CHECK(malloc_usable_size(p) == c,
			      "malloc_usable_size(malloc(%zu)) = %zu, want %zu", probe[k],
			      malloc_usable_size(p), c);
			free(p);
		}
		prev = c;
	}
}

/* Every size 1..8192 and a stride through the rest of small and large. */
static void test_usable_exact(void)
{
	int bad = 0;

	for (size_t n = 1; n <= 1 * MiB; n += n < 8192 ? 1 : 97 + n / 64) {
		void *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", n);
		size_t u = malloc_usable_size(p);
		if (u != expected_usable(n) && bad++ < 10)
			fprintf(stderr, "malloc_usable_size(malloc(%zu)) = %zu, want %zu\n", n, u,
			        expected_usable(n));
		free(p);
	}
	CHECK(bad == 0, "%d sizes with an unexpected usable size", bad);

	/* malloc(0) is a real block: its usable size is that of a small class. */
	void *z = malloc(0);
	REQUIRE(z != NULL, "malloc(0) returned NULL");
	CHECK(malloc_usable_size(z) <= 16, "malloc_usable_size(malloc(0)) = %zu",
	      malloc_usable_size(z));
	free(z);
}

static void test_usable_huge(void)
{
	size_t sizes[] = {MiB + 1, MiB + page - 1, MiB + page,      MiB + page + 1, 2 * MiB - 1,
	                  2 * MiB, 2 * MiB + 1,    3 * MiB + 12345, 16 * MiB,       64 * MiB - 1};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = malloc(sizes[i]);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", sizes[i]);
		CHECK(malloc_usable_size(p) == expected_usable(sizes[i]),
		      "malloc_usable_size(malloc(%zu)) = %zu, want %zu", sizes[i],
		      malloc_usable_size(p), expected_usable(sizes[i]));
		free(p);
	}
}

/* Fill the whole usable size of many live blocks, each with its own byte,
 * then verify every one: usable bytes must really belong to the block. */
static void test_usable_writable(void)
{
	enum { N = 64 };
	static unsigned char *p[N];
	static size_t u[N];
	uint64_t seed = 777;
	int corrupt = 0;

	for (size_t n = 1; n <= 4 * MiB; n = n < 256 ? n + 1 : n + n / 5 + 1) {
		/* Fewer blocks of the big sizes to stay fast. */
		int count = n <= 64 * KiB ? N : n <= MiB ? 8 : 2;
		for (int i = 0; i < count; i++) {
			size_t m = n + (size_t)(rng_next(&seed) % 8);
			p[i] = malloc(m);
			REQUIRE(p[i] != NULL, "malloc(%zu) returned NULL", m);
			u[i] = malloc_usable_size(p[i]);
			CHECK(u[i] >= m, "malloc_usable_size(malloc(%zu)) = %zu", m, u[i]);
			memset(p[i], (unsigned char)(i * 7 + 1), u[i]);
		}
		for (int i = 0; i < count; i++) {
			unsigned char want = (unsigned char)(i * 7 + 1);
			for (size_t j = 0; j < u[i]; j++) {
				if (p[i][j] != want) {
					if (corrupt++ < 5)
						fprintf(stderr,
						        "block of usable size %zu at %p changed at "
						        "%zu\n",
						        u[i], (void *)p[i], j);
					break;
				}
			}
			free(p[i]);
		}
	}
	CHECK(corrupt == 0, "%d blocks overwritten when neighbours filled their usable size",
	      corrupt);
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	REQUIRE(page >= 4096 && (page & (page - 1)) == 0, "odd page size %zu", page);

	TEST_CASE("class_table") test_class_table();
	TEST_CASE("usable_exact") test_usable_exact();
	TEST_CASE("usable_huge") test_usable_huge();
	TEST_CASE("usable_writable") test_usable_writable();
	return CHECK_DONE();
}
