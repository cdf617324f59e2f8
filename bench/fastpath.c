/* SPDX-License-Identifier: MIT */
/* fastpath: the cost of one malloc+free pair on the allocator's fast path
 * (the thread cache), counted in instructions under callgrind.
 *
 * Pattern modelled: the short-lived temporary -- a buffer, a string, a node
 * allocated and freed again almost at once, by far the most frequent thing a
 * C or C++ program asks of its allocator. Timing it on a noisy machine says
 * little, so bench/run.py runs this program under
 * `valgrind --tool=callgrind --separate-threads=no` twice per allocator, with
 * N1 and N2 = N1 + D iterations, and reports (Ir(N2) - Ir(N1)) / D: start-up,
 * allocator initialisation and the first-touch slow paths appear in both runs
 * and cancel, what is left is the steady-state cost of one pair (including
 * the amortised cost of whatever refill/flush the thread cache does every so
 * many operations, since D is large).
 *
 * Usage: fastpath MODE N
 *   pair16 pair64 pair256   N times: p = malloc(s); touch p; free(p)
 *   pair4096                the same with a medium size (one page)
 *   pair131072              the same with a large size (32 pages; up to
 *                           64 KiB blocks come from slabs)
 *   large-mix               large blocks of 32 KiB to 1 MiB, sizes spread
 *                           evenly over each doubling, four of them live:
 *                           each iteration frees the oldest and allocates
 *                           one of the next size in a fixed sequence
 *   batch64                 N/64 rounds of: 64 x malloc(64), then free
 *                           them in allocation order (FIFO): the cache
 *                           has to hold a few dozen blocks, not one
 *   xthread64               cross-thread: thread A mallocs a batch of 256
 *                           blocks of 64 bytes and hands it over, thread B
 *                           frees them; N pairs in all, counted over both
 *                           threads. A and B take strict turns (mutex +
 *                           condition variable), so the count does not
 *                           depend on scheduling.
 *   live64                  pair64 amid live neighbours: 8192 blocks of
 *                           64 bytes allocated and every other one freed
 *                           first, so every page of the class stays half
 *                           live; then N times malloc(64), touch, free.
 *                           No free empties a page, so no allocator takes
 *                           its empty-page path, which pair64 sends some
 *                           (mimalloc) down on every free.
 *   loop-pair loop-xthread  the pair64 / xthread64 / live64 / large-mix
 *   loop-live loop-large    harness calling dummy functions instead of
 *                           malloc/free: the loop and hand-off overhead
 *                           contained in the figures.
 * It prints one key=value line; `time_s` is the wall time of the loop (only
 * indicative: under callgrind it is meaningless). */
#include <pthread.h>

#include "common.h"
#include "harness.h"

#define BATCH_FIFO 64
#define BATCH_XT   256
#define LIVE_SET   4096

typedef void *(*alloc_fn_t)(size_t);
typedef void (*free_fn_t)(void *);

/* The harness-only modes call these instead. noipa keeps gcc from seeing
 * through them, so the loop around them is compiled as it is for malloc. */
static char dummy_block[64] __attribute__((aligned(16)));
__attribute__((noipa)) static void *dummy_alloc(size_t size)
{
	(void)size;
	return dummy_block;
}
__attribute__((noipa)) static void dummy_free(void *p)
{
	(void)p;
}

/* Every block is written to and its address folded into `check`, which is
 * printed at the end: the calls and the stores are observable. */
static uintptr_t check;

/* The loops are always_inline and take the functions as arguments: each
 * caller passes constants, so the real modes compile to direct calls to
 * malloc/free through the PLT, exactly as in an ordinary program. */
#define LOOP static inline __attribute__((always_inline))

LOOP void run_pairs(size_t size, long n, alloc_fn_t alloc_fn, free_fn_t free_fn)
{
	uintptr_t acc = 0;
	for (long i = 0; i < n; i++) {
		char *p = alloc_fn(size);
		p[0] = (char)i;
		acc += (uintptr_t)p ^ (uintptr_t)(unsigned char)p[0];
		free_fn(p);
	}
	check += acc;
}

LOOP void run_batch(size_t size, long n, alloc_fn_t alloc_fn, free_fn_t free_fn)
{
	char *blk[BATCH_FIFO];
	uintptr_t acc = 0;
	long rounds = (n + BATCH_FIFO - 1) / BATCH_FIFO;
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BATCH_FIFO; i++) {
			blk[i] = alloc_fn(size);
			blk[i][0] = (char)i;
		}
		for (int i = 0; i < BATCH_FIFO; i++) {
			acc += (uintptr_t)blk[i] ^ (uintptr_t)(unsigned char)blk[i][0];
			free_fn(blk[i]);
		}
	}
	check += acc;
}

#define LARGE_LIVE 4

LOOP void run_large_mix(long n, alloc_fn_t alloc_fn, free_fn_t free_fn)
{
	char *live[LARGE_LIVE] = {0};
	uintptr_t acc = 0;
	uint32_t x = 12345;
	for (long i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		size_t base = (size_t)32768 << ((x >> 24) % 5);
		size_t size = base + (x & 0xffffff) % base;
		char **slot = &live[i % LARGE_LIVE];
		free_fn(*slot);
		*slot = alloc_fn(size);
		(*slot)[0] = (char)i;
		acc += (uintptr_t)*slot;
	}
	for (int i = 0; i < LARGE_LIVE; i++)
		free_fn(live[i]);
	check += acc;
}

/* Set-up before the loop (it cancels out between callgrind's two runs
 * like the rest of start-up): 2 x LIVE_SET blocks, then every other one
 * freed, so that every page the class uses is half live, and the pairs
 * take blocks from between live neighbours. */
LOOP void run_live(size_t size, long n, alloc_fn_t alloc_fn, free_fn_t free_fn)
{
	static char *live[2 * LIVE_SET];
	uintptr_t acc = 0;
	for (int i = 0; i < 2 * LIVE_SET; i++) {
		live[i] = alloc_fn(size);
		live[i][0] = (char)i;
	}
	for (int i = 1; i < 2 * LIVE_SET; i += 2)
		free_fn(live[i]);
	for (long i = 0; i < n; i++) {
		char *p = alloc_fn(size);
		p[0] = (char)i;
		acc += (uintptr_t)p ^ (uintptr_t)(unsigned char)p[0];
		free_fn(p);
	}
	for (int i = 0; i < 2 * LIVE_SET; i += 2)
		free_fn(live[i]);
	check += acc;
}

/* Cross-thread: strict ping-pong between producer (main thread) and
 * consumer, one hand-off per batch of BATCH_XT blocks. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int turn; /* 0: producer fills, 1: consumer frees */
	long rounds;
	char *blk[BATCH_XT];
} xt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}};

static void xt_wait_turn(int want)
{
	pthread_mutex_lock(&xt.mu);
	while (xt.turn != want)
		pthread_cond_wait(&xt.cv, &xt.mu);
	pthread_mutex_unlock(&xt.mu);
}

static void xt_give_turn(int to)
{
	pthread_mutex_lock(&xt.mu);
	xt.turn = to;
	pthread_cond_signal(&xt.cv);
	pthread_mutex_unlock(&xt.mu);
}

LOOP void *xt_consumer(free_fn_t free_fn)
{
	uintptr_t acc = 0;
	for (long r = 0; r < xt.rounds; r++) {
		xt_wait_turn(1);
		for (int i = 0; i < BATCH_XT; i++) {
			acc += (uintptr_t)(unsigned char)xt.blk[i][0];
			free_fn(xt.blk[i]);
		}
		xt_give_turn(0);
	}
	return (void *)acc;
}

static void *xt_consumer_real(void *arg)
{
	(void)arg;
	return xt_consumer(free);
}

static void *xt_consumer_dummy(void *arg)
{
	(void)arg;
	return xt_consumer(dummy_free);
}

LOOP void run_xthread(size_t size, long n, alloc_fn_t alloc_fn, void *(*consumer)(void *))
{
	pthread_t th;
	void *ret;
	uintptr_t acc = 0;
	xt.rounds = (n + BATCH_XT - 1) / BATCH_XT;
	if (pthread_create(&th, NULL, consumer, NULL) != 0) {
		perror("pthread_create");
		exit(1);
	}
	for (long r = 0; r < xt.rounds; r++) {
		xt_wait_turn(0);
		for (int i = 0; i < BATCH_XT; i++) {
			xt.blk[i] = alloc_fn(size);
			xt.blk[i][0] = (char)i;
			acc += (uintptr_t)xt.blk[i];
		}
		xt_give_turn(1);
	}
	pthread_join(th, &ret);
	check += acc + (uintptr_t)ret;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr,
		        "usage: %s MODE N\n"
		        "  MODE: pair16 pair64 pair256 pair4096 pair131072 large-mix\n"
		        "        batch64 xthread64 live64\n"
		        "        loop-pair loop-xthread loop-live loop-large\n",
		        argv[0]);
		return 1;
	}
	const char *mode = argv[1];
	long n = bench_count(argv[2]);
	double t0 = bench_now();

	if (!strcmp(mode, "pair16"))
		run_pairs(16, n, malloc, free);
	else if (!strcmp(mode, "pair64"))
		run_pairs(64, n, malloc, free);
	else if (!strcmp(mode, "pair256"))
		run_pairs(256, n, malloc, free);
	else if (!strcmp(mode, "pair4096"))
		run_pairs(4096, n, malloc, free);
	else if (!strcmp(mode, "pair131072"))
		run_pairs(131072, n, malloc, free);
	else if (!strcmp(mode, "large-mix"))
		run_large_mix(n, malloc, free);
	else if (!strcmp(mode, "batch64"))
		run_batch(64, n, malloc, free);
	else if (!strcmp(mode, "xthread64"))
		run_xthread(64, n, malloc, xt_consumer_real);
	else if (!strcmp(mode, "live64"))
		run_live(64, n, malloc, free);
	else if (!strcmp(mode, "loop-pair"))
		run_pairs(64, n, dummy_alloc, dummy_free);
	else if (!strcmp(mode, "loop-xthread"))
		run_xthread(64, n, dummy_alloc, xt_consumer_dummy);
	else if (!strcmp(mode, "loop-live"))
		run_live(64, n, dummy_alloc, dummy_free);
	else if (!strcmp(mode, "loop-large"))
		run_large_mix(n, dummy_alloc, dummy_free);
	else {
		fprintf(stderr, "unknown mode '%s'\n", mode);
		return 1;
	}

	double t = bench_now() - t0;
	printf("workload=fastpath mode=%s n=%ld time_s=%.6f checksum=%lx errors=0\n", mode, n, t,
	       (unsigned long)check);
	return 0;
}
