/* SPDX-License-Identifier: MIT */
/* trim.c: malloc_trim and cairn_purge.
 *
 * The test re-executes itself (/proc/self/exe --child) with
 * MALLOC_CONF=dirty_decay_ms:-1,narenas:2, so that nothing decays on its own and every byte
 * released is released by the call under test, and with CAIRN_CGROUP_ROOT pointing at an
 * empty directory, so that no cgroup memory limit of the machine triggers a purge. Checks:
 *   - a process that has freed nothing: malloc_trim(0) returns 0;
 *   - after freeing 32 MiB of large blocks and a cached 8 MiB huge block, malloc_trim(0)
 *     returns 1 and RSS falls by at least 90% of those bytes; called again at once it
 *     returns 0, and again 0;
 *   - cairn_purge(-1) returns at least 90% of the usable bytes freed in large blocks (100
 *     blocks of 33 KiB .. 1 MiB), plus the mapping of a freed huge block (cached), and RSS
 *     falls; then it returns 0;
 *   - slabs whose blocks are all free go back to the page runs: after 20 MiB of 1000-byte
 *     blocks are freed, cairn_purge(-1) returns at least 80% of it;
 *   - cairn_purge(n) for one arena: the main thread frees 24 MiB in its arena, a second
 *     thread 40 MiB in the other; with both dirty, cairn_purge(2), cairn_purge(1000),
 *     cairn_purge(INT_MAX) return 0 and release nothing (narenas is 2); cairn_purge(0)
 *     releases the bytes of one of the two arenas: RSS falls by that much (90%..100% + 4
 *     MiB), the other arena's bytes stay resident, and it returns at least 90% of them; a
 *     second cairn_purge(0) returns 0; cairn_purge(1) releases the other arena's bytes;
 *     cairn_purge(-1) and malloc_trim(0) then find nothing (0);
 *   - the purging thread sleeps through frees when nothing can fall due: 4000 large frees
 *     cost fewer than 20 voluntary context switches. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn.h"
#include "check.h"
#include "child.h"
#include "proc.h"
#include "rng.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static void touch(unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n; off += 4096)
		p[off] = 1;
	p[n - 1] = 1;
}

/* Allocates count blocks of `size` bytes, touches them, frees them; returns the usable
 * bytes freed. */
static size_t alloc_free(int count, size_t size)
{
	unsigned char *p[256];
	size_t usable = 0;
	if (count > 256)
		count = 256;
	for (int i = 0; i < count; i++) {
		p[i] = malloc(size);
		if (p[i] == NULL) {
			fprintf(stderr, "malloc(%zu) failed\n", size);
			exit(1);
		}
		touch(p[i], size);
		usable += malloc_usable_size(p[i]);
	}
	for (int i = 0; i < count; i++)
		free(p[i]);
	return usable;
}

static double mib(size_t n)
{
	return (double)n / MiB;
}

static void test_fresh(void)
{
	int r = malloc_trim(0);
	CHECK(r == 0, "malloc_trim(0) in a process that freed nothing returned %d", r);
}

static void test_trim(void)
{
	size_t rss0 = rss_bytes();
	size_t freed = alloc_free(64, 512 * KiB);
	unsigned char *h = malloc(8 * MiB);
	REQUIRE(h != NULL, "malloc(8 MiB) failed");
	touch(h, 8 * MiB);
	free(h);
	freed += 8 * MiB;
	size_t rss1 = rss_bytes();
	CHECK(rss1 >= rss0 + freed * 9 / 10,
	      "RSS %.1f MiB after freeing %.1f MiB with dirty_decay_ms:-1, was %.1f MiB: the "
	      "freed pages should stay until trimmed",
	      mib(rss1), mib(freed), mib(rss0));
	int r1 = malloc_trim(0);
	size_t rss2 = rss_bytes();
	int r2 = malloc_trim(0);
	int r3 = malloc_trim(0);
	CHECK(r1 == 1, "malloc_trim(0) after freeing %.1f MiB returned %d, want 1", mib(freed), r1);
	CHECK(rss1 - rss2 >= freed * 9 / 10,
	      "malloc_trim(0): RSS from %.1f MiB to %.1f MiB, want a fall of >= 90%% of %.1f MiB",
	      mib(rss1), mib(rss2), mib(freed));
	CHECK(r2 == 0, "a second malloc_trim(0) at once returned %d, want 0", r2);
	CHECK(r3 == 0, "a third malloc_trim(0) returned %d, want 0", r3);
}

static void test_purge_all(void)
{
	unsigned char *p[100];
	size_t freed = 0;
	uint64_t rng = 0x12345;
	for (int i = 0; i < 100; i++) {
		size_t n = 33 * KiB + (size_t)(rng_next(&rng) % (MiB - 33 * KiB));
		p[i] = malloc(n);
		if (p[i] == NULL) {
			fprintf(stderr, "malloc(%zu) failed\n", n);
			exit(1);
		}
		touch(p[i], n);
		freed += malloc_usable_size(p[i]);
	}
	unsigned char *h = malloc(6 * MiB);
	REQUIRE(h != NULL, "malloc(6 MiB) failed");
	touch(h, 6 * MiB);
	/* Free every other block first, then the rest: runs freed apart, merged later. */
	for (int i = 0; i < 100; i += 2)
		free(p[i]);
	for (int i = 1; i < 100; i += 2)
		free(p[i]);
	free(h);
	size_t rss1 = rss_bytes();
	size_t r = cairn_purge(-1);
	size_t rss2 = rss_bytes();
	CHECK(r >= freed * 9 / 10 + 6 * MiB,
	      "cairn_purge(-1) returned %.1f MiB, want >= 90%% of the %.1f MiB freed in large "
	      "blocks + the 6 MiB huge mapping",
	      mib(r), mib(freed));
	CHECK(rss1 - rss2 >= (freed + 6 * MiB) * 9 / 10,
	      "cairn_purge(-1): RSS from %.1f MiB to %.1f MiB, want a fall of >= %.1f MiB",
	      mib(rss1), mib(rss2), mib((freed + 6 * MiB) * 9 / 10));
	r = cairn_purge(-1);
	CHECK(r == 0, "a second cairn_purge(-1) returned %zu", r);
}

static void test_slabs(void)
{
	enum { N = 20 * 1024 };
	static unsigned char *p[N];
	int failed = 0;
	for (int i = 0; i < N; i++) {
		p[i] = malloc(1000);
		if (p[i] == NULL)
			failed++;
		else
			memset(p[i], 1, 1000);
	}
	REQUIRE(failed == 0, "malloc(1000) failed %d times", failed);
	for (int i = 0; i < N; i++)
		free(p[i]);
	size_t r = cairn_purge(-1);
	CHECK(r >= (size_t)N * 1024 * 8 / 10,
	      "cairn_purge(-1) after freeing 20 MiB of 1000-byte blocks returned %.1f MiB, want "
	      ">= 16 MiB (empty slabs go back to the page runs)",
	      mib(r));
}

#define MAIN_BYTES   (24 * MiB)
#define THREAD_BYTES (40 * MiB)

static void *other_arena(void *arg)
{
	/* A small block first gives this thread a heap, and with it the next arena. */
	free(malloc(100));
	*(size_t *)arg = alloc_free((int)(THREAD_BYTES / (512 * KiB)), 512 * KiB);
	return NULL;
}

static int about(size_t r, size_t bytes)
{
	return r >= bytes * 9 / 10 && r <= bytes + 4 * MiB;
}

static void test_one_arena(void)
{
	free(malloc(100));
	size_t rss0 = rss_bytes();
	size_t main_bytes = alloc_free((int)(MAIN_BYTES / (512 * KiB)), 512 * KiB);
	size_t thread_bytes = 0;
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, other_arena, &thread_bytes) == 0, "pthread_create");
	pthread_join(t, NULL);
	size_t rss1 = rss_bytes();
	CHECK(rss1 >= rss0 + (main_bytes + thread_bytes) * 9 / 10,
	      "RSS %.1f MiB after freeing %.1f + %.1f MiB, was %.1f MiB", mib(rss1),
	      mib(main_bytes), mib(thread_bytes), mib(rss0));

	/* Arenas that do not exist (narenas:2): nothing, while both real ones hold pages. */
	size_t bad2 = cairn_purge(2), bad1000 = cairn_purge(1000), badmax = cairn_purge(INT_MAX);
	CHECK(bad2 == 0, "cairn_purge(2) with narenas:2 returned %zu", bad2);
	CHECK(bad1000 == 0, "cairn_purge(1000) returned %zu", bad1000);
	CHECK(badmax == 0, "cairn_purge(INT_MAX) returned %zu", badmax);
	size_t rss2 = rss_bytes();
	CHECK(rss2 + 2 * MiB >= rss1, "RSS fell from %.1f to %.1f MiB on out-of-range purges",
	      mib(rss1), mib(rss2));

	size_t r0 = cairn_purge(0);
	size_t rss3 = rss_bytes();
	size_t again = cairn_purge(0);
	size_t fell = rss2 - rss3;
	fprintf(stderr,
	        "  cairn_purge(0) = %.1f MiB, RSS fell %.1f MiB (freed: main %.1f MiB, thread "
	        "%.1f MiB)\n",
	        mib(r0), mib(fell), mib(main_bytes), mib(thread_bytes));
	/* Which arena is 0 is cairn's business: the RSS fall tells which bytes went. The
	 * return value may exceed them (a run freed next to never-touched pages is purged
	 * and counted whole), so it is only bounded below. */
	int zero_is_main = about(fell, main_bytes);
	size_t mine = zero_is_main ? main_bytes : thread_bytes;
	size_t other = zero_is_main ? thread_bytes : main_bytes;
	CHECK(zero_is_main || about(fell, thread_bytes),
	      "cairn_purge(0): RSS fell by %.1f MiB: neither one arena's %.1f MiB nor %.1f MiB",
	      mib(fell), mib(main_bytes), mib(thread_bytes));
	CHECK(r0 >= mine * 9 / 10, "cairn_purge(0) returned %.1f MiB, want >= 90%% of %.1f MiB",
	      mib(r0), mib(mine));
	CHECK(rss3 >= rss0 + other * 9 / 10,
	      "after cairn_purge(0) RSS is %.1f MiB: the other arena's %.1f MiB were released "
	      "too (start %.1f MiB)",
	      mib(rss3), mib(other), mib(rss0));
	CHECK(again == 0, "a second cairn_purge(0) returned %zu", again);

	size_t r1 = cairn_purge(1);
	size_t rss4 = rss_bytes();
	fprintf(stderr, "  cairn_purge(1) = %.1f MiB, RSS fell %.1f MiB\n", mib(r1),
	        mib(rss3 - rss4));
	CHECK(r1 >= other * 9 / 10, "cairn_purge(1) returned %.1f MiB, want >= 90%% of %.1f MiB",
	      mib(r1), mib(other));
	CHECK(about(rss3 - rss4, other), "cairn_purge(1): RSS fell by %.1f MiB, want ~%.1f MiB",
	      mib(rss3 - rss4), mib(other));
	size_t rest = cairn_purge(-1);
	int trimmed = malloc_trim(0);
	CHECK(rest == 0, "cairn_purge(-1) after purging both arenas returned %zu", rest);
	CHECK(trimmed == 0, "malloc_trim(0) after purging everything returned %d", trimmed);
}

/* With nothing ever due (dirty_decay_ms:-1) the purging thread, once
 * started, must sleep through the frees: 4000 frees of large blocks that
 * reach an arena holding more than 2 MiB of dirty pages cost the process
 * fewer than 20 voluntary context switches (waking the thread for each
 * would cost two per free). */
static void test_quiet_thread(void)
{
	static void *blocks[200];
	struct rusage before, after;
	for (int i = 0; i < 200; i++)
		blocks[i] = malloc(200 * KiB);
	for (int i = 0; i < 200; i++)
		free(blocks[i]);
	CHECK(purge_threads() == 1, "the purging thread runs (%d)", purge_threads());
	getrusage(RUSAGE_SELF, &before);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 200; i++)
			blocks[i] = malloc(200 * KiB + (size_t)(i % 7) * 4 * KiB);
		for (int i = 0; i < 200; i++)
			free(blocks[i]);
	}
	getrusage(RUSAGE_SELF, &after);
	long switches = after.ru_nvcsw - before.ru_nvcsw;
	CHECK(switches < 20, "4000 large frees with dirty_decay_ms:-1: %ld context switches",
	      switches);
	cairn_purge(-1);
}

static int child_main(void)
{
	TEST_CASE("fresh") test_fresh();
	TEST_CASE("trim") test_trim();
	TEST_CASE("purge_all") test_purge_all();
	TEST_CASE("slabs") test_slabs();
	TEST_CASE("one_arena") test_one_arena();
	TEST_CASE("quiet_thread") test_quiet_thread();
	return CHECK_DONE();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return child_main();

	char dir[] = "/tmp/cairn-trim-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	struct child_opts opts = {
	    .name = "trim",
	    .args = {"--child"},
	    .conf = "dirty_decay_ms:-1,narenas:2",
	    .env = (const char *const[]){"CAIRN_CGROUP_ROOT", dir, NULL},
	};
	static char out[16384];
	int st = child_run(&opts, out, sizeof out, NULL);
	rmdir(dir);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "child");
	return CHECK_DONE();
}
