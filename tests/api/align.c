/* SPDX-License-Identifier: MIT */
/* The aligned allocators: aligned_alloc (EINVAL for alignment 0 or not a
 * power of two), memalign (non-power-of-two alignment rounded up, powers of
 * two 1..4 MiB), posix_memalign (EINVAL and ENOMEM leave *memptr and errno
 * alone; alignments 8..16 MiB honoured from small to huge sizes; size 0
 * with every alignment up to 1 GiB gives distinct blocks), valloc
 * (page aligned) and pvalloc (page aligned, size rounded up to a page). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static size_t page;

/* Keeps gcc from warning about the invalid alignments we pass on purpose. */
static void *(*volatile aligned_alloc_v)(size_t, size_t) = aligned_alloc;
static int (*volatile posix_memalign_v)(void **, size_t, size_t) = posix_memalign;

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* Writes the first and last byte and, for blocks up to 64 KiB, all of the
 * usable size: an aligned block must be as usable as any other. */
static void touch(void *p, size_t n)
{
	size_t u = malloc_usable_size(p);
	CHECK(u >= n, "usable size %zu of an aligned block of %zu", u, n);
	if (u <= 64 * KiB)
		memset(p, 0x77, u);
	else if (n) {
		((unsigned char *)p)[0] = 1;
		((unsigned char *)p)[n - 1] = 2;
	}
}

static const size_t sizes[] = {1,     8,     17,     100, 1000,    4096,       5000,
                               32768, 32769, 100000, MiB, MiB + 1, 3 * MiB + 5};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_aligned_alloc(void)
{
	size_t bad[] = {0,        3,
	                5,        6,
	                7,        12,
	                24,       48,
	                96,       100,
	                1000,     4095,
	                4097,     (size_t)3 << 20,
	                SIZE_MAX, (SIZE_MAX >> 1) + 2};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		void *p = aligned_alloc_v(bad[i], 64);
		CHECK(p == NULL, "aligned_alloc(%zu, 64) returned %p, want NULL", bad[i], p);
		CHECK(errno == EINVAL, "aligned_alloc(%zu, 64) set errno %d, want EINVAL", bad[i],
		      errno);
		free(p);
	}

	/* Every power of two from 1 to 4 MiB, for each size (a multiple of the
	 * alignment where C11 asks for one, and the size itself). */
	for (size_t a = 1; a <= 4 * MiB; a <<= 1) {
		for (size_t i = 0; i < NSIZES; i++) {
			size_t n = sizes[i];
			size_t rounded = (n + a - 1) / a * a;
			if (rounded > 16 * MiB)
				continue;
			void *p = aligned_alloc(a, rounded);
			CHECK(p != NULL, "aligned_alloc(%zu, %zu) returned NULL", a, rounded);
			if (!p)
				continue;
			CHECK(aligned(p, a < 16 ? 16 : a),
			      "aligned_alloc(%zu, %zu) = %p misaligned", a, rounded, p);
			touch(p, rounded);
			free(p);
		}
	}
}

static void test_memalign(void)
{
	void *p = memalign(24, 10);
	CHECK(p != NULL, "memalign(24, 10) returned NULL");
	CHECK(aligned(p, 32), "memalign(24, 10) = %p, not 32-byte aligned", p);
	if (p)
		touch(p, 10);
	free(p);

	/* Other non-powers of two round up to the next power of two. */
	size_t odd[] = {3, 24, 48, 100, 3000, 5000, 40000};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		size_t want = 16;
		while (want < odd[i])
			want <<= 1;
		p = memalign(odd[i], 200);
		CHECK(p != NULL, "memalign(%zu, 200) returned NULL", odd[i]);
		CHECK(aligned(p, want), "memalign(%zu, 200) = %p, not %zu-byte aligned", odd[i], p,
		      want);
		free(p);
	}

	for (size_t a = 1; a <= 4 * MiB; a <<= 1) {
		for (size_t i = 0; i < NSIZES; i++) {
			/* Several at once so that they do not all reuse one slot. */
			void *q[3];
			for (int k = 0; k < 3; k++) {
				q[k] = memalign(a, sizes[i]);
				CHECK(q[k] != NULL, "memalign(%zu, %zu) returned NULL", a,
				      sizes[i]);
				if (!q[k])
					continue;
				CHECK(aligned(q[k], a < 16 ? 16 : a),
				      "memalign(%zu, %zu) = %p misaligned", a, sizes[i], q[k]);
				touch(q[k], sizes[i]);
			}
			for (int k = 0; k < 3; k++)
				free(q[k]);
		}
	}
}

static void test_posix_memalign_errors(void)
{
	size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 1000, (size_t)3 << 20};
	void *sentinel = (void *)(uintptr_t)0xdeadbeef;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *p = sentinel;
		errno = 4321;
		int r = posix_memalign_v(&p, bad[i], 64);
		CHECK(r == EINVAL, "posix_memalign(&p, %zu, 64) returned %d, want EINVAL", bad[i],
		      r);
		CHECK(p == sentinel, "posix_memalign(&p, %zu, 64) changed *memptr to %p", bad[i],
		      p);
		CHECK(errno == 4321, "posix_memalign(&p, %zu, 64) changed errno to %d", bad[i],
		      errno);
		if (r == 0)
			free(p);
	}

	size_t huge[] = {SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1,
	                 (size_t)1 << 50};
	size_t aligns[] = {8, 64, 4096, 2 * MiB};
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		for (size_t j = 0; j < sizeof aligns / sizeof aligns[0]; j++) {
			void *p = sentinel;
			int r = posix_memalign_v(&p, aligns[j], huge[i]);
			CHECK(r == ENOMEM, "posix_memalign(&p, %zu, %zu) returned %d, want ENOMEM",
			      aligns[j], huge[i], r);
			CHECK(p == sentinel, "posix_memalign(&p, %zu, %zu) changed *memptr to %p",
			      aligns[j], huge[i], p);
			if (r == 0)
				free(p);
		}
	}
}

static void test_posix_memalign(void)
{
	for (size_t a = 8; a <= 16 * MiB; a <<= 1) {
		for (size_t i = 0; i < NSIZES; i++) {
			void *p = NULL;
			int r = posix_memalign(&p, a, sizes[i]);
			CHECK(r == 0, "posix_memalign(&p, %zu, %zu) returned %d", a, sizes[i], r);
			if (r != 0)
				continue;
			CHECK(p != NULL, "posix_memalign(&p, %zu, %zu) gave NULL", a, sizes[i]);
			CHECK(aligned(p, a < 16 ? 16 : a),
			      "posix_memalign(&p, %zu, %zu) = %p misaligned", a, sizes[i], p);
			touch(p, sizes[i]);
			free(p);
		}
	}
	/* Several 16 MiB-aligned huge blocks live together. */
	void *q[4];
	for (int k = 0; k < 4; k++) {
		int r = posix_memalign(&q[k], 16 * MiB, 5 * MiB);
		CHECK(r == 0 && aligned(q[k], 16 * MiB), "posix_memalign(16 MiB, 5 MiB) #%d: %d %p",
		      k, r, r ? NULL : q[k]);
		if (r)
			q[k] = NULL;
		else
			memset(q[k], k, 5 * MiB);
	}
	for (int k = 0; k < 4; k++) {
		if (!q[k])
			continue;
		unsigned char *b = q[k];
		CHECK(b[0] == k && b[5 * MiB - 1] == k, "16 MiB-aligned block %d overwritten", k);
		free(q[k]);
	}
}

static void test_valloc(void)
{
	size_t vs[] = {1, 100, page - 1, page, page + 1, 5 * page + 3, 100000, MiB, 3 * MiB};

	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		void *p = valloc(vs[i]);
		CHECK(p != NULL, "valloc(%zu) returned NULL", vs[i]);
		if (!p)
			continue;
		CHECK(aligned(p, page), "valloc(%zu) = %p, not page aligned", vs[i], p);
		touch(p, vs[i]);
		free(p);
	}
}

static void test_pvalloc(void)
{
	size_t vs[] = {1, 100, page - 1, page, page + 1, 5 * page + 3, 100000, MiB, 3 * MiB + 1};

	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		size_t rounded = (vs[i] + page - 1) / page * page;
		unsigned char *p = pvalloc(vs[i]);
		CHECK(p != NULL, "pvalloc(%zu) returned NULL", vs[i]);
		if (!p)
			continue;
		CHECK(aligned(p, page), "pvalloc(%zu) = %p, not page aligned", vs[i], (void *)p);
		CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu < %zu", vs[i],
		      malloc_usable_size(p), rounded);
		/* The whole rounded size is ours. */
		memset(p, 0x42, rounded);
		free(p);
	}
	void *z = pvalloc(0);
	CHECK(z != NULL, "pvalloc(0) returned NULL");
	CHECK(aligned(z, page), "pvalloc(0) = %p, not page aligned", z);
	free(z);
}

/* Size 0 with every alignment from 1 to 1 GiB, through each aligned
 * allocator: a distinct, aligned block each time, writable for a byte,
 * that frees cleanly, also when two of the same alignment are live. */
#define ZERO_PAIRS 2

static void test_zero_size(void)
{
	for (size_t a = 1; a <= 1024 * MiB; a <<= 1) {
		for (int fn = 0; fn < 3; fn++) {
			static const char *const name[] = {"posix_memalign", "aligned_alloc",
			                                   "memalign"};
			void *p[ZERO_PAIRS] = {0};
			for (int i = 0; i < ZERO_PAIRS; i++) {
				errno = 0;
				if (fn == 0) {
					int r = posix_memalign(
					    &p[i], a < sizeof(void *) ? sizeof(void *) : a, 0);
					CHECK(r == 0, "posix_memalign(%zu, 0) returned %d", a, r);
				} else if (fn == 1) {
					p[i] = aligned_alloc_v(a, 0);
				} else {
					p[i] = memalign(a, 0);
				}
				CHECK(p[i] != NULL && aligned(p[i], a),
				      "%s(%zu, 0) = %p (errno %d)", name[fn], a, p[i], errno);
				if (p[i] != NULL)
					*(volatile char *)p[i] = 1;
			}
			CHECK(p[0] != p[1] || p[0] == NULL, "%s(%zu, 0) twice gave %p", name[fn], a,
			      p[0]);
			for (int i = 0; i < ZERO_PAIRS; i++)
				free(p[i]);
		}
	}
	void *p = valloc(0);
	CHECK(p != NULL && aligned(p, page), "valloc(0) = %p", p);
	free(p);
	/* The heap is whole afterwards: blocks of the sizes freed above come
	 * and go as usual. */
	for (size_t a = 8 * KiB; a <= MiB; a <<= 1) {
		void *q = aligned_alloc(a, a);
		CHECK(q != NULL && aligned(q, a), "aligned_alloc(%zu, %zu) = %p", a, a, q);
		if (q != NULL)
			memset(q, 1, a);
		free(q);
	}
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	TEST_CASE("aligned_alloc") test_aligned_alloc();
	TEST_CASE("memalign") test_memalign();
	TEST_CASE("posix_memalign_errors") test_posix_memalign_errors();
	TEST_CASE("posix_memalign") test_posix_memalign();
	TEST_CASE("valloc") test_valloc();
	TEST_CASE("pvalloc") test_pvalloc();
	TEST_CASE("zero_size") test_zero_size();
	return CHECK_DONE();
}
