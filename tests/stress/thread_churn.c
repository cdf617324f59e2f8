/* SPDX-License-Identifier: MIT */
/* thread_churn.c: 2000 short-lived threads, four alive at a time, each leaving blocks behind.
 *
 * Each thread allocates and frees a mix of sizes, then leaves a few blocks in a shared table,
 * where a later thread (or main, at the end) checks and frees them: blocks outlive the thread,
 * and the heap that made them, that allocated them. Threads end in different ways (return,
 * pthread_exit, detached). An allocator that never reuses the heaps of exited threads, or leaks
 * their memory, grows by the footprint of every thread; the RSS at the end must stay below
 * 200 MiB although the threads together go through about 3 GiB. Fixed seed. */
#include "check.h"
#include "proc.h"
#include "rng.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NTHREADS 2000
#define WINDOW   4   /* threads alive at a time */
#define LIVE     64  /* blocks a thread holds at a time */
#define OPS      300 /* allocations per thread */
#define LEAVE    8   /* blocks each thread leaves behind */
#define TABLE    512 /* slots for left-behind blocks */
#define SEED     0xc4a2b5e6d7f80911ull
#define KiB      ((size_t)1024)
#define RSS_MAX  (200 * 1024) /* KiB */

typedef uint64_t __attribute__((may_alias)) word_t;

struct block {
	unsigned char *p;
	size_t size;
};

static struct block table[TABLE];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_long errors, live_blocks, total_bytes, left_freed;

/* How each thread ends and how main waits for it. */
enum kind { RETURNS, EXITS, DETACHED };
static sem_t detached_done[WINDOW];

static inline uint64_t pattern(uintptr_t key, size_t off)
{
	uint64_t x = (key + off) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

static void fill(struct block b)
{
	size_t off = 0;
	for (; off + 8 <= b.size; off += 8)
		*(word_t *)(b.p + off) = pattern((uintptr_t)b.p, off);
	for (uint64_t v = pattern((uintptr_t)b.p, off); off < b.size; off++, v >>= 8)
		b.p[off] = (unsigned char)v;
}

static void check_and_free(struct block b, const char *who)
{
	size_t off = 0;
	for (; off + 8 <= b.size; off += 8)
		if (*(word_t *)(b.p + off) != pattern((uintptr_t)b.p, off))
			goto bad;
	for (uint64_t v = pattern((uintptr_t)b.p, off); off < b.size; off++, v >>= 8)
		if (b.p[off] != (unsigned char)v)
			goto bad;
	goto done;
bad:
	if (atomic_fetch_add(&errors, 1) < 10)
		fprintf(stderr, "thread_churn: %s: block %p size %zu wrong at offset %zu\n", who,
		        (void *)b.p, b.size, off);
done:
	atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	free(b.p);
}

static struct block alloc_block(uint64_t *rng, int huge)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	size_t size = huge      ? 2 * 1024 * KiB + x % (512 * KiB)
	              : r < 900 ? 1 + x % 1024
	              : r < 990 ? 1025 + x % (32 * KiB - 1024)
	                        : 40 * KiB + x % (472 * KiB);
	struct block b = {malloc(size), size};
	if (b.p == NULL || (uintptr_t)b.p % 16 != 0) {
		if (atomic_fetch_add(&errors, 1) < 10)
			fprintf(stderr, "thread_churn: malloc(%zu) gave %p\n", size, (void *)b.p);
		exit(1);
	}
	fill(b);
	atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&total_bytes, (long)size, memory_order_relaxed);
	return b;
}

static void work(int index)
{
	uint64_t rng = SEED ^ (0x100000001b3ull * (uint64_t)(index + 1));
	struct block live[LIVE] = {{NULL, 0}};

	for (int op = 0; op < OPS; op++) {
		struct block *s = &live[rng_next(&rng) % LIVE];
		if (s->p != NULL)
			check_and_free(*s, "own block");
		/* Every 50th thread also makes one huge block. */
		*s = alloc_block(&rng, index % 50 == 0 && op == OPS / 2);
	}

	/* Leave some blocks in the table; free what an earlier thread left in those slots. */
	int left = 0;
	for (int i = 0; i < LIVE; i++) {
		if (live[i].p == NULL)
			continue;
		if (left < LEAVE) {
			struct block old;
			size_t slot = rng_next(&rng) % TABLE;
			pthread_mutex_lock(&table_lock);
			old = table[slot];
			table[slot] = live[i];
			pthread_mutex_unlock(&table_lock);
			left++;
			if (old.p != NULL) {
				check_and_free(old, "block left by an earlier thread");
				atomic_fetch_add_explicit(&left_freed, 1, memory_order_relaxed);
			}
		} else {
			check_and_free(live[i], "own block at exit");
		}
	}
}

struct start {
	int index;
	enum kind kind;
	sem_t *done; /* posted by a detached thread when its work is done */
};
static struct start starts[WINDOW];

static void *thread_main(void *arg)
{
	struct start *st = arg;
	work(st->index);
	if (st->kind == DETACHED)
		sem_post(st->done);
	else if (st->kind == EXITS)
		pthread_exit(NULL);
	return NULL;
}

int main(void)
{
	pthread_t tids[WINDOW];
	enum kind kinds[WINDOW];
	int used[WINDOW] = {0};
	pthread_attr_t detached;
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	for (int w = 0; w < WINDOW; w++)
		sem_init(&detached_done[w], 0, 0);

	long peak_rss = 0, join_failures = 0;
	for (int i = 0; i < NTHREADS + WINDOW; i++) {
		int w = i % WINDOW;
		/* Wait for the thread that had this slot of the window. */
		if (used[w]) {
			if (kinds[w] == DETACHED)
				while (sem_wait(&detached_done[w]) != 0)
					;
			else if (pthread_join(tids[w], NULL) != 0)
				join_failures++;
			used[w] = 0;
		}
		if (i >= NTHREADS)
			continue;
		if (i % 100 == 0) {
			long rss = (long)(rss_bytes() >> 10);
			peak_rss = rss > peak_rss ? rss : peak_rss;
		}
		kinds[w] = i % 5 == 0 ? DETACHED : i % 5 == 1 ? EXITS : RETURNS;
		starts[w] = (struct start){i, kinds[w], &detached_done[w]};
		int rc = pthread_create(&tids[w], kinds[w] == DETACHED ? &detached : NULL,
		                        thread_main, &starts[w]);
		if (rc != 0)
			REQUIRE(rc == 0, "pthread_create %d: error %d", i, rc);
		used[w] = 1;
	}

	long rss = (long)(rss_bytes() >> 10);
	peak_rss = rss > peak_rss ? rss : peak_rss;
	long remaining = 0;
	for (int i = 0; i < TABLE; i++) {
		if (table[i].p != NULL) {
			check_and_free(table[i], "block left for main");
			table[i].p = NULL;
			remaining++;
		}
	}
	fprintf(stderr,
	        "thread_churn: %d threads, %ld MiB allocated in all, %ld left-behind blocks freed "
	        "by later threads, %ld by main; RSS %ld KiB, at most %ld KiB seen\n",
	        NTHREADS, atomic_load(&total_bytes) >> 20, atomic_load(&left_freed), remaining, rss,
	        peak_rss);

	CHECK(join_failures == 0, "%ld threads could not be joined", join_failures);
	CHECK(atomic_load(&errors) == 0, "%ld corrupted blocks", atomic_load(&errors));
	CHECK(atomic_load(&live_blocks) == 0, "%ld blocks unaccounted for",
	      atomic_load(&live_blocks));
	CHECK(atomic_load(&left_freed) > NTHREADS * LEAVE / 2, "only %ld blocks freed by others",
	      atomic_load(&left_freed));
	CHECK(remaining > 0, "main found no blocks left behind");
	CHECK(rss < RSS_MAX, "RSS %ld KiB after %d threads", rss, NTHREADS);
	CHECK(peak_rss < RSS_MAX, "RSS reached %ld KiB", peak_rss);
	return CHECK_DONE();
}
