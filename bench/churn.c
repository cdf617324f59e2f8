/* SPDX-License-Identifier: MIT */
/* churn: small-object churn around a live set that stays the same size.
 *
 * Pattern modelled: a long-running program (server, interpreter, compiler,
 * cache) whose heap holds a large, steady population of small objects of
 * mixed sizes that are replaced one at a time in no particular order. This is
 * where an allocator's size classes, the fragmentation they cause, its
 * free-list locality and its thread-cache refill/flush paths all show, and it
 * is the bread-and-butter case a drop-in malloc must not lose on.
 *
 * Each thread keeps an array of SLOTS live blocks. It fills it, then does OPS
 * replacements: pick a slot at random, check the old block still holds what
 * was written into it, free it, malloc a block of a new random size and write
 * into it (an 8-byte tag at the start, the first cache line, the last byte).
 * At the end it frees everything. Sizes follow a skewed distribution, about
 * the shape of real C/C++ heaps, mean about 256 bytes:
 *     60%  16 ..   64 bytes
 *     25%  65 ..  256 bytes
 *     10% 257 .. 1024 bytes
 *      5% 1025 .. 4096 bytes
 * The seed is fixed, so every allocator sees the same sequence. With
 * -x mid the sizes are those of a heap with medium blocks (sizes.h,
 * MIX_MID): 70% 8-128 B, 25% 129 B-4 KiB, 5% 4-64 KiB.
 *
 * With -t N (2 to 64) N threads run at once, each with its own live set and
 * OPS replacements, and REMOTE per mille of the blocks a thread replaces
 * are not freed by it but passed through a queue to the next thread (in a
 * ring: thread k to k+1, the last to the first), which frees them (the
 * producer/consumer hand-off of pipelines and thread pools). When a queue
 * is full the block is freed locally (counted as `fallback`). The work per
 * thread stays the same whatever N, so that on N free cores the time would
 * too: the thread-scaling runs (bench/run.py --scaling) use it.
 * With -t 1 everything runs on the main thread and no thread is created
 * (glibc has a single-thread fast path; that is the real case for a
 * single-threaded program).
 *
 * Usage: churn [-t THREADS(1..64)] [-s SLOTS] [-n OPS_PER_THREAD]
 *              [-r REMOTE_PERMILLE] [-x small|mid] [-S SEED]
 * Prints: workload=churn threads= slots= ops= remote= mix= time_s= remote_frees=
 *         fallback= checksum= errors= rss_end_kb= anon_huge_kb=
 * time_s covers fill + replacements + teardown of all threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "sizes.h"
#include "ring.h"

#define QCAP        8192 /* entries per queue (power of two) */
#define MAX_THREADS 64
#define DRAIN_EVERY 32 /* ops between looks at the incoming queue */

struct worker {
	int id;
	long slots, ops;
	int remote; /* per mille */
	enum size_mix_name mix;
	uint64_t seed;
	struct ring *out, *in; /* NULL with one thread */
	_Atomic int *peer_done, *my_done;
	/* results */
	uint64_t checksum;
	long errors, remote_frees, fallback;
};

/* Each mix drawn with a constant, so that size_draw folds its table. */
static size_t draw(enum size_mix_name mix, uint64_t *rng)
{
	if (mix == MIX_MID)
		return size_draw(MIX_MID, bench_rand(rng));
	return size_draw(MIX_SMALL, bench_rand(rng));
}

static void free_one(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->seed;
	unsigned char **ptr = malloc(w->slots * sizeof *ptr);
	uint32_t *size = malloc(w->slots * sizeof *size);
	uint64_t *tag = malloc(w->slots * sizeof *tag);
	uint64_t serial = (uint64_t)w->id << 56;
	uint64_t sum = 0;

	if (!ptr || !size || !tag) {
		fprintf(stderr, "out of memory for the slot arrays\n");
		exit(1);
	}
	for (long i = 0; i < w->slots; i++) {
		size[i] = (uint32_t)draw(w->mix, &rng);
		tag[i] = ++serial * 0x9e3779b97f4a7c15ULL;
		ptr[i] = malloc(size[i]);
		if (!ptr[i]) {
			fprintf(stderr, "malloc(%u) failed\n", size[i]);
			exit(1);
		}
		bench_fill(ptr[i], size[i], tag[i]);
	}
	for (long op = 0; op < w->ops; op++) {
		uint64_t r = bench_rand(&rng);
		long i = (long)(r % (uint64_t)w->slots);
		unsigned char *old = ptr[i];

		if (bench_check(old, size[i], tag[i]))
			w->errors++;
		sum += old[size[i] - 1];
		if (w->out && (long)((r >> 40) % 1000) < w->remote) {
			if (ring_push(w->out, old))
				w->remote_frees++;
			else
				free(old), w->fallback++;
		} else {
			free(old);
		}
		size[i] = (uint32_t)draw(w->mix, &rng);
		tag[i] = ++serial * 0x9e3779b97f4a7c15ULL;
		ptr[i] = malloc(size[i]);
		if (!ptr[i]) {
			fprintf(stderr, "malloc(%u) failed\n", size[i]);
			exit(1);
		}
		bench_fill(ptr[i], size[i], tag[i]);
		if (w->in && op % DRAIN_EVERY == 0)
			ring_drain(w->in, free_one, NULL);
	}
	if (w->in) {
		/* Keep freeing what the thread before sends until it is done
		 * sending. */
		atomic_store(w->my_done, 1);
		while (!atomic_load(w->peer_done)) {
			if (ring_drain(w->in, free_one, NULL) == 0)
				sched_yield();
		}
		ring_drain(w->in, free_one, NULL);
	}
	for (long i = 0; i < w->slots; i++) {
		if (bench_check(ptr[i], size[i], tag[i]))
			w->errors++;
		sum += ptr[i][0];
		free(ptr[i]);
	}
	free(ptr);
	free(size);
	free(tag);
	w->checksum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, remote = 100;
	long slots = 50000, ops = 5000000;
	uint64_t seed = 0x5eed;
	const char *mixname = "small";

	const struct bench_opt opts[] = {
	    {'t', "1..64", BENCH_INT, &threads, "threads: 1 (all on the main thread) to 64"},
	    {'s', "SLOTS", BENCH_COUNT, &slots, "live blocks per thread"},
	    {'n', "OPS", BENCH_COUNT, &ops, "replacements per thread"},
	    {'r', "REMOTE_PERMILLE", BENCH_INT, &remote,
	     "with 2 or more threads: blocks per mille freed by the next one"},
	    {'x', "small|mid", BENCH_STR, &mixname, "size mix: small, or mid (with 4-64 KiB)"},
	    {'S', "SEED", BENCH_SEED, &seed, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	enum size_mix_name mix = !strcmp(mixname, "mid") ? MIX_MID : MIX_SMALL;
	if ((strcmp(mixname, "small") && strcmp(mixname, "mid")) || threads < 1 ||
	    threads > MAX_THREADS || slots < 1 || remote < 0 || remote > 1000) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}

	/* Static, not malloc'd: the rings are no part of the measured heap. */
	static struct ring q[MAX_THREADS]; /* q[k]: blocks on their way to thread k */
	static void *qslot[MAX_THREADS][QCAP];
	static _Atomic int done[MAX_THREADS];
	static struct worker w[MAX_THREADS];
	memset(w, 0, sizeof w);
	for (int k = 0; k < threads; k++) {
		w[k].id = k;
		w[k].slots = slots;
		w[k].ops = ops;
		w[k].remote = remote;
		w[k].mix = mix;
		w[k].seed = seed + (uint64_t)k * 0x1000193;
		if (threads > 1) {
			ring_init(&q[k], qslot[k], QCAP);
			w[k].out = &q[(k + 1) % threads];
			w[k].in = &q[k];
			w[k].my_done = &done[k];
			w[k].peer_done = &done[(k + threads - 1) % threads];
		}
	}

	double t0 = bench_now();
	if (threads == 1) {
		work(&w[0]);
	} else {
		static pthread_t th[MAX_THREADS];
		for (int k = 1; k < threads; k++)
			if (pthread_create(&th[k], NULL, work, &w[k]) != 0) {
				perror("pthread_create");
				return 1;
			}
		work(&w[0]);
		for (int k = 1; k < threads; k++)
			pthread_join(th[k], NULL);
	}
	double t = bench_now() - t0;

	uint64_t sum = 0;
	long errors = 0, rf = 0, fb = 0;
	for (int k = 0; k < threads; k++) {
		sum += w[k].checksum;
		errors += w[k].errors;
		rf += w[k].remote_frees;
		fb += w[k].fallback;
	}
	return bench_result(
	    sum, errors,
	    "workload=churn threads=%d slots=%ld ops=%ld remote=%d mix=%s time_s=%.6f "
	    "remote_frees=%ld fallback=%ld",
	    threads, slots, ops, threads > 1 ? remote : 0, mixname, t, rf, fb);
}
