/* SPDX-License-Identifier: MIT */
/* producer_consumer.c: one thread allocates, another frees, millions of times.
 *
 * The producer mallocs small blocks, fills each with a pattern derived from its address and
 * sequence number and passes it through a bounded single-producer single-consumer ring; the
 * consumer checks order, size and contents and frees the block. Every free is therefore a
 * remote free, and the producer only keeps going if memory freed by the other thread finds its
 * way back to it: the RSS at the end must stay far below the ~1.5 GiB that went through the ring.
 * Sizes follow a fixed seed. */
#include "check.h"
#include "proc.h"
#include "rng.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BLOCKS   4000000L
#define RING     1024 /* a power of two */
#define SEED     0x70c0ffee1234abcdull
#define RSS_GROW (128 * 1024) /* KiB */

typedef uint64_t __attribute__((may_alias)) word_t;

struct item {
	unsigned char *p;
	size_t size;
	long seq;
};

/* The ring: the producer owns tail, the consumer owns head. */
static struct item ring[RING];
static _Atomic long head, tail;

static long produced_bytes, errors, consumed;

static inline uint64_t pattern(uintptr_t key, long seq, size_t off)
{
	uint64_t x = (key + off + ((uint64_t)seq << 32)) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

static void fill(unsigned char *p, size_t size, long seq)
{
	size_t off = 0;
	for (; off + 8 <= size; off += 8)
		*(word_t *)(p + off) = pattern((uintptr_t)p, seq, off);
	for (uint64_t v = pattern((uintptr_t)p, seq, off); off < size; off++, v >>= 8)
		p[off] = (unsigned char)v;
}

static size_t verify(const unsigned char *p, size_t size, long seq)
{
	size_t off = 0;
	for (; off + 8 <= size; off += 8)
		if (*(const word_t *)(p + off) != pattern((uintptr_t)p, seq, off))
			return off;
	for (uint64_t v = pattern((uintptr_t)p, seq, off); off < size; off++, v >>= 8)
		if (p[off] != (unsigned char)v)
			return off;
	return SIZE_MAX;
}

/* Mostly tiny blocks, some up to 4 KiB, a few up to 32 KiB: all from cairn's small range. */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	if (r < 900)
		return 1 + x % 256;
	if (r < 995)
		return 257 + x % (4096 - 256);
	return 4097 + x % (32768 - 4096);
}

static void *producer(void *arg)
{
	uint64_t rng = SEED;
	for (long seq = 0; seq < BLOCKS; seq++) {
		size_t size = pick_size(&rng);
		unsigned char *p = malloc(size);
		if (p == NULL || (uintptr_t)p % 16 != 0) {
			fprintf(stderr, "producer: bad block %p for %zu bytes\n", (void *)p, size);
			errors++;
			break;
		}
		fill(p, size, seq);
		produced_bytes += (long)size;

		long t = atomic_load_explicit(&tail, memory_order_relaxed);
		while (t - atomic_load_explicit(&head, memory_order_acquire) == RING)
			sched_yield();
		ring[t % RING] = (struct item){p, size, seq};
		atomic_store_explicit(&tail, t + 1, memory_order_release);
	}
	/* A NULL block tells the consumer to stop. */
	long t = atomic_load_explicit(&tail, memory_order_relaxed);
	while (t - atomic_load_explicit(&head, memory_order_acquire) == RING)
		sched_yield();
	ring[t % RING] = (struct item){NULL, 0, -1};
	atomic_store_explicit(&tail, t + 1, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	long expect = 0, bad = 0;
	for (;;) {
		long h = atomic_load_explicit(&head, memory_order_relaxed);
		while (atomic_load_explicit(&tail, memory_order_acquire) == h)
			sched_yield();
		struct item it = ring[h % RING];
		atomic_store_explicit(&head, h + 1, memory_order_release);
		if (it.p == NULL)
			break;

		size_t off = SIZE_MAX;
		if (it.seq != expect || malloc_usable_size(it.p) < it.size ||
		    (off = verify(it.p, it.size, it.seq)) != SIZE_MAX) {
			if (bad++ < 10)
				fprintf(stderr,
				        "consumer: block %p (%zu bytes, seq %ld, expected %ld, "
				        "usable %zu) wrong at offset %zu\n",
				        (void *)it.p, it.size, it.seq, expect,
				        malloc_usable_size(it.p), off);
		}
		free(it.p);
		expect++;
	}
	consumed = expect;
	errors += bad;
	return NULL;
}

int main(void)
{
	long rss_before = (long)(rss_bytes() >> 10);
	pthread_t prod, cons;
	int rc = pthread_create(&cons, NULL, consumer, NULL);
	REQUIRE(rc == 0, "pthread_create consumer: error %d", rc);
	rc = pthread_create(&prod, NULL, producer, NULL);
	REQUIRE(rc == 0, "pthread_create producer: error %d", rc);
	CHECK(pthread_join(prod, NULL) == 0, "join producer");
	CHECK(pthread_join(cons, NULL) == 0, "join consumer");
	long rss_after = (long)(rss_bytes() >> 10);

	fprintf(stderr, "producer_consumer: %ld blocks, %ld MiB in all; RSS %ld -> %ld KiB\n",
	        consumed, produced_bytes >> 20, rss_before, rss_after);
	CHECK(errors == 0, "%ld bad blocks", errors);
	CHECK(consumed == BLOCKS, "consumer saw %ld blocks of %ld", consumed, BLOCKS);
	CHECK(atomic_load(&head) == atomic_load(&tail), "ring not empty");
	CHECK(rss_after - rss_before < RSS_GROW, "RSS grew by %ld KiB (%ld MiB went through)",
	      rss_after - rss_before, produced_bytes >> 20);
	return CHECK_DONE();
}
