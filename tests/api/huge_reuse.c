/* SPDX-License-Identifier: MIT */
/* huge_reuse.c: freed huge blocks are reused page for page.
 *
 * The test re-executes itself (/proc/self/exe --child) with MALLOC_CONF=dirty_decay_ms:-1, so
 * that nothing decays while it runs whatever the caller's options. Each case (named as below;
 * the child runs them) starts from an empty huge cache (malloc_trim(0)). Page faults are counted
 * with getrusage (ru_minflt) around a loop that writes one byte in every page of a block:
 *   - assembly: three 8 MiB blocks, written and freed, give their pages to one 24 MiB block:
 *     writing it all faults in under 10% of its pages, RSS grows by under 4 MiB, and a
 *     pattern written into every page reads back;
 *   - an assembled block grown by realloc to 40 MiB keeps its contents and its new part is
 *     writable; shrunk to 10 MiB it keeps the first 10 MiB;
 *   - splitting: a 64 MiB block freed, then malloc(4 MiB) returns the same address with
 *     under 10% of its pages faulted in; grown by realloc to 48 MiB it stays where it is
 *     (it takes the freed pages after it), keeps its first 4 MiB, and writing all 48 MiB
 *     faults in under 10% of them;
 *   - calloc from the cache reads as zeros: a 16 MiB block filled with 0xab and freed, then
 *     calloc(16 MiB); two 8 MiB blocks filled and freed, then calloc(20 MiB) built from them;
 *   - realloc growth: with nothing cached, a 64 KiB block grown by doubling to 8 MiB stays
 *     in an arena up to 1 MiB, is in a mapping of its own (on a 2 MiB boundary) from 2 MiB
 *     on, and keeps its contents; a second one takes the first one's cached mapping from
 *     128 KiB on, faulting in no more than one 2 MiB slot; shrunk by less than half it stays
 *     where it is, to 512 KiB it moves back to an arena; taking the head of a cached 64 MiB
 *     mapping for 128 KiB gives back the slot's pages past 256 KiB and the 64 KiB run it
 *     left; with 2048 huge blocks live realloc moves no block under 1 MiB into the
 *     cache, with 2047 it does;
 *   - churn: 2000 steps over 24 slots, each a random malloc, calloc, realloc (grow or
 *     shrink) or free of 64 KiB to 24 MiB, every block carrying a pattern of its own in a byte
 *     of every page, checked before each free or realloc and at the end; the number of
 *     lines in /proc/self/maps stays under 16 per live block plus a margin. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "child.h"
#include "proc.h"
#include "rng.h"

#define KiB  ((size_t)1 << 10)
#define MiB  ((size_t)1 << 20)
#define PAGE 4096

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Writes byte (page index ^ salt) into the first byte of every page; returns the page
 * faults that took. */
static long write_pages(unsigned char *p, size_t size, unsigned salt)
{
	long before = minflt();
	for (size_t off = 0; off < size; off += PAGE)
		p[off] = (unsigned char)((off / PAGE) ^ salt);
	return minflt() - before;
}

static size_t bad_pages(const unsigned char *p, size_t size, unsigned salt)
{
	size_t bad = 0;
	for (size_t off = 0; off < size; off += PAGE)
		bad += p[off] != (unsigned char)((off / PAGE) ^ salt);
	return bad;
}

static void assembly(void)
{
	malloc_trim(0);
	unsigned char *a[3];
	for (int i = 0; i < 3; i++) {
		a[i] = malloc(8 * MiB);
		REQUIRE(a[i] != NULL, "malloc(8 MiB)");
		write_pages(a[i], 8 * MiB, 1);
	}
	for (int i = 0; i < 3; i++)
		free(a[i]);
	size_t rss = rss_bytes();
	unsigned char *p = malloc(24 * MiB);
	REQUIRE(p != NULL, "malloc(24 MiB)");
	long faults = write_pages(p, 24 * MiB, 7);
	CHECK(faults < (long)(24 * MiB / PAGE / 10),
	      "24 MiB from three freed 8 MiB blocks: %ld faults", faults);
	CHECK(rss_bytes() < rss + 4 * MiB, "RSS grew from %zu to %zu", rss, rss_bytes());
	CHECK(bad_pages(p, 24 * MiB, 7) == 0, "assembled block lost its pattern");

	p = realloc(p, 40 * MiB);
	REQUIRE(p != NULL, "realloc(24 MiB -> 40 MiB)");
	CHECK(bad_pages(p, 24 * MiB, 7) == 0, "realloc to 40 MiB lost the first 24 MiB");
	write_pages(p + 24 * MiB, 16 * MiB, 9);
	CHECK(bad_pages(p + 24 * MiB, 16 * MiB, 9) == 0, "the grown part did not keep its pattern");
	p = realloc(p, 10 * MiB);
	REQUIRE(p != NULL, "realloc(40 MiB -> 10 MiB)");
	CHECK(bad_pages(p, 10 * MiB, 7) == 0, "realloc to 10 MiB lost the first 10 MiB");
	free(p);
}

static void splitting(void)
{
	malloc_trim(0);
	unsigned char *big = malloc(64 * MiB);
	REQUIRE(big != NULL, "malloc(64 MiB)");
	write_pages(big, 64 * MiB, 3);
	free(big);
	unsigned char *p = malloc(4 * MiB);
	REQUIRE(p != NULL, "malloc(4 MiB)");
	CHECK(p == big, "malloc(4 MiB) after a freed 64 MiB block: %p, not %p", (void *)p,
	      (void *)big);
	long faults = write_pages(p, 4 * MiB, 5);
	CHECK(faults < (long)(4 * MiB / PAGE / 10), "4 MiB split from 64 MiB: %ld faults", faults);
	unsigned char *q = realloc(p, 48 * MiB);
	REQUIRE(q != NULL, "realloc(4 MiB -> 48 MiB)");
	CHECK(q == p, "realloc to 48 MiB moved the block from %p to %p", (void *)p, (void *)q);
	CHECK(bad_pages(q, 4 * MiB, 5) == 0, "realloc to 48 MiB lost the first 4 MiB");
	faults = write_pages(q, 48 * MiB, 6);
	CHECK(faults < (long)(48 * MiB / PAGE / 10), "48 MiB grown over freed pages: %ld faults",
	      faults);
	CHECK(bad_pages(q, 48 * MiB, 6) == 0, "48 MiB block lost its pattern");
	free(q);
}

static size_t nonzero(const unsigned char *p, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < size; i++)
		n += p[i] != 0;
	return n;
}

static void zeroing(void)
{
	malloc_trim(0);
	unsigned char *p = malloc(16 * MiB);
	REQUIRE(p != NULL, "malloc(16 MiB)");
	memset(p, 0xab, 16 * MiB);
	free(p);
	p = calloc(1, 16 * MiB);
	REQUIRE(p != NULL, "calloc(16 MiB)");
	CHECK(nonzero(p, 16 * MiB) == 0, "calloc(16 MiB) from the cache is not all zeros");
	free(p);

	malloc_trim(0);
	unsigned char *a = malloc(8 * MiB), *b = malloc(8 * MiB);
	REQUIRE(a && b, "malloc(8 MiB)");
	memset(a, 0xcd, 8 * MiB);
	memset(b, 0xef, 8 * MiB);
	free(a);
	free(b);
	p = calloc(20, MiB);
	REQUIRE(p != NULL, "calloc(20, 1 MiB)");
	CHECK(nonzero(p, 20 * MiB) == 0, "calloc(20 MiB) built from two blocks is not all zeros");
	free(p);
}

static int own_mapping(const void *p)
{
	return (uintptr_t)p % (2 * MiB) == 0;
}

/* Grows p (cap bytes, pages patterned with salt) by doubling to max, writing the pattern
 * into each new half, and checks that from huge_from bytes on the block is in a mapping of
 * its own; returns the block, with the pages that lost their pattern added to *bad and the
 * page faults taken by the writes to *faults. */
static unsigned char *grow_by_doubling(unsigned char *p, size_t cap, size_t max, size_t huge_from,
                                       unsigned salt, size_t *bad, long *faults)
{
	for (; cap < max; cap *= 2) {
		p = realloc(p, 2 * cap);
		REQUIRE(p != NULL, "realloc(%zu)", 2 * cap);
		CHECK(cap * 2 < huge_from || own_mapping(p),
		      "a block grown by realloc to %zu KiB is at %p, not in a mapping of its own",
		      cap * 2 / KiB, (void *)p);
		*bad += bad_pages(p, cap, salt);
		long before = minflt();
		for (size_t off = cap; off < 2 * cap; off += PAGE)
			p[off] = (unsigned char)((off / PAGE) ^ salt);
		*faults += minflt() - before;
	}
	return p;
}

static void realloc_growth(void)
{
	malloc_trim(0);
	size_t bad = 0;
	long faults = 0;
	/* With nothing cached, a vector grows in an arena up to 1 MiB and then in a mapping
	 * of its own. */
	unsigned char *p = malloc(64 * KiB);
	REQUIRE(p != NULL, "malloc(64 KiB)");
	write_pages(p, 64 * KiB, 1);
	unsigned char *q = realloc(p, 128 * KiB);
	REQUIRE(q != NULL, "realloc to 128 KiB");
	CHECK(!own_mapping(q), "with nothing cached, a block grown to 128 KiB left the arena");
	bad += bad_pages(q, 64 * KiB, 1);
	for (size_t off = 64 * KiB; off < 128 * KiB; off += PAGE)
		q[off] = (unsigned char)((off / PAGE) ^ 1);
	p = grow_by_doubling(q, 128 * KiB, 8 * MiB, 2 * MiB, 1, &bad, &faults);
	bad += bad_pages(p, 8 * MiB, 1);
	unsigned char *first = p;
	free(p);

	/* A second vector grows into the first one's cached mapping from 128 KiB on. It
	 * splits off the first 2 MiB slot, which keeps 256 KiB resident: it faults in the rest
	 * of that slot again, and nothing beyond. */
	faults = 0;
	p = malloc(64 * KiB);
	REQUIRE(p != NULL, "malloc(64 KiB)");
	write_pages(p, 64 * KiB, 2);
	p = grow_by_doubling(p, 64 * KiB, 8 * MiB, 128 * KiB, 2, &bad, &faults);
	CHECK(p == first, "the second vector is at %p, not in the first one's mapping %p",
	      (void *)p, (void *)first);
	CHECK(faults <= (long)(2 * MiB / PAGE),
	      "growing a second vector to 8 MiB faulted in %ld pages", faults);

	/* Shrinking: by less than half a huge block stays where it is; under 1 MiB and by
	 * half it moves to an arena, with its contents. */
	q = realloc(p, 6 * MiB);
	CHECK(q == p, "8 MiB to 6 MiB moved the block");
	p = realloc(q, 512 * KiB);
	REQUIRE(p != NULL, "realloc to 512 KiB");
	CHECK(!own_mapping(p), "a block shrunk from 6 MiB to 512 KiB stayed in its mapping");
	bad += bad_pages(p, 512 * KiB, 2);
	free(p);
	CHECK(bad == 0, "realloc growth: %zu pages lost their pattern", bad);

	/* A block under 2 MiB that takes the head of a long cached mapping keeps no more than
	 * twice its size of the slot resident; the arena run it leaves is purged. */
	malloc_trim(0);
	unsigned char *big = malloc(64 * MiB);
	REQUIRE(big != NULL, "malloc(64 MiB)");
	write_pages(big, 64 * MiB, 3);
	free(big);
	p = malloc(80 * KiB); /* the least large class: a run, not a slab block */
	REQUIRE(p != NULL, "malloc(80 KiB)");
	write_pages(p, 80 * KiB, 4);
	size_t rss = rss_bytes();
	q = realloc(p, 128 * KiB);
	REQUIRE(q != NULL, "realloc to 128 KiB");
	size_t after = rss_bytes();
	CHECK(q == big, "the grown block is at %p, not at the head of the cached mapping %p",
	      (void *)q, (void *)big);
	/* 1792 KiB of the slot, and the 80 KiB run: at least 1824 KiB. */
	CHECK(rss >= after + 1824 * KiB,
	      "taking a 2 MiB slot for 128 KiB: RSS went from %zu to %zu KiB", rss / KiB,
	      after / KiB);
	CHECK(bad_pages(q, 80 * KiB, 4) == 0, "the block lost its contents moving");

	/* With 2048 huge blocks live (MANY_BLOCKS in huge.c), realloc leaves blocks under
	 * 1 MiB in the arenas, cached pages or not: each huge block costs a VMA. */
	enum { N = 2048 };
	static unsigned char *v[N];
	malloc_trim(0);
	for (int i = 0; i < N - 1; i++) { /* with q, 2048; the smallest huge blocks there are */
		v[i] = aligned_alloc(2 * MiB, PAGE);
		REQUIRE(v[i] != NULL, "aligned_alloc(2 MiB, 4 KiB)");
	}
	big = malloc(64 * MiB);
	REQUIRE(big != NULL, "malloc(64 MiB)");
	write_pages(big, 64 * MiB, 5);
	free(big);
	p = malloc(100);
	REQUIRE(p != NULL, "malloc(100)");
	memset(p, 7, 100);
	p = realloc(p, 128 * KiB);
	REQUIRE(p != NULL, "realloc(128 KiB)");
	CHECK(!own_mapping(p), "with 2048 huge blocks live, a block grown to 128 KiB was moved");
	CHECK(p[0] == 7 && p[99] == 7, "the block lost its contents");
	free(v[0]);
	unsigned char *r = malloc(100);
	REQUIRE(r != NULL, "malloc(100)");
	r = realloc(r, 128 * KiB);
	REQUIRE(r != NULL, "realloc(128 KiB)");
	CHECK(own_mapping(r), "with 2047 huge blocks live, a block grown to 128 KiB was not moved");
	for (int i = 1; i < N - 1; i++)
		free(v[i]);
	free(p);
	free(r);
	free(q);
	malloc_trim(0);
}

static int maps_lines(void)
{
	static char buf[1 << 20];
	if (read_proc("/proc/self/maps", buf, sizeof buf) <= 0)
		return -1;
	int n = 0;
	for (char *c = buf; *c; c++)
		n += *c == '\n';
	return n;
}

static void churn(void)
{
	enum { SLOTS = 24, STEPS = 2000 };
	struct {
		unsigned char *p;
		size_t size;
		unsigned salt;
	} s[SLOTS] = {{0}};
	size_t bad = 0;
	int live = 0, most_maps = 0;
	int base = maps_lines();
	uint64_t rng = 0x9e3779b97f4a7c15u;
	for (int step = 0; step < STEPS; step++) {
		int k = (int)(rng_next(&rng) % SLOTS);
		size_t size = 64 * KiB + (size_t)(rng_next(&rng) % (24 * MiB));
		unsigned salt = (unsigned)step;
		int op = (int)(rng_next(&rng) % 4);
		if (s[k].p != NULL)
			bad += bad_pages(s[k].p, s[k].size, s[k].salt);
		if (s[k].p != NULL && op == 0) {
			free(s[k].p);
			s[k].p = NULL;
			live--;
			continue;
		}
		if (s[k].p != NULL && op == 1) {
			unsigned char *q = realloc(s[k].p, size);
			REQUIRE(q != NULL, "realloc(%zu)", size);
			size_t kept = size < s[k].size ? size : s[k].size;
			bad += bad_pages(q, kept, s[k].salt);
			s[k].p = q;
		} else {
			if (s[k].p != NULL) {
				free(s[k].p);
				live--;
			}
			s[k].p = op == 2 ? calloc(1, size) : malloc(size);
			REQUIRE(s[k].p != NULL, "allocating %zu", size);
			if (op == 2)
				bad += nonzero(s[k].p, size) != 0;
			live++;
		}
		s[k].size = size;
		s[k].salt = salt;
		write_pages(s[k].p, size, salt);
		int m = maps_lines() - base;
		if (m > most_maps)
			most_maps = m;
		CHECK(m <= 16 * live + 64, "step %d: %d more maps lines for %d live blocks", step,
		      m, live);
	}
	for (int k = 0; k < SLOTS; k++) {
		if (s[k].p != NULL) {
			bad += bad_pages(s[k].p, s[k].size, s[k].salt);
			free(s[k].p);
		}
	}
	CHECK(bad == 0, "churn: %zu pages lost their pattern", bad);
	fprintf(stderr, "churn: at most %d more maps lines than at the start\n", most_maps);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0) {
		TEST_CASE("assembly") assembly();
		TEST_CASE("splitting") splitting();
		TEST_CASE("zeroing") zeroing();
		TEST_CASE("realloc_growth") realloc_growth();
		TEST_CASE("churn") churn();
		return CHECK_DONE();
	}
	struct child_opts opts = {
	    .name = "huge_reuse", .args = {"--child"}, .conf = "dirty_decay_ms:-1", .timeout = 120};
	static char out[16384];
	int st = child_run(&opts, out, sizeof out, NULL);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "child");
	return CHECK_DONE();
}
