/* SPDX-License-Identifier: MIT */
/* aligned: posix_memalign with alignments 64..4096 mixed with plain malloc.
 *
 * Pattern modelled: programs that ask for over-aligned memory as a matter
 * of course -- cache-line-aligned structures against false sharing (64,
 * 128 bytes; C++ `alignas` types through aligned `operator new`), SIMD and
 * BLAS buffers (64 bytes and up), page-aligned I/O buffers for O_DIRECT
 * and io_uring (4096), arena and pool implementations that align their
 * chunks -- interleaved with ordinary mallocs in one long-lived heap.
 * Allocators that serve an aligned request by over-allocating and
 * splitting (glibc's memalign: size + alignment, then trim) waste memory
 * and fragment the heap; those whose size classes are naturally aligned
 * serve most of them from the ordinary fast path. Both the speed and the
 * resident memory show it.
 *
 * SLOTS live blocks, OPS random replacements (pick a slot, check and free
 * its block, allocate a new one). Half the new blocks come from malloc
 * (sizes 16 B .. 4 KiB, skewed small, as in churn), half from
 * posix_memalign with an alignment of
 *     64 (40%), 128 (20%), 256 (10%), 512 (10%), 1024 (5%), 2048 (5%),
 *     4096 (10%)
 * and a size from 16 bytes to max(1 KiB, 4 x alignment). Every block is
 * written and checked before it is freed; every aligned block's address is
 * checked: misaligned= counts the blocks that do not have the alignment
 * asked for, and errors= includes them (an allocator that returns one is
 * broken for this workload: the program's data structures may rely on it).
 *
 * Usage: aligned [-s SLOTS] [-n OPS] [-S SEED]
 * Prints: workload=aligned slots= ops= time_s= aligned_allocs= misaligned=
 *         checksum= errors= rss_end_kb= anon_huge_kb= */
#include "common.h"
#include "harness.h"
#include "sizes.h"

int main(int argc, char **argv)
{
	long slots = 20000, ops = 5000000;
	uint64_t rng = 0xa11;
	const struct bench_opt opts[] = {
	    {'s', "SLOTS", BENCH_COUNT, &slots, "live blocks"},
	    {'n', "OPS", BENCH_COUNT, &ops, "replacements after the fill"},
	    {'S', "SEED", BENCH_SEED, &rng, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	if (slots < 1 || ops < 0) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}
	unsigned char **ptr = malloc(slots * sizeof *ptr);
	uint32_t *size = malloc(slots * sizeof *size);
	uint64_t *tag = malloc(slots * sizeof *tag);
	if (!ptr || !size || !tag)
		return 1;
	long errors = 0, naligned = 0, misaligned = 0;
	uint64_t sum = 0, serial = 0;

	double t0 = bench_now();
	for (long op = -slots; op < ops; op++) {
		uint64_t r = bench_rand(&rng);
		long i = op < 0 ? slots + op : (long)(r % (uint64_t)slots);
		if (op >= 0) {
			errors += bench_check(ptr[i], size[i], tag[i]);
			sum += ptr[i][size[i] - 1];
			free(ptr[i]);
		}
		uint64_t r2 = bench_rand(&rng);
		void *p;
		if ((r >> 40) & 1) {
			size_t a = size_draw(MIX_ALIGN, r2);
			size_t max = a * 4 > 1024 ? a * 4 : 1024;
			size[i] = (uint32_t)(16 + (r2 >> 16) % (max - 15));
			int e = posix_memalign(&p, a, size[i]);
			if (e) {
				fprintf(stderr, "posix_memalign(%zu, %u) failed: %s\n", a, size[i],
				        strerror(e));
				return 1;
			}
			misaligned += ((uintptr_t)p & (a - 1)) != 0;
			naligned++;
		} else {
			size[i] = (uint32_t)size_draw(MIX_SMALL, r2);
			p = malloc(size[i]);
			if (!p) {
				fprintf(stderr, "malloc(%u) failed\n", size[i]);
				return 1;
			}
		}
		ptr[i] = p;
		tag[i] = ++serial * 0x9e3779b97f4a7c15ULL;
		bench_fill(ptr[i], size[i], tag[i]);
	}
	for (long i = 0; i < slots; i++) {
		errors += bench_check(ptr[i], size[i], tag[i]);
		sum += ptr[i][0];
		free(ptr[i]);
	}
	double t = bench_now() - t0;
	free(ptr);
	free(size);
	free(tag);

	errors += misaligned;
	return bench_result(sum, errors,
	                    "workload=aligned slots=%ld ops=%ld time_s=%.6f aligned_allocs=%ld "
	                    "misaligned=%ld",
	                    slots, ops, t, naligned, misaligned);
}
