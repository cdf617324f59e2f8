/* SPDX-License-Identifier: MIT */
/* ml: the allocation patterns of ML / numeric programs -- huge buffers,
 * and buffers grown by realloc.
 *
 * Pattern modelled: a training or inference process (PyTorch/NumPy on the
 * CPU, an inference server, a data loader) whose heap is dominated by a
 * few very large blocks: activations, weights, batches, gradient buffers,
 * from a few MiB to a GiB, each one written all over as soon as it is
 * allocated. For these the allocator's small-object machinery does not
 * matter; what does is whether freeing a huge block gives it back to the
 * kernel (and the next allocation pays a page fault, plus the kernel's
 * zeroing, for every 4 KiB page again) or keeps it mapped for reuse, how
 * realloc grows a block (copying vs. mremap), and how much of a freed
 * block stays resident. glibc's dynamic mmap threshold, jemalloc's
 * extent decay and mimalloc's segment cache all aim at this case; the
 * PyTorch CPU allocator and NumPy's small-block cache exist because of it.
 *
 * Four modes:
 *   -m huge      for each SIZE:COUNT pair of -s: COUNT times, malloc(SIZE),
 *                write one byte in every page, check them, free. The sizes
 *                go 8 MiB to 1 GiB. One buffer at a time: the cost is the
 *                page faults the allocator does or does not cause.
 *   -m realloc   ROUNDS times: grow one vector from 64 KiB to MAX by
 *                realloc doubling, writing every page of the new half after
 *                each step and checking a byte of every old page (a
 *                std::vector / Python list / tensor being appended to);
 *                then free it.
 *   -m tensors   a pool of SLOTS buffers of 1 to 64 MiB (log-uniform sizes)
 *                with random lifetimes (sizes: an octave 1-2, 2-4, ... 32-64
 *                MiB chosen uniformly, then uniform within it, so about
 *                log-uniform, mean 17.5 MiB): STEPS times, pick a slot at random,
 *                check and free its buffer, malloc a new one and write
 *                every page (the tensors of a computation graph, freed as
 *                soon as their last user ran, sizes all over the place).
 *   -m buffers   a pool of SLOTS buffers that realloc grows: STEPS times,
 *                pick a slot at random, check and free its buffer, then grow
 *                a new one from 16 KiB by realloc doubling to a size uniform
 *                in 128 KiB..MAX, writing every page of each new part (the
 *                I/O, string and serialisation buffers of a service, or a
 *                data loader's batches being assembled: many mid-size
 *                blocks that grow a step at a time and come and go). Here
 *                an allocator either copies at each step or grows the block
 *                where it lies, and either reuses freed buffers' pages or
 *                faults in fresh ones.
 *
 * Usage: ml -m huge [-s SIZE:COUNT,...]
 *        ml -m realloc [-x MAX] [-r ROUNDS]
 *        ml -m tensors [-k SLOTS] [-n STEPS] [-S SEED]
 *        ml -m buffers [-k SLOTS] [-n STEPS] [-x MAX] [-S SEED]
 * Sizes take k/M/G suffixes in binary units here (1M = 1 MiB).
 * Prints: workload=ml mode= ... time_s= touched_mib= checksum= errors=
 *         rss_end_kb= anon_huge_kb= */
#include "common.h"
#include "harness.h"
#include "sizes.h"

static double touched; /* bytes of pages written */
static long errors;
static uint64_t sum;

static unsigned char *get(size_t size)
{
	unsigned char *p = malloc(size);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

static void run_huge(const char *spec)
{
	const char *s = spec;
	unsigned salt = 1;
	while (*s) {
		char *end;
		double v = bench_scan(s, &end, 1024);
		if (*end != ':' || v < 1)
			goto bad;
		size_t size = (size_t)v;
		long count = strtol(end + 1, &end, 10);
		if (count < 1 || (*end && *end != ','))
			goto bad;
		for (long i = 0; i < count; i++, salt++) {
			unsigned char *p = get(size);
			bench_touch_pages(p, size, salt);
			touched += (double)size;
			errors += bench_pages_check(p, size, salt) != 0;
			sum += p[(size - 1) & ~4095UL];
			free(p);
		}
		s = *end ? end + 1 : end;
	}
	return;
bad:
	fprintf(stderr, "bad -s '%s' (want SIZE:COUNT,...)\n", spec);
	exit(1);
}

static void run_realloc(size_t max, int rounds)
{
	for (int r = 0; r < rounds; r++) {
		size_t cap = 64 * 1024;
		unsigned salt = (unsigned)r + 7;
		unsigned char *p = get(cap);
		bench_touch_pages(p, cap, salt);
		touched += (double)cap;
		while (cap < max) {
			size_t ncap = cap * 2;
			p = realloc(p, ncap);
			if (!p) {
				fprintf(stderr, "realloc(%zu) failed\n", ncap);
				exit(1);
			}
			/* The old part must have moved along: one byte per
			 * page (the last byte of the old size was written by
			 * bench_touch_pages only at the first size). */
			for (size_t off = 0, i = 0; off < cap; off += 4096, i++)
				errors += p[off] != (unsigned char)(i ^ salt);
			/* write the new half, page by page, continuing the
			 * page numbering */
			for (size_t off = cap, i = cap / 4096; off < ncap; off += 4096, i++)
				p[off] = (unsigned char)(i ^ salt);
			touched += (double)(ncap - cap);
			cap = ncap;
		}
		sum += p[cap - 4096];
		free(p);
	}
}

struct tensor {
	unsigned char *p;
	size_t size;
	unsigned salt;
};

/* A new tensor: an octave 1-2, 2-4, ... 32-64 MiB picked uniformly, then a
 * size uniform within it, not page-rounded; every page written. */
static unsigned char *new_tensor(size_t max, unsigned salt, uint64_t *rng, size_t *size)
{
	(void)max;
	*size = size_draw(MIX_TENSORS, bench_rand(rng));
	unsigned char *p = get(*size);
	bench_touch_pages(p, *size, salt);
	touched += (double)*size;
	return p;
}

/* A new buffer: grown from 16 KiB by realloc doubling to a size uniform in
 * 128 KiB..max, every page of each new part written. */
static unsigned char *new_buffer(size_t max, unsigned salt, uint64_t *rng, size_t *size)
{
	size_t target = 128 * 1024 + (size_t)(bench_rand(rng) % (max - 128 * 1024 + 1));
	size_t cap = 16 * 1024;
	unsigned char *p = get(cap);
	bench_touch_pages(p, cap, salt);
	while (cap < target) {
		size_t ncap = cap * 2 < target ? cap * 2 : target;
		p = realloc(p, ncap);
		if (!p) {
			fprintf(stderr, "realloc(%zu) failed\n", ncap);
			exit(1);
		}
		/* the pages written so far came along; number the new ones
		 * on from there */
		for (size_t off = cap & ~4095UL, i = off / 4096; off < ncap; off += 4096, i++)
			p[off] = (unsigned char)(i ^ salt);
		cap = ncap;
	}
	if ((cap - 1) % 4096)
		p[cap - 1] = (unsigned char)salt;
	touched += (double)cap;
	*size = cap;
	return p;
}

/* The tensors and buffers modes: SLOTS blocks filled in turn, then STEPS
 * times a random slot's block checked, freed and replaced by a new one. */
static void run_pool(int slots, long steps, size_t max, uint64_t rng,
                     unsigned char *(*make)(size_t, unsigned, uint64_t *, size_t *))
{
	struct tensor *t = calloc((size_t)slots, sizeof *t);
	unsigned salt = 1;
	if (!t)
		exit(1);
	for (long s = -slots; s < steps; s++) {
		long k = s < 0 ? slots + s : (long)(bench_rand(&rng) % (uint64_t)slots);
		if (t[k].p) {
			errors += bench_pages_check(t[k].p, t[k].size, t[k].salt) != 0;
			sum += t[k].p[0];
			free(t[k].p);
		}
		t[k].salt = ++salt;
		t[k].p = make(max, salt, &rng, &t[k].size);
	}
	for (int k = 0; k < slots; k++) {
		errors += bench_pages_check(t[k].p, t[k].size, t[k].salt) != 0;
		free(t[k].p);
	}
	free(t);
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *spec = "8M:64,64M:16,256M:4,1G:2";
	size_t max = 1024 * MIB;
	int rounds = 2, slots = 16;
	long steps = 200;
	uint64_t seed = 0x7e5;
	const struct bench_opt opts[] = {
	    {'m', "MODE", BENCH_STR, &mode, "huge, realloc, tensors or buffers"},
	    {'s', "SIZE:COUNT,...", BENCH_STR, &spec, "huge: COUNT buffers of SIZE, for each pair"},
	    {'x', "MAX", BENCH_SIZE, &max, "realloc, buffers: the size blocks grow to"},
	    {'r', "ROUNDS", BENCH_INT, &rounds, "realloc: vectors grown one after the other"},
	    {'k', "SLOTS", BENCH_INT, &slots, "tensors, buffers: blocks in the pool"},
	    {'n', "STEPS", BENCH_COUNT, &steps, "tensors, buffers: replacements"},
	    {'S', "SEED", BENCH_SEED, &seed, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts,
	              "-m huge [-s SIZE:COUNT,...]\n"
	              "-m realloc [-x MAX] [-r ROUNDS]\n"
	              "-m tensors [-k SLOTS] [-n STEPS] [-S SEED]\n"
	              "-m buffers [-k SLOTS] [-n STEPS] [-x MAX] [-S SEED]");
	if (!mode)
		bench_usage();
	if (max < 128 * 1024 || rounds < 1 || slots < 1 || steps < 0) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}

	double t0 = bench_now();
	if (!strcmp(mode, "huge"))
		run_huge(spec);
	else if (!strcmp(mode, "realloc"))
		run_realloc(max, rounds);
	else if (!strcmp(mode, "tensors"))
		run_pool(slots, steps, max, seed, new_tensor);
	else if (!strcmp(mode, "buffers"))
		run_pool(slots, steps, max, seed, new_buffer);
	else
		bench_usage();
	double t = bench_now() - t0;

	return bench_result(sum, errors, "workload=ml mode=%s time_s=%.6f touched_mib=%.0f", mode,
	                    t, touched / MIB);
}
