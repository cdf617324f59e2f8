/* SPDX-License-Identifier: MIT */
/* falseshare: allocator-induced false sharing, active and passive.
 *
 * Pattern modelled: threads that each work on small objects of their own
 * (counters, per-connection state, nodes) and write them hard. If the
 * allocator hands two threads objects that lie in the same 64-byte cache
 * line, every write by one thread invalidates the line in the other's cache
 * and the program slows down by an order of magnitude without sharing a
 * single byte. These are the two tests of Berger et al., "Hoard: A Scalable
 * Memory Allocator for Multithreaded Applications" (ASPLOS 2000),
 * cache-thrash and cache-scratch, which every allocator paper since runs:
 *
 *   -m active   (cache-thrash) each thread, concurrently, ITERS times:
 *               malloc(SIZE), write the object REPS times, free it. An
 *               allocator that carves blocks for different threads out of
 *               the same lines (one shared heap, a shared first slab)
 *               causes the sharing itself.
 *   -m passive  (cache-scratch) the main thread mallocs one SIZE-byte
 *               object per thread, back to back (so they share lines), and
 *               hands one to each thread; each thread frees the object it
 *               was given and then, ITERS times, mallocs SIZE bytes, writes
 *               it REPS times and frees it. An allocator that lets the
 *               freeing thread reuse the block it just freed (a per-thread
 *               cache that takes in remote frees) keeps the threads on the
 *               main thread's shared lines for the whole run.
 *
 * The writes are read-modify-write increments of the object's first 8
 * bytes (volatile, so each is a real store); after REPS of them the
 * thread checks the count, which a broken allocator (two threads given the
 * same block) would get wrong.
 *
 * Usage: falseshare -m active|passive [-t THREADS] [-n ITERS] [-r REPS]
 *                   [-z SIZE]
 * Prints: workload=falseshare mode= threads= iters= reps= size= time_s=
 *         shared_lines= errors= rss_end_kb= anon_huge_kb=
 * shared_lines (passive only): how many of the objects handed out by the
 * main thread share a 64-byte line with another thread's object.
 * time_s: from the start barrier to the last thread's end. */
#include <pthread.h>
#include <stdint.h>

#include "common.h"
#include "harness.h"

#define MAXT 64

static int passive, nthreads = 2;
static long iters = 100000, reps = 1000;
static long objsize = 8;
static pthread_barrier_t start;

struct worker {
	int id;
	unsigned char *given; /* passive: the object from the main thread */
	long errors;
	uint64_t sum;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	long errs = 0;
	uint64_t sum = 0;

	pthread_barrier_wait(&start);
	if (w->given)
		free(w->given);
	for (long i = 0; i < iters; i++) {
		unsigned char *p = malloc(objsize);
		if (!p) {
			fprintf(stderr, "malloc(%ld) failed\n", objsize);
			exit(1);
		}
		volatile uint64_t *c = (volatile uint64_t *)p;
		*c = 0;
		for (long r = 0; r < reps; r++)
			*c = *c + 1;
		errs += *c != (uint64_t)reps;
		sum += (uintptr_t)p & 63;
		free(p);
	}
	w->errors = errs;
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = NULL;
	const struct bench_opt opts[] = {
	    {'m', "MODE", BENCH_STR, &mode, "active (cache-thrash) or passive (cache-scratch)"},
	    {'t', "THREADS", BENCH_INT, &nthreads, "threads, 1 to 64"},
	    {'n', "ITERS", BENCH_COUNT, &iters,
	     "objects each thread allocates and frees, one at a time"},
	    {'r', "REPS", BENCH_COUNT, &reps, "writes into each object"},
	    {'z', "SIZE", BENCH_COUNT, &objsize, "object size in bytes, 8 to 4096"},
	    {0},
	};

	bench_options(argc, argv, opts,
	              "-m active|passive [-t THREADS] [-n ITERS] [-r REPS] [-z SIZE]");
	if (!mode || (strcmp(mode, "active") && strcmp(mode, "passive")))
		bench_usage();
	passive = !strcmp(mode, "passive");
	if (nthreads < 1 || nthreads > MAXT || iters < 1 || reps < 1 || objsize < 8 ||
	    objsize > 4096) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}

	struct worker w[MAXT];
	pthread_t th[MAXT];
	memset(w, 0, sizeof w);
	long shared = 0;
	if (passive) {
		for (int k = 0; k < nthreads; k++) {
			w[k].given = malloc(objsize);
			if (!w[k].given)
				return 1;
			memset(w[k].given, k, objsize);
		}
		for (int k = 0; k < nthreads; k++)
			for (int j = 0; j < nthreads; j++)
				if (j != k &&
				    (uintptr_t)w[k].given / 64 == (uintptr_t)w[j].given / 64) {
					shared++;
					break;
				}
	}
	pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
	for (int k = 0; k < nthreads; k++) {
		w[k].id = k;
		if (pthread_create(&th[k], NULL, work, &w[k]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	double t0 = bench_now();
	pthread_barrier_wait(&start);
	for (int k = 0; k < nthreads; k++)
		pthread_join(th[k], NULL);
	double t = bench_now() - t0;

	long errors = 0;
	uint64_t sum = 0;
	for (int k = 0; k < nthreads; k++)
		errors += w[k].errors, sum += w[k].sum;
	return bench_result(sum, errors,
	                    "workload=falseshare mode=%s threads=%d iters=%ld reps=%ld size=%ld "
	                    "time_s=%.6f shared_lines=%ld",
	                    mode, nthreads, iters, reps, objsize, t, shared);
}
