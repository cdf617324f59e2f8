/* SPDX-License-Identifier: MIT */
/* mallctl_stats.c: mallctl's stats.* beyond the totals (stats.arenas.<i>.*
 * with their bins and large classes, zero_reallocs, run_interval) and
 * prof.*. Runs with narenas:2, no purging threads and no decay (malloc_conf
 * below), so that only the test moves the numbers. Cases:
 *   names       every stats.arenas.<i> name, for each arena and 4096, read
 *               by name and by MIB with its type's size: the same value,
 *               EINVAL for another size, EPERM for a write;
 *   errors      ENOENT for an arena, bin or large class out of range and
 *               for jemalloc's names cairn has no meaning for (mutexes,
 *               extents, hpa_shard);
 *   sums        stats.arenas.4096 is the sum of the arenas; small.allocated
 *               is the bins' curregs times their sizes, large.allocated the
 *               large classes' curlextents times theirs;
 *   bins        N blocks of one class raise that class's curregs by N in
 *               one arena (the thread's) and nowhere else; freed, they
 *               raise its ndalloc by N;
 *   lextents    K large blocks move nmalloc and curlextents of their class
 *               by K, their frees ndalloc; blocks resized in place keep
 *               curlextents summed over the classes equal to the blocks
 *               held;
 *   misc        zero_reallocs counts realloc(p, 0); uptime grows; dss,
 *               decay times, run_interval;
 *   prof        prof.* as jemalloc with profiling built and opt.prof false. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"

const char *malloc_conf = "narenas:2,background_thread:false,dirty_decay_ms:-1,muzzy_decay_ms:0";

#define NARENAS 2
#define ALL     4096

static void epoch_bump(void)
{
	uint64_t e = 1;
	CHECK(mallctl("epoch", NULL, NULL, &e, sizeof e) == 0, "epoch write");
}

static void flush(void)
{
	CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
}

/* Reads a name of size bytes (1, 4 or 8) as a number. */
static uint64_t get(const char *name, size_t size)
{
	union {
		bool b;
		unsigned u;
		uint64_t u64;
	} v;
	memset(&v, 0, sizeof v);
	size_t len = size;
	int rc = mallctl(name, &v, &len, NULL, 0);
	CHECK(rc == 0 && len == size, "%s: rc %d len %zu", name, rc, len);
	return size == 1 ? v.b : size == 4 ? v.u : v.u64;
}

static uint64_t geta(size_t size, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint64_t geta(size_t size, const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return get(name, size);
}

/* stats.arenas.<i>.<name> with its size. */
struct name {
	const char *name;
	size_t size;
};

#define Z  sizeof(size_t)
#define U  sizeof(uint64_t)
#define SZ sizeof(ssize_t)

static const struct name arena_names[] = {
    {"nthreads", sizeof(unsigned)},
    {"uptime", U},
    {"dss", sizeof(const char *)},
    {"dirty_decay_ms", SZ},
    {"muzzy_decay_ms", SZ},
    {"pactive", Z},
    {"pdirty", Z},
    {"pmuzzy", Z},
    {"mapped", Z},
    {"retained", Z},
    {"base", Z},
    {"internal", Z},
    {"metadata_thp", Z},
    {"resident", Z},
    {"dirty_npurge", U},
    {"dirty_nmadvise", U},
    {"dirty_purged", U},
    {"muzzy_npurge", U},
    {"muzzy_nmadvise", U},
    {"muzzy_purged", U},
    {"small.allocated", Z},
    {"small.nmalloc", U},
    {"small.ndalloc", U},
    {"small.nrequests", U},
    {"small.nfills", U},
    {"small.nflushes", U},
    {"large.allocated", Z},
    {"large.nmalloc", U},
    {"large.ndalloc", U},
    {"large.nrequests", U},
    {"large.nfills", U},
    {"large.nflushes", U},
    {"tcache_bytes", Z},
    {"bins.0.nmalloc", U},
    {"bins.0.ndalloc", U},
    {"bins.0.nrequests", U},
    {"bins.0.curregs", Z},
    {"bins.0.nfills", U},
    {"bins.0.nflushes", U},
    {"bins.0.nslabs", U},
    {"bins.0.nreslabs", U},
    {"bins.0.curslabs", Z},
    {"bins.0.nonfull_slabs", Z},
    {"bins.43.curregs", Z},
    {"lextents.0.nmalloc", U},
    {"lextents.0.ndalloc", U},
    {"lextents.0.nrequests", U},
    {"lextents.0.curlextents", Z},
    {"lextents.15.curlextents", Z},
};

/* The counters that sum over arenas (not uptime, dss, decay times). */
static const char *const summed[] = {
    "nthreads",       "pactive",         "pdirty",
    "pmuzzy",         "mapped",          "retained",
    "base",           "resident",        "dirty_npurge",
    "dirty_purged",   "small.allocated", "small.nmalloc",
    "small.ndalloc",  "small.nrequests", "small.nfills",
    "small.nflushes", "large.allocated", "large.nmalloc",
    "large.ndalloc",  "tcache_bytes",
};

static unsigned nbins, nlextents;

static void read_one(const char *name, size_t size)
{
	unsigned char buf[16], by_mib[16];
	size_t len = size;
	memset(buf, 0, sizeof buf);
	memset(by_mib, 0, sizeof by_mib);
	CHECK(mallctl(name, buf, &len, NULL, 0) == 0 && len == size, "%s reads %zu bytes", name,
	      size);
	size_t mib[8], miblen = 8;
	int rc = mallctlnametomib(name, mib, &miblen);
	CHECK(rc == 0, "nametomib %s: %d", name, rc);
	len = size;
	CHECK(rc == 0 && mallctlbymib(mib, miblen, by_mib, &len, NULL, 0) == 0 &&
	          memcmp(buf, by_mib, size) == 0,
	      "%s: the same by MIB", name);
	len = size + 1;
	CHECK(mallctl(name, buf, &len, NULL, 0) == EINVAL, "%s: EINVAL for %zu bytes", name,
	      size + 1);
	len = size;
	CHECK(mallctl(name, NULL, NULL, buf, size) == EPERM, "%s: EPERM for a write", name);
}

static void test_names(void)
{
	epoch_bump();
	unsigned arenas[] = {0, 1, ALL};
	for (unsigned k = 0; k < 3; k++) {
		for (size_t n = 0; n < sizeof arena_names / sizeof arena_names[0]; n++) {
			char name[128];
			snprintf(name, sizeof name, "stats.arenas.%u.%s", arenas[k],
			         arena_names[n].name);
			read_one(name, arena_names[n].size);
		}
	}
	read_one("stats.zero_reallocs", Z);
	read_one("stats.background_thread.run_interval", U);
	read_one("stats.background_thread.num_runs", U);
	read_one("prof.interval", U);
	read_one("prof.lg_sample", Z);
}

static void test_errors(void)
{
	static const char *const none[] = {
	    "stats.arenas.2.pactive",
	    "stats.arenas.4097.pactive",
	    "stats.arenas.01.pactive",
	    "stats.arenas.0.bins.44.curregs",
	    "stats.arenas.0.lextents.16.nmalloc",
	    "stats.arenas.0.bins.0.nosuch",
	    "stats.arenas.0.nosuch",
	    "stats.mutexes.ctl.num_ops",
	    "stats.mutexes.reset",
	    "stats.arenas.0.mutexes.large.num_ops",
	    "stats.arenas.0.bins.0.mutex.num_ops",
	    "stats.arenas.0.extents.0.ndirty",
	    "stats.arenas.0.hpa_shard.npurges",
	    "stats.arenas.0.abandoned_vm",
	    "stats.arenas.0",
	    "stats.arenas.0.bins",
	};
	for (size_t k = 0; k < sizeof none / sizeof none[0]; k++) {
		uint64_t v = 0;
		size_t len = sizeof v;
		CHECK(mallctl(none[k], &v, &len, NULL, 0) == ENOENT, "%s: ENOENT", none[k]);
	}
	size_t mib[8], miblen = 8, v, len = sizeof v;
	CHECK(mallctlnametomib("stats.arenas.0.pactive", mib, &miblen) == 0, "nametomib");
	mib[2] = NARENAS;
	CHECK(mallctlbymib(mib, miblen, &v, &len, NULL, 0) == ENOENT, "arena out of range by MIB");
	miblen = 8;
	CHECK(mallctlnametomib("stats.arenas.0.bins.0.curregs", mib, &miblen) == 0, "nametomib");
	mib[4] = nbins;
	CHECK(mallctlbymib(mib, miblen, &v, &len, NULL, 0) == ENOENT, "bin out of range by MIB");
}

static void test_sums(void)
{
	/* The thread's heap is made at its first allocation. */
	void *keep = malloc(100);
	REQUIRE(keep != NULL, "malloc");
	flush();
	epoch_bump();
	for (size_t k = 0; k < sizeof summed / sizeof summed[0]; k++) {
		size_t size = strcmp(summed[k], "nthreads") == 0 ? sizeof(unsigned) : 8;
		uint64_t sum = 0;
		for (unsigned i = 0; i < NARENAS; i++)
			sum += geta(size, "stats.arenas.%u.%s", i, summed[k]);
		uint64_t all = geta(size, "stats.arenas.%u.%s", ALL, summed[k]);
		CHECK(all == sum, "%s: merged %llu, sum %llu", summed[k], (unsigned long long)all,
		      (unsigned long long)sum);
	}
	CHECK(geta(sizeof(unsigned), "stats.arenas.%u.nthreads", ALL) >= 1,
	      "this thread uses an arena");
	for (unsigned i = 0; i < NARENAS; i++) {
		uint64_t small = 0, large = 0;
		for (unsigned j = 0; j < nbins; j++)
			small += geta(Z, "stats.arenas.%u.bins.%u.curregs", i, j) *
			         geta(Z, "arenas.bin.%u.size", j);
		for (unsigned j = 0; j < nlextents; j++)
			large += geta(Z, "stats.arenas.%u.lextents.%u.curlextents", i, j) *
			         geta(Z, "arenas.lextent.%u.size", j);
		CHECK(small == geta(Z, "stats.arenas.%u.small.allocated", i),
		      "arena %u: small.allocated is the bins' curregs times their sizes", i);
		CHECK(large == geta(Z, "stats.arenas.%u.large.allocated", i),
		      "arena %u: large.allocated is curlextents times the sizes", i);
		for (unsigned j = 0; j < nbins; j += 13) {
			uint64_t m = geta(U, "stats.arenas.%u.bins.%u.nmalloc", i, j);
			uint64_t d = geta(U, "stats.arenas.%u.bins.%u.ndalloc", i, j);
			uint64_t c = geta(Z, "stats.arenas.%u.bins.%u.curregs", i, j);
			CHECK(m == d + c, "arena %u bin %u: nmalloc = ndalloc + curregs", i, j);
		}
	}
	uint64_t pactive = geta(Z, "stats.arenas.%u.pactive", ALL);
	uint64_t page = get("arenas.page", Z);
	CHECK(pactive * page <= get("stats.active", Z), "the arenas' pages are active");
	CHECK(geta(Z, "stats.arenas.%u.mapped", ALL) <= get("stats.mapped", Z),
	      "the arenas' mappings are mapped");
	free(keep);
}

/* The bin whose size is the smallest at least n. */
static unsigned bin_of(size_t n)
{
	for (unsigned j = 0; j < nbins; j++)
		if (geta(Z, "arenas.bin.%u.size", j) >= n)
			return j;
	return nbins;
}

static unsigned lextent_of(size_t n)
{
	for (unsigned j = 0; j < nlextents; j++)
		if (geta(Z, "arenas.lextent.%u.size", j) >= n)
			return j;
	return nlextents;
}

#define NBLOCKS 100

static void test_bins(void)
{
	const size_t size = 3000; /* a class nothing else here uses */
	unsigned j = bin_of(size);
	REQUIRE(j < nbins, "a bin for %zu bytes", size);
	uint64_t cur0[NARENAS], dalloc0[NARENAS];
	flush();
	epoch_bump();
	for (unsigned i = 0; i < NARENAS; i++) {
		cur0[i] = geta(Z, "stats.arenas.%u.bins.%u.curregs", i, j);
		dalloc0[i] = geta(U, "stats.arenas.%u.bins.%u.ndalloc", i, j);
	}
	uint64_t all0 = geta(Z, "stats.arenas.%u.bins.%u.curregs", ALL, j);
	void *p[NBLOCKS];
	for (unsigned k = 0; k < NBLOCKS; k++) {
		p[k] = malloc(size);
		REQUIRE(p[k] != NULL, "malloc");
	}
	flush();
	CHECK(geta(Z, "stats.arenas.%u.bins.%u.curregs", ALL, j) == all0,
	      "nothing moves before the epoch write");
	epoch_bump();
	int moved = -1, others = 0;
	for (unsigned i = 0; i < NARENAS; i++) {
		uint64_t d = geta(Z, "stats.arenas.%u.bins.%u.curregs", i, j) - cur0[i];
		if (d == NBLOCKS && moved < 0)
			moved = (int)i;
		else if (d != 0)
			others++;
	}
	CHECK(moved >= 0 && others == 0, "curregs of bin %u rose by %d in one arena (%d)", j,
	      NBLOCKS, moved);
	CHECK(geta(Z, "stats.arenas.%u.bins.%u.curregs", ALL, j) == all0 + NBLOCKS,
	      "and in the sum");
	CHECK(geta(Z, "stats.arenas.%u.bins.%u.curslabs", ALL, j) >= 1, "on slabs");
	for (unsigned k = 0; k < NBLOCKS; k++)
		free(p[k]);
	flush();
	epoch_bump();
	if (moved >= 0) {
		CHECK(geta(Z, "stats.arenas.%d.bins.%u.curregs", moved, j) == cur0[moved],
		      "freed, curregs is back");
		CHECK(geta(U, "stats.arenas.%d.bins.%u.ndalloc", moved, j) ==
		          dalloc0[moved] + NBLOCKS,
		      "freed, ndalloc rose by %d", NBLOCKS);
	}

	/* Slabs left partly used: the bin takes its next slab from them. */
	enum { MANY = 64 };
	void *q[MANY];
	for (unsigned k = 0; k < MANY; k++)
		q[k] = malloc(size);
	for (unsigned k = 0; k < MANY / 2; k += 2)
		free(q[k]);
	flush();
	epoch_bump();
	uint64_t reslabs0 = geta(U, "stats.arenas.%u.bins.%u.nreslabs", ALL, j);
	void *r[MANY / 4];
	for (unsigned k = 0; k < MANY / 4; k++)
		r[k] = malloc(size);
	flush();
	epoch_bump();
	CHECK(geta(U, "stats.arenas.%u.bins.%u.nreslabs", ALL, j) > reslabs0,
	      "nreslabs moves when the bin takes partly used slabs: %llu, was %llu",
	      (unsigned long long)geta(U, "stats.arenas.%u.bins.%u.nreslabs", ALL, j),
	      (unsigned long long)reslabs0);
	for (unsigned k = 0; k < MANY / 4; k++)
		free(r[k]);
	for (unsigned k = 0; k < MANY; k++)
		if (k >= MANY / 2 || k % 2 == 1)
			free(q[k]);
}

#define NLARGE 5

static void test_lextents(void)
{
	const size_t size = 200 << 10;
	unsigned j = lextent_of(size);
	REQUIRE(j < nlextents, "a large class for %zu bytes", size);
	epoch_bump();
	uint64_t m0 = geta(U, "stats.arenas.%u.lextents.%u.nmalloc", ALL, j);
	uint64_t d0 = geta(U, "stats.arenas.%u.lextents.%u.ndalloc", ALL, j);
	uint64_t c0 = geta(Z, "stats.arenas.%u.lextents.%u.curlextents", ALL, j);
	uint64_t ln0 = geta(U, "stats.arenas.%u.large.nmalloc", ALL);
	uint64_t arena0[NARENAS];
	for (unsigned i = 0; i < NARENAS; i++)
		arena0[i] = geta(U, "stats.arenas.%u.lextents.%u.nmalloc", i, j);
	void *p[NLARGE];
	for (unsigned k = 0; k < NLARGE; k++) {
		p[k] = malloc(size);
		REQUIRE(p[k] != NULL, "malloc");
		memset(p[k], 1, size);
	}
	epoch_bump();
	CHECK(geta(U, "stats.arenas.%u.lextents.%u.nmalloc", ALL, j) == m0 + NLARGE,
	      "nmalloc moved by %d", NLARGE);
	CHECK(geta(U, "stats.arenas.%u.lextents.%u.nrequests", ALL, j) == m0 + NLARGE,
	      "nrequests too");
	CHECK(geta(Z, "stats.arenas.%u.lextents.%u.curlextents", ALL, j) == c0 + NLARGE,
	      "curlextents moved by %d", NLARGE);
	CHECK(geta(U, "stats.arenas.%u.large.nmalloc", ALL) == ln0 + NLARGE, "large.nmalloc too");
	int in_one = 0;
	for (unsigned i = 0; i < NARENAS; i++)
		in_one +=
		    geta(U, "stats.arenas.%u.lextents.%u.nmalloc", i, j) == arena0[i] + NLARGE;
	CHECK(in_one == 1, "all in one arena");
	for (unsigned k = 0; k < NLARGE; k++)
		free(p[k]);
	epoch_bump();
	CHECK(geta(U, "stats.arenas.%u.lextents.%u.ndalloc", ALL, j) == d0 + NLARGE,
	      "ndalloc moved by %d", NLARGE);
	CHECK(geta(Z, "stats.arenas.%u.lextents.%u.curlextents", ALL, j) == c0,
	      "curlextents is back");

	/* Resized in place (or moved): the classes still add up to the blocks
	 * held. */
	void *q = malloc(70 << 10);
	REQUIRE(q != NULL, "malloc");
	void *guard = malloc(300 << 10);
	q = realloc(q, 90 << 10);
	q = realloc(q, 80 << 10);
	REQUIRE(q != NULL && guard != NULL, "realloc");
	epoch_bump();
	uint64_t held = 0;
	for (unsigned c = 0; c < nlextents; c++)
		held += geta(Z, "stats.arenas.%u.lextents.%u.curlextents", ALL, c);
	uint64_t curruns = 0;
	CHECK(cairn_stats_read("large_curruns", &curruns) == 0 && held == curruns,
	      "curlextents summed (%llu) is the large blocks held (%llu)", (unsigned long long)held,
	      (unsigned long long)curruns);
	free(q);
	free(guard);
}

static void test_misc(void)
{
	epoch_bump();
	uint64_t z0 = get("stats.zero_reallocs", Z);
	void *p = malloc(24);
	volatile size_t zero = 0;
	CHECK(realloc(p, zero) == NULL, "realloc(p, 0) frees");
	epoch_bump();
	CHECK(get("stats.zero_reallocs", Z) == z0 + 1, "zero_reallocs counts it");

	uint64_t up0 = geta(U, "stats.arenas.%u.uptime", 0);
	struct timespec ts = {0, 30 * 1000 * 1000};
	nanosleep(&ts, NULL);
	epoch_bump();
	uint64_t up1 = geta(U, "stats.arenas.%u.uptime", 0);
	CHECK(up1 >= up0 + 20 * 1000 * 1000, "uptime grows in ns: %llu then %llu",
	      (unsigned long long)up0, (unsigned long long)up1);
	const char *dss = NULL;
	size_t len = sizeof dss;
	CHECK(mallctl("stats.arenas.0.dss", &dss, &len, NULL, 0) == 0 && dss != NULL &&
	          strcmp(dss, "disabled") == 0,
	      "dss is disabled");
	ssize_t ms = 0;
	len = sizeof ms;
	CHECK(mallctl("stats.arenas.1.dirty_decay_ms", &ms, &len, NULL, 0) == 0 && ms == -1,
	      "dirty_decay_ms is the option's");
	CHECK(mallctl("stats.arenas.4096.muzzy_decay_ms", &ms, &len, NULL, 0) == 0 && ms == 0,
	      "muzzy_decay_ms is the option's");
	CHECK(get("stats.background_thread.run_interval", U) == 0, "no purging threads, no runs");
}

static void test_prof(void)
{
	bool b = true, on = true, off = false;
	size_t len = sizeof b;
	CHECK(get("opt.prof", 1) == 0, "opt.prof reads false");
	static const char *const switches[] = {"prof.active", "prof.thread_active_init",
	                                       "prof.gdump"};
	for (unsigned k = 0; k < 3; k++) {
		b = true;
		len = sizeof b;
		CHECK(mallctl(switches[k], &b, &len, NULL, 0) == 0 && !b, "%s reads false",
		      switches[k]);
		CHECK(mallctl(switches[k], NULL, NULL, &on, sizeof on) == ENOENT,
		      "%s: turning it on is ENOENT", switches[k]);
	}
	b = true;
	len = sizeof b;
	CHECK(mallctl("prof.active", &b, &len, &off, sizeof off) == 0 && !b,
	      "prof.active: turning it off is allowed");
	CHECK(mallctl("prof.active", NULL, NULL, &off, 4) == EINVAL, "prof.active: a wrong size");
	CHECK(mallctl("prof.gdump", NULL, NULL, &off, sizeof off) == ENOENT,
	      "prof.gdump: any write is ENOENT");
	const char *file = "/tmp/cairn-prof-none.heap";
	static const char *const actions[] = {"prof.dump", "prof.prefix", "prof.log_start"};
	for (unsigned k = 0; k < 3; k++) {
		CHECK(mallctl(actions[k], NULL, NULL, &file, sizeof file) == ENOENT, "%s: ENOENT",
		      actions[k]);
		CHECK(mallctl(actions[k], NULL, NULL, NULL, 0) == ENOENT, "%s: ENOENT", actions[k]);
	}
	size_t lg = 10;
	CHECK(mallctl("prof.reset", NULL, NULL, &lg, sizeof lg) == ENOENT, "prof.reset: ENOENT");
	CHECK(mallctl("prof.log_stop", NULL, NULL, NULL, 0) == ENOENT, "prof.log_stop: ENOENT");
	CHECK(get("prof.interval", U) == 0 && get("prof.lg_sample", Z) == 0,
	      "interval and lg_sample read 0");
	CHECK(mallctl("prof.nosuch", &b, &len, NULL, 0) == ENOENT, "prof.nosuch: ENOENT");
}

int main(void)
{
	nbins = (unsigned)get("arenas.nbins", sizeof(unsigned));
	nlextents = (unsigned)get("arenas.nlextents", sizeof(unsigned));
	REQUIRE(get("arenas.narenas", sizeof(unsigned)) == NARENAS, "narenas:2 in force");
	TEST_CASE("names") test_names();
	TEST_CASE("errors") test_errors();
	TEST_CASE("sums") test_sums();
	TEST_CASE("bins") test_bins();
	TEST_CASE("lextents") test_lextents();
	TEST_CASE("misc") test_misc();
	TEST_CASE("prof") test_prof();
	return CHECK_DONE();
}
