/* SPDX-License-Identifier: MIT */
/* server: a multi-threaded request server, simulated.
 *
 * Pattern modelled: the worker threads of a network service (web/RPC
 * server, proxy, database front end). Each worker holds a population of
 * live request objects -- small headers and parsed fields, I/O buffers,
 * bodies, now and then a large upload or response -- and replaces them one
 * at a time as requests finish and new ones arrive. Part of what a worker
 * allocates is finished by another thread (a response written out by an I/O
 * thread, a message passed down a pipeline), so that thread frees it. This is
 * the workload of the allocator papers' "server" benchmarks (Larson's
 * server simulation, the mimalloc-bench `larson` and `xmalloc` tests),
 * with the size mix widened to include large blocks, which is where
 * allocators differ most in RSS (large free runs kept or given back).
 *
 * Each of THREADS workers keeps SLOTS live blocks. It fills them, then does
 * OPS replacements: pick a slot at random, check the old block, free it --
 * or, REMOTE per mille of the time, hand it to a random other worker, which
 * frees it -- then malloc a new block of a random size and write it (tag and
 * first 64 bytes, one byte per 4 KiB page, the last byte: a buffer being
 * filled). Sizes (mean about 10 KiB):
 *     40%  16 ..  128 B   headers, small strings
 *     30% 129 .. 1024 B   request structures, parsed fields
 *     20%   1 ..    8 KiB I/O buffers, bodies
 *      8%   8 ..   64 KiB larger bodies
 *      2%  64 ..  512 KiB large uploads / responses
 * Hand-offs go through one single-producer single-consumer ring per
 * (sender, receiver) pair; when a ring is full the block is freed locally
 * (counted as `fallback`). At the end each worker keeps freeing what it is
 * sent until every worker is done, then frees its own live set.
 *
 * Usage: server [-t THREADS] [-s SLOTS] [-n OPS_PER_THREAD]
 *               [-r REMOTE_PERMILLE] [-S SEED]
 * Prints: workload=server threads= slots= ops= remote= time_s= remote_frees=
 *         fallback= checksum= errors= rss_end_kb= anon_huge_kb=
 * time_s covers fill + replacements + teardown of all threads. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"
#include "harness.h"
#include "sizes.h"
#include "ring.h"

#define MAXT        16
#define QCAP        4096 /* entries per ring (power of two) */
#define DRAIN_EVERY 32

static int nthreads = 4;
static struct ring *rings; /* rings[to * MAXT + from] */
static _Atomic int done_count;
static pthread_barrier_t start;

struct worker {
	int id;
	long slots, ops;
	int remote;
	uint64_t seed;
	uint64_t checksum;
	long errors, remote_frees, fallback;
};

/* A request buffer being filled: pattern at the start and end, one byte in
 * every page in between. */
static void fill(unsigned char *p, size_t size, uint64_t tag)
{
	bench_fill(p, size, tag);
	for (size_t off = 4096; off + 1 < size; off += 4096)
		p[off] = (unsigned char)tag;
}

static int check(const unsigned char *p, size_t size, uint64_t tag)
{
	if (bench_check(p, size, tag))
		return 1;
	for (size_t off = 4096; off + 1 < size; off += 4096)
		if (p[off] != (unsigned char)tag)
			return 1;
	return 0;
}

/* What the receiver of a block does with it. The sender re-tagged the block:
 * its size in the first 8 bytes, the tag in the next 8, the tag's low byte
 * at the end, so the receiver can check it without the sender's arrays. */
struct receiver {
	long *errors;
	uint64_t *sum;
};

static void receive(void *ctx, void *block)
{
	struct receiver *rc = ctx;
	unsigned char *p = block;
	uint64_t size, tag;
	memcpy(&size, p, 8);
	memcpy(&tag, p + 8, 8);
	if (size < 24 || size > (1u << 20) || p[size - 1] != (unsigned char)tag)
		(*rc->errors)++;
	*rc->sum += p[size - 1];
	free(p);
}

static long drain_all(int me, long *errors, uint64_t *sum)
{
	struct receiver rc = {errors, sum};
	long n = 0;
	for (int from = 0; from < nthreads; from++)
		if (from != me)
			n += ring_drain(&rings[me * MAXT + from], receive, &rc);
	return n;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->seed;
	unsigned char **ptr = malloc(w->slots * sizeof *ptr);
	uint32_t *size = malloc(w->slots * sizeof *size);
	uint64_t *tag = malloc(w->slots * sizeof *tag);
	uint64_t serial = (uint64_t)(w->id + 1) << 48;
	uint64_t sum = 0;

	if (!ptr || !size || !tag) {
		fprintf(stderr, "out of memory for the slot arrays\n");
		exit(1);
	}
	pthread_barrier_wait(&start);
	for (long i = 0; i < w->slots; i++) {
		size[i] = (uint32_t)size_draw(MIX_SERVER, bench_rand(&rng));
		tag[i] = ++serial * 0x9e3779b97f4a7c15ULL;
		ptr[i] = malloc(size[i]);
		if (!ptr[i]) {
			fprintf(stderr, "malloc(%u) failed\n", size[i]);
			exit(1);
		}
		fill(ptr[i], size[i], tag[i]);
	}
	for (long op = 0; op < w->ops; op++) {
		uint64_t r = bench_rand(&rng);
		long i = (long)(r % (uint64_t)w->slots);
		unsigned char *old = ptr[i];

		if (check(old, size[i], tag[i]))
			w->errors++;
		sum += old[size[i] - 1];
		if (nthreads > 1 && (long)((r >> 40) % 1000) < w->remote && size[i] >= 24) {
			int to = (int)((r >> 20) % (uint64_t)(nthreads - 1));
			if (to >= w->id)
				to++;
			/* re-tag for the receiver: [size][tag] ... last byte */
			uint64_t sz = size[i];
			memcpy(old, &sz, 8);
			memcpy(old + 8, &tag[i], 8);
			old[sz - 1] = (unsigned char)tag[i];
			if (ring_push(&rings[to * MAXT + w->id], old))
				w->remote_frees++;
			else
				free(old), w->fallback++;
		} else {
			free(old);
		}
		size[i] = (uint32_t)size_draw(MIX_SERVER, bench_rand(&rng));
		tag[i] = ++serial * 0x9e3779b97f4a7c15ULL;
		ptr[i] = malloc(size[i]);
		if (!ptr[i]) {
			fprintf(stderr, "malloc(%u) failed\n", size[i]);
			exit(1);
		}
		fill(ptr[i], size[i], tag[i]);
		if (nthreads > 1 && op % DRAIN_EVERY == 0)
			drain_all(w->id, &w->errors, &sum);
	}
	if (nthreads > 1) {
		/* Nobody sends after it counted itself done: once everybody is,
		 * one last drain empties the rings. */
		atomic_fetch_add(&done_count, 1);
		while (atomic_load(&done_count) < nthreads)
			if (drain_all(w->id, &w->errors, &sum) == 0)
				sched_yield();
		drain_all(w->id, &w->errors, &sum);
	}
	for (long i = 0; i < w->slots; i++) {
		if (check(ptr[i], size[i], tag[i]))
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
	int remote = 100;
	long slots = 4096, ops = 1000000;
	uint64_t seed = 0x5e7e7;
	const struct bench_opt opts[] = {
	    {'t', "THREADS", BENCH_INT, &nthreads, "worker threads, 1 to 16"},
	    {'s', "SLOTS", BENCH_COUNT, &slots, "live blocks per thread"},
	    {'n', "OPS", BENCH_COUNT, &ops, "replacements per thread"},
	    {'r', "REMOTE_PERMILLE", BENCH_INT, &remote,
	     "blocks per mille freed by another thread"},
	    {'S', "SEED", BENCH_SEED, &seed, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	if (nthreads < 1 || nthreads > MAXT || slots < 1 || remote < 0 || remote > 1000) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}
	/* The rings (harness, not workload) are allocated before timing. */
	size_t nrings = (size_t)MAXT * nthreads;
	rings = calloc(nrings, sizeof *rings);
	void **ring_slots = calloc(nrings * QCAP, sizeof *ring_slots);
	if (!rings || !ring_slots) {
		fprintf(stderr, "out of memory for the rings\n");
		return 1;
	}
	for (size_t i = 0; i < nrings; i++)
		ring_init(&rings[i], ring_slots + i * QCAP, QCAP);
	struct worker w[MAXT];
	pthread_t th[MAXT];
	memset(w, 0, sizeof w);
	pthread_barrier_init(&start, NULL, (unsigned)nthreads);

	double t0 = bench_now();
	for (int k = 0; k < nthreads; k++) {
		w[k].id = k;
		w[k].slots = slots;
		w[k].ops = ops;
		w[k].remote = remote;
		w[k].seed = seed + (uint64_t)k * 0x1000193;
		if (k && pthread_create(&th[k], NULL, work, &w[k]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	work(&w[0]);
	for (int k = 1; k < nthreads; k++)
		pthread_join(th[k], NULL);
	double t = bench_now() - t0;

	uint64_t sum = 0;
	long errors = 0, rf = 0, fb = 0;
	for (int k = 0; k < nthreads; k++) {
		sum += w[k].checksum;
		errors += w[k].errors;
		rf += w[k].remote_frees;
		fb += w[k].fallback;
	}
	free(rings);
	free(ring_slots);
	return bench_result(sum, errors,
	                    "workload=server threads=%d slots=%ld ops=%ld remote=%d time_s=%.6f "
	                    "remote_frees=%ld fallback=%ld",
	                    nthreads, slots, ops, remote, t, rf, fb);
}
