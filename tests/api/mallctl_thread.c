/* SPDX-License-Identifier: MIT */
/* mallctl_thread.c: jemalloc's thread.* names. Runs with narenas:2 and
 * dirty_decay_ms:-1, so that nothing is purged unless the test asks.
 * Cases:
 *   small     thread.allocated and thread.deallocated move by exactly the
 *             usable sizes of the small blocks allocated and freed, and
 *             *allocatedp / *deallocatedp equal them after a read;
 *   big       the same for large and huge blocks, and realloc in place;
 *   flags     the same for blocks of every kind mallocx hands out past the
 *             thread's heap (MALLOCX_TCACHE_NONE, MALLOCX_ARENA) and
 *             dallocx frees with the same flags;
 *   remote    frees of another thread's blocks count for the thread that
 *             frees, in both directions, never for the owner;
 *   peak      peak.read follows a burst, keeps it after the burst is freed
 *             (sampled every 1 MiB once peak.* is used), and counts from 0
 *             again after peak.reset;
 *   tcache    tcache.enabled false/true: allocations still counted,
 *             freeable by another thread; tcache.flush EFAULT while off;
 *   arena     thread.arena reads the heap's arena, EFAULT past the last,
 *             and a write moves new large runs (cairn_purge per arena);
 *   idle      thread.idle gives back the thread's cached large runs;
 *   errors    EINVAL for wrong sizes, EPERM for writing read-only names and
 *             reading actions, thread.prof.* as jemalloc with prof:false. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include <cairn/jemalloc.h>
#include "cairn/jemalloc.h"
#include "check.h"

const char *malloc_conf = "narenas:2,dirty_decay_ms:-1,muzzy_decay_ms:0";

static uint64_t rd(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof v;
	int rc = mallctl(name, &v, &len, NULL, 0);
	CHECK(rc == 0 && len == sizeof v, "%s: rc %d", name, rc);
	return v;
}

static uint64_t *rdp(const char *name)
{
	uint64_t *p = NULL;
	size_t len = sizeof p;
	int rc = mallctl(name, &p, &len, NULL, 0);
	CHECK(rc == 0 && p != NULL, "%s: rc %d", name, rc);
	return p;
}

#define NB 1000

static void test_small(void)
{
	static void *p[NB];
	uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
	for (int i = 0; i < NB; i++)
		p[i] = malloc(40 + i % 3 * 8); /* usable 48 or 64 */
	uint64_t want = 0;
	for (int i = 0; i < NB; i++)
		want += malloc_usable_size(p[i]);
	uint64_t a1 = rd("thread.allocated");
	CHECK(a1 - a0 == want, "allocated rose by %llu, the usable sizes are %llu",
	      (unsigned long long)(a1 - a0), (unsigned long long)want);
	uint64_t *ap = rdp("thread.allocatedp"), *dp = rdp("thread.deallocatedp");
	CHECK(*ap == rd("thread.allocated"), "*allocatedp equals thread.allocated after a read");
	for (int i = 0; i < NB; i++)
		free(p[i]);
	uint64_t d1 = rd("thread.deallocated");
	CHECK(d1 - d0 == want, "deallocated rose by %llu, freed %llu",
	      (unsigned long long)(d1 - d0), (unsigned long long)want);
	CHECK(*dp == d1, "*deallocatedp equals thread.deallocated after a read");
	CHECK(rd("thread.allocated") == a1, "freeing allocates nothing");
	/* Between reads the pointers lag at most one refill per class, and
	 * never run ahead. */
	void *q = malloc(24);
	CHECK(*ap <= a1 + 32 && rd("thread.allocated") == a1 + 32, "one more block of 32");
	free(q);
}

static void test_big(void)
{
	size_t sizes[] = {40000, 700000, 3u << 20};
	for (size_t i = 0; i < 3; i++) {
		uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
		void *p = malloc(sizes[i]);
		REQUIRE(p != NULL, "malloc(%zu)", sizes[i]);
		size_t u = malloc_usable_size(p);
		CHECK(rd("thread.allocated") - a0 == u, "%zu: allocated rose by usable %zu",
		      sizes[i], u);
		free(p);
		CHECK(rd("thread.deallocated") - d0 == u, "%zu: deallocated rose by %zu", sizes[i],
		      u);
	}
	/* realloc in place: freed at the old usable size, allocated at the
	 * new one, as in jemalloc. */
	void *p = malloc(5u << 20);
	size_t u0 = malloc_usable_size(p);
	uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
	void *q = realloc(p, 6u << 20);
	REQUIRE(q != NULL, "realloc");
	size_t u1 = malloc_usable_size(q);
	CHECK(rd("thread.allocated") - a0 == u1 && rd("thread.deallocated") - d0 == u0,
	      "realloc of a huge block: +%zu allocated, +%zu deallocated", u1, u0);
	free(q);
}

static void test_flags(void)
{
	const size_t sizes[] = {100, 40000, 200000, 3u << 20};
	unsigned tc = 0;
	size_t sz = sizeof tc;
	REQUIRE(mallctl("tcache.create", &tc, &sz, NULL, 0) == 0, "tcache.create");
	const int flags[] = {MALLOCX_TCACHE_NONE, MALLOCX_ARENA(0), MALLOCX_ARENA(1),
	                     MALLOCX_TCACHE(tc)};
	for (size_t f = 0; f < 4; f++) {
		for (size_t i = 0; i < 4; i++) {
			uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
			void *p = mallocx(sizes[i], flags[f]);
			REQUIRE(p != NULL, "mallocx(%zu, %#x)", sizes[i], flags[f]);
			size_t u = sallocx(p, 0);
			uint64_t a1 = rd("thread.allocated");
			CHECK(a1 - a0 == u, "mallocx(%zu, %#x): allocated rose by %llu, usable %zu",
			      sizes[i], flags[f], (unsigned long long)(a1 - a0), u);
			dallocx(p, flags[f]);
			uint64_t d1 = rd("thread.deallocated");
			CHECK(d1 - d0 == u,
			      "dallocx(%zu, %#x): deallocated rose by %llu, usable %zu", sizes[i],
			      flags[f], (unsigned long long)(d1 - d0), u);
		}
	}
	/* An explicit cache's block freed without it, and a thread's block
	 * freed into one: still the calling thread's bytes. */
	for (size_t i = 0; i < 2; i++) {
		uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
		void *p = i == 0 ? mallocx(sizes[i], MALLOCX_TCACHE(tc)) : malloc(sizes[i]);
		REQUIRE(p != NULL, "block %zu", i);
		size_t u = malloc_usable_size(p);
		if (i == 0)
			free(p);
		else
			dallocx(p, MALLOCX_TCACHE(tc));
		uint64_t a1 = rd("thread.allocated"), d1 = rd("thread.deallocated");
		CHECK(a1 - a0 == u && d1 - d0 == u,
		      "%s: allocated +%llu, deallocated +%llu, usable %zu",
		      i == 0 ? "cache's block freed with free" : "thread's block into a cache",
		      (unsigned long long)(a1 - a0), (unsigned long long)(d1 - d0), u);
	}
	REQUIRE(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == 0, "tcache.destroy");
	/* xallocx, in place: what the thread holds moves by the change of the
	 * usable size (freed at the old one, allocated at the new). */
	const size_t from[] = {100000, 300000, 3u << 20, 5u << 20};
	const size_t to[] = {300000, 100000, 5u << 20, 3u << 20};
	for (size_t i = 0; i < 4; i++) {
		void *p = malloc(from[i]);
		REQUIRE(p != NULL, "malloc(%zu)", from[i]);
		size_t u0 = malloc_usable_size(p);
		uint64_t a0 = rd("thread.allocated"), d0 = rd("thread.deallocated");
		size_t u1 = xallocx(p, to[i], 0, 0);
		uint64_t a1 = rd("thread.allocated"), d1 = rd("thread.deallocated");
		CHECK(u1 == malloc_usable_size(p) && (a1 - a0) - (d1 - d0) == u1 - u0,
		      "xallocx(%zu -> %zu): usable %zu -> %zu, allocated +%llu, deallocated +%llu",
		      from[i], to[i], u0, u1, (unsigned long long)(a1 - a0),
		      (unsigned long long)(d1 - d0));
		CHECK(u1 == u0 || (a1 - a0 == u1 && d1 - d0 == u0),
		      "xallocx(%zu -> %zu) that resized counts old freed, new allocated", from[i],
		      to[i]);
		free(p);
	}
}

struct handoff {
	void **blocks;
	int n;
	uint64_t freed; /* the freeing thread's deallocated delta */
	uint64_t allocated;
};

static void *free_them(void *arg)
{
	struct handoff *h = arg;
	uint64_t d0 = rd("thread.deallocated");
	for (int i = 0; i < h->n; i++)
		free(h->blocks[i]);
	h->freed = rd("thread.deallocated") - d0;
	return NULL;
}

static void *alloc_them(void *arg)
{
	struct handoff *h = arg;
	uint64_t a0 = rd("thread.allocated");
	for (int i = 0; i < h->n; i++)
		h->blocks[i] = malloc(64);
	h->allocated = rd("thread.allocated") - a0;
	return NULL;
}

static void test_remote(void)
{
	static void *blocks[NB];
	struct handoff h = {blocks, NB, 0, 0};
	/* This thread allocates, another frees. */
	uint64_t d0 = rd("thread.deallocated");
	for (int i = 0; i < NB; i++)
		blocks[i] = malloc(64);
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, free_them, &h) == 0, "thread");
	pthread_join(t, NULL);
	CHECK(h.freed == 64 * NB, "the freeing thread counts %llu, freed %d",
	      (unsigned long long)h.freed, 64 * NB);
	/* Take in what the other thread sent (a flush drains the remote
	 * frees), then look: none of it is this thread's. */
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush");
	CHECK(rd("thread.deallocated") == d0, "the owner counts none of them (%llu)",
	      (unsigned long long)(rd("thread.deallocated") - d0));
	/* Another thread allocates, this one frees. */
	REQUIRE(pthread_create(&t, NULL, alloc_them, &h) == 0, "thread");
	pthread_join(t, NULL);
	CHECK(h.allocated == 64 * NB, "the other thread allocated %llu",
	      (unsigned long long)h.allocated);
	uint64_t a0 = rd("thread.allocated");
	d0 = rd("thread.deallocated");
	for (int i = 0; i < NB; i++)
		free(blocks[i]);
	CHECK(rd("thread.deallocated") - d0 == 64 * NB, "this thread freed %d of theirs", 64 * NB);
	CHECK(rd("thread.allocated") == a0, "and allocated nothing");
}

static void test_peak(void)
{
	enum { N = 4096, SIZE = 1024 };
	static void *p[N];
	REQUIRE(mallctl("thread.peak.reset", NULL, NULL, NULL, 0) == 0, "peak.reset");
	CHECK(rd("thread.peak.read") == 0, "0 right after a reset");
	for (int i = 0; i < N; i++)
		p[i] = malloc(SIZE);
	CHECK(rd("thread.peak.read") == (uint64_t)N * SIZE, "a burst of %d: %llu", N * SIZE,
	      (unsigned long long)rd("thread.peak.read"));
	for (int i = 0; i < N; i++)
		free(p[i]);
	CHECK(rd("thread.peak.read") == (uint64_t)N * SIZE, "kept after the burst is freed");
	REQUIRE(mallctl("thread.peak.reset", NULL, NULL, NULL, 0) == 0, "peak.reset");
	CHECK(rd("thread.peak.read") == 0, "0 again after a reset");
	/* A burst freed before any read: seen at the thread's events, every
	 * 1 MiB allocated, so all but the last MiB of it. */
	for (int i = 0; i < N; i++)
		p[i] = malloc(SIZE);
	for (int i = 0; i < N; i++)
		free(p[i]);
	uint64_t peak = rd("thread.peak.read");
	CHECK(peak >= (uint64_t)N * SIZE - (1u << 20) && peak <= (uint64_t)N * SIZE,
	      "an unread burst of %d sampled as %llu", N * SIZE, (unsigned long long)peak);
}

static void *free_one(void *arg)
{
	free(arg);
	return NULL;
}

static void test_tcache(void)
{
	bool on = false, off = false, old = true;
	size_t len = sizeof on;
	CHECK(mallctl("thread.tcache.enabled", &on, &len, NULL, 0) == 0 && on, "on at first");
	len = sizeof old;
	CHECK(mallctl("thread.tcache.enabled", &old, &len, &off, sizeof off) == 0 && old,
	      "turned off; it was on");
	len = sizeof on;
	CHECK(mallctl("thread.tcache.enabled", &on, &len, NULL, 0) == 0 && !on, "reads off");
	CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == EFAULT,
	      "no cache to flush: EFAULT");
	uint64_t a0 = rd("thread.allocated");
	void *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = malloc(100);
		REQUIRE(p[i] != NULL, "malloc with the cache off");
		memset(p[i], i, 100);
	}
	void *big = malloc(50000);
	CHECK(rd("thread.allocated") - a0 == 64 * 112 + malloc_usable_size(big),
	      "counted with the cache off");
	free(big);
	for (int i = 0; i < 32; i++)
		free(p[i]);
	pthread_t t;
	for (int i = 32; i < 64; i++) {
		REQUIRE(pthread_create(&t, NULL, free_one, p[i]) == 0, "thread");
		pthread_join(t, NULL);
	}
	bool yes = true;
	len = sizeof old;
	CHECK(mallctl("thread.tcache.enabled", &old, &len, &yes, sizeof yes) == 0 && !old,
	      "turned on again");
	len = sizeof on;
	CHECK(mallctl("thread.tcache.enabled", &on, &len, NULL, 0) == 0 && on, "reads on");
	void *q = malloc(100);
	CHECK(q != NULL, "malloc with the cache on");
	free(q);
	CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush works again");
}

static void test_arena(void)
{
	unsigned a = 99;
	size_t len = sizeof a;
	CHECK(mallctl("thread.arena", &a, &len, NULL, 0) == 0 && a < 2, "thread.arena %u", a);
	unsigned bad = 2;
	CHECK(mallctl("thread.arena", NULL, NULL, &bad, sizeof bad) == EFAULT,
	      "an index that is no arena: EFAULT");
	unsigned other = 1 - a, old = 99;
	cairn_purge(-1);
	len = sizeof old;
	CHECK(mallctl("thread.arena", &old, &len, &other, sizeof other) == 0 && old == a,
	      "moved; old index %u", old);
	len = sizeof a;
	CHECK(mallctl("thread.arena", &a, &len, NULL, 0) == 0 && a == other, "reads %u", a);
	/* New runs come from the arena written: freed and given back to it,
	 * they are its dirty pages to purge, not the other's. */
	enum { N = 8, SIZE = 256 << 10 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(SIZE);
	for (int i = 0; i < N; i++)
		free(p[i]);
	CHECK(mallctl("thread.idle", NULL, NULL, NULL, 0) == 0, "idle");
	size_t here = cairn_purge((int)other), there = cairn_purge((int)(1 - other));
	CHECK(here >= (size_t)N * SIZE && there < SIZE, "purged %zu from arena %u, %zu from %u",
	      here, other, there, 1 - other);
}

static void test_idle(void)
{
	enum { N = 8, SIZE = 128 << 10 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(SIZE);
	for (int i = 0; i < N; i++)
		free(p[i]);
	uint64_t cached = 0;
	cairn_stats_refresh();
	cairn_stats_read("large_cached", &cached);
	CHECK(cached >= SIZE, "freed runs cached: %llu", (unsigned long long)cached);
	CHECK(mallctl("thread.idle", NULL, NULL, NULL, 0) == 0, "idle");
	cairn_stats_refresh();
	cairn_stats_read("large_cached", &cached);
	CHECK(cached == 0, "none cached after idle: %llu", (unsigned long long)cached);
}

static void test_errors(void)
{
	uint32_t small = 0;
	size_t len = sizeof small;
	CHECK(mallctl("thread.allocated", &small, &len, NULL, 0) == EINVAL, "a 4-byte read");
	uint64_t v = 1;
	const char *ro[] = {"thread.allocated", "thread.deallocated", "thread.allocatedp",
	                    "thread.deallocatedp", "thread.peak.read"};
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
		CHECK(mallctl(ro[i], NULL, NULL, &v, sizeof v) == EPERM, "%s is read-only", ro[i]);
	const char *act[] = {"thread.idle", "thread.peak.reset", "thread.tcache.flush"};
	for (size_t i = 0; i < sizeof act / sizeof act[0]; i++) {
		len = sizeof v;
		CHECK(mallctl(act[i], &v, &len, NULL, 0) == EPERM, "%s is no value", act[i]);
	}
	CHECK(mallctl("thread.tcache.enabled", NULL, NULL, &v, sizeof v) == EINVAL,
	      "tcache.enabled takes a bool");
	unsigned char c = 0;
	CHECK(mallctl("thread.arena", NULL, NULL, &c, 1) == EINVAL, "thread.arena an unsigned");
	const char *name = NULL;
	len = sizeof name;
	CHECK(mallctl("thread.prof.name", &name, &len, NULL, 0) == ENOENT,
	      "prof.name: ENOENT, as jemalloc with prof:false");
	bool b = true;
	len = sizeof b;
	CHECK(mallctl("thread.prof.active", &b, &len, NULL, 0) == 0 && !b, "prof.active false");
	CHECK(mallctl("thread.prof.active", NULL, NULL, &b, sizeof b) == ENOENT,
	      "prof.active cannot be written");
	size_t mib[4], miblen = 4;
	CHECK(mallctlnametomib("thread.peak.read", mib, &miblen) == 0 && miblen == 3,
	      "thread.peak.read by MIB");
	len = sizeof v;
	CHECK(mallctlbymib(mib, miblen, &v, &len, NULL, 0) == 0, "read by MIB");
}

int main(void)
{
	TEST_CASE("small") test_small();
	TEST_CASE("big") test_big();
	TEST_CASE("flags") test_flags();
	TEST_CASE("remote") test_remote();
	TEST_CASE("peak") test_peak();
	TEST_CASE("tcache") test_tcache();
	TEST_CASE("arena") test_arena();
	TEST_CASE("idle") test_idle();
	TEST_CASE("errors") test_errors();
	return CHECK_DONE();
}
