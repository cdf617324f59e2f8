/* SPDX-License-Identifier: MIT */
/* phases: where a heap with medium blocks puts them, phase after phase.
 *
 * Sizes: sizes.h's MIX_MID, 70% 8-128 B, 25% 129 B-4 KiB, 5% 4-64 KiB
 * (mean about 2.3 KiB). Every block gets only its first bytes written
 * (bench_fill's tag and first cache line): a request buffer, a parsed
 * message, a string builder's reserve, which are sized for the worst case
 * and mostly filled at the front. Pages the program never writes cost
 * nothing, so what the peak RSS measures is where the allocator places
 * blocks: an allocator that puts a new block where an earlier one was
 * finds its first page resident already; one that cuts blocks at new
 * offsets out of merged free memory faults in a new page for each one
 * and keeps the old ones resident beside them.
 *
 * -m phases: PHASES times, allocate BLOCKS blocks, then free all but
 *   KEEP per mille of them in random order (the survivors stay to the end
 *   of the run, scattered): a service working through request bursts.
 * -m window: BLOCKS allocations, each freeing the one allocated WINDOW
 *   allocations before it, so that WINDOW blocks of mixed sizes are live
 *   at any time: a queue, a cache with a fixed lifetime.
 *
 * Usage: phases [-m phases|window] [-p PHASES] [-n BLOCKS] [-k KEEP_PERMILLE]
 *               [-w WINDOW] [-S SEED]
 * Prints: workload=phases mode= blocks= time_s= (phases: phases= keep=
 *         survivors=; window: window=) checksum= errors= rss_end_kb=
 *         anon_huge_kb=. time_s covers every allocation and free. */
#include <stdbool.h>

#include "common.h"
#include "harness.h"
#include "sizes.h"

struct obj {
	unsigned char *p;
	uint32_t size;
	uint64_t tag;
};

static uint64_t serial;

static int make(struct obj *o, uint64_t *rng)
{
	o->size = (uint32_t)size_draw(MIX_MID, bench_rand(rng));
	o->tag = ++serial * 0x9e3779b97f4a7c15ULL;
	o->p = malloc(o->size);
	if (!o->p) {
		fprintf(stderr, "malloc(%u) failed\n", o->size);
		return -1;
	}
	bench_fill(o->p, o->size < 64 ? o->size : 64, o->tag);
	return 0;
}

/* 1 when o lost what make() wrote; frees it. */
static long drop(struct obj *o, uint64_t *sum)
{
	long bad = bench_check(o->p, o->size < 64 ? o->size : 64, o->tag);
	*sum += o->p[0];
	free(o->p);
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode = "phases";
	int phases = 8, keep = 20;
	long blocks = 400000, window = 100000;
	uint64_t rng = 0x9a5e;

	const struct bench_opt opts[] = {
	    {'m', "phases|window", BENCH_STR, &mode, "the pattern"},
	    {'p', "PHASES", BENCH_INT, &phases, "phases, 1 to 1000 (-m phases)"},
	    {'n', "BLOCKS", BENCH_COUNT, &blocks, "blocks per phase, or in all (-m window)"},
	    {'k', "KEEP_PERMILLE", BENCH_INT, &keep, "blocks per mille that survive a phase"},
	    {'w', "WINDOW", BENCH_COUNT, &window, "live blocks (-m window)"},
	    {'S', "SEED", BENCH_SEED, &rng, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	bool win = !strcmp(mode, "window");
	if ((!win && strcmp(mode, "phases")) || phases < 1 || phases > 1000 || blocks < 1 ||
	    keep < 0 || keep > 1000 || window < 1) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}

	/* Harness arrays, allocated before the clock starts. */
	size_t per = (size_t)blocks * (size_t)keep / 1000;
	size_t cap = win ? (size_t)window : (size_t)blocks;
	size_t scap = win ? 1 : per * (size_t)phases + 1;
	struct obj *cur = malloc(cap * sizeof *cur);
	struct obj *surv = malloc(scap * sizeof *surv);
	if (!cur || !surv) {
		fprintf(stderr, "out of memory for the harness arrays\n");
		return 1;
	}
	size_t nsurv = 0;
	uint64_t sum = 0;
	long errors = 0;

	double t0 = bench_now();
	if (win) {
		for (long i = 0; i < blocks; i++) {
			struct obj *o = &cur[(size_t)i % cap];
			if (i >= window)
				errors += drop(o, &sum);
			if (make(o, &rng))
				return 1;
		}
		for (size_t i = 0; i < cap && i < (size_t)blocks; i++)
			errors += drop(&cur[i], &sum);
	} else {
		for (int ph = 0; ph < phases; ph++) {
			for (size_t i = 0; i < cap; i++)
				if (make(&cur[i], &rng))
					return 1;
			/* Fisher-Yates: which blocks survive and the order of
			 * the frees are both random. */
			for (size_t i = cap - 1; i > 0; i--) {
				size_t j = (size_t)(bench_rand(&rng) % (i + 1));
				struct obj t = cur[i];
				cur[i] = cur[j];
				cur[j] = t;
			}
			for (size_t i = per; i < cap; i++)
				errors += drop(&cur[i], &sum);
			for (size_t i = 0; i < per; i++)
				surv[nsurv++] = cur[i];
		}
		for (size_t i = 0; i < nsurv; i++)
			errors += drop(&surv[i], &sum);
	}
	double t = bench_now() - t0;
	free(cur);
	free(surv);

	if (win)
		return bench_result(sum, errors,
		                    "workload=phases mode=window blocks=%ld window=%ld time_s=%.6f",
		                    blocks, window, t);
	return bench_result(sum, errors,
	                    "workload=phases mode=phases blocks=%ld phases=%d keep=%d time_s=%.6f "
	                    "survivors=%zu",
	                    blocks, phases, keep, t, nsurv);
}
