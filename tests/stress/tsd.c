/* SPDX-License-Identifier: MIT */
/* tsd.c: allocation from pthread key destructors, which run around the allocator's own.
 *
 * An allocator that keeps a heap per thread has to tear it down at thread exit, typically from
 * a pthread key destructor of its own, and glibc runs key destructors in key order, in rounds
 * (up to four while values keep being set). Destructors of other keys must still be able to
 * malloc and free, before the teardown or after it. This test uses three keys:
 *   early  created by a constructor before main's first malloc, and set by each thread before
 *          the thread's first malloc
 *   mid    created by main after it has allocated, before the threads start
 *   late   created between the two waves by a thread that has already allocated; only the
 *          second wave uses it
 * (cairn makes its key in its own constructor, which runs before this program's, so all three
 * come after it: their destructors run once the thread heap is gone. tests/helpers/early.c,
 * driven by bootstrap.c, has a key that comes before cairn's.)
 * Each destructor mallocs, reallocs, callocs and frees, frees a block the thread body made,
 * leaves a block behind for another thread (or main) to check and free, and sets its key again
 * once so that glibc runs a second round: every destructor must run exactly twice per thread.
 * Some threads never call malloc in their body, so a destructor makes their first allocation. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAVE    48 /* threads per wave */
#define AT_ONCE 8
#define NKEYS   3
#define ORPHANS (2 * WAVE * NKEYS * 2 + 64)
#define KiB     ((size_t)1024)

enum { EARLY, MID, LATE };
static const char *key_names[NKEYS] = {"early", "mid", "late"};
static pthread_key_t keys[NKEYS];
static int key_made[NKEYS];

/* Per-thread state, in static memory so that setting a key needs no malloc. */
struct tstate {
	int index;
	int lazy;                  /* the body never calls malloc */
	unsigned char *own[NKEYS]; /* blocks made by the body, freed by a destructor */
	atomic_int rounds[NKEYS];
	struct tstate *self[NKEYS]; /* the value set for each key */
};
static struct tstate states[2 * WAVE];

/* Blocks a destructor leaves for another thread; each holds its own size and a pattern. */
static unsigned char *orphans[ORPHANS];
static int orphan_count, orphans_made;
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_long errors, orphans_freed_by_threads;

static void error(const char *fmt, int a, int b)
{
	if (atomic_fetch_add(&errors, 1) < 20) {
		fprintf(stderr, "tsd: ");
		fprintf(stderr, fmt, a, b);
		fputc('\n', stderr);
	}
}

static unsigned char pattern(const unsigned char *p, size_t i)
{
	return (unsigned char)(((uintptr_t)p >> 4) + i * 7);
}

/* A block with its size in the first word and a pattern after it. */
static unsigned char *make_block(size_t size)
{
	unsigned char *p = malloc(size);
	if (p == NULL) {
		error("malloc(%d) failed (%d)", (int)size, 0);
		return NULL;
	}
	memcpy(p, &size, sizeof size);
	for (size_t i = sizeof size; i < size; i++)
		p[i] = pattern(p, i);
	return p;
}

static void check_free_block(unsigned char *p, const char *who)
{
	size_t size;
	memcpy(&size, p, sizeof size);
	for (size_t i = sizeof size; i < size; i++) {
		if (p[i] != pattern(p, i)) {
			fprintf(stderr, "tsd: %s: block %p of %zu bytes wrong at %zu\n", who,
			        (void *)p, size, i);
			error("corrupted block (%d %d)", 0, 0);
			break;
		}
	}
	free(p);
}

static void leave_orphan(unsigned char *p)
{
	pthread_mutex_lock(&orphan_lock);
	if (orphan_count < ORPHANS) {
		orphans[orphan_count++] = p;
		orphans_made++;
		p = NULL;
	}
	pthread_mutex_unlock(&orphan_lock);
	if (p != NULL)
		check_free_block(p, "orphan that did not fit");
}

/* Frees up to n blocks left by other threads' destructors. */
static void adopt_orphans(int n)
{
	while (n-- > 0) {
		unsigned char *p = NULL;
		pthread_mutex_lock(&orphan_lock);
		if (orphan_count > 0)
			p = orphans[--orphan_count];
		pthread_mutex_unlock(&orphan_lock);
		if (p == NULL)
			return;
		check_free_block(p, "orphan freed by a thread");
		atomic_fetch_add(&orphans_freed_by_threads, 1);
	}
}

/* What every destructor does: allocation of every kind, after or before the allocator's own
 * per-thread teardown, depending on the key. */
static void destructor_work(struct tstate *st, int key)
{
	static const size_t sizes[] = {1, 16, 100, 1000, 4000, 30000, 100 * KiB, 1500 * KiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i] + (size_t)st->index;
		unsigned char *p = make_block(n);
		unsigned char *z = calloc(1, n);
		if (p == NULL || z == NULL) {
			error("allocation failed in a destructor (thread %d, key %d)", st->index,
			      key);
			free(p);
			free(z);
			continue;
		}
		for (size_t j = 0; j < n; j += 512)
			if (z[j] != 0)
				error("calloc not zeroed in a destructor (thread %d, key %d)",
				      st->index, key);
		/* Grow it: the pattern must survive; make_block's size word is rewritten. */
		const unsigned char *old = p;
		unsigned char *q = realloc(p, 2 * n);
		if (q == NULL) {
			error("realloc failed in a destructor (thread %d, key %d)", st->index, key);
			free(p);
		} else {
			for (size_t j = sizeof n; j < n; j += 97)
				if (q[j] != pattern(old, j)) {
					error("realloc lost data (thread %d, key %d)", st->index,
					      key);
					break;
				}
			free(q);
		}
		free(z);
	}
	leave_orphan(make_block(64 + 8 * (size_t)st->index));
	if (st->own[key] != NULL) {
		check_free_block(st->own[key], "block from the thread body");
		st->own[key] = NULL;
	}
}

static void destructor(void *value, int key)
{
	struct tstate *st = value;
	int round = atomic_fetch_add(&st->rounds[key], 1) + 1;
	destructor_work(st, key);
	/* Once more: glibc sees a non-NULL value again and runs another round. */
	if (round == 1 && pthread_setspecific(keys[key], st) != 0)
		error("pthread_setspecific in a destructor failed (thread %d, key %d)", st->index,
		      key);
}

static void destructor_early(void *v)
{
	destructor(v, EARLY);
}

static void destructor_mid(void *v)
{
	destructor(v, MID);
}

static void destructor_late(void *v)
{
	destructor(v, LATE);
}

__attribute__((constructor(101))) static void make_early_key(void)
{
	key_made[EARLY] = pthread_key_create(&keys[EARLY], destructor_early) == 0;
}

/* Runs in a thread of its own that has already allocated. */
static void *make_late_key(void *arg)
{
	void *p = malloc(100);
	key_made[LATE] = pthread_key_create(&keys[LATE], destructor_late) == 0;
	free(p);
	return NULL;
}

static void *thread_main(void *arg)
{
	struct tstate *st = arg;
	/* Before anything in this thread allocates. */
	pthread_setspecific(keys[EARLY], st);
	if (st->lazy) {
		pthread_setspecific(keys[MID], st);
		if (st->index >= WAVE)
			pthread_setspecific(keys[LATE], st);
		return NULL;
	}

	st->own[EARLY] = make_block(200 + (size_t)st->index);
	unsigned char *tmp[64];
	for (int i = 0; i < 64; i++)
		tmp[i] = make_block(16 + (size_t)(i * 37 + st->index) % 5000);
	for (int i = 0; i < 64; i++)
		check_free_block(tmp[i], "block in the thread body");
	adopt_orphans(3);

	st->own[MID] = make_block(3000 + (size_t)st->index);
	pthread_setspecific(keys[MID], st);
	if (st->index >= WAVE) {
		st->own[LATE] = make_block(50 * KiB + (size_t)st->index);
		pthread_setspecific(keys[LATE], st);
	}
	return NULL;
}

static void run_wave(int first)
{
	for (int i = first; i < first + WAVE; i += AT_ONCE) {
		pthread_t tids[AT_ONCE];
		for (int j = 0; j < AT_ONCE; j++) {
			struct tstate *st = &states[i + j];
			st->index = i + j;
			st->lazy = (i + j) % 4 == 3;
			int rc = pthread_create(&tids[j], NULL, thread_main, st);
			if (rc != 0)
				REQUIRE(rc == 0, "pthread_create: error %d", rc);
		}
		for (int j = 0; j < AT_ONCE; j++)
			pthread_join(tids[j], NULL);
	}
}

int main(void)
{
	REQUIRE(key_made[EARLY], "pthread_key_create before main failed");
	/* main allocates, then makes the mid key. */
	void *warm = malloc(1000);
	free(warm);
	key_made[MID] = pthread_key_create(&keys[MID], destructor_mid) == 0;
	REQUIRE(key_made[MID], "pthread_key_create in main failed");

	run_wave(0);
	pthread_t maker;
	int rc = pthread_create(&maker, NULL, make_late_key, NULL);
	REQUIRE(rc == 0, "pthread_create: error %d", rc);
	pthread_join(maker, NULL);
	REQUIRE(key_made[LATE], "pthread_key_create in a thread failed");
	run_wave(WAVE);

	int wrong_rounds = 0, own_left = 0;
	for (int t = 0; t < 2 * WAVE; t++) {
		struct tstate *st = &states[t];
		for (int k = 0; k < NKEYS; k++) {
			int expect = k == LATE && t < WAVE ? 0 : 2;
			if (atomic_load(&st->rounds[k]) != expect && wrong_rounds++ < 10)
				fprintf(stderr,
				        "tsd: thread %d: destructor of the %s key ran %d times, "
				        "expected %d\n",
				        t, key_names[k], atomic_load(&st->rounds[k]), expect);
			if (st->own[k] != NULL)
				own_left++;
		}
	}
	CHECK(wrong_rounds == 0, "%d destructors ran the wrong number of times", wrong_rounds);
	CHECK(own_left == 0, "%d blocks from thread bodies were not freed", own_left);

	int left = orphan_count;
	for (int i = 0; i < orphan_count; i++)
		check_free_block(orphans[i], "orphan freed by main");
	orphan_count = 0;
	fprintf(stderr,
	        "tsd: %d threads, %d blocks left by destructors: %ld freed by later threads, %d by "
	        "main\n",
	        2 * WAVE, orphans_made, atomic_load(&orphans_freed_by_threads), left);
	CHECK(orphans_made == (int)atomic_load(&orphans_freed_by_threads) + left,
	      "orphans made %d, freed %ld + %d", orphans_made,
	      atomic_load(&orphans_freed_by_threads), left);
	CHECK(atomic_load(&orphans_freed_by_threads) > 0, "no thread freed another's block");
	CHECK(atomic_load(&errors) == 0, "%ld errors", atomic_load(&errors));
	return CHECK_DONE();
}
