/* SPDX-License-Identifier: MIT */
/* The size mixes of the workloads, in one table.
 *
 * A mix is a list of bins, each a weight and a range of sizes: one random
 * number r picks the bin (r % total against the running sum of the
 * weights) and the size within it (uniform: lo + (r >> 8) % (hi - lo + 1)).
 * Workloads that draw from the same distribution name the same mix; each
 * mix draws exactly the sizes the workload drew before it was moved here,
 * so results stay comparable across versions. Change a mix and every
 * workload that uses it measures something else. */
#ifndef CAIRN_BENCH_SIZES_H
#define CAIRN_BENCH_SIZES_H

#include <stddef.h>
#include <stdint.h>

#define MIX_BINS 8 /* size_draw() spells out this many */
#define KIB      1024UL
#define MIB      (1024UL * 1024)

enum size_mix_name {
	MIX_SMALL,    /* churn, aligned's malloc half */
	MIX_THREADS,  /* threads */
	MIX_MESSAGES, /* prodcons */
	MIX_SERVER,   /* server */
	MIX_PHASES,   /* longrun */
	MIX_TENSORS,  /* ml -m tensors */
	MIX_ALIGN,    /* aligned: the alignment of its posix_memalign half */
	MIX_MID,      /* phases, churn -x mid */
	MIX_COUNT
};

struct size_mix {
	unsigned total; /* the sum of the weights */
	struct {
		unsigned weight;
		size_t lo, hi; /* inclusive */
	} bin[MIX_BINS];
};

static const struct size_mix size_mixes[MIX_COUNT] = {
    /* Small objects, about the shape of real C/C++ heaps, mean ~256 B. */
    [MIX_SMALL] = {100, {{60, 16, 64}, {25, 65, 256}, {10, 257, 1024}, {5, 1025, 4 * KIB}}},
    /* The same sizes, a little more weight on the large end, and 2%
     * 4-32 KiB. */
    [MIX_THREADS] = {100,
                     {{55, 16, 64},
                      {25, 65, 256},
                      {13, 257, 1024},
                      {5, 1025, 4 * KIB},
                      {2, 4 * KIB + 1, 32 * KIB}}},
    /* Queued messages: 16-512 B, skewed small, mean ~100 B. */
    [MIX_MESSAGES] = {10, {{5, 16, 48}, {3, 49, 128}, {2, 129, 512}}},
    /* A server's request objects: headers, parsed fields, I/O buffers,
     * bodies, large uploads; mean ~10 KiB. */
    [MIX_SERVER] = {100,
                    {{40, 16, 128},
                     {30, 129, 1024},
                     {20, 1025, 8 * KIB},
                     {8, 8 * KIB + 1, 64 * KIB},
                     {2, 64 * KIB + 1, 512 * KIB}}},
    /* What a service's phase allocates: small to medium, mean ~2.7 KiB. */
    [MIX_PHASES] =
        {100, {{50, 16, 128}, {30, 129, 1024}, {15, 1025, 8 * KIB}, {5, 8 * KIB + 1, 64 * KIB}}},
    /* Tensors: an octave 1-2, 2-4, ... 32-64 MiB picked uniformly, then
     * uniform within it (about log-uniform), mean ~17.5 MiB. */
    [MIX_TENSORS] = {6,
                     {{1, 1 * MIB, 2 * MIB - 1},
                      {1, 2 * MIB, 4 * MIB - 1},
                      {1, 4 * MIB, 8 * MIB - 1},
                      {1, 8 * MIB, 16 * MIB - 1},
                      {1, 16 * MIB, 32 * MIB - 1},
                      {1, 32 * MIB, 64 * MIB - 1}}},
    /* Alignments asked of posix_memalign: cache lines most, pages some. */
    [MIX_ALIGN] = {100,
                   {{40, 64, 64},
                    {20, 128, 128},
                    {10, 256, 256},
                    {10, 512, 512},
                    {5, 1024, 1024},
                    {5, 2048, 2048},
                    {10, 4096, 4096}}},
    /* A service's heap with its medium blocks: mostly small objects,
     * a quarter of buffers up to a page, 5% of 4-64 KiB blocks (mean
     * ~2.3 KiB), the range that sits between slabs and page runs. */
    [MIX_MID] = {100, {{70, 8, 128}, {25, 129, 4 * KIB}, {5, 4 * KIB + 1, 64 * KIB}}},
};

/* A size from the mix, from one random number. Always inlined with a
 * constant mix, so that the table folds into the code and it compiles to
 * what the hand-written draws it replaced did (multiplications, no
 * division): the workloads' own overhead stays what it was. The bins are
 * spelled out, not looped over: after a loop gcc computes the size once,
 * at the exit, dividing by whichever bin's width. */
static inline __attribute__((always_inline)) size_t size_draw(enum size_mix_name mix, uint64_t r)
{
	const struct size_mix *m = &size_mixes[mix];
	unsigned b = (unsigned)(r % m->total), acc = 0;

	r >>= 8;
#define SIZE_BIN(i)                                                                                \
	do {                                                                                       \
		if (b < (acc += m->bin[i].weight))                                                 \
			return m->bin[i].lo + r % (m->bin[i].hi - m->bin[i].lo + 1);               \
	} while (0)
	SIZE_BIN(0);
	SIZE_BIN(1);
	SIZE_BIN(2);
	SIZE_BIN(3);
	SIZE_BIN(4);
	SIZE_BIN(5);
	SIZE_BIN(6);
	SIZE_BIN(7);
#undef SIZE_BIN
	return m->bin[0].lo; /* not reached: the weights add up to total */
}

#endif
