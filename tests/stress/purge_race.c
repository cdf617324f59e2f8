/* SPDX-License-Identifier: MIT */
/* purge_race.c: the purging thread gives back free slab pages of a thread
 * that is still freeing, without losing or corrupting a block.
 *
 * The test re-executes itself with MALLOC_CONF=dirty_decay_ms:1, so that a
 * live heap whose thread took no slow path for a millisecond has the free
 * pages inside its slabs purged. A worker allocates 200,000 blocks of 16 to
 * 1024 bytes, each filled with a pattern of its own, then frees 90% of them
 * in a random order on the fast path, pausing 3 ms every 2,000 frees and
 * 150 ms every 20,000 (long enough for the purging thread to find the heap
 * idle, after which it looks again every 100 ms, while the frees go on).
 * Every 20,000 frees it checks the blocks still held.
 * Then it allocates 100,000 new blocks (which reuse what the purges left:
 * holes must not be handed out twice, nor live blocks at all), fills them
 * and checks every held block, old and new, and frees everything. Two
 * workers run at once, each on its own heap. Checks: no pattern changed, no
 * allocation failed, and the purging thread purged the live heaps: within
 * 3 s of the frees, with both threads alive, RSS falls below three
 * quarters of the peak.
 *
 * run.sh: alone (RSS must fall within 3 s of the frees). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "proc.h"
#include "rng.h"

#define MiB     ((size_t)1 << 20)
#define NBLOCKS 200000
#define NNEW    100000
#define WORKERS 2

struct worker {
	uint64_t rng;
	void **p;
	uint32_t *size;
	long bad, failed;
};

static void fill(void *p, size_t size, uint32_t tag)
{
	for (size_t i = 0; i + 4 <= size; i += 4)
		memcpy((char *)p + i, &(uint32_t){tag ^ (uint32_t)i}, 4);
}

static long check(const void *p, size_t size, uint32_t tag)
{
	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint32_t v;
		memcpy(&v, (const char *)p + i, 4);
		if (v != (tag ^ (uint32_t)i))
			return 1;
	}
	return 0;
}

static long check_held(struct worker *w, size_t n)
{
	long bad = 0;
	for (size_t i = 0; i < n; i++)
		if (w->p[i] != NULL)
			bad += check(w->p[i], w->size[i], (uint32_t)i * 2654435761u);
	return bad;
}

static size_t peak_rss, after_frees_rss;
static pthread_barrier_t freed;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t total = NBLOCKS + NNEW;
	w->p = calloc(total, sizeof *w->p);
	w->size = calloc(total, sizeof *w->size);
	uint32_t *order = malloc(NBLOCKS * sizeof *order);
	if (!w->p || !w->size || !order) {
		w->failed++;
		return NULL;
	}
	for (size_t i = 0; i < NBLOCKS; i++) {
		w->size[i] = 16 + (uint32_t)(rng_next(&w->rng) % 1009);
		if ((w->p[i] = malloc(w->size[i])) == NULL) {
			w->failed++;
			return NULL;
		}
		fill(w->p[i], w->size[i], (uint32_t)i * 2654435761u);
		order[i] = (uint32_t)i;
	}
	for (size_t i = NBLOCKS - 1; i > 0; i--) {
		size_t j = rng_next(&w->rng) % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	pthread_barrier_wait(&freed); /* main reads the peak */
	for (size_t k = 0; k < NBLOCKS * 9 / 10; k++) {
		size_t i = order[k];
		w->bad += check(w->p[i], w->size[i], (uint32_t)i * 2654435761u);
		free(w->p[i]);
		w->p[i] = NULL;
		if (k % 20000 == 19999)
			usleep(150000);
		else if (k % 2000 == 1999)
			usleep(3000);
		if (k % 20000 == 19999)
			w->bad += check_held(w, NBLOCKS);
	}
	pthread_barrier_wait(&freed); /* main watches RSS fall */
	pthread_barrier_wait(&freed);
	for (size_t i = NBLOCKS; i < total; i++) {
		w->size[i] = 16 + (uint32_t)(rng_next(&w->rng) % 1009);
		if ((w->p[i] = malloc(w->size[i])) == NULL) {
			w->failed++;
			break;
		}
		fill(w->p[i], w->size[i], (uint32_t)i * 2654435761u);
	}
	w->bad += check_held(w, total);
	for (size_t i = 0; i < total; i++)
		free(w->p[i]);
	free(order);
	free(w->p);
	free(w->size);
	return NULL;
}

static int child_main(void)
{
	/* A freed huge block starts the purging thread. */
	char *big = malloc(8 * MiB);
	REQUIRE(big != NULL, "malloc(8 MiB)");
	memset(big, 1, 8 * MiB);
	free(big);
	static struct worker w[WORKERS];
	pthread_t t[WORKERS];
	pthread_barrier_init(&freed, NULL, WORKERS + 1);
	for (int i = 0; i < WORKERS; i++) {
		w[i].rng = 0x9e3779b97f4a7c15u + (uint64_t)i;
		REQUIRE(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0, "pthread_create");
	}
	pthread_barrier_wait(&freed);
	peak_rss = rss_bytes();
	pthread_barrier_wait(&freed);
	/* The purging thread looks at an idle heap again on a schedule:
	 * wait for it, up to 3 s. */
	for (int i = 0; i < 300 && (after_frees_rss = rss_bytes()) >= peak_rss * 3 / 4; i++)
		usleep(10000);
	pthread_barrier_wait(&freed);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	long bad = 0, failed = 0;
	for (int i = 0; i < WORKERS; i++) {
		bad += w[i].bad;
		failed += w[i].failed;
	}
	fprintf(stderr, "  RSS %zu MiB at the peak, %zu MiB after the frees (10%% still held)\n",
	        peak_rss / MiB, after_frees_rss / MiB);
	CHECK(failed == 0, "%ld allocations failed", failed);
	CHECK(bad == 0, "%ld blocks changed under the purges", bad);
	CHECK(after_frees_rss < peak_rss * 3 / 4,
	      "RSS %zu MiB after the frees, %zu MiB at the peak: the live heaps were not purged",
	      after_frees_rss / MiB, peak_rss / MiB);
	return CHECK_DONE();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return child_main();
	struct child_opts opts = {
	    .name = "purge_race", .args = {"--child"}, .conf = "dirty_decay_ms:1", .timeout = 120};
	static char out[16384];
	int st = child_run(&opts, out, sizeof out, NULL);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "child");
	return CHECK_DONE();
}
