/* SPDX-License-Identifier: MIT */
/* The heap profiler samples every way of allocating by the same byte rule,
 * including those that pass the thread's bins: MALLOCX_ARENA (an automatic
 * arena, a created one), MALLOCX_TCACHE_NONE, cairn_heap_malloc, an
 * explicit cache (MALLOCX_TCACHE), and, in a child run with tcache:false
 * (threads without heaps, on the process's countdown), malloc itself.
 * Cases, each in this process and in the tcache:false child:
 *   every     at lg_prof_sample:0, K blocks of each size kind (small,
 *             large, huge) through each path are all in the profile under
 *             their call site, with their usable bytes, and their frees
 *             take them out again;
 *   rate      at lg_prof_sample:14, 4096-byte blocks through an arena and
 *             through malloc are sampled as often as the rule says
 *             (1 - exp(-4096/16384) of them, within six deviations), and
 *             so are 128 KiB blocks at lg_prof_sample:19;
 *   stats     sampled small blocks, which live in the profiler's slabs,
 *             count in stats.allocated while they live and not once freed
 *             (the slabs the profiler keeps are slabs, not large runs);
 *             its slabs cut one block at a time. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cairn.h>
#include <cairn/jemalloc.h>

#include "check.h"
#include "child.h"
#include "core/heap.h"
#include "core/sizeclass.h"
#include "prof/profiler.h"

const char *malloc_conf =
    "prof:true,lg_prof_sample:0,prof_gdump:false,prof_final:false,background_thread:false";

enum path { PLAIN, ARENA0, CREATED, TCACHE_NONE, HEAP_API, TCACHE, NPATHS };
static const char *const path_name[NPATHS] = {"malloc",        "MALLOCX_ARENA(0)",
                                              "created arena", "MALLOCX_TCACHE_NONE",
                                              "cairn_heap",    "MALLOCX_TCACHE"};

static unsigned created_arena, tcache_id;
static cairn_heap_t *heap;

/* The one call site of every path: its return addresses are within the
 * first bytes of this function. */
static __attribute__((noinline)) void *alloc_at(enum path p, size_t size)
{
	void *r = NULL;
	switch (p) {
	case PLAIN:
		r = malloc(size);
		break;
	case ARENA0:
		r = mallocx(size, MALLOCX_ARENA(0));
		break;
	case CREATED:
		r = mallocx(size, MALLOCX_ARENA(created_arena));
		break;
	case TCACHE_NONE:
		r = mallocx(size, MALLOCX_TCACHE_NONE);
		break;
	case HEAP_API:
		r = cairn_heap_malloc(heap, size);
		break;
	case TCACHE:
		r = mallocx(size, MALLOCX_TCACHE(tcache_id));
		break;
	default:
		break;
	}
	__asm__ volatile("" ::"r"(r) : "memory");
	return r;
}

struct site {
	uintptr_t lo, hi;
	struct prof_counts c;
};

static void add_site(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c, void *arg)
{
	struct site *s = arg;
	for (unsigned i = 0; i < depth; i++) {
		if (pcs[i] >= s->lo && pcs[i] < s->hi) {
			s->c.curobjs += c->curobjs;
			s->c.curbytes += c->curbytes;
			return;
		}
	}
}

static struct prof_counts site_counts(void)
{
	struct site s = {.lo = (uintptr_t)alloc_at, .hi = (uintptr_t)alloc_at + 1024};
	prof_visit(add_site, &s, NULL);
	return s.c;
}

#define K 16

/* The tcache:false child: no thread heap, so no large-run cache. */
static bool in_child;

static void every(void)
{
	size_t sizes[] = {48, 100000, 3u << 20};
	/* Each twice: malloc's second round of large blocks comes from the
	 * thread's large-run cache, which has a path of its own. */
	void *first_round[K] = {0};
	for (int round = 0; round < 2; round++)
		for (int p = 0; p < NPATHS; p++) {
			for (unsigned k = 0; k < sizeof sizes / sizeof *sizes; k++) {
				/* An explicit cache holds small blocks only. */
				if (p == TCACHE && sizes[k] > 4096)
					continue;
				struct prof_counts before = site_counts();
				void *b[K];
				uint64_t bytes = 0;
				for (int i = 0; i < K; i++) {
					b[i] = alloc_at(p, sizes[k]);
					bytes += sallocx(b[i], 0);
				}
				if (p == PLAIN && k == 1 && round == 0)
					memcpy(first_round, b, sizeof b);
				if (p == PLAIN && k == 1 && round == 1 && !in_child) {
					bool reused = false;
					for (int i = 0; i < K; i++)
						reused |= b[0] == first_round[i];
					CHECK(
					    reused,
					    "malloc(100000) again: a run from the thread's cache");
				}
				struct prof_counts mid = site_counts();
				CHECK(mid.curobjs - before.curobjs == K &&
				          mid.curbytes - before.curbytes == bytes,
				      "%s, %zu bytes: %llu objects, %llu bytes sampled; want %d, "
				      "%llu",
				      path_name[p], sizes[k],
				      (unsigned long long)(mid.curobjs - before.curobjs),
				      (unsigned long long)(mid.curbytes - before.curbytes), K,
				      (unsigned long long)bytes);
				for (int i = 0; i < K; i++)
					free(b[i]);
				struct prof_counts after = site_counts();
				CHECK(after.curobjs == before.curobjs &&
				          after.curbytes == before.curbytes,
				      "%s, %zu bytes: %llu objects left after the frees",
				      path_name[p], sizes[k],
				      (unsigned long long)(after.curobjs - before.curobjs));
			}
		}
}

#define RATE_N 4000

static void rate(void)
{
	size_t lg = 14;
	CHECK(mallctl("prof.reset", NULL, NULL, &lg, sizeof lg) == 0, "prof.reset 14");
	/* q = 1 - exp(-4096/16384), written out: the tests link no libm. */
	double q = 0.22119921692859512, mean = RATE_N * q, var = RATE_N * q * (1 - q);
	static void *b[RATE_N];
	enum path paths[] = {PLAIN, ARENA0};
	for (unsigned k = 0; k < 2; k++) {
		struct prof_counts before = site_counts();
		for (int i = 0; i < RATE_N; i++)
			b[i] = alloc_at(paths[k], 4096);
		double got = (double)(site_counts().curobjs - before.curobjs);
		CHECK((got - mean) * (got - mean) < 36 * var,
		      "%s: %.0f of %d blocks sampled; want %.0f within six deviations (variance "
		      "%.0f)",
		      path_name[paths[k]], got, RATE_N, mean, var);
		for (int i = 0; i < RATE_N; i++)
			free(b[i]);
	}
	/* The same q for 128 KiB blocks at the default 512 KiB, whose bytes
	 * count toward a sample in full but toward the rare event as 64 KiB
	 * (EVENT_WEIGHT_MAX): 64 live at a time, so that they come from the
	 * thread's cache of large runs and from the arena both. */
	lg = 19;
	CHECK(mallctl("prof.reset", NULL, NULL, &lg, sizeof lg) == 0, "prof.reset 19");
	double got = 0;
	for (int i = 0; i < RATE_N; i += 64) {
		struct prof_counts before = site_counts();
		for (int j = 0; j < 64; j++) {
			b[j] = alloc_at(PLAIN, 128 << 10);
			REQUIRE(b[j] != NULL && sallocx(b[j], 0) == 128 << 10, "a 128 KiB block");
		}
		got += (double)(site_counts().curobjs - before.curobjs);
		for (int j = 0; j < 64; j++)
			free(b[j]);
	}
	int n = (RATE_N + 63) / 64 * 64;
	mean = n * q;
	var = n * q * (1 - q);
	CHECK((got - mean) * (got - mean) < 36 * var,
	      "128 KiB blocks: %.0f of %d sampled; want %.0f within six deviations (variance "
	      "%.0f)",
	      got, n, mean, var);
	lg = 0;
	CHECK(mallctl("prof.reset", NULL, NULL, &lg, sizeof lg) == 0, "prof.reset 0");
}

static void set_up(void)
{
	free(malloc(1));
	REQUIRE(cairn_prof.on && prof_small_heap != NULL, "the profiler is on");
	size_t len = sizeof created_arena;
	REQUIRE(mallctl("arenas.create", &created_arena, &len, NULL, 0) == 0, "arenas.create");
	len = sizeof tcache_id;
	REQUIRE(mallctl("tcache.create", &tcache_id, &len, NULL, 0) == 0, "tcache.create");
	heap = cairn_heap_create();
	REQUIRE(heap != NULL, "cairn_heap_create");
}

static size_t allocated_now(void)
{
	uint64_t e = 1;
	size_t v = 0, len = sizeof v;
	REQUIRE(mallctl("epoch", NULL, NULL, &e, sizeof e) == 0, "epoch");
	REQUIRE(mallctl("stats.allocated", &v, &len, NULL, 0) == 0, "stats.allocated");
	return v;
}

#define STATS_BLOCKS 2000

static void stats(void)
{
	static const size_t sizes[] = {96, 5000, 40000};
	static void *b[STATS_BLOCKS];
	/* The profiler's slabs cut one block at a time: three sampled blocks
	 * of a class it held none of, three blocks cut (a batch would be
	 * four of these). */
	unsigned cls = size_class(3000);
	REQUIRE(prof_small_heap->cur[cls] == NULL, "no sampled block of 3000 bytes yet");
	/* Blocks first until no countdown drawn at rate's lg_prof_sample:19 is
	 * left (its mean 512 KiB, a MiB more than 13% of the time): every
	 * block after it is sampled. A thread heap's countdown is read; the
	 * process's, in the tcache:false child, is drawn again at prof.reset. */
	struct heap *me = heap_self();
	for (int i = 0; i < 16 || (me->kind == HEAP_THREAD && i < 4096 &&
	                           me->sample_left - (me->event_set - me->event_bytes) > 1);
	     i++)
		free(malloc(65536));
	for (int i = 0; i < 3; i++)
		b[i] = malloc(3000);
	struct span *s = prof_small_heap->cur[cls];
	CHECK(s != NULL && s->carved == 3, "3 sampled blocks of 3000 bytes, %u cut%s",
	      s != NULL ? s->carved : 0, s == NULL ? " (none in the profiler's slabs)" : "");
	for (int i = 0; i < 3; i++)
		free(b[i]);
	for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t bytes = STATS_BLOCKS * sizes[k];
		size_t before = allocated_now();
		for (int i = 0; i < STATS_BLOCKS; i++) {
			b[i] = malloc(sizes[k]);
			REQUIRE(b[i] != NULL, "malloc(%zu)", sizes[k]);
		}
		size_t live = allocated_now();
		CHECK(live >= before + bytes && live <= before + bytes + bytes / 4,
		      "%d sampled blocks of %zu bytes: allocated %zu -> %zu", STATS_BLOCKS,
		      sizes[k], before, live);
		for (int i = 0; i < STATS_BLOCKS; i++)
			free(b[i]);
		size_t after = allocated_now();
		CHECK(after <= before + bytes / 8,
		      "freed, the %zu-byte blocks leave allocated at %zu (%zu before, %zu live)",
		      sizes[k], after, before, live);
	}
}

int main(int argc, char **argv)
{
	set_up();
	bool child = argc > 1 && strcmp(argv[1], "--child") == 0;
	in_child = child;
	TEST_CASE("every")
	{
		every();
	}
	TEST_CASE("rate")
	{
		rate();
	}
	TEST_CASE("stats")
	{
		stats();
	}
	if (!child) {
		/* The same again, with no thread heaps at all. */
		struct child_opts opts = {
		    .name = "prof_paths",
		    .args = {"--child"},
		    .conf = "prof:true,lg_prof_sample:0,prof_gdump:false,prof_final:false,"
		            "background_thread:false,tcache:false",
		};
		static char out[1 << 16];
		int status = child_run(&opts, out, sizeof out, NULL);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "tcache:false child: status %d", status);
		CHECK(child_fold_checks(out) != NULL, "tcache:false child: no tally");
	}
	return CHECK_DONE();
}
