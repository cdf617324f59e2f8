/* SPDX-License-Identifier: MIT */
/* mallinfo.c: glibc's statistics calls answered from cairn's statistics.
 * Runs with dirty_decay_ms:-1 and no purging thread, so that freed pages
 * wait until malloc_trim. Cases:
 *   mallinfo2     a 16 MiB block and 4000 blocks of 1000 bytes show in
 *                 uordblks (and in hblks/hblkhd for the huge one); uordblks
 *                 <= arena + hblkhd; freed, uordblks falls back;
 *   keepcost      freed large runs wait as keepcost until malloc_trim;
 *   mallinfo      the int fields are mallinfo2's;
 *   malloc_stats  prints its totals to stderr, the in-use line being
 *                 mallinfo2's uordblks within what the printing itself
 *                 allocated. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* mallinfo is deprecated in glibc; it is tested all the same. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:0,background_thread:false";

#define N 4000

static void test_mallinfo2(void)
{
	struct mallinfo2 m0 = mallinfo2();
	char *huge = malloc(16 << 20);
	REQUIRE(huge != NULL, "malloc(16 MiB)");
	memset(huge, 1, 16 << 20);
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(1000);
	struct mallinfo2 m1 = mallinfo2();
	CHECK(m1.uordblks >= m0.uordblks + (16u << 20) + N * 1000u, "in use %zu -> %zu",
	      m0.uordblks, m1.uordblks);
	CHECK(m1.hblks >= m0.hblks + 1 && m1.hblkhd >= m0.hblkhd + (16u << 20),
	      "the huge block: %zu regions, %zu bytes", m1.hblks, m1.hblkhd);
	CHECK(m1.uordblks <= m1.arena + m1.hblkhd, "in use %zu within arena %zu + mmap %zu",
	      m1.uordblks, m1.arena, m1.hblkhd);
	CHECK(m1.usmblks == 0 && m1.smblks == 0 && m1.fsmblks == 0, "glibc-only fields are 0");
	free(huge);
	for (int i = 0; i < N; i++)
		free(p[i]);
	struct mallinfo2 m2 = mallinfo2();
	CHECK(m2.uordblks + (16u << 20) + N * 1000u / 2 <= m1.uordblks, "freed: in use %zu -> %zu",
	      m1.uordblks, m2.uordblks);
	CHECK(m2.hblks + 1 == m1.hblks, "the huge block is gone from hblks");
}

static void test_keepcost(void)
{
	enum { RUNS = 16, SIZE = 512 << 10 };
	void *p[RUNS];
	for (int i = 0; i < RUNS; i++) {
		p[i] = malloc(SIZE);
		REQUIRE(p[i] != NULL, "malloc");
		memset(p[i], 1, SIZE);
	}
	for (int i = 0; i < RUNS; i++)
		free(p[i]);
	malloc_trim(0);
	size_t k0 = mallinfo2().keepcost;
	for (int i = 0; i < RUNS; i++) {
		p[i] = malloc(SIZE);
		REQUIRE(p[i] != NULL, "malloc");
		memset(p[i], 1, SIZE);
	}
	for (int i = 0; i < RUNS; i++)
		free(p[i]);
	size_t k1 = mallinfo2().keepcost;
	CHECK(k1 >= k0 + (size_t)RUNS * SIZE / 2, "freed runs wait: keepcost %zu -> %zu", k0, k1);
	CHECK(malloc_trim(0) == 1, "malloc_trim gives them back");
	size_t k2 = mallinfo2().keepcost;
	CHECK(k2 < (size_t)SIZE, "keepcost after malloc_trim: %zu", k2);
}

static void test_mallinfo(void)
{
	void *keep = malloc(100000);
	REQUIRE(keep != NULL, "malloc");
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo m = mallinfo();
	/* Taken a moment apart: equal unless something allocated between. */
	CHECK(m.arena == (int)m2.arena && m.hblks == (int)m2.hblks && m.hblkhd == (int)m2.hblkhd,
	      "arena %d/%zu, hblks %d/%zu", m.arena, m2.arena, m.hblks, m2.hblks);
	CHECK(m.uordblks > 0 && (size_t)m.uordblks <= m2.uordblks + 4096 &&
	          (size_t)m.uordblks + 4096 >= m2.uordblks,
	      "uordblks %d and %zu", m.uordblks, m2.uordblks);
	CHECK(m.arena > 0 && m.uordblks >= 100000, "a process with a block: arena %d, in use %d",
	      m.arena, m.uordblks);
	free(keep);
}

static void test_malloc_stats(void)
{
	char path[] = "/tmp/cairn-mallinfo-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0, "a temporary file");
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	size_t before = mallinfo2().uordblks;
	malloc_stats();
	dup2(saved, 2);
	close(saved);
	char buf[1024] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	REQUIRE(n > 0, "malloc_stats wrote %zd bytes", n);
	CHECK(strncmp(buf, "Total (incl. mmap):\n", 20) == 0, "the first line: %.20s", buf);
	const char *use = strstr(buf, "in use bytes     = ");
	REQUIRE(use != NULL, "an in-use line in:\n%s", buf);
	unsigned long long v = strtoull(use + 19, NULL, 10);
	CHECK(v + 65536 >= before && v <= before + 65536, "in use %llu against %zu", v, before);
	CHECK(strstr(buf, "system bytes     = ") != NULL && strstr(buf, "mmap regions     = "),
	      "the other lines");
}

int main(void)
{
	TEST_CASE("mallinfo2") test_mallinfo2();
	TEST_CASE("keepcost") test_keepcost();
	TEST_CASE("mallinfo") test_mallinfo();
	TEST_CASE("malloc_stats") test_malloc_stats();
	return CHECK_DONE();
}
