/* SPDX-License-Identifier: MIT */
/* threads: thread churn -- many short-lived threads that leave blocks
 * behind.
 *
 * Pattern modelled: programs that start a thread per task or per
 * connection (thread-per-request servers, `std::async`, OpenMP or
 * parallel-build style worker spawning, Java-style executors that let idle
 * threads die) and threads whose allocations outlive them: a result handed
 * to the parent, a cached object, a message still in a queue. Every thread
 * start costs the allocator a heap (or a thread cache) to set up, every exit
 * one to tear down or to hand over, and the blocks the dead thread still owns
 * have to be freed by threads that never owned them. Allocators that give
 * each thread its own heap differ most here: whether an exited thread's heap
 * is reused by the next thread, how its cached blocks are returned, how
 * "orphaned" blocks are freed (mimalloc's abandoned segments, jemalloc's
 * tcache flush on exit, glibc's arena free list). The mimalloc-bench
 * `threadtest` and `sh6bench`/`sh8bench` tests look at the same thing.
 *
 * THREADS threads in all, at most ALIVE at a time (a rolling window: when
 * the oldest has been joined, the next one starts). Each thread first frees
 * up to BLOCKS/2 blocks left in a shared "graveyard" by threads that have
 * exited or are still running (checking each), then mallocs BLOCKS blocks
 * of mixed sizes (16 B .. 4 KiB skewed small, 2% 4-32 KiB), writes them,
 * frees half of them again, puts the other half in the graveyard, and
 * exits. At the end the main thread frees what is left there.
 *
 * Usage: threads [-n THREADS] [-a ALIVE] [-b BLOCKS] [-S SEED]
 * Prints: workload=threads threads= alive= blocks= time_s= orphan_frees=
 *         checksum= errors= rss_end_kb= anon_huge_kb= */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "harness.h"
#include "sizes.h"

#define MAXALIVE 64

struct blk {
	unsigned char *p;
	uint32_t size;
	uint64_t tag;
};

static struct {
	pthread_mutex_t mu;
	struct blk *b;
	size_t n, cap;
} grave = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static long blocks = 1000;
static _Atomic long errors, orphan_frees;
static _Atomic uint64_t checksum;

static void *task(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dULL + 1;
	long errs = 0, freed = 0;
	uint64_t sum = 0;
	struct blk take[blocks / 2 + 1];
	struct blk mine[blocks];
	size_t ntake = 0;

	/* Take the oldest-left blocks out of the graveyard under the lock,
	 * free them outside it. */
	pthread_mutex_lock(&grave.mu);
	ntake = grave.n < (size_t)blocks / 2 ? grave.n : (size_t)blocks / 2;
	grave.n -= ntake;
	memcpy(take, grave.b + grave.n, ntake * sizeof *take);
	pthread_mutex_unlock(&grave.mu);
	for (size_t i = 0; i < ntake; i++) {
		errs += bench_check(take[i].p, take[i].size, take[i].tag);
		sum += take[i].p[take[i].size - 1];
		free(take[i].p);
		freed++;
	}

	for (long i = 0; i < blocks; i++) {
		uint32_t size = (uint32_t)size_draw(MIX_THREADS, bench_rand(&rng));
		uint64_t tag = bench_rand(&rng) | 1;
		unsigned char *p = malloc(size);
		if (!p) {
			fprintf(stderr, "malloc(%u) failed\n", size);
			exit(1);
		}
		bench_fill(p, size, tag);
		mine[i] = (struct blk){p, size, tag};
	}
	/* free the even ones, leave the odd ones behind */
	for (long i = 0; i < blocks; i += 2) {
		errs += bench_check(mine[i].p, mine[i].size, mine[i].tag);
		sum += mine[i].p[0];
		free(mine[i].p);
	}
	pthread_mutex_lock(&grave.mu);
	for (long i = 1; i < blocks && grave.n < grave.cap; i += 2)
		grave.b[grave.n++] = mine[i];
	pthread_mutex_unlock(&grave.mu);

	atomic_fetch_add(&errors, errs);
	atomic_fetch_add(&orphan_frees, freed);
	atomic_fetch_add(&checksum, sum);
	return NULL;
}

int main(int argc, char **argv)
{
	long nthreads = 2000;
	int alive = 4;
	uint64_t seed = 0x7417;

	const struct bench_opt opts[] = {
	    {'n', "THREADS", BENCH_COUNT, &nthreads, "threads started in all"},
	    {'a', "ALIVE", BENCH_INT, &alive, "threads alive at a time, 1 to 64"},
	    {'b', "BLOCKS", BENCH_COUNT, &blocks, "blocks each thread allocates"},
	    {'S', "SEED", BENCH_SEED, &seed, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	if (nthreads < 1 || alive < 1 || alive > MAXALIVE || blocks < 2 || blocks > 20000) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}
	/* The graveyard holds what ALIVE+1 threads leave behind, plenty:
	 * each thread takes out as much as it puts in. */
	grave.cap = (size_t)(alive + 2) * (size_t)blocks;
	grave.b = malloc(grave.cap * sizeof *grave.b);
	if (!grave.b)
		return 1;

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024 + (size_t)blocks * 48);
	pthread_t th[MAXALIVE];
	double t0 = bench_now();
	for (long i = 0; i < nthreads; i++) {
		int k = (int)(i % alive);
		if (i >= alive)
			pthread_join(th[k], NULL);
		if (pthread_create(&th[k], &attr, task, (void *)(uintptr_t)(seed + (uint64_t)i)) !=
		    0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (long i = nthreads - alive > 0 ? nthreads - alive : 0; i < nthreads; i++)
		pthread_join(th[i % alive], NULL);
	long errs = errors;
	uint64_t sum = checksum;
	for (size_t i = 0; i < grave.n; i++) {
		errs += bench_check(grave.b[i].p, grave.b[i].size, grave.b[i].tag);
		sum += grave.b[i].p[grave.b[i].size - 1];
		free(grave.b[i].p);
	}
	double t = bench_now() - t0;
	free(grave.b);

	return bench_result(sum, errs,
	                    "workload=threads threads=%ld alive=%d blocks=%ld time_s=%.6f "
	                    "orphan_frees=%ld",
	                    nthreads, alive, blocks, t, (long)orphan_frees);
}
