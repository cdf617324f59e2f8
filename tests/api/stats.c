/* SPDX-License-Identifier: MIT */
/* stats.c: the statistics read API (cairn_stats_refresh, cairn_stats_read).
 *
 * Runs with dirty_decay_ms:-1 and no purging thread (malloc_conf below), so
 * that nothing is purged but by the calls under test. Checks:
 *   - every name of src/core/stats.def, and bins.<class>.<name> for every
 *     class and per-class name, reads with 0; unknown names give ENOENT,
 *     NULL arguments EINVAL; the epoch counts the snapshots;
 *   - after every step: allocated <= active <= resident, active <= mapped,
 *     and per class ndalloc + curregs == nmalloc;
 *   - 20000 blocks of 100 bytes: the class's curregs grows by 20000 and
 *     allocated by at least their bytes; nrequests by at least 20000 less
 *     one slab; freed, curregs falls back by 20000;
 *   - 16 large blocks of 200 KiB: large_curruns and large_nmalloc grow by
 *     16, allocated by at least 16 * 200 KiB; freed, large_ndalloc by 16;
 *   - a huge block of 24 MiB: huge_curblocks and huge_nmalloc by 1,
 *     allocated and mapped by at least 24 MiB; freed, huge_ndalloc by 1 and
 *     it is cached (huge_cached at least 24 MiB) until cairn_purge(-1),
 *     which, with large runs freed too, also counts in npurge and purged and
 *     leaves no dirty page;
 *   - blocks a thread keeps past its exit still count as in use. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "check.h"

const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,background_thread:false";

#define NSMALL 44 /* the small classes (SC_NSMALL) */

static const char *const names[] = {
#define TOTAL(name, doc)  #name,
#define GLOBAL(name, doc) #name,
#define ARENA(name, doc)  #name,
#include "../src/core/stats.def"
};

static const char *const bin_names[] = {
#define CLASS(name, doc)       #name,
#define CLASS_TOTAL(name, doc) #name,
#include "../src/core/stats.def"
};

static uint64_t get(const char *name)
{
	uint64_t v = 0;
	int rc = cairn_stats_read(name, &v);
	CHECK(rc == 0, "%s: rc %d", name, rc);
	return v;
}

static uint64_t bin(unsigned c, const char *what)
{
	char name[64];
	snprintf(name, sizeof name, "bins.%u.%s", c, what);
	return get(name);
}

/* The class of blocks of n bytes: the first whose size is at least n. */
static unsigned class_of(size_t n)
{
	for (unsigned c = 0; c < NSMALL; c++)
		if (bin(c, "size") >= n)
			return c;
	return NSMALL;
}

static void invariants(const char *when)
{
	uint64_t allocated = get("allocated"), active = get("active");
	uint64_t resident = get("resident"), mapped = get("mapped");
	CHECK(allocated <= active, "%s: allocated %llu > active %llu", when,
	      (unsigned long long)allocated, (unsigned long long)active);
	CHECK(active <= resident, "%s: active %llu > resident %llu", when,
	      (unsigned long long)active, (unsigned long long)resident);
	CHECK(active <= mapped, "%s: active %llu > mapped %llu", when, (unsigned long long)active,
	      (unsigned long long)mapped);
	for (unsigned c = 0; c < NSMALL; c++) {
		uint64_t nmalloc = bin(c, "nmalloc"), ndalloc = bin(c, "ndalloc");
		uint64_t curregs = bin(c, "curregs");
		CHECK(ndalloc + curregs == nmalloc, "%s: class %u: %llu + %llu != %llu", when, c,
		      (unsigned long long)ndalloc, (unsigned long long)curregs,
		      (unsigned long long)nmalloc);
	}
}

static void test_names(void)
{
	uint64_t v;
	uint64_t e1 = cairn_stats_refresh();
	uint64_t e2 = cairn_stats_refresh();
	CHECK(e1 >= 1 && e2 == e1 + 1, "epochs %llu, %llu", (unsigned long long)e1,
	      (unsigned long long)e2);
	CHECK(get("epoch") == e2, "epoch reads %llu", (unsigned long long)get("epoch"));
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		get(names[i]);
	for (unsigned c = 0; c < NSMALL; c++) {
		for (size_t i = 0; i < sizeof bin_names / sizeof bin_names[0]; i++)
			bin(c, bin_names[i]);
		CHECK(c == 0 || bin(c, "size") > bin(c - 1, "size"), "class sizes grow at %u", c);
	}
	const char *bad[] = {"",
	                     "allocate",
	                     "allocatedx",
	                     "bins",
	                     "bins.",
	                     "bins.44.nmalloc",
	                     "bins.1",
	                     "bins.1.",
	                     "bins.1.bogus",
	                     "bins.01.nmalloc",
	                     "bins.x.nmalloc",
	                     "bins.99999999999.nmalloc",
	                     "epoch.",
	                     "stats.allocated"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(cairn_stats_read(bad[i], &v) == ENOENT, "\"%s\" is no statistic", bad[i]);
	CHECK(cairn_stats_read(NULL, &v) == EINVAL, "NULL name");
	CHECK(cairn_stats_read("allocated", NULL) == EINVAL, "NULL value");
	CHECK(get("narenas") >= 1, "narenas");
	CHECK(get("background_threads") == 0, "no purging thread with background_thread:false");
	invariants("start");
}

#define NBLOCKS 20000

static void test_small(void)
{
	unsigned c = class_of(100);
	REQUIRE(c < NSMALL, "a class for 100 bytes");
	uint64_t size = bin(c, "size");
	cairn_stats_refresh();
	uint64_t regs0 = bin(c, "curregs"), req0 = bin(c, "nrequests");
	uint64_t allocated0 = get("allocated");
	void **p = calloc(NBLOCKS, sizeof *p);
	REQUIRE(p != NULL, "array");
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = malloc(100);
		REQUIRE(p[i] != NULL, "malloc(100)");
	}
	cairn_stats_refresh();
	uint64_t regs1 = bin(c, "curregs");
	CHECK(regs1 >= regs0 + NBLOCKS && regs1 <= regs0 + NBLOCKS + 1024,
	      "curregs %llu -> %llu after %d blocks", (unsigned long long)regs0,
	      (unsigned long long)regs1, NBLOCKS);
	CHECK(get("allocated") >= allocated0 + NBLOCKS * size, "allocated grew by %llu",
	      (unsigned long long)(get("allocated") - allocated0));
	CHECK(bin(c, "nrequests") + 1024 >= req0 + NBLOCKS, "nrequests %llu -> %llu",
	      (unsigned long long)req0, (unsigned long long)bin(c, "nrequests"));
	CHECK(bin(c, "nfills") >= NBLOCKS / 1024, "nfills %llu",
	      (unsigned long long)bin(c, "nfills"));
	CHECK(bin(c, "curslabs") >= 1 && bin(c, "nslabs") >= bin(c, "curslabs"), "slabs");
	invariants("20000 blocks");
	for (int i = 0; i < NBLOCKS; i++)
		free(p[i]);
	cairn_stats_refresh();
	uint64_t regs2 = bin(c, "curregs");
	CHECK(regs2 + NBLOCKS == regs1, "curregs %llu -> %llu after freeing them",
	      (unsigned long long)regs1, (unsigned long long)regs2);
	invariants("freed");
	free(p);
}

static void test_large(void)
{
	enum { N = 16, SIZE = 200 << 10 };
	cairn_stats_refresh();
	uint64_t runs0 = get("large_curruns"), n0 = get("large_nmalloc");
	uint64_t d0 = get("large_ndalloc"), allocated0 = get("allocated");
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(SIZE);
		REQUIRE(p[i] != NULL, "malloc(%d)", SIZE);
		memset(p[i], 1, SIZE);
	}
	cairn_stats_refresh();
	CHECK(get("large_curruns") == runs0 + N, "large_curruns %llu -> %llu",
	      (unsigned long long)runs0, (unsigned long long)get("large_curruns"));
	CHECK(get("large_nmalloc") == n0 + N, "large_nmalloc");
	CHECK(get("allocated") >= allocated0 + (uint64_t)N * SIZE, "allocated grew by %llu",
	      (unsigned long long)(get("allocated") - allocated0));
	invariants("large");
	for (int i = 0; i < N; i++)
		free(p[i]);
	cairn_stats_refresh();
	CHECK(get("large_ndalloc") == d0 + N, "large_ndalloc");
	CHECK(get("large_curruns") == runs0, "large_curruns back to %llu",
	      (unsigned long long)runs0);
	CHECK(get("allocated") + (uint64_t)N * SIZE / 2 <= allocated0 + (uint64_t)N * SIZE,
	      "allocated fell");
	invariants("large freed");
}

static void test_huge(void)
{
	const size_t size = 24u << 20;
	cairn_stats_refresh();
	uint64_t blocks0 = get("huge_curblocks"), n0 = get("huge_nmalloc");
	uint64_t d0 = get("huge_ndalloc"), allocated0 = get("allocated"), mapped0 = get("mapped");
	char *p = malloc(size);
	REQUIRE(p != NULL, "malloc(24 MiB)");
	memset(p, 1, size);
	cairn_stats_refresh();
	CHECK(get("huge_curblocks") == blocks0 + 1 && get("huge_nmalloc") == n0 + 1, "huge counts");
	CHECK(get("allocated") >= allocated0 + size, "allocated");
	CHECK(get("mapped") >= mapped0 + size, "mapped");
	invariants("huge");
	free(p);
	cairn_stats_refresh();
	CHECK(get("huge_ndalloc") == d0 + 1 && get("huge_curblocks") == blocks0, "huge freed");
	CHECK(get("huge_cached") >= size, "the freed mapping is cached (%llu)",
	      (unsigned long long)get("huge_cached"));
	/* Dirty pages for the arenas' decay to count: large runs, freed. */
	void *runs[8];
	for (int i = 0; i < 8; i++) {
		runs[i] = malloc(200 << 10);
		REQUIRE(runs[i] != NULL, "malloc(200 KiB)");
		memset(runs[i], 1, 200 << 10);
	}
	for (int i = 0; i < 8; i++)
		free(runs[i]);
	cairn_stats_refresh();
	uint64_t npurge0 = get("npurge"), purged0 = get("purged");
	uint64_t released0 = get("huge_released");
	size_t released = cairn_purge(-1);
	cairn_stats_refresh();
	CHECK(released >= size, "cairn_purge(-1) released %zu", released);
	CHECK(get("huge_cached") == 0 && get("huge_released") >= released0 + size,
	      "the huge cache was given back");
	CHECK(get("npurge") > npurge0 && get("purged") > purged0,
	      "the large runs freed were purged: npurge %llu -> %llu", (unsigned long long)npurge0,
	      (unsigned long long)get("npurge"));
	CHECK(get("dirty") == 0, "no dirty page left (%llu)", (unsigned long long)get("dirty"));
	invariants("purged");
}

#define KEPT 5000

static void *keeper(void *arg)
{
	void **p = arg;
	for (int i = 0; i < KEPT; i++)
		p[i] = malloc(40);
	return NULL;
}

static void test_thread(void)
{
	unsigned c = class_of(40);
	cairn_stats_refresh();
	uint64_t regs0 = bin(c, "curregs"), heaps0 = get("nheaps");
	static void *p[KEPT];
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, keeper, p) == 0, "thread");
	pthread_join(t, NULL);
	cairn_stats_refresh();
	CHECK(bin(c, "curregs") >= regs0 + KEPT, "a parked heap's blocks in use: %llu -> %llu",
	      (unsigned long long)regs0, (unsigned long long)bin(c, "curregs"));
	CHECK(get("nheaps") >= heaps0, "nheaps");
	invariants("thread");
	for (int i = 0; i < KEPT; i++)
		free(p[i]);
	cairn_stats_refresh();
	CHECK(bin(c, "curregs") <= regs0 + 64, "freed from the main thread: %llu",
	      (unsigned long long)bin(c, "curregs"));
	invariants("thread freed");
}

int main(void)
{
	TEST_CASE("names") test_names();
	TEST_CASE("small") test_small();
	TEST_CASE("large") test_large();
	TEST_CASE("huge") test_huge();
	TEST_CASE("thread") test_thread();
	return CHECK_DONE();
}
