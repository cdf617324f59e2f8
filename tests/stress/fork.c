/* SPDX-License-Identifier: MIT */
/* fork.c: fork while other threads allocate; the child must find a working allocator.
 *
 * Four threads keep replacing blocks in a shared table while the main thread forks 50 times.
 * Whatever lock a thread held at the moment of the fork, the child (which has only the forking
 * thread) must be able to: free the blocks the vanished threads had published, after checking
 * their contents; allocate and free every small size class from 16 B to 32 KiB plus large and
 * huge blocks; start a thread of its own that allocates; and, in the first few children, fork
 * again. The parent waits for each child with a deadline and fails on a hang, a crash or a
 * non-zero exit. pthread_atfork handlers that malloc and free in prepare, parent and child are
 * registered before main's first malloc (one from a constructor) and after the threads start;
 * each must run once per fork. An alarm ends the whole test if the parent itself hangs.
 *
 * run.sh: alone (each child must finish by its deadline while four threads allocate). */
#define _GNU_SOURCE
#include "check.h"
#include "child.h"
#include "clock.h"
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

#define NWORKERS      4
#define TSLOTS        128 /* published blocks per worker */
#define FORKS         50
#define NESTED_FORKS  5  /* the first children fork once more */
#define CHILD_TIMEOUT 10 /* seconds */
#define TEST_TIMEOUT  60
#define SEED          0xf02cf02c12345678ull
#define KiB           ((size_t)1024)

typedef uint64_t __attribute__((may_alias)) word_t;

/* Blocks published by the workers: each starts with its size, a pattern follows. A slot is
 * emptied before its block is freed and set only once the new block is filled, so a child
 * sees in each slot either NULL or a complete block. */
static unsigned char *_Atomic table[NWORKERS][TSLOTS];
static unsigned char *main_blocks[64];
static atomic_int stop, workers_ready;
static atomic_long worker_errors, worker_ops;

/* Handler calls; the child ones only ever count in a child. */
static atomic_int prepare_calls, parent_calls, child_calls, handler_alloc_failures;

static inline uint64_t pattern(uintptr_t key, size_t off)
{
	uint64_t x = (key + off) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

static unsigned char *make_block(size_t size)
{
	if (size < 8)
		size = 8;
	unsigned char *p = malloc(size);
	if (p == NULL)
		return NULL;
	*(word_t *)p = size;
	size_t off = 8;
	for (; off + 8 <= size; off += 8)
		*(word_t *)(p + off) = pattern((uintptr_t)p, off);
	for (uint64_t v = pattern((uintptr_t)p, off); off < size; off++, v >>= 8)
		p[off] = (unsigned char)v;
	return p;
}

/* Checks and frees a block from make_block; returns 0 if it was wrong. */
static int check_free(unsigned char *p)
{
	size_t size = *(word_t *)p, off = 8;
	int ok = size >= 8 && size <= 8 * 1024 * KiB;
	for (; ok && off + 8 <= size; off += 8)
		ok = *(word_t *)(p + off) == pattern((uintptr_t)p, off);
	for (uint64_t v = pattern((uintptr_t)p, off); ok && off < size; off++, v >>= 8)
		ok = p[off] == (unsigned char)v;
	if (!ok)
		say("fork: block %p of %zu bytes wrong at offset %zu\n", (void *)p, size, off);
	free(p);
	return ok;
}

/* ---------------------------------------------------------------- atfork handlers */

static void handler_alloc(void)
{
	unsigned char *p = make_block(100);
	void *q = malloc(3000);
	if (p == NULL || q == NULL || !check_free(p))
		atomic_fetch_add(&handler_alloc_failures, 1);
	free(q);
}

static void on_prepare(void)
{
	atomic_fetch_add(&prepare_calls, 1);
	handler_alloc();
}

static void on_parent(void)
{
	atomic_fetch_add(&parent_calls, 1);
	handler_alloc();
}

static void on_child(void)
{
	atomic_fetch_add(&child_calls, 1);
	handler_alloc();
}

#define HANDLER_SETS 3
static int handlers_registered;

__attribute__((constructor(101))) static void register_early(void)
{
	handlers_registered += pthread_atfork(on_prepare, on_parent, on_child) == 0;
}

/* ---------------------------------------------------------------- workers */

static size_t worker_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	if (r < 900)
		return 8 + x % 2048;
	if (r < 990)
		return 2049 + x % (30 * KiB);
	if (r < 999)
		return 40 * KiB + x % (900 * KiB);
	return 1100 * KiB + x % (2048 * KiB);
}

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint64_t rng = SEED + 977 * (uint64_t)self;
	/* Fill every slot before main starts forking. */
	for (int i = 0; i < TSLOTS; i++) {
		unsigned char *p = make_block(worker_size(&rng));
		if (p == NULL)
			atomic_fetch_add(&worker_errors, 1);
		atomic_store(&table[self][i], p);
	}
	atomic_fetch_add(&workers_ready, 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned char *_Atomic *slot = &table[self][rng_next(&rng) % TSLOTS];
		unsigned char *old = atomic_exchange(slot, NULL);
		if (old != NULL && !check_free(old))
			atomic_fetch_add(&worker_errors, 1);
		/* Some short-lived blocks too, so that frees of every kind are under way. */
		void *tmp = malloc(worker_size(&rng));
		unsigned char *p = make_block(worker_size(&rng));
		free(tmp);
		if (p == NULL)
			atomic_fetch_add(&worker_errors, 1);
		atomic_store(slot, p);
		atomic_fetch_add_explicit(&worker_ops, 1, memory_order_relaxed);
	}
	return NULL;
}

/* ---------------------------------------------------------------- the child */

static int child_errors;

static void child_fail(const char *what, size_t size)
{
	child_errors++;
	if (child_errors < 10)
		say("fork child %d: %s (%zu)\n", (int)getpid(), what, size);
}

/* Every small size class from 16 B to 32 KiB (4 classes a doubling), a few blocks of each,
 * then large and huge blocks, and a realloc chain across all of them. */
static void exercise_sizes(void)
{
	unsigned char *held[8];
	for (size_t base = 16; base <= 32 * KiB; base *= 2) {
		for (size_t quarter = 0; quarter < 4; quarter++) {
			size_t size = base + quarter * (base / 4);
			if (size > 32 * KiB)
				break;
			for (int i = 0; i < 8; i++)
				if ((held[i] = make_block(size - (size_t)i % 2)) == NULL)
					child_fail("malloc failed", size);
			for (int i = 7; i >= 0; i--)
				if (held[i] != NULL && !check_free(held[i]))
					child_fail("corrupted small block", size);
		}
	}
	static const size_t big[] = {40 * KiB, 200 * KiB, 1024 * KiB, 1024 * KiB + 1,
	                             3 * 1024 * KiB};
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		unsigned char *p = make_block(big[i]);
		if (p == NULL || !check_free(p))
			child_fail("large or huge block failed", big[i]);
	}
	/* Grow one block through every range; its first and last bytes must follow it. */
	size_t cur = 1;
	unsigned char *r = malloc(cur);
	if (r != NULL)
		r[0] = 0x5a;
	for (size_t size = 2; r != NULL && size <= 4 * 1024 * KiB; size = size * 3 / 2 + 1) {
		if (cur > 1)
			r[cur - 1] = 0xa5;
		unsigned char *q = realloc(r, size);
		if (q == NULL || q[0] != 0x5a || (cur > 1 && q[cur - 1] != 0xa5)) {
			child_fail("realloc failed or lost data", size);
			free(q ? q : r);
			r = NULL;
			break;
		}
		r = q;
		cur = size;
	}
	free(r);
	void *z = calloc(1000, 33);
	if (z == NULL)
		child_fail("calloc failed", 33000);
	free(z);
}

static void *child_thread(void *arg)
{
	exercise_sizes();
	return NULL;
}

static void child_main(int n)
{
	alarm(CHILD_TIMEOUT); /* a hang ends as SIGALRM, which the parent reports */

	if (atomic_load(&child_calls) != HANDLER_SETS)
		child_fail("child atfork handlers ran the wrong number of times",
		           (size_t)atomic_load(&child_calls));

	/* The blocks of threads that do not exist here. */
	int freed = 0;
	for (int w = 0; w < NWORKERS; w++)
		for (int i = 0; i < TSLOTS; i++) {
			unsigned char *p = atomic_load(&table[w][i]);
			if (p != NULL) {
				if (!check_free(p))
					child_fail("corrupted block of a vanished thread", 0);
				freed++;
			}
		}
	/* Each worker has at most one slot empty at a time. */
	if (freed < NWORKERS * (TSLOTS - 1))
		child_fail("too few published blocks", (size_t)freed);
	for (int i = 0; i < 64; i++)
		if (!check_free(main_blocks[i]))
			child_fail("corrupted block of the main thread", 0);

	exercise_sizes();

	pthread_t t;
	if (pthread_create(&t, NULL, child_thread, NULL) != 0)
		child_fail("pthread_create in the child failed", 0);
	else
		pthread_join(t, NULL);

	if (n < NESTED_FORKS) {
		pid_t g = fork();
		if (g == 0) {
			child_errors = 0;
			exercise_sizes();
			_exit(child_errors == 0 ? 0 : 1);
		}
		int st = 0;
		pid_t r = g < 0 ? -1 : waitpid(g, &st, 0);
		if (r != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			say("fork child %d: grandchild %d: fork/waitpid %d (errno %d), %s %d\n",
			    (int)getpid(), (int)g, (int)r, errno,
			    WIFSIGNALED(st) ? "killed by signal" : "exit status",
			    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			child_fail("the grandchild failed", 0);
		}
	}
	_exit(child_errors == 0 ? 0 : 1);
}

/* ---------------------------------------------------------------- the parent */

static void on_alarm(int sig)
{
	static const char msg[] = "fork: the parent hung (in fork or a handler?)\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(2);
	_exit(2);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(TEST_TIMEOUT);
	/* Before main's first malloc. */
	handlers_registered += pthread_atfork(on_prepare, on_parent, on_child) == 0;

	int made = 0;
	for (int i = 0; i < 64; i++)
		made += (main_blocks[i] = make_block(16 + (size_t)i * 100)) != NULL;
	REQUIRE(made == 64, "malloc failed in main");

	pthread_t tids[NWORKERS];
	for (int i = 0; i < NWORKERS; i++) {
		int rc = pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i);
		REQUIRE(rc == 0, "pthread_create: error %d", rc);
	}
	/* After the threads are running. */
	handlers_registered += pthread_atfork(on_prepare, on_parent, on_child) == 0;
	REQUIRE(handlers_registered == HANDLER_SETS, "pthread_atfork failed");
	while (atomic_load(&workers_ready) < NWORKERS)
		usleep(1000);

	uint64_t rng = SEED;
	int failed_children = 0, hung_children = 0;
	double slowest = 0;
	for (int n = 0; n < FORKS; n++) {
		usleep(2000 + (useconds_t)(rng_next(&rng) % 8000));
		double start = now_s();
		pid_t pid = fork();
		if (pid < 0)
			REQUIRE(pid >= 0, "fork failed");
		if (pid == 0)
			child_main(n);
		int st = child_wait(pid, CHILD_TIMEOUT + 2); /* -1: it hung and was killed */
		double took = now_s() - start;
		slowest = took > slowest ? took : slowest;
		if (st == -1) {
			hung_children++;
			say("fork: child %d (fork %d) hung; killed\n", (int)pid, n);
		} else if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed_children++;
			if (st >= 0 && WIFSIGNALED(st))
				say("fork: child %d (fork %d) killed by signal %d\n", (int)pid, n,
				    WTERMSIG(st));
			else
				say("fork: child %d (fork %d) exited with %d\n", (int)pid, n,
				    st >= 0 ? WEXITSTATUS(st) : -1);
		}
	}

	atomic_store(&stop, 1);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(tids[i], NULL);
	int bad_blocks = 0;
	for (int w = 0; w < NWORKERS; w++)
		for (int i = 0; i < TSLOTS; i++) {
			unsigned char *p = atomic_exchange(&table[w][i], NULL);
			if (p != NULL && !check_free(p))
				bad_blocks++;
		}
	for (int i = 0; i < 64; i++)
		if (!check_free(main_blocks[i]))
			bad_blocks++;

	fprintf(stderr, "fork: %d forks, %ld worker operations, slowest child %.3f s\n", FORKS,
	        atomic_load(&worker_ops), slowest);
	CHECK(hung_children == 0, "%d children hung", hung_children);
	CHECK(failed_children == 0, "%d children failed", failed_children);
	CHECK(atomic_load(&prepare_calls) == FORKS * HANDLER_SETS, "prepare handlers ran %d times",
	      atomic_load(&prepare_calls));
	CHECK(atomic_load(&parent_calls) == FORKS * HANDLER_SETS, "parent handlers ran %d times",
	      atomic_load(&parent_calls));
	CHECK(atomic_load(&child_calls) == 0, "child handlers ran %d times in the parent",
	      atomic_load(&child_calls));
	CHECK(atomic_load(&handler_alloc_failures) == 0, "%d allocations in handlers failed",
	      atomic_load(&handler_alloc_failures));
	CHECK(atomic_load(&worker_errors) == 0, "%ld worker errors", atomic_load(&worker_errors));
	CHECK(bad_blocks == 0, "%d corrupted blocks in the parent", bad_blocks);
	return CHECK_DONE();
}
