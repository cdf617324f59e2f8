/* SPDX-License-Identifier: MIT */
/* prodcons: one thread allocates, another frees, through a bounded queue.
 *
 * Pattern modelled: the producer/consumer pipeline -- a network thread that
 * parses messages into freshly allocated objects and queues them for a
 * worker, a logger thread that frees the records other threads format, a
 * work queue feeding a thread pool. Every block is freed by a thread that did
 * not allocate it, so nothing is ever reused through the freeing thread's own
 * cache: the allocator's remote-free path (how freed blocks travel back to
 * their owner, and at what cost in atomics and cache misses) is the whole
 * benchmark. It is the "one-way" case of the mimalloc-bench xmalloc test and
 * of jemalloc's and snmalloc's message-passing benchmarks; glibc's arenas
 * are known to grow without bound on some variants of it.
 *
 * The producer mallocs N blocks of mixed small sizes (16..512 bytes, skewed
 * to the small end, mean about 100 bytes), writes a tag into each and
 * pushes it into a single-producer single-consumer ring of QUEUE entries
 * (the bound: when the ring is full the producer waits, yielding the CPU);
 * the consumer pops each block, checks the tag, and frees it.
 *
 * Usage: prodcons [-n BLOCKS] [-q QUEUE] [-S SEED]
 * Prints: workload=prodcons n= queue= time_s= waits_full= waits_empty=
 *         checksum= errors= rss_end_kb= anon_huge_kb=
 * time_s: from the start of both threads until the consumer freed the last
 * block. */
#include <pthread.h>
#include <sched.h>

#include "common.h"
#include "harness.h"
#include "sizes.h"
#include "ring.h"

#define MAXQ (1 << 20)

static struct ring q;

static long nblocks = 10000000;
static uint64_t seed = 0x9c0de;
static long waits_full, waits_empty, errors;
static uint64_t checksum;
static pthread_barrier_t start;

/* The consumer recomputes each block's size and tag from the same
 * sequence, so it can check every block it frees. */
static void block_params(uint64_t *rng, uint64_t i, size_t *size, uint64_t *tag)
{
	*size = size_draw(MIX_MESSAGES, bench_rand(rng));
	*tag = (i + 1) * 0x9e3779b97f4a7c15ULL;
}

static void *producer(void *arg)
{
	uint64_t rng = seed;
	(void)arg;
	pthread_barrier_wait(&start);
	for (long i = 0; i < nblocks; i++) {
		size_t size;
		uint64_t tag;
		block_params(&rng, (uint64_t)i, &size, &tag);
		unsigned char *p = malloc(size);
		if (!p) {
			fprintf(stderr, "malloc(%zu) failed\n", size);
			exit(1);
		}
		bench_fill(p, size, tag);
		while (!ring_push(&q, p)) {
			waits_full++;
			sched_yield();
		}
	}
	return NULL;
}

struct consumed {
	uint64_t rng, sum;
	long n, errors;
};

static void consume(void *ctx, void *block)
{
	struct consumed *c = ctx;
	unsigned char *p = block;
	size_t size;
	uint64_t tag;
	block_params(&c->rng, (uint64_t)c->n++, &size, &tag);
	c->errors += bench_check(p, size, tag);
	c->sum += p[size - 1];
	free(p);
}

static void *consumer(void *arg)
{
	struct consumed c = {seed, 0, 0, 0};
	long we = 0;
	(void)arg;
	pthread_barrier_wait(&start);
	while (c.n < nblocks) {
		if (ring_drain(&q, consume, &c) == 0) {
			we++;
			sched_yield();
		}
	}
	checksum = c.sum;
	errors = c.errors;
	waits_empty = we;
	return NULL;
}

int main(int argc, char **argv)
{
	long cap = 1024;
	const struct bench_opt opts[] = {
	    {'n', "BLOCKS", BENCH_COUNT, &nblocks, "blocks passed from producer to consumer"},
	    {'q', "QUEUE", BENCH_COUNT, &cap, "queue entries, a power of two"},
	    {'S', "SEED", BENCH_SEED, &seed, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	if (nblocks < 1 || cap < 2 || cap > MAXQ || (cap & (cap - 1))) {
		fprintf(stderr, "bad arguments (QUEUE: a power of two up to %d)\n", MAXQ);
		return 1;
	}
	void **slot = calloc((size_t)cap, sizeof *slot);
	if (!slot)
		return 1;
	ring_init(&q, slot, (unsigned long)cap);
	pthread_barrier_init(&start, NULL, 2);

	pthread_t pt, ct;
	double t0 = bench_now();
	if (pthread_create(&pt, NULL, producer, NULL) != 0 ||
	    pthread_create(&ct, NULL, consumer, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);
	double t = bench_now() - t0;
	free(slot);

	return bench_result(checksum, errors,
	                    "workload=prodcons n=%ld queue=%ld time_s=%.6f waits_full=%ld "
	                    "waits_empty=%ld",
	                    nblocks, cap, t, waits_full, waits_empty);
}
