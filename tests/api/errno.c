/* SPDX-License-Identifier: MIT */
/* Failure paths and errno: impossible sizes give NULL with errno ENOMEM
 * (malloc, calloc and reallocarray overflow, realloc, the other entry
 * points), a failed realloc leaves the old block valid and intact, and
 * free() of a small, large or huge block leaves errno alone. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <malloc.h>
#include "check.h"

#define MiB ((size_t)1 << 20)

/* Sizes no allocation can satisfy; passed through a volatile so that the
 * compiler cannot see (or warn about) the value. */
static volatile size_t v_ptrdiff_max_plus_1 = (size_t)PTRDIFF_MAX + 1;
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max = PTRDIFF_MAX;
static volatile size_t v_1_50 = (size_t)1 << 50;
static volatile size_t v_size_max_page = SIZE_MAX - 4095;
static volatile size_t v_1_31 = (size_t)1 << 31, v_1_32 = (size_t)1 << 32, v_1_33 = (size_t)1 << 33;

/* Called through volatile pointers where the old block is used after a
 * failed call: gcc's -Wuse-after-free cannot tell that it stayed valid. */
static void *(*volatile realloc_v)(void *, size_t) = realloc;
static void *(*volatile reallocarray_v)(void *, size_t, size_t) = reallocarray;

#define EXPECT_ENOMEM(expr, what)                                                                  \
	do {                                                                                       \
		errno = 0;                                                                         \
		void *r_ = (expr);                                                                 \
		int e_ = errno;                                                                    \
		CHECK(r_ == NULL, "%s returned %p, want NULL", what, r_);                          \
		CHECK(e_ == ENOMEM, "%s set errno %d (%s), want ENOMEM", what, e_, strerror(e_));  \
		free(r_);                                                                          \
	} while (0)

static void test_malloc_enomem(void)
{
	EXPECT_ENOMEM(malloc(v_ptrdiff_max_plus_1), "malloc(PTRDIFF_MAX + 1)");
	EXPECT_ENOMEM(malloc(v_size_max), "malloc(SIZE_MAX)");
	EXPECT_ENOMEM(malloc(v_size_max_page), "malloc(SIZE_MAX - 4095)");
	EXPECT_ENOMEM(malloc(v_ptrdiff_max), "malloc(PTRDIFF_MAX)");
	EXPECT_ENOMEM(malloc(v_1_50), "malloc(1 << 50)");
	EXPECT_ENOMEM(memalign(64, v_size_max), "memalign(64, SIZE_MAX)");
	EXPECT_ENOMEM(memalign(1 << 20, v_ptrdiff_max), "memalign(1 MiB, PTRDIFF_MAX)");
	EXPECT_ENOMEM(aligned_alloc(64, v_1_50), "aligned_alloc(64, 1 << 50)");
	EXPECT_ENOMEM(valloc(v_size_max), "valloc(SIZE_MAX)");
	EXPECT_ENOMEM(pvalloc(v_size_max), "pvalloc(SIZE_MAX)");
	EXPECT_ENOMEM(pvalloc(v_size_max_page + 1), "pvalloc(SIZE_MAX - 4094)");

	/* The allocator still works afterwards. */
	void *p = malloc(100);
	CHECK(p != NULL, "malloc(100) after the failures returned NULL");
	free(p);
}

static void test_calloc_overflow(void)
{
	size_t half = v_size_max / 2 + 1;

	EXPECT_ENOMEM(calloc(half, 2), "calloc(SIZE_MAX/2 + 1, 2)");
	EXPECT_ENOMEM(calloc(2, half), "calloc(2, SIZE_MAX/2 + 1)");
	EXPECT_ENOMEM(calloc(v_size_max, v_size_max), "calloc(SIZE_MAX, SIZE_MAX)");
	EXPECT_ENOMEM(calloc(v_1_32, v_1_32), "calloc(1 << 32, 1 << 32)");
	EXPECT_ENOMEM(calloc(v_size_max / 3 + 1, 3), "calloc(SIZE_MAX/3 + 1, 3)");
	EXPECT_ENOMEM(calloc(1, v_ptrdiff_max_plus_1), "calloc(1, PTRDIFF_MAX + 1)");
	EXPECT_ENOMEM(calloc(v_1_50, 1), "calloc(1 << 50, 1)");
	EXPECT_ENOMEM(calloc(v_1_50 / 16, 16), "calloc(1 << 46, 16)");
}

static void test_reallocarray_overflow(void)
{
	size_t half = v_size_max / 2 + 1;

	EXPECT_ENOMEM(reallocarray(NULL, half, 2), "reallocarray(NULL, SIZE_MAX/2 + 1, 2)");
	EXPECT_ENOMEM(reallocarray(NULL, v_1_33, v_1_31), "reallocarray(NULL, 1 << 33, 1 << 31)");

	/* On overflow the old block stays valid and untouched. */
	unsigned char *p = malloc(200);
	REQUIRE(p != NULL, "malloc(200) returned NULL");
	memset(p, 0x3c, 200);
	errno = 0;
	void *q = reallocarray_v(p, v_size_max / 8 + 1, 8);
	CHECK(q == NULL, "reallocarray(p, SIZE_MAX/8 + 1, 8) returned %p", q);
	CHECK(errno == ENOMEM, "reallocarray overflow set errno %d, want ENOMEM", errno);
	int intact = 1;
	for (int i = 0; i < 200; i++)
		intact &= p[i] == 0x3c;
	CHECK(intact, "block changed by a failed reallocarray");
	/* And reallocarray that fits works like realloc. */
	q = reallocarray_v(p, 50, 8);
	CHECK(q != NULL, "reallocarray(p, 50, 8) returned NULL");
	if (q) {
		p = q;
		intact = 1;
		for (int i = 0; i < 200; i++)
			intact &= p[i] == 0x3c;
		CHECK(intact, "reallocarray(p, 50, 8) lost the contents");
		CHECK(malloc_usable_size(p) >= 400, "usable %zu after reallocarray(p, 50, 8)",
		      malloc_usable_size(p));
	}
	free(p);
}

/* realloc to an impossible size, for an old block of each range. */
static void test_realloc_enomem(void)
{
	size_t olds[] = {24, 3000, 32768, 100000, MiB, 3 * MiB};
	size_t bigs[] = {(size_t)1 << 50, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX,
	                 SIZE_MAX - 4095};

	for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
		size_t n = olds[i];
		unsigned char *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu) returned NULL", n);
		for (size_t j = 0; j < n; j++)
			p[j] = (unsigned char)(j * 31 + 7);
		for (size_t k = 0; k < sizeof bigs / sizeof bigs[0]; k++) {
			errno = 0;
			void *q = realloc_v(p, bigs[k]);
			int e = errno;
			CHECK(q == NULL, "realloc(malloc(%zu), %zu) returned %p", n, bigs[k], q);
			CHECK(e == ENOMEM, "realloc(malloc(%zu), %zu) set errno %d, want ENOMEM", n,
			      bigs[k], e);
			if (q)
				p = q; /* keep going with whatever we got */
		}
		size_t bad = n;
		for (size_t j = 0; j < n; j++)
			if (p[j] != (unsigned char)(j * 31 + 7)) {
				bad = j;
				break;
			}
		CHECK(bad == n, "block of %zu changed at %zu by failed reallocs", n, bad);
		CHECK(malloc_usable_size(p) >= n, "usable size %zu after failed realloc of %zu",
		      malloc_usable_size(p), n);
		/* Still a live block: it can grow and be freed. */
		unsigned char *r = realloc_v(p, n + 100);
		CHECK(r != NULL, "realloc(%zu -> %zu) after a failure returned NULL", n, n + 100);
		if (r) {
			CHECK(r[n - 1] == (unsigned char)((n - 1) * 31 + 7),
			      "contents lost growing after a failed realloc");
			p = r;
		}
		free(p);
	}
}

static void test_free_keeps_errno(void)
{
	size_t sizes[] = {1, 64, 1000, 32768, 32769, 100000, MiB, MiB + 1, 8 * MiB};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		/* A few blocks each, so that some frees fill caches and some drain them. */
		void *p[40];
		for (int k = 0; k < 40; k++) {
			p[k] = malloc(sizes[i]);
			REQUIRE(p[k] != NULL, "malloc(%zu) returned NULL", sizes[i]);
		}
		int changed = 0, last = 1234;
		for (int k = 0; k < 40; k++) {
			errno = 1234;
			free(p[k]);
			if (errno != 1234) {
				changed++;
				last = errno;
			}
		}
		CHECK(changed == 0, "free() of %zu-byte blocks changed errno %d times (to %d)",
		      sizes[i], changed, last);
	}
	errno = 1234;
	free(NULL);
	CHECK(errno == 1234, "free(NULL) changed errno to %d", errno);
}

int main(void)
{
	TEST_CASE("malloc_enomem") test_malloc_enomem();
	TEST_CASE("calloc_overflow") test_calloc_overflow();
	TEST_CASE("reallocarray_overflow") test_reallocarray_overflow();
	TEST_CASE("realloc_enomem") test_realloc_enomem();
	TEST_CASE("free_keeps_errno") test_free_keeps_errno();
	return CHECK_DONE();
}
