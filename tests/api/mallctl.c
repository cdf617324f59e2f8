/* SPDX-License-Identifier: MIT */
/* mallctl.c: jemalloc's control interface (mallctl, mallctlnametomib,
 * mallctlbymib) on the names cairn answers. Runs with narenas:2 and
 * dirty_decay_ms:-1 (malloc_conf below), so that purging happens only when
 * the test asks. Cases:
 *   names     version, epoch, config.*, opt.* for every option of the
 *             table below (their values are the ones in force), opt.prof,
 *             arenas.*, background_thread, max_background_threads;
 *   errors    ENOENT for names that are none (misspelt, too long, past a
 *             leaf, an index out of range, an inner name), EINVAL for a
 *             wrong size (and what fits copied), EPERM for a write to a
 *             read-only node and for reading an action; purge of the
 *             arena one past the last means every arena (jemalloc's older
 *             spelling of arena.4096);
 *   mib       nametomib gives the path, bymib reads the same value, a
 *             prefix completed with each bin number reads each bin's size;
 *   stats     stats.* move with epoch: allocated grows by a 4 MiB block
 *             only after the next epoch write, and agrees with
 *             cairn_stats_read;
 *   purge     arena.<i>.purge of the arena holding freed large runs, and
 *             arena.4096.purge, drop stats.resident's dirty part;
 *   background  background_thread written: off stops the purging threads
 *             before it returns (none left in /proc/self/task), on starts
 *             them; the old value read in the same call;
 *             max_background_threads above the option's value is EINVAL. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"

const char *malloc_conf = "narenas:2,dirty_decay_ms:-1,muzzy_decay_ms:0";

static size_t read_size(const char *name)
{
	size_t v = 0, len = sizeof v;
	int rc = mallctl(name, &v, &len, NULL, 0);
	CHECK(rc == 0 && len == sizeof v, "%s: rc %d len %zu", name, rc, len);
	return v;
}

static uint64_t epoch_bump(void)
{
	uint64_t e = 1, out = 0;
	size_t len = sizeof out;
	int rc = mallctl("epoch", &out, &len, &e, sizeof e);
	CHECK(rc == 0, "epoch write: rc %d", rc);
	return out;
}

static void test_names(void)
{
	const char *version = NULL;
	size_t len = sizeof version;
	CHECK(mallctl("version", &version, &len, NULL, 0) == 0 && version != NULL &&
	          strcmp(version, cairn_version()) == 0,
	      "version reads cairn's");
	uint64_t e1 = epoch_bump(), e2 = epoch_bump();
	CHECK(e2 == e1 + 1, "epoch counts its writes: %llu then %llu", (unsigned long long)e1,
	      (unsigned long long)e2);
	bool b = true;
	len = sizeof b;
	CHECK(mallctl("config.stats", &b, &len, NULL, 0) == 0 && b, "config.stats true");
	len = sizeof b;
	CHECK(mallctl("config.prof", &b, &len, NULL, 0) == 0 && b,
	      "config.prof true: the profiler is built in");
	len = sizeof b;
	CHECK(mallctl("opt.prof", &b, &len, NULL, 0) == 0 && !b, "opt.prof reads false");
	/* jemalloc's options cairn lacks: the value that means off. */
	const char *str = NULL;
	len = sizeof str;
	CHECK(mallctl("opt.dss", &str, &len, NULL, 0) == 0 && strcmp(str, "disabled") == 0,
	      "opt.dss disabled");
	len = sizeof str;
	CHECK(mallctl("opt.percpu_arena", &str, &len, NULL, 0) == 0 && strcmp(str, "disabled") == 0,
	      "opt.percpu_arena disabled");
	len = sizeof str;
	CHECK(mallctl("opt.zero_realloc", &str, &len, NULL, 0) == 0 && strcmp(str, "free") == 0,
	      "opt.zero_realloc free, as realloc(p, 0) does");
	size_t lg = 0;
	len = sizeof lg;
	CHECK(mallctl("opt.lg_prof_sample", &lg, &len, NULL, 0) == 0 && lg == 19,
	      "opt.lg_prof_sample 19");
	ssize_t lgi = 0;
	len = sizeof lgi;
	CHECK(mallctl("opt.lg_prof_interval", &lgi, &len, NULL, 0) == 0 && lgi == -1,
	      "opt.lg_prof_interval -1");
	len = sizeof b;
	CHECK(mallctl("opt.cache_oblivious", &b, &len, NULL, 0) == 0 && !b &&
	          mallctl("config.cache_oblivious", &b, &len, NULL, 0) == 0 && !b,
	      "cache_oblivious false");
	len = sizeof b;
	CHECK(mallctl("opt.utrace", &b, &len, NULL, 0) == ENOENT &&
	          mallctl("opt.xmalloc", &b, &len, NULL, 0) == ENOENT,
	      "opt.utrace and opt.xmalloc: ENOENT, as a jemalloc built without them");
	CHECK(mallctl("opt.prof", NULL, NULL, &b, sizeof b) == EPERM, "opt.prof read only");
	unsigned u = 0;
	len = sizeof u;
	CHECK(mallctl("opt.narenas", &u, &len, NULL, 0) == 0 && u == 2, "opt.narenas %u", u);
	ssize_t ms = 0;
	len = sizeof ms;
	CHECK(mallctl("opt.dirty_decay_ms", &ms, &len, NULL, 0) == 0 && ms == -1,
	      "opt.dirty_decay_ms %zd", ms);
	len = sizeof b;
	CHECK(mallctl("opt.tcache", &b, &len, NULL, 0) == 0 && b, "opt.tcache true");
	const char *thp = NULL;
	len = sizeof thp;
	CHECK(mallctl("opt.thp", &thp, &len, NULL, 0) == 0 && thp != NULL &&
	          strcmp(thp, "default") == 0,
	      "opt.thp \"default\"");
	len = sizeof u;
	CHECK(mallctl("arenas.narenas", &u, &len, NULL, 0) == 0 && u == 2, "arenas.narenas %u", u);
	CHECK(read_size("arenas.page") == 4096, "arenas.page");
	CHECK(read_size("arenas.quantum") == 16, "arenas.quantum");
	CHECK(read_size("arenas.tcache_max") == 65536, "arenas.tcache_max %zu",
	      read_size("arenas.tcache_max"));
	unsigned nbins = 0, nlextents = 0;
	len = sizeof nbins;
	CHECK(mallctl("arenas.nbins", &nbins, &len, NULL, 0) == 0 && nbins == 44, "nbins %u",
	      nbins);
	len = sizeof nlextents;
	CHECK(mallctl("arenas.nlextents", &nlextents, &len, NULL, 0) == 0 && nlextents == 16,
	      "nlextents %u", nlextents);
	CHECK(read_size("arenas.bin.0.size") == 16, "bin 0 is 16 bytes");
	CHECK(read_size("arenas.bin.43.size") == 65536, "bin 43 is 64 KiB");
	uint32_t nregs = 0;
	len = sizeof nregs;
	CHECK(mallctl("arenas.bin.0.nregs", &nregs, &len, NULL, 0) == 0 &&
	          nregs * 16 == read_size("arenas.bin.0.slab_size"),
	      "bin 0: nregs %u fill its slab", nregs);
	CHECK(read_size("arenas.lextent.0.size") > 65536 &&
	          read_size("arenas.lextent.15.size") == 1 << 20,
	      "large classes from above 64 KiB to 1 MiB");
	len = sizeof b;
	CHECK(mallctl("background_thread", &b, &len, NULL, 0) == 0 && b, "background_thread");
	CHECK(read_size("max_background_threads") == 1, "max_background_threads");
	/* A NULL oldp reads nothing and succeeds. */
	CHECK(mallctl("stats.allocated", NULL, NULL, NULL, 0) == 0, "a read into nothing");
}

static void test_errors(void)
{
	size_t v = 0, len = sizeof v;
	const char *none[] = {"",
	                      "stats",
	                      "stats.allocatedx",
	                      "stats.allocated.more",
	                      "opt",
	                      "opt.narenas.x",
	                      "opt.nosuchoption",
	                      "arenas.bin.44.size",
	                      "arenas.bin.01.size",
	                      "arenas.bin.x.size",
	                      "arenas.lextent.16.size",
	                      "arena.4097.purge",
	                      "arena.3.purge",
	                      "arena.0",
	                      "nosuchname",
	                      "version.x",
	                      "arena_percpu"};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		len = sizeof v;
		CHECK(mallctl(none[i], &v, &len, NULL, 0) == ENOENT, "\"%s\" is no name", none[i]);
	}
	/* The wrong size: what fits is copied, EINVAL. */
	uint32_t small = 0;
	len = sizeof small;
	CHECK(mallctl("stats.allocated", &small, &len, NULL, 0) == EINVAL && len == sizeof small,
	      "a size_t read into 4 bytes");
	unsigned u = 0;
	size_t ulen = sizeof(uint64_t);
	uint64_t wide = 0;
	CHECK(mallctl("opt.narenas", &wide, &ulen, NULL, 0) == EINVAL && ulen == sizeof u,
	      "an unsigned read into 8 bytes: EINVAL, 4 copied");
	uint64_t e = 1;
	CHECK(mallctl("epoch", NULL, NULL, &e, 4) == EINVAL, "epoch written with 4 bytes");
	size_t z = 1;
	CHECK(mallctl("stats.allocated", NULL, NULL, &z, sizeof z) == EPERM, "stats read only");
	CHECK(mallctl("opt.narenas", NULL, NULL, &u, sizeof u) == EPERM, "opt read only");
	CHECK(mallctl("version", NULL, NULL, &z, sizeof z) == EPERM, "version read only");
	len = sizeof v;
	CHECK(mallctl("arena.0.purge", &v, &len, NULL, 0) == EPERM, "an action is not read");
	/* jemalloc's older spelling of arena.4096 (redis' MEMORY PURGE). */
	CHECK(mallctl("arena.2.purge", NULL, NULL, NULL, 0) == 0, "arena 2 of 2: every arena");
	CHECK(mallctl("arena.3.purge", NULL, NULL, NULL, 0) == ENOENT, "arena 3 of 2: no name");
	CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
	size_t mib[8], miblen = 8;
	CHECK(mallctlnametomib("nosuch.name", mib, &miblen) == ENOENT, "nametomib of no name");
	CHECK(mallctlbymib(mib, 0, &v, &len, NULL, 0) == ENOENT, "an empty MIB");
	size_t bad[] = {99};
	CHECK(mallctlbymib(bad, 1, &v, &len, NULL, 0) == ENOENT, "a MIB out of range");
}

static void test_mib(void)
{
	size_t mib[8], miblen = 8;
	REQUIRE(mallctlnametomib("arenas.bin.5.size", mib, &miblen) == 0 && miblen == 4,
	        "nametomib: 4 steps (%zu)", miblen);
	CHECK(mib[2] == 5, "the bin's number is its step");
	size_t v = 0, len = sizeof v;
	CHECK(mallctlbymib(mib, miblen, &v, &len, NULL, 0) == 0 &&
	          v == read_size("arenas.bin.5.size"),
	      "bymib reads what mallctl reads");
	for (size_t j = 0; j < 44; j++) {
		mib[2] = j;
		len = sizeof v;
		size_t prev = v;
		CHECK(mallctlbymib(mib, miblen, &v, &len, NULL, 0) == 0 && (j == 0 || v > prev),
		      "bin %zu by MIB: %zu", j, v);
	}
	size_t pre[8], prelen = 8;
	CHECK(mallctlnametomib("arenas.bin", pre, &prelen) == 0 && prelen == 2 &&
	          pre[0] == mib[0] && pre[1] == mib[1],
	      "a prefix gives its steps");
	size_t short_mib[2], short_len = 2;
	CHECK(mallctlnametomib("arenas.bin.5.size", short_mib, &short_len) == ENOENT,
	      "a MIB with no room for the name");
	size_t opt[8], optlen = 8;
	REQUIRE(mallctlnametomib("opt.narenas", opt, &optlen) == 0 && optlen == 2, "opt MIB");
	unsigned u = 0;
	len = sizeof u;
	CHECK(mallctlbymib(opt, optlen, &u, &len, NULL, 0) == 0 && u == 2, "opt.narenas by MIB");
}

static void test_stats(void)
{
	epoch_bump();
	size_t before = read_size("stats.allocated");
	char *p = malloc(4 << 20);
	REQUIRE(p != NULL, "malloc(4 MiB)");
	memset(p, 1, 4 << 20);
	CHECK(read_size("stats.allocated") == before, "the snapshot stays until epoch moves");
	epoch_bump();
	size_t after = read_size("stats.allocated");
	CHECK(after >= before + (4 << 20), "allocated %zu -> %zu", before, after);
	uint64_t v = 0;
	cairn_stats_read("allocated", &v);
	CHECK(v == after, "stats.allocated is cairn_stats_read's allocated");
	CHECK(read_size("stats.active") >= after && read_size("stats.resident") >= after &&
	          read_size("stats.mapped") >= read_size("stats.active") &&
	          read_size("stats.metadata") > 0,
	      "active, resident, mapped, metadata");
	free(p);
	epoch_bump();
	CHECK(read_size("stats.allocated") + (4 << 20) <= after + 4096, "freed");
}

static void test_purge(void)
{
	enum { N = 32, SIZE = 256 << 10 };
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(SIZE);
		REQUIRE(p[i] != NULL, "malloc");
		memset(p[i], 1, SIZE);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush");
	epoch_bump();
	uint64_t dirty = 0;
	cairn_stats_read("dirty", &dirty);
	CHECK(dirty >= (uint64_t)(N * SIZE) / 2, "freed runs lie dirty: %llu",
	      (unsigned long long)dirty);
	size_t resident = read_size("stats.resident");
	CHECK(mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0 && MALLCTL_ARENAS_ALL == 4096,
	      "arena.4096.purge");
	epoch_bump();
	cairn_stats_read("dirty", &dirty);
	CHECK(dirty == 0, "no dirty page after purging all (%llu)", (unsigned long long)dirty);
	CHECK(read_size("stats.resident") + (size_t)(N * SIZE) / 2 <= resident,
	      "resident fell: %zu -> %zu", resident, read_size("stats.resident"));
	CHECK(mallctl("arena.0.purge", NULL, NULL, NULL, 0) == 0 &&
	          mallctl("arena.1.decay", NULL, NULL, NULL, 0) == 0,
	      "arena.<i>.purge and decay for one arena");
}

/* Threads of this process named as cairn names its purging threads. */
static int purging_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "cairn-purge", 11) == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void test_background(void)
{
	bool on = true, off = false, old = false;
	size_t len = sizeof old;
	CHECK(mallctl("background_thread", &old, &len, &on, sizeof on) == 0 && old,
	      "background_thread on (it was on)");
	CHECK(purging_threads() == 1, "one purging thread runs: %d", purging_threads());
	len = sizeof old;
	CHECK(mallctl("background_thread", &old, &len, &off, sizeof off) == 0 && old,
	      "background_thread off, reading the old value");
	CHECK(purging_threads() == 0, "none left once the write returned: %d", purging_threads());
	epoch_bump();
	CHECK(read_size("stats.background_thread.num_threads") == 0, "stats say none");
	len = sizeof old;
	CHECK(mallctl("background_thread", &old, &len, NULL, 0) == 0 && !old, "reads off");
	/* Freed large runs still decay: by the api's slow paths now. */
	void *p = malloc(1 << 20);
	free(p);
	CHECK(mallctl("background_thread", NULL, NULL, &on, sizeof on) == 0 &&
	          purging_threads() == 1,
	      "on again: %d", purging_threads());
	int wide = 1;
	CHECK(mallctl("background_thread", NULL, NULL, &wide, sizeof wide) == EINVAL,
	      "written with 4 bytes");
	size_t two = 2, zero = 0, one = 0;
	CHECK(mallctl("max_background_threads", NULL, NULL, &two, sizeof two) == EINVAL,
	      "max_background_threads above the option's 1");
	len = sizeof one;
	CHECK(mallctl("max_background_threads", &one, &len, &zero, sizeof zero) == 0 && one == 1 &&
	          purging_threads() == 1,
	      "max_background_threads 0: the option's value, threads restarted");
}

int main(void)
{
	TEST_CASE("names") test_names();
	TEST_CASE("errors") test_errors();
	TEST_CASE("mib") test_mib();
	TEST_CASE("stats") test_stats();
	TEST_CASE("purge") test_purge();
	TEST_CASE("background") test_background();
	return CHECK_DONE();
}
