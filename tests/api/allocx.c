/* SPDX-License-Identifier: MIT */
/* jemalloc's allocation API (<cairn/jemalloc.h>): mallocx with every
 * alignment from 1 B to 64 MiB, with and without MALLOCX_ZERO, across the
 * small, large and huge sizes; nallocx equal to sallocx of a real block;
 * rallocx keeping contents and alignment; xallocx never moving; dallocx and
 * sdallocx freeing; blocks crossing between these and malloc/free; the
 * TCACHE and ARENA flags of live caches and arenas. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <cairn/jemalloc.h>
#include "check.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const size_t sizes[] = {0,      1,      15,      16,    17,      100,         1000,
                               1024,   1025,   4096,    30000, 32768,   32769,       40000,
                               100000, 500000, MiB - 1, MiB,   MiB + 1, 3 * MiB + 7, 8 * MiB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int all_byte(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Every alignment 1 B .. 64 MiB, sizes below and above it, with and
 * without ZERO; blocks of the same request freed dirty first, so that a
 * zeroed block that reuses them must really have been cleared. */
static void test_align_zero(void)
{
	for (int la = 0; la <= 26; la++) {
		size_t align = (size_t)1 << la;
		size_t ns[] = {1, 100, align / 2 + 1, align, align + 1, 40000, MiB + 5};
		for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
			size_t n = ns[k];
			if (n > 96 * MiB)
				continue;
			int fl = MALLOCX_LG_ALIGN(la);
			/* Dirty blocks of the same request, freed. */
			unsigned char *d = mallocx(n, fl);
			REQUIRE(d != NULL, "mallocx(%zu, LG_ALIGN(%d)) failed", n, la);
			memset(d, 0xee, sallocx(d, 0));
			dallocx(d, 0);
			unsigned char *p = mallocx(n, fl | MALLOCX_ZERO);
			REQUIRE(p != NULL, "mallocx(%zu, LG_ALIGN(%d) | ZERO) failed", n, la);
			size_t u = sallocx(p, 0);
			CHECK(((uintptr_t)p & (align - 1)) == 0, "mallocx(%zu, LG_ALIGN(%d)) = %p",
			      n, la, (void *)p);
			CHECK(u >= n, "sallocx = %zu < %zu", u, n);
			CHECK(all_zero(p, u), "mallocx(%zu, LG_ALIGN(%d) | ZERO): not zero", n, la);
			CHECK(nallocx(n, fl | MALLOCX_ZERO) == u,
			      "nallocx(%zu, LG_ALIGN(%d)) %zu != %zu", n, la, nallocx(n, fl), u);
			memset(p, 0xee, u);
			dallocx(p, fl);
			/* MALLOCX_ALIGN gives the same bits. */
			CHECK(MALLOCX_ALIGN(align) == (la == 0 ? 0 : la), "MALLOCX_ALIGN(%zu) = %d",
			      align, MALLOCX_ALIGN(align));
		}
	}
	/* The same with many small zeroed blocks reusing dirty ones. */
	void *v[256];
	for (int i = 0; i < 256; i++) {
		v[i] = mallocx(48, 0);
		memset(v[i], 0xab, 48);
	}
	for (int i = 0; i < 256; i++)
		dallocx(v[i], 0);
	int bad = 0;
	for (int i = 0; i < 256; i++) {
		v[i] = mallocx(48, MALLOCX_ZERO);
		bad += !all_zero(v[i], sallocx(v[i], 0));
	}
	CHECK(bad == 0, "%d of 256 zeroed 48-byte blocks were not zero", bad);
	for (int i = 0; i < 256; i++)
		dallocx(v[i], 0);
}

/* nallocx is the usable size mallocx gives, for many sizes and alignments;
 * it allocates nothing (the next block of the class is the same one). */
static void test_nallocx(void)
{
	int bad = 0;
	for (int la = 0; la <= 22; la++) {
		for (size_t n = 0; n <= 3 * MiB; n = n < 300 ? n + 1 : n + n / 7 + 1) {
			int fl = MALLOCX_LG_ALIGN(la);
			size_t want = nallocx(n, fl);
			void *p = mallocx(n, fl);
			REQUIRE(p != NULL, "mallocx(%zu, LG_ALIGN(%d)) failed", n, la);
			size_t got = sallocx(p, fl);
			if (want != got && bad++ < 10)
				fprintf(stderr, "nallocx(%zu, LG_ALIGN(%d)) = %zu, sallocx %zu\n",
				        n, la, want, got);
			dallocx(p, fl);
		}
	}
	CHECK(bad == 0, "%d sizes where nallocx != sallocx(mallocx())", bad);

	/* nallocx hands out nothing: the counters of blocks handed out and
	 * the bytes in them stay as they were. */
	const char *const names[] = {"allocated", "large_nmalloc", "huge_nmalloc"};
	uint64_t before[3], after[3];
	cairn_stats_refresh();
	for (int i = 0; i < 3; i++)
		REQUIRE(cairn_stats_read(names[i], &before[i]) == 0, "no statistic %s", names[i]);
	for (size_t n = 1; n <= 64 * MiB; n *= 3)
		for (int la = 0; la <= 24; la += 4)
			(void)nallocx(n, MALLOCX_LG_ALIGN(la) | MALLOCX_ZERO);
	cairn_stats_refresh();
	for (int i = 0; i < 3; i++) {
		REQUIRE(cairn_stats_read(names[i], &after[i]) == 0, "no statistic %s", names[i]);
		CHECK(after[i] == before[i], "%s went from %llu to %llu across nallocx calls",
		      names[i], (unsigned long long)before[i], (unsigned long long)after[i]);
	}

	CHECK(nallocx(SIZE_MAX, 0) == 0, "nallocx(SIZE_MAX) = %zu", nallocx(SIZE_MAX, 0));
	CHECK(nallocx((size_t)PTRDIFF_MAX, 0) == 0, "nallocx(PTRDIFF_MAX) != 0");
	CHECK(nallocx(1, MALLOCX_LG_ALIGN(63)) == 0, "nallocx(1, LG_ALIGN(63)) != 0");
	CHECK(nallocx(0, 0) == nallocx(1, 0) && nallocx(0, 0) > 0, "nallocx(0) = %zu",
	      nallocx(0, 0));
}

static void test_overflow(void)
{
	errno = 0;
	CHECK(mallocx(SIZE_MAX, 0) == NULL && errno == ENOMEM, "mallocx(SIZE_MAX)");
	errno = 0;
	CHECK(mallocx(SIZE_MAX - 4096, MALLOCX_ZERO) == NULL && errno == ENOMEM,
	      "mallocx(SIZE_MAX - 4096, ZERO)");
	errno = 0;
	CHECK(mallocx(16, MALLOCX_LG_ALIGN(63)) == NULL && errno == ENOMEM,
	      "mallocx(16, LG_ALIGN(63))");
	void *p = mallocx(100, 0);
	memset(p, 7, 100);
	errno = 0;
	CHECK(rallocx(p, SIZE_MAX, 0) == NULL && errno == ENOMEM, "rallocx(p, SIZE_MAX)");
	CHECK(all_byte(p, 100, 7), "the block changed after a failed rallocx");
	/* size 0: a distinct block of the least size. */
	void *z1 = mallocx(0, 0), *z2 = mallocx(0, 0);
	CHECK(z1 != NULL && z2 != NULL && z1 != z2, "mallocx(0) twice: %p %p", z1, z2);
	CHECK(sallocx(z1, 0) == nallocx(0, 0), "sallocx(mallocx(0)) = %zu", sallocx(z1, 0));
	void *r = rallocx(p, 0, 0);
	CHECK(r != NULL && sallocx(r, 0) == nallocx(0, 0), "rallocx(p, 0) = %p", r);
	dallocx(r, 0);
	dallocx(z1, 0);
	sdallocx(z2, 0, 0);
}

/* rallocx grows and shrinks across the classes, keeping the contents and the
 * alignment asked for; ZERO clears what grew. */
static void test_rallocx(void)
{
	const int las[] = {0, 4, 6, 12, 13, 16, 21};
	for (size_t li = 0; li < sizeof las / sizeof las[0]; li++) {
		int la = las[li];
		size_t align = (size_t)1 << la;
		int fl = MALLOCX_LG_ALIGN(la);
		unsigned char *p = mallocx(10, fl);
		REQUIRE(p != NULL, "mallocx(10)");
		memset(p, 0x11, 10);
		size_t have = 10;
		const size_t steps[] = {100,   5000, 40000, 300000, 2 * MiB + 3, 9 * MiB, 600000,
		                        33000, 2000, 50,    1};
		for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
			size_t n = steps[s];
			size_t old = sallocx(p, 0);
			unsigned char *q = rallocx(p, n, fl | MALLOCX_ZERO);
			REQUIRE(q != NULL, "rallocx(%zu, LG_ALIGN(%d))", n, la);
			size_t keep = have < n ? have : n;
			size_t u = sallocx(q, 0);
			CHECK(all_byte(q, keep, 0x11), "rallocx(%zu, LG_ALIGN(%d)) lost contents",
			      n, la);
			CHECK(((uintptr_t)q & (align - 1)) == 0, "rallocx(%zu, LG_ALIGN(%d)) = %p",
			      n, la, (void *)q);
			CHECK(u >= n, "rallocx(%zu): usable %zu", n, u);
			if (u > old)
				CHECK(all_zero(q + old, u - old),
				      "rallocx(%zu, ZERO) from usable %zu: grown part not zero", n,
				      old);
			memset(q, 0x11, n);
			have = n;
			p = q;
		}
		sdallocx(p, 1, fl);
	}
	/* A block not aligned as asked moves. */
	unsigned char *p = mallocx(64, 0);
	while (((uintptr_t)p & 4095) == 0) {
		void *other = p;
		p = mallocx(64, 0);
		dallocx(other, 0);
	}
	memset(p, 0x22, 64);
	unsigned char *q = rallocx(p, 64, MALLOCX_ALIGN(4096));
	CHECK(q != NULL && ((uintptr_t)q & 4095) == 0 && all_byte(q, 64, 0x22),
	      "rallocx to 4096 alignment: %p", (void *)q);
	dallocx(q, 0);
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Page faults of a copy of n bytes from src into pages never touched: the
 * yardstick for a resize that must not copy (at least n / 2 MiB; under an
 * emulator, which faults for itself too, many more). */
static long copy_faults(const unsigned char *src, size_t n)
{
	void *to = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(to != MAP_FAILED, "mmap(%zu)", n);
	long before = minflt();
	memcpy(to, src, n);
	long faults = minflt() - before;
	munmap(to, n);
	return faults;
}

/* An over-aligned block rallocx resizes without a copy where a plain one
 * would get none: a large run shrinks and grows back in its own pages,
 * aligned to 64 B, to 8 KiB (past a page, in place only) alike; a huge
 * block aligned to 64 B grows as realloc grows one, its pages moved or
 * extended, never copied (it faults an eighth as often as a copy would at
 * most); one aligned past a chunk stays in its mapping. */
static void test_rallocx_in_place(void)
{
	const size_t aligns[] = {64, 8 * KiB};
	for (size_t i = 0; i < 2; i++) {
		int fl = MALLOCX_ALIGN(aligns[i]);
		unsigned char *p = mallocx(200 * KiB, fl);
		REQUIRE(p != NULL, "mallocx(200 KiB, ALIGN(%zu))", aligns[i]);
		memset(p, 0x55, 200 * KiB);
		unsigned char *q = rallocx(p, 80 * KiB, fl);
		CHECK(q == p, "rallocx(ALIGN(%zu)) shrinking a large run moved it", aligns[i]);
		q = rallocx(q, 120 * KiB, fl);
		CHECK(q == p,
		      "rallocx(ALIGN(%zu)) growing a large run into its own freed pages "
		      "moved it",
		      aligns[i]);
		CHECK(q != NULL && all_byte(q, 80 * KiB, 0x55),
		      "rallocx(ALIGN(%zu)) lost the contents", aligns[i]);
		dallocx(q, 0);
	}

	size_t n = 256 * MiB;
	unsigned char *h = mallocx(n, MALLOCX_ALIGN(64));
	REQUIRE(h != NULL, "mallocx(256 MiB, ALIGN(64))");
	for (size_t off = 0; off < n; off += 4096)
		h[off] = (unsigned char)(off >> 12);
	long copy = copy_faults(h, n);
	long before = minflt();
	unsigned char *g = rallocx(h, 4 * n, MALLOCX_ALIGN(64));
	long faults = minflt() - before;
	REQUIRE(g != NULL, "rallocx(1 GiB, ALIGN(64))");
	CHECK(copy >= 128 && faults < copy / 8,
	      "rallocx(ALIGN(64)) of a 256 MiB block to 1 GiB: %ld page faults, a copy %ld", faults,
	      copy);
	int same = 1;
	for (size_t off = 0; off < n; off += 4096)
		same &= g[off] == (unsigned char)(off >> 12);
	CHECK(same && ((uintptr_t)g & 63) == 0, "rallocx(ALIGN(64)) to 1 GiB: %p, contents %s",
	      (void *)g, same ? "kept" : "lost");
	dallocx(g, 0);

	int fl = MALLOCX_ALIGN(4 * MiB);
	unsigned char *c = mallocx(6 * MiB, fl);
	REQUIRE(c != NULL, "mallocx(6 MiB, ALIGN(4 MiB))");
	memset(c, 0x66, 6 * MiB);
	/* To half its size (kept without a resize only above half), then
	 * back into the 2 MiB slot the shrink left mapped. */
	unsigned char *d = rallocx(c, 3 * MiB, fl);
	CHECK(d == c, "rallocx(ALIGN(4 MiB)) shrinking a huge block moved it");
	d = rallocx(d, 4 * MiB, fl);
	CHECK(d == c && all_byte(d, 3 * MiB, 0x66),
	      "rallocx(ALIGN(4 MiB)) growing a huge block within its mapping moved it");
	dallocx(d, 0);
}

/* xallocx never moves and says the usable size; it grows a large run into
 * free pages after it, a huge block within its mapping, and shrinks both. */
static void test_xallocx(void)
{
	unsigned char *s = mallocx(100, 0);
	size_t su = sallocx(s, 0);
	CHECK(xallocx(s, 5000, 0, 0) == su, "xallocx of a small block to 5000");
	CHECK(xallocx(s, 10, 0, 0) == su, "xallocx of a small block to 10");
	CHECK(xallocx(s, 100, 50, 0) == su, "xallocx of a small block in its size");
	dallocx(s, 0);

	/* A large run with free pages after it: a fresh 1 MiB block split. */
	unsigned char *big = mallocx(MiB, 0);
	unsigned char *l = mallocx(96 * KiB, 0);
	dallocx(big, 0);
	memset(l, 0x33, 96 * KiB);
	size_t before = sallocx(l, 0);
	size_t r = xallocx(l, 150 * KiB, 0, MALLOCX_ZERO);
	CHECK(r == sallocx(l, 0), "xallocx = %zu, sallocx %zu", r, sallocx(l, 0));
	CHECK(r == before || r >= 150 * KiB, "xallocx to 150 KiB gave %zu", r);
	CHECK(all_byte(l, 96 * KiB, 0x33), "xallocx changed the contents");
	if (r > before)
		CHECK(all_zero(l + before, r - before), "xallocx(ZERO): grown part not zero");
	size_t r2 = xallocx(l, 88 * KiB, 0, 0);
	CHECK(r2 == nallocx(88 * KiB, 0) && r2 == sallocx(l, 0), "xallocx shrink to 88 KiB: %zu",
	      r2);
	size_t r3 = xallocx(l, 90 * KiB, 100 * KiB, 0);
	CHECK(r3 >= 90 * KiB && r3 <= nallocx(190 * KiB, 0) && r3 == sallocx(l, 0),
	      "xallocx(90 KiB + 100 KiB extra) = %zu", r3);
	CHECK(xallocx(l, 2 * MiB, 0, 0) == r3, "xallocx of a large run to 2 MiB moved it");
	CHECK(all_byte(l, 88 * KiB, 0x33), "xallocx changed the contents");
	sdallocx(l, r3, 0);

	/* An over-aligned block rallocx keeps while it shrinks by less than
	 * half is freed with the size it was last given (large and huge). */
	size_t kept[][2] = {{100000, 90000}, {3 * MiB, 2 * MiB}};
	for (int i = 0; i < 2; i++) {
		unsigned char *a = mallocx(kept[i][0], MALLOCX_ALIGN(32));
		unsigned char *k = a ? rallocx(a, kept[i][1], MALLOCX_ALIGN(32)) : NULL;
		CHECK(k != NULL && ((uintptr_t)k & 31) == 0, "rallocx(ALIGN(32)) of %zu to %zu",
		      kept[i][0], kept[i][1]);
		if (k != NULL)
			sdallocx(k, kept[i][1], MALLOCX_ALIGN(32));
	}

	/* A huge block: shrinks within its mapping, grows back in it. */
	unsigned char *h = mallocx(8 * MiB, 0);
	memset(h, 0x44, 8 * MiB);
	size_t hs = xallocx(h, 3 * MiB, 0, 0);
	CHECK(hs == 3 * MiB && sallocx(h, 0) == hs, "xallocx huge shrink to 3 MiB: %zu", hs);
	size_t hg = xallocx(h, 3 * MiB, MiB, MALLOCX_ZERO);
	CHECK(hg >= 3 * MiB && hg <= 4 * MiB && sallocx(h, 0) == hg, "xallocx huge regrow: %zu",
	      hg);
	CHECK(all_byte(h, 3 * MiB, 0x44), "xallocx huge changed the contents");
	CHECK(all_zero(h + 3 * MiB, hg - 3 * MiB), "xallocx huge (ZERO): grown part not zero");
	size_t hbig = xallocx(h, 512 * MiB, 0, 0);
	CHECK(hbig == hg, "xallocx huge beyond its mapping: %zu, want %zu", hbig, hg);
	/* An alignment the block lacks: unchanged. */
	CHECK(xallocx(h + 0, 5 * MiB, 0, MALLOCX_LG_ALIGN(30)) == hg ||
	          ((uintptr_t)h & ((1u << 30) - 1)) == 0,
	      "xallocx with an alignment the block lacks");
	dallocx(h, 0);
}

/* Whether a block at p of n bytes comes back within the next allocations
 * of that size (a freed small block waits in its slab's local list until
 * the thread's bin runs dry). */
static int comes_back(void *p, size_t n)
{
	enum { MAX = 4096 };
	static void *held[MAX];
	int i, found = 0;
	for (i = 0; i < MAX && !found; i++) {
		held[i] = mallocx(n, 0);
		found = held[i] == p;
	}
	while (i-- > 0)
		dallocx(held[i], 0);
	return found;
}

/* dallocx and sdallocx free: the block comes back; malloc'd blocks go to
 * dallocx and mallocx'd ones to free. */
static void test_free(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		int reuse = n <= 100 * KiB;
		void *p = mallocx(n, 0);
		REQUIRE(p != NULL, "mallocx(%zu)", n);
		dallocx(p, 0);
		if (reuse)
			CHECK(comes_back(p, n), "after dallocx, mallocx(%zu) never gave %p back", n,
			      p);
		void *q = mallocx(n, 0);
		sdallocx(q, n, 0);
		if (reuse)
			CHECK(comes_back(q, n), "after sdallocx, mallocx(%zu) never gave %p back",
			      n, q);
		void *r = mallocx(n, 0);
		/* The usable size is a size the block may be given back with. */
		sdallocx(r, sallocx(r, 0), 0);

		void *m = malloc(n);
		REQUIRE(m != NULL, "malloc(%zu)", n);
		CHECK(sallocx(m, 0) == malloc_usable_size(m), "sallocx(malloc(%zu))", n);
		dallocx(m, 0);
		if (reuse)
			CHECK(comes_back(m, n), "dallocx(malloc(%zu)): never given back", n);
		void *m2 = malloc(n);
		sdallocx(m2, n, 0);
		void *x = mallocx(n, MALLOCX_ZERO);
		free(x);
		if (reuse)
			CHECK(comes_back(x, n), "free(mallocx(%zu)): never given back", n);
		void *y = mallocx(n, MALLOCX_LG_ALIGN(12));
		free(y);
	}
	/* realloc'd blocks, kept larger than their class, take their size. */
	void *p = malloc(1000);
	p = realloc(p, 600);
	sdallocx(p, 600, 0);
	p = malloc(100 * KiB);
	p = realloc(p, 200000);
	sdallocx(p, 200000, 0);
	p = mallocx(5000, MALLOCX_ALIGN(64));
	sdallocx(p, 5000, MALLOCX_ALIGN(64));
	dallocx(NULL, 0);
	sdallocx(NULL, 10, 0);
	CHECK(1, "realloc'd blocks given back with their size");
}

/* With the thread-cache and arena bits of live caches and arenas, sizes,
 * alignment and zeroing are as without them (tests/api/arenas.c checks
 * where the blocks go). */
static void test_tcache_arena(void)
{
	unsigned tc = 0, arena = 0;
	size_t len = sizeof tc;
	REQUIRE(mallctl("tcache.create", &tc, &len, NULL, 0) == 0, "tcache.create");
	REQUIRE(mallctl("arenas.create", &arena, &len, NULL, 0) == 0, "arenas.create");
	const int extra[] = {MALLOCX_TCACHE_NONE,
	                     MALLOCX_TCACHE(tc),
	                     MALLOCX_ARENA(0),
	                     MALLOCX_ARENA(arena),
	                     MALLOCX_ARENA(0) | MALLOCX_TCACHE_NONE,
	                     MALLOCX_ARENA(arena) | MALLOCX_TCACHE(tc)};
	CHECK(MALLOCX_TCACHE_NONE == (1 << 8) && MALLOCX_ARENA(0) == (1 << 20) &&
	          MALLOCX_ZERO == 0x40,
	      "flag bits differ from jemalloc's");
	for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++) {
		for (size_t i = 0; i < NSIZES; i++) {
			size_t n = sizes[i];
			int fl = extra[e] | MALLOCX_ALIGN(64) | MALLOCX_ZERO;
			unsigned char *p = mallocx(n, fl);
			REQUIRE(p != NULL, "mallocx(%zu, %#x)", n, fl);
			CHECK(((uintptr_t)p & 63) == 0 && all_zero(p, n) &&
			          sallocx(p, fl) == nallocx(n, fl) &&
			          nallocx(n, fl) == nallocx(n, MALLOCX_ALIGN(64)),
			      "mallocx(%zu, %#x)", n, fl);
			p = rallocx(p, n + 10, fl);
			CHECK(p != NULL && xallocx(p, n + 10, 0, fl) == sallocx(p, fl),
			      "rallocx, xallocx with %#x", fl);
			sdallocx(p, n + 10, fl);
		}
	}
	CHECK(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == 0, "tcache.destroy");
	CHECK(mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0, "purge");
}

int main(void)
{
	TEST_CASE("align_zero") test_align_zero();
	TEST_CASE("nallocx") test_nallocx();
	TEST_CASE("overflow") test_overflow();
	TEST_CASE("rallocx") test_rallocx();
	TEST_CASE("rallocx_in_place") test_rallocx_in_place();
	TEST_CASE("xallocx") test_xallocx();
	TEST_CASE("free") test_free();
	TEST_CASE("tcache_arena") test_tcache_arena();
	return CHECK_DONE();
}
