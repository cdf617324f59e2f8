/* Helpers shared by the benchmark workloads (one workload per .c file).
 *
 * The workloads are built with plain `gcc -O2 -pthread -fno-builtin-malloc
 * -fno-builtin-free` and link no allocator: the allocator under test comes in
 * through LD_PRELOAD (glibc when nothing is preloaded), so every allocator
 * runs the very same binary.
 *
 * Conventions every workload follows, so that bench/run.py can drive it:
 *   - arguments are fixed by the caller; nothing depends on time or pid;
 *   - random choices come from splitmix64 with a fixed seed;
 *   - the program ends by printing one line of key=value pairs on stdout,
 *     which includes time_s=<seconds of the timed section> and a checksum
 *     computed from the memory it was handed (so the compiler cannot drop
 *     the work, and a broken allocator shows up as errors=<n> > 0);
 *   - exit status 0 on success, 1 on a usage error, 2 when the data it
 *     wrote into its blocks did not read back (allocator corruption). */
#ifndef CAIRN_BENCH_COMMON_H
#define CAIRN_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: tiny, fast, good enough for picking slots and sizes. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Parses a count such as 200000, 200k, 4M (decimal suffixes). Exits with
 * status 1 on garbage, so a typo in run.py fails loudly. */
static inline long bench_count(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s)
		goto bad;
	if (*end == 'k' || *end == 'K')
		v *= 1e3, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1e6, end++;
	else if (*end == 'g' || *end == 'G')
		v *= 1e9, end++;
	if (*end != '\0' || v < 0)
		goto bad;
	return (long)v;
bad:
	fprintf(stderr, "bad count '%s'\n", s);
	exit(1);
}

#endif
