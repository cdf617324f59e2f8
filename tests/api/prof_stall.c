/* SPDX-License-Identifier: MIT */
/* prof_stall.c: a dump of a large profile stops no allocating thread for
 * long. 100,000 distinct stacks hold a live sampled block each
 * (lg_prof_sample:0: every allocation sampled); then one thread allocates
 * and frees in a loop, each block sampled and so each iteration taking the
 * profiler's lock twice, recording the longest gap between iterations,
 * while the main thread writes the profile with prof.dump. Cases:
 *   progress  the loop went on while the dump was written: iterations
 *             counted between the dump's start and end (a dump that held
 *             the lock throughout would allow none but those before the
 *             lock was taken), and the file has every stack;
 *   stall     the longest gap during the dump, against a generous bound
 *             (STALL_BOUND_MS: timing on a shared machine), printed with
 *             the dump's duration and the longest gap outside it.
 * Several dumps are made (ROUNDS); the figures printed are each round's and
 * the median. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cairn/jemalloc.h>

#include "check.h"

const char *malloc_conf = "prof:true,lg_prof_sample:0,prof_final:false,prof_gdump:false";

#define NSTACKS        100000
#define LEVELS         17 /* 2^17 > NSTACKS paths */
#define ROUNDS         5
#define STALL_BOUND_MS 2000

static void *held[NSTACKS];

static void *walk(unsigned k, int level);

/* Two call sites of walk: the path of k's bits through them makes each
 * stack distinct. The barrier after each call keeps it from being a tail
 * call, which would leave no frame of the caller. */
static __attribute__((noinline)) void *walk_a(unsigned k, int level)
{
	void *p = walk(k, level);
	__asm__ volatile("" ::"r"(p) : "memory");
	return p;
}

static __attribute__((noinline)) void *walk_b(unsigned k, int level)
{
	void *p = walk(k, level);
	__asm__ volatile("" ::"r"(p) : "memory");
	return p;
}

static __attribute__((noinline)) void *walk(unsigned k, int level)
{
	if (level == 0)
		return malloc(16);
	void *p = (k & 1) ? walk_a(k >> 1, level - 1) : walk_b(k >> 1, level - 1);
	__asm__ volatile("" ::"r"(p) : "memory");
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* 0: before the dump, 1: during it, 2: after; the loop stops at 3. */
static _Atomic int phase;
static uint64_t gap_during, gap_outside, iters_during;

static void *allocate(void *arg)
{
	uint64_t last = now_ns();
	int seen;
	while ((seen = atomic_load(&phase)) < 3) {
		void *p = malloc(64);
		__asm__ volatile("" ::"r"(p) : "memory");
		free(p);
		uint64_t t = now_ns(), gap = t - last;
		last = t;
		/* A gap that ends in the dump's phase counts as the dump's:
		 * the phase was read before it began. */
		if (seen == 1 || atomic_load(&phase) == 1) {
			iters_during++;
			if (gap > gap_during)
				gap_during = gap;
		} else if (gap > gap_outside) {
			gap_outside = gap;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The lines of path that start with "@": one per stack in the dump. */
static size_t stacks_in(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char line[4096];
	size_t n = 0;
	while (fgets(line, sizeof line, f) != NULL)
		n += line[0] == '@';
	fclose(f);
	return n;
}

int main(void)
{
	for (unsigned k = 0; k < NSTACKS; k++)
		held[k] = walk(k, LEVELS);
	char dir[] = "/tmp/cairn-prof-stall-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	uint64_t during[ROUNDS], outside[ROUNDS], dump_ms[ROUNDS], iters[ROUNDS];
	size_t stacks[ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%d.heap", dir, r);
		gap_during = gap_outside = iters_during = 0;
		atomic_store(&phase, 0);
		pthread_t t;
		pthread_create(&t, NULL, allocate, NULL);
		usleep(50000);
		const char *p = path;
		uint64_t t0 = now_ns();
		atomic_store(&phase, 1);
		int err = mallctl("prof.dump", NULL, NULL, &p, sizeof p);
		atomic_store(&phase, 2);
		dump_ms[r] = (now_ns() - t0) / 1000000;
		CHECK(err == 0, "prof.dump: %d", err);
		usleep(50000);
		atomic_store(&phase, 3);
		pthread_join(t, NULL);
		during[r] = gap_during;
		outside[r] = gap_outside;
		iters[r] = iters_during;
		stacks[r] = stacks_in(path);
		unlink(path);
		fprintf(stderr,
		        "round %d: dump %llu ms, %zu stacks; longest gap of the allocating thread "
		        "%.3f ms during the dump (%llu iterations), %.3f ms outside it\n",
		        r, (unsigned long long)dump_ms[r], stacks[r], during[r] / 1e6,
		        (unsigned long long)iters[r], outside[r] / 1e6);
	}
	rmdir(dir);
	TEST_CASE("progress")
	{
		for (int r = 0; r < ROUNDS; r++) {
			CHECK(stacks[r] >= NSTACKS, "round %d: %zu stacks in the dump", r,
			      stacks[r]);
			CHECK(iters[r] > 0, "round %d: no iteration during the dump", r);
		}
	}
	TEST_CASE("stall")
	{
		uint64_t s[ROUNDS];
		memcpy(s, during, sizeof s);
		qsort(s, ROUNDS, sizeof *s, cmp_u64);
		fprintf(stderr, "median longest gap during a dump of %d stacks: %.3f ms\n", NSTACKS,
		        s[ROUNDS / 2] / 1e6);
		CHECK(s[ROUNDS / 2] < (uint64_t)STALL_BOUND_MS * 1000000u,
		      "median longest gap %.3f ms", s[ROUNDS / 2] / 1e6);
	}
	for (unsigned k = 0; k < NSTACKS; k++)
		free(held[k]);
	return CHECK_DONE();
}
