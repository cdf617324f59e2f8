/* SPDX-License-Identifier: MIT */
/* load.c: cairn under sustained load, with fork under it; RSS must level off.
 *
 * Two scenarios, each in a child process of its own (tests/child.h) with its own MALLOC_CONF:
 *
 * soak   64 threads (dirty_decay_ms:200) run a mixed workload: each keeps SLOTS blocks
 *        (mostly 16 B .. 1 KiB, some 1 .. 64 KiB, rare 64 KiB .. 4 MiB, the rare ones under a
 *        global byte cap) and replaces random ones; one block in four goes to another thread's
 *        mailbox and is freed there, one replacement in sixteen is a realloc. So the live set
 *        is bounded (about 100 MiB, the exact figure is measured) while the threads go through
 *        many GiB.
 * churn  NWORKERS threads run the same workload (default MALLOC_CONF) while SPAWNERS threads
 *        create and join short-lived threads as fast as they can. Each allocates a little,
 *        frees some of its own blocks, swaps some into a shared pool (freeing, after checking,
 *        what an earlier thread left there) and exits, one in eight detached; the workers also
 *        free blocks from the pool. The heaps of exited threads must be reused.
 *
 * The workers run at nice 10, below the forker, its children and the sampler (which would
 * otherwise get a 65th of the CPUs); they still keep every CPU busy.
 *
 * In both, a forker thread forks every 50-100 ms. Each child checks and frees blocks the other
 * threads (which do not exist in it) published, allocates and frees every kind of size, and
 * _exits 0; the forker reaps it polling with WNOHANG and kills it after CHILD_DEADLINE seconds,
 * which counts as a failure (a hang).
 *
 * Every block carries its size, a key and a pattern derived from them, checked before it is
 * freed or reallocated. RSS and the live bytes are sampled every 100 ms. The checks: no
 * corrupted block, every count balanced at the end, every fork child fine, and RSS levels off:
 * its maximum over the last half of the run is at most 25% + BIG_CAP above its maximum over the
 * second quarter (the live set is the same, so memory is being reused; see the noise where it is
 * checked), and its peak is below
 * 2 x the peak live bytes (size-class rounding, partly used slabs) + 6 MiB per thread (its slabs
 * of each class and the large runs a thread heap caches: 4 MiB, more only for a thread whose
 * cache keeps missing, see LARGE_CACHE_BYTES) + 64 MiB (the program, stacks, metadata, dirty
 * pages awaiting decay).
 *
 *   load                  soak for 9 s, churn for 6 s (what make test runs)
 *   load --seconds N      each for N seconds (make soak: SOAK_SECONDS, default 60)
 *
 * run.sh: alone (it measures the rate of thread creation, fork latency and RSS over time). */
#define _GNU_SOURCE
#include "child.h"
#include "clock.h"
#include "proc.h"
#include "rng.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#define SOAK_THREADS   64
#define NWORKERS       6 /* allocating threads in churn */
#define SPAWNERS       2 /* threads that create and join short-lived ones */
#define SLOTS          384
#define MAILBOX        64
#define BIG_CAP        (48 * MiB) /* rare big blocks live at a time, all threads together */
#define POOL           4096       /* churn: blocks left by short-lived threads */
#define SHORT_BLOCKS   16
#define MAX_DETACHED   8
#define SAMPLE_MS      100
#define MAX_SAMPLES    8192
#define CHILD_DEADLINE 10         /* seconds a fork child may take before it counts as hung */
#define FULL_LIMIT     (64 * KiB) /* above: a sparse pattern, one word a page and both ends */
#define SEED           0x10adc0de5eed1234ull
#define MIN_RATE       500 /* short-lived threads a second, at least */
#define WORKER_NICE    10

typedef uint64_t __attribute__((may_alias)) word_t;

/* ---------------------------------------------------------------- blocks and counts */

/* Bytes allocated and freed, by thread (a worker has its own; the rest share one). */
struct counts {
	_Atomic long allocated, freed, blocks;
	char pad[64 - 3 * sizeof(long)];
};
static struct counts counts[SOAK_THREADS + 1];
#define SHARED_COUNTS (&counts[SOAK_THREADS])
static __thread struct counts *my_counts;

static atomic_long corrupt, alloc_failures, big_live;

static struct counts *mine(void)
{
	return my_counts != NULL ? my_counts : SHARED_COUNTS;
}

static inline uint64_t pattern(uint64_t key, size_t off)
{
	uint64_t x = (key + off) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

/* The words that carry the pattern: all of them up to FULL_LIMIT, else the first and last
 * 4 KiB and the first word of every 4 KiB between (so that every page is touched). */
static inline int patterned(size_t size, size_t off)
{
	return size <= FULL_LIMIT || off < 4 * KiB || off + 4 * KiB >= size || off % (4 * KiB) == 0;
}

static inline size_t next_off(size_t size, size_t off)
{
	if (size <= FULL_LIMIT || off < 4 * KiB || off + 8 + 4 * KiB >= size)
		return off + 8;
	size_t page_next = (off / (4 * KiB) + 1) * 4 * KiB;
	size_t tail = (size - 4 * KiB) & ~(size_t)7;
	return page_next < tail ? page_next : tail;
}

/* Layout: word 0 the size, word 1 the key, then the pattern (every size is a multiple of 8,
 * at least 16). */
static void fill_from(unsigned char *p, size_t size, uint64_t key, size_t from)
{
	*(word_t *)p = size;
	*(word_t *)(p + 8) = key;
	for (size_t off = from < 16 ? 16 : from; off < size; off = next_off(size, off))
		if (off >= from && patterned(size, off))
			*(word_t *)(p + off) = pattern(key, off);
}

/* Checks the pattern of a block of `size` (its positions) up to `limit` bytes; 0 if wrong. */
static int check_upto(const unsigned char *p, size_t size, uint64_t key, size_t limit,
                      const char *who)
{
	for (size_t off = 16; off < limit; off = next_off(size, off)) {
		if (*(const word_t *)(p + off) != pattern(key, off)) {
			if (atomic_fetch_add(&corrupt, 1) < 10)
				say("load: %s: block %p of %zu bytes wrong at offset %zu\n", who,
				    (const void *)p, size, off);
			return 0;
		}
	}
	return 1;
}

static int check_block(const unsigned char *p, const char *who)
{
	size_t size = *(const word_t *)p;
	if (size < 16 || size > 8 * MiB || size % 8 != 0) {
		if (atomic_fetch_add(&corrupt, 1) < 10)
			say("load: %s: block %p has a bad size word %zu\n", who, (const void *)p,
			    size);
		return 0;
	}
	return check_upto(p, size, *(const word_t *)(p + 8), size, who);
}

static unsigned char *make_block(size_t size, uint64_t key)
{
	unsigned char *p = malloc(size);
	if (p == NULL) {
		if (atomic_fetch_add(&alloc_failures, 1) < 10)
			say("load: malloc(%zu) failed\n", size);
		return NULL;
	}
	fill_from(p, size, key, 0);
	struct counts *c = mine();
	atomic_fetch_add_explicit(&c->allocated, (long)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->blocks, 1, memory_order_relaxed);
	if (size > FULL_LIMIT)
		atomic_fetch_add_explicit(&big_live, (long)size, memory_order_relaxed);
	return p;
}

static void free_block(unsigned char *p, const char *who)
{
	size_t size = *(word_t *)p;
	check_block(p, who);
	struct counts *c = mine();
	atomic_fetch_add_explicit(&c->freed, (long)size, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->blocks, 1, memory_order_relaxed);
	if (size > FULL_LIMIT)
		atomic_fetch_sub_explicit(&big_live, (long)size, memory_order_relaxed);
	free(p);
}

/* Mostly 16 B .. 1 KiB, some 1 .. 64 KiB, rare 64 KiB .. 4 MiB while BIG_CAP allows. */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	size_t size;
	if (r < 900)
		size = 16 + x % 1009;
	else if (r < 997 || atomic_load_explicit(&big_live, memory_order_relaxed) > (long)BIG_CAP)
		size = 1 * KiB + x % (63 * KiB);
	else
		size = 64 * KiB + 8 + x % (4 * MiB - 64 * KiB);
	return size & ~(size_t)7;
}

static long live_bytes(void)
{
	long sum = 0;
	for (int i = 0; i <= SOAK_THREADS; i++)
		sum += atomic_load_explicit(&counts[i].allocated, memory_order_relaxed) -
		       atomic_load_explicit(&counts[i].freed, memory_order_relaxed);
	return sum;
}

/* ---------------------------------------------------------------- workers and mailboxes */

/* A slot is emptied before its block is freed or handed on and set once the new block is
 * filled, so a fork child sees in each either NULL or a complete block. */
static unsigned char *_Atomic slots[SOAK_THREADS][SLOTS];

struct mailbox {
	pthread_mutex_t lock;
	unsigned char *blocks[MAILBOX];
	int n;
};
static struct mailbox mail[SOAK_THREADS];

static unsigned char *_Atomic pool[POOL]; /* churn */

static int nworkers;
static int churn_mode;
static atomic_int stop, workers_ready;
static atomic_long worker_ops, handed, reallocs, pool_freed_by_workers;

/* Hands p to thread `to`; 0 if its mailbox is full. */
static int post(int to, unsigned char *p)
{
	struct mailbox *m = &mail[to];
	int ok = 0;
	pthread_mutex_lock(&m->lock);
	if (m->n < MAILBOX) {
		m->blocks[m->n++] = p;
		ok = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static void drain(int self)
{
	unsigned char *got[MAILBOX];
	struct mailbox *m = &mail[self];
	pthread_mutex_lock(&m->lock);
	int n = m->n;
	memcpy(got, m->blocks, (size_t)n * sizeof got[0]);
	m->n = 0;
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < n; i++)
		free_block(got[i], "block from another thread's mailbox");
}

/* Grows or shrinks p, checking that the prefix survived; returns the block to keep. */
static unsigned char *regrow(unsigned char *p, uint64_t *rng)
{
	size_t old = *(word_t *)p;
	uint64_t key = *(word_t *)(p + 8);
	if (!check_block(p, "block before realloc"))
		return p;
	size_t size = pick_size(rng);
	unsigned char *q = realloc(p, size);
	if (q == NULL) {
		if (atomic_fetch_add(&alloc_failures, 1) < 10)
			say("load: realloc(%zu) failed\n", size);
		return p;
	}
	size_t keep = old < size ? old : size;
	check_upto(q, old, key, keep, "block after realloc");
	fill_from(q, size, key, 0);
	struct counts *c = mine();
	atomic_fetch_add_explicit(&c->allocated, (long)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->freed, (long)old, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &big_live, (long)(size > FULL_LIMIT ? size : 0) - (long)(old > FULL_LIMIT ? old : 0),
	    memory_order_relaxed);
	return q;
}

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	my_counts = &counts[self];
	/* Below the forker, its children and the sampler (see the top). */
	setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);
	uint64_t rng = SEED ^ (0x100000001b3ull * (uint64_t)(self + 1));
	for (int i = 0; i < SLOTS; i++)
		atomic_store(&slots[self][i], make_block(pick_size(&rng), rng_next(&rng)));
	atomic_fetch_add(&workers_ready, 1);
	long ops = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned char *_Atomic *slot = &slots[self][rng_next(&rng) % SLOTS];
		unsigned char *old = atomic_exchange(slot, NULL);
		uint64_t r = rng_next(&rng) % 16;
		unsigned char *p = NULL;
		if (old != NULL && r == 0) {
			p = regrow(old, &rng);
			atomic_fetch_add_explicit(&reallocs, 1, memory_order_relaxed);
		} else {
			if (old != NULL && r < 5) {
				int to = (int)(rng_next(&rng) % (uint64_t)nworkers);
				if (to != self && post(to, old)) {
					atomic_fetch_add_explicit(&handed, 1, memory_order_relaxed);
					old = NULL;
				}
			}
			if (old != NULL)
				free_block(old, "own block");
			p = make_block(pick_size(&rng), rng_next(&rng));
		}
		atomic_store(slot, p);
		/* A short-lived block too. */
		if (r == 7) {
			void *tmp = malloc(8 + rng_next(&rng) % 4096);
			if (tmp == NULL)
				atomic_fetch_add(&alloc_failures, 1);
			free(tmp);
		}
		if (churn_mode && ops % 32 == 0) {
			unsigned char *q = atomic_exchange(&pool[rng_next(&rng) % POOL], NULL);
			if (q != NULL) {
				free_block(q, "block a short-lived thread left");
				atomic_fetch_add_explicit(&pool_freed_by_workers, 1,
				                          memory_order_relaxed);
			}
		}
		if (++ops % 16 == 0)
			drain(self);
	}
	atomic_fetch_add(&worker_ops, ops);
	return NULL;
}

/* ---------------------------------------------------------------- churn: short-lived threads */

static atomic_long short_threads, detached_live, pool_swaps;

struct short_arg {
	uint64_t seed;
	int detached;
};

static size_t short_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 100, x = rng_next(rng);
	size_t size = r < 85 ? 16 + x % 1009 : r < 99 ? 1 * KiB + x % (31 * KiB) : 100 * KiB;
	return size & ~(size_t)7;
}

static void *short_thread(void *arg)
{
	struct short_arg a = *(struct short_arg *)arg;
	uint64_t rng = a.seed;
	unsigned char *own[SHORT_BLOCKS];
	for (int i = 0; i < SHORT_BLOCKS; i++)
		own[i] = make_block(short_size(&rng), rng_next(&rng));
	/* Half freed here, a quarter left in the pool, a quarter freed at exit. */
	for (int i = 0; i < SHORT_BLOCKS; i++) {
		if (own[i] == NULL)
			continue;
		if (i % 2 == 0) {
			free_block(own[i], "short-lived thread's own block");
		} else if (i % 4 == 1) {
			unsigned char *q = atomic_exchange(&pool[rng_next(&rng) % POOL], own[i]);
			if (q != NULL)
				free_block(q, "block an earlier thread left");
			atomic_fetch_add_explicit(&pool_swaps, 1, memory_order_relaxed);
		}
	}
	for (int i = 3; i < SHORT_BLOCKS; i += 4)
		if (own[i] != NULL)
			free_block(own[i], "short-lived thread's block at exit");
	atomic_fetch_add_explicit(&short_threads, 1, memory_order_relaxed);
	if (a.detached) {
		free(arg);
		atomic_fetch_sub(&detached_live, 1);
		return NULL;
	}
	if (a.seed % 2)
		pthread_exit(NULL);
	return NULL;
}

static atomic_long create_failures;

static void *spawner(void *arg)
{
	uint64_t rng = SEED ^ (uint64_t)(intptr_t)arg * 0x9E3779B97F4A7C15ull;
	pthread_attr_t detached;
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	for (long n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
		int det = n % 8 == 7 && atomic_load(&detached_live) < MAX_DETACHED;
		struct short_arg local = {rng_next(&rng), 0};
		struct short_arg *a = &local;
		if (det) {
			a = malloc(sizeof *a);
			if (a == NULL) {
				atomic_fetch_add(&alloc_failures, 1);
				continue;
			}
			*a = (struct short_arg){local.seed, 1};
			atomic_fetch_add(&detached_live, 1);
		}
		pthread_t t;
		int rc = pthread_create(&t, det ? &detached : NULL, short_thread, a);
		if (rc != 0) {
			if (atomic_fetch_add(&create_failures, 1) < 10)
				say("load: pthread_create: error %d\n", rc);
			if (det) {
				free(a);
				atomic_fetch_sub(&detached_live, 1);
			}
			usleep(1000);
			continue;
		}
		if (!det && pthread_join(t, NULL) != 0)
			atomic_fetch_add(&create_failures, 1);
	}
	pthread_attr_destroy(&detached);
	return NULL;
}

/* ---------------------------------------------------------------- fork under load */

static int fork_child_errors;

static void fork_child_fail(const char *what, size_t size)
{
	if (fork_child_errors++ < 5)
		say("load: fork child %d: %s (%zu)\n", (int)getpid(), what, size);
}

/* In the child: the other threads are gone. */
static void fork_child(uint64_t seed)
{
	alarm(CHILD_DEADLINE + 5);
	uint64_t rng = seed;
	long before = atomic_load(&corrupt);
	/* Blocks the vanished threads published: a sample of the slots of each, from a random
	 * start (every freed block is a page copied). */
	int freed = 0, step = churn_mode ? 8 : 32;
	for (int t = 0; t < nworkers; t++) {
		for (int i = (int)(rng_next(&rng) % (uint64_t)step); i < SLOTS; i += step) {
			unsigned char *p = atomic_load(&slots[t][i]);
			if (p != NULL) {
				free_block(p, "fork child: block of a vanished thread");
				freed++;
			}
		}
	}
	for (int i = (int)(rng_next(&rng) % 16); churn_mode && i < POOL; i += 16) {
		unsigned char *p = atomic_load(&pool[i]);
		if (p != NULL) {
			free_block(p, "fork child: block an exited thread left");
			freed++;
		}
	}
	if (freed < nworkers * SLOTS / step / 2)
		fork_child_fail("too few published blocks", (size_t)freed);
	/* Every kind of size: small, medium, large, huge; a few of each held at once. */
	static const size_t sizes[] = {24,       48,        128,     1 * KiB, 4 * KiB, 16 * KiB,
	                               48 * KiB, 200 * KiB, 1 * MiB, 3 * MiB, 8 * MiB};
	unsigned char *held[8];
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		for (int i = 0; i < 8; i++)
			if ((held[i] = make_block(sizes[s] - (size_t)i % 2 * 8, rng_next(&rng))) ==
			    NULL)
				fork_child_fail("malloc failed", sizes[s]);
		for (int i = 7; i >= 0; i--)
			if (held[i] != NULL)
				free_block(held[i], "fork child: own block");
	}
	for (int i = 0; i < 2000; i++) {
		unsigned char *p = make_block(16 + 8 * (rng_next(&rng) % 128), (uint64_t)i);
		if (p != NULL)
			free_block(p, "fork child: small block");
	}
	if (atomic_load(&corrupt) != before)
		fork_child_fail("corrupted blocks", (size_t)(atomic_load(&corrupt) - before));
	_exit(fork_child_errors == 0 ? 0 : 1);
}

static atomic_long forks, fork_failed, fork_hung;
static double slowest_child, slowest_fork;

static void *forker(void *arg)
{
	uint64_t rng = SEED ^ 0xf0f0f0f0ull;
	/* Not before every worker has filled its slots. */
	while (atomic_load(&workers_ready) < nworkers && !atomic_load(&stop))
		usleep(1000);
	while (!atomic_load(&stop)) {
		usleep(50000 + (useconds_t)(rng_next(&rng) % 50000));
		if (atomic_load(&stop))
			break;
		uint64_t seed = rng_next(&rng);
		double start = now_s();
		pid_t pid = fork();
		if (pid == 0)
			fork_child(seed);
		double forked = now_s();
		if (pid < 0) {
			say("load: fork: %s\n", strerror(errno));
			atomic_fetch_add(&fork_failed, 1);
			continue;
		}
		slowest_fork = forked - start > slowest_fork ? forked - start : slowest_fork;
		int st = child_wait(pid, CHILD_DEADLINE);
		if (st == -1) {
			say("load: fork child %d hung for %d s; killed\n", (int)pid,
			    CHILD_DEADLINE);
			atomic_fetch_add(&fork_hung, 1);
		}
		double took = now_s() - forked;
		slowest_child = took > slowest_child ? took : slowest_child;
		atomic_fetch_add(&forks, 1);
		if (st == -1)
			continue;
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			atomic_fetch_add(&fork_failed, 1);
			say("load: fork child %d: %s %d\n", (int)pid,
			    st < 0            ? "waitpid failed"
			    : WIFSIGNALED(st) ? "killed by signal"
			                      : "exit status",
			    st < 0            ? st
			    : WIFSIGNALED(st) ? WTERMSIG(st)
			                      : WEXITSTATUS(st));
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- one scenario */

struct sample {
	float t;
	long rss, live;
};
static struct sample samples[MAX_SAMPLES];

static int scenario(const char *name, double seconds)
{
	churn_mode = strcmp(name, "churn") == 0;
	if (!churn_mode && strcmp(name, "soak") != 0) {
		CHECK(0, "unknown scenario %s", name);
		return CHECK_DONE();
	}
	nworkers = churn_mode ? NWORKERS : SOAK_THREADS;
	for (int i = 0; i < nworkers; i++)
		pthread_mutex_init(&mail[i].lock, NULL);

	double start = now_s();
	pthread_t workers[SOAK_THREADS], spawners[SPAWNERS], fk;
	for (int i = 0; i < nworkers; i++) {
		int rc = pthread_create(&workers[i], NULL, worker, (void *)(intptr_t)i);
		REQUIRE(rc == 0, "pthread_create worker %d: error %d", i, rc);
	}
	for (int i = 0; churn_mode && i < SPAWNERS; i++) {
		int rc = pthread_create(&spawners[i], NULL, spawner, (void *)(intptr_t)i);
		REQUIRE(rc == 0, "pthread_create spawner: error %d", rc);
	}
	int rc = pthread_create(&fk, NULL, forker, NULL);
	REQUIRE(rc == 0, "pthread_create forker: error %d", rc);

	int n = 0;
	double t;
	while ((t = now_s() - start) < seconds && n < MAX_SAMPLES) {
		samples[n++] = (struct sample){(float)t, (long)rss_bytes(), live_bytes()};
		usleep(SAMPLE_MS * 1000);
	}
	atomic_store(&stop, 1);
	double ran = now_s() - start;
	for (int i = 0; churn_mode && i < SPAWNERS; i++)
		pthread_join(spawners[i], NULL);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	pthread_join(fk, NULL);
	while (atomic_load(&detached_live) > 0)
		usleep(1000);

	/* The RSS series: a line a second (the highest sample in it), then the windows. */
	long peak_rss = 0, peak_live = 0, q2_rss = 0, last_rss = 0, min_live = -1;
	long sec_rss = 0, sec_live = 0;
	int sec = 0;
	fprintf(stderr, "%s: RSS and live MiB, highest sample each second:", name);
	for (int i = 0; i < n; i++) {
		struct sample s = samples[i];
		if ((int)s.t > sec) {
			fprintf(stderr, "%s %d:%ld/%ld", sec % 10 == 0 ? "\n " : "", sec,
			        sec_rss >> 20, sec_live >> 20);
			sec = (int)s.t;
			sec_rss = sec_live = 0;
		}
		sec_rss = s.rss > sec_rss ? s.rss : sec_rss;
		sec_live = s.live > sec_live ? s.live : sec_live;
		peak_rss = s.rss > peak_rss ? s.rss : peak_rss;
		peak_live = s.live > peak_live ? s.live : peak_live;
		if (s.t >= seconds / 4 && s.t < seconds / 2)
			q2_rss = s.rss > q2_rss ? s.rss : q2_rss;
		if (s.t >= seconds / 2) {
			last_rss = s.rss > last_rss ? s.rss : last_rss;
			min_live = min_live < 0 || s.live < min_live ? s.live : min_live;
		}
	}
	fprintf(stderr, "%s %d:%ld/%ld\n", sec % 10 == 0 ? "\n " : "", sec, sec_rss >> 20,
	        sec_live >> 20);
	/* With a steady live set, soak's RSS swings by up to a third from one second to the
	 * next (the rare big blocks alone by up to BIG_CAP, and the large runs each thread
	 * heap caches come and go), so a maximum over a few seconds is noisy. */
	long level = q2_rss + q2_rss / 4 + (long)BIG_CAP;
	long bound = 2 * peak_live + (long)nworkers * (long)(6 * MiB) + (long)(64 * MiB);
	fprintf(stderr,
	        "%s: %d samples over %.1f s; live %ld..%ld MiB in the last half; RSS highest "
	        "%ld MiB, %ld MiB over the second quarter, %ld MiB over the last half "
	        "(allowed %ld); peak allowed %ld MiB\n",
	        name, n, ran, min_live >> 20, peak_live >> 20, peak_rss >> 20, q2_rss >> 20,
	        last_rss >> 20, level >> 20, bound >> 20);
	fprintf(stderr,
	        "%s: %d threads, %ld operations, %ld blocks handed to another thread, %ld "
	        "reallocs\n",
	        name, nworkers, atomic_load(&worker_ops), atomic_load(&handed),
	        atomic_load(&reallocs));
	if (churn_mode)
		fprintf(
		    stderr,
		    "churn: %ld short-lived threads, %.0f a second; %ld blocks left in the pool, "
		    "%ld freed from it by the workers\n",
		    atomic_load(&short_threads), (double)atomic_load(&short_threads) / ran,
		    atomic_load(&pool_swaps), atomic_load(&pool_freed_by_workers));
	fprintf(stderr,
	        "%s: %ld forks, %ld failed, %ld hung; slowest fork %.1f ms, slowest child %.1f "
	        "ms\n",
	        name, atomic_load(&forks), atomic_load(&fork_failed), atomic_load(&fork_hung),
	        slowest_fork * 1e3, slowest_child * 1e3);

	CHECK(n >= 8, "only %d RSS samples", n);
	CHECK(last_rss <= level,
	      "RSS grew: %ld MiB over the last half, %ld over the second quarter", last_rss >> 20,
	      q2_rss >> 20);
	CHECK(peak_rss <= bound, "RSS reached %ld MiB with at most %ld MiB live", peak_rss >> 20,
	      peak_live >> 20);
	CHECK(atomic_load(&worker_ops) > 0 && atomic_load(&handed) > 0 &&
	          atomic_load(&reallocs) > 0,
	      "workers did too little");
	/* A fork can take seconds here: the kernel waits for the mmap lock, which the
	 * page faults of 64 threads, preempted on 2 CPUs, hold in turn. */
	CHECK(atomic_load(&forks) >= 2, "only %ld forks", atomic_load(&forks));
	CHECK(atomic_load(&fork_failed) == 0, "%ld fork children failed",
	      atomic_load(&fork_failed));
	CHECK(atomic_load(&fork_hung) == 0, "%ld fork children hung", atomic_load(&fork_hung));
	if (churn_mode) {
		double rate = (double)atomic_load(&short_threads) / ran;
		CHECK(rate >= MIN_RATE, "%.0f short-lived threads a second", rate);
		CHECK(atomic_load(&create_failures) == 0, "%ld threads not created or joined",
		      atomic_load(&create_failures));
		CHECK(atomic_load(&pool_freed_by_workers) > 0, "no pool block freed by a worker");
	}

	/* Free what is left: slots, mailboxes, the pool. Every count must balance. */
	for (int i = 0; i < nworkers; i++) {
		for (int j = 0; j < SLOTS; j++) {
			unsigned char *p = atomic_exchange(&slots[i][j], NULL);
			if (p != NULL)
				free_block(p, "block left at the end");
		}
		drain(i);
	}
	for (int i = 0; i < POOL; i++) {
		unsigned char *p = atomic_exchange(&pool[i], NULL);
		if (p != NULL)
			free_block(p, "pool block left at the end");
	}
	long blocks = 0;
	for (int i = 0; i <= SOAK_THREADS; i++)
		blocks += atomic_load(&counts[i].blocks);
	CHECK(blocks == 0 && live_bytes() == 0, "%ld blocks, %ld bytes unaccounted for", blocks,
	      live_bytes());
	CHECK(atomic_load(&corrupt) == 0, "%ld corrupted blocks", atomic_load(&corrupt));
	CHECK(atomic_load(&alloc_failures) == 0, "%ld allocations failed",
	      atomic_load(&alloc_failures));
	return CHECK_DONE();
}

/* ---------------------------------------------------------------- parent side */

static void run_child(const char *scenario_name, const char *conf, const char *secs)
{
	struct child_opts opts = {
	    .name = "load",
	    .args = {"--child", scenario_name, secs},
	    .conf = conf,
	    .timeout = (unsigned)atoi(secs) + 60,
	    .keep_tail = 1,
	};
	static char out[65536];
	double start = now_s();
	int st = child_run(&opts, out, sizeof out, NULL);
	fprintf(stderr, "== %s, MALLOC_CONF=%s, %.1f s:\n", scenario_name, conf ? conf : "(none)",
	        now_s() - start);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "%s with MALLOC_CONF=%s", scenario_name, conf ? conf : "(none)");
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return scenario(argv[2], atof(argv[3]));
	const char *soak_s = "9", *churn_s = "6";
	if (argc == 3 && strcmp(argv[1], "--seconds") == 0 && atoi(argv[2]) > 0) {
		soak_s = churn_s = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--seconds N]\n", argv[0]);
		return 2;
	}
	TEST_CASE("soak") run_child("soak", "dirty_decay_ms:200", soak_s);
	TEST_CASE("churn") run_child("churn", NULL, churn_s);
	return CHECK_DONE();
}
