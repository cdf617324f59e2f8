/* SPDX-License-Identifier: MIT */
/* rlimit_reclaim: near the address-space limit, memory that threads freed is reused. With
 * RLIMIT_AS a little above what the process maps at start, four threads allocate until a
 * request fails, free every other block and exit. The main thread must then get 200 small
 * blocks and a few large ones out of what they freed, and, once everything is freed, one
 * block as large as most of the room: a request that fails for lack of address space has
 * cairn reclaim what it holds (thread caches, purging, empty chunks) and try again. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "check.h"
#include "proc.h"
#include "rng.h"

#define MiB      (1ul << 20)
#define ROOM     (300 * MiB)
#define NTHREADS 4
#define MAXBLK   (1u << 21)

static void **blocks[NTHREADS];
static size_t nblocks[NTHREADS];
static pthread_barrier_t all_full;

static void *worker(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	uint64_t seed = 0x5eed0000u + k;
	void **b = blocks[k];
	size_t n = 0;
	/* Mostly small blocks, one in 512 a large one (8 to 64 KiB). */
	while (n < MAXBLK) {
		uint64_t r = rng_next(&seed);
		size_t size = r % 512 == 0 ? 8192 + (r >> 9) % 57344 : 16 + (r >> 9) % 496;
		void *p = malloc(size);
		if (p == NULL)
			break;
		memset(p, (int)k, size < 64 ? size : 64);
		b[n++] = p;
	}
	nblocks[k] = n;
	/* Everyone is out of room before anyone frees. */
	pthread_barrier_wait(&all_full);
	for (size_t i = 0; i < n; i += 2) {
		free(b[i]);
		b[i] = NULL;
	}
	return NULL;
}

int main(void)
{
	for (int k = 0; k < NTHREADS; k++) {
		blocks[k] = mmap(NULL, MAXBLK * sizeof(void *), PROT_READ | PROT_WRITE,
		                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		REQUIRE(blocks[k] != MAP_FAILED, "mmap");
	}
	pthread_barrier_init(&all_full, NULL, NTHREADS);
	free(malloc(100)); /* cairn is set up before the measurement */
	long vm = vm_size_kib();
	REQUIRE(vm > 0, "VmSize");
	/* Room for the threads' stacks (256 KiB each) and ROOM for the heap. */
	struct rlimit as = {(rlim_t)vm * 1024 + ROOM, (rlim_t)vm * 1024 + ROOM};
	REQUIRE(setrlimit(RLIMIT_AS, &as) == 0, "setrlimit");
	fprintf(stderr, "VmSize %ld KiB, RLIMIT_AS %lu MiB\n", vm,
	        (unsigned long)as.rlim_cur / MiB);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_t t[NTHREADS];
	for (uintptr_t k = 0; k < NTHREADS; k++)
		REQUIRE(pthread_create(&t[k], &attr, worker, (void *)k) == 0, "pthread_create");
	for (int k = 0; k < NTHREADS; k++)
		pthread_join(t[k], NULL);
	size_t total = 0;
	for (int k = 0; k < NTHREADS; k++)
		total += nblocks[k];
	fprintf(stderr, "the threads held %zu blocks when the room ran out; VmSize %ld KiB\n",
	        total, vm_size_kib());
	CHECK(total > 100000, "only %zu blocks fit", total);

	/* What the threads freed is the main thread's to use. */
	enum { NSMALL = 200, NLARGE = 4 };
	void *small[NSMALL], *large[NLARGE];
	int got = 0;
	uint64_t seed = 12345;
	for (int i = 0; i < NSMALL; i++) {
		size_t size = 16 + rng_next(&seed) % 496;
		small[i] = malloc(size);
		if (small[i] != NULL) {
			memset(small[i], 0x77, size);
			got++;
		}
	}
	fprintf(stderr, "%d of %d small blocks\n", got, NSMALL);
	CHECK(got == NSMALL, "%d of %d small allocations succeeded after the threads freed half",
	      got, NSMALL);
	got = 0;
	for (int i = 0; i < NLARGE; i++) {
		large[i] = malloc(16384);
		if (large[i] != NULL) {
			memset(large[i], 0x78, 16384);
			got++;
		}
	}
	CHECK(got == NLARGE, "%d of %d 16 KiB allocations succeeded", got, NLARGE);

	/* Free everything: then most of the room is one block's to take. */
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	for (int i = 0; i < NLARGE; i++)
		free(large[i]);
	for (int k = 0; k < NTHREADS; k++)
		for (size_t i = 1; i < nblocks[k]; i += 2)
			free(blocks[k][i]);
	errno = 0;
	void *big = malloc(ROOM / 2);
	CHECK(big != NULL, "malloc(%lu MiB) after everything was freed: %s", ROOM / 2 / MiB,
	      strerror(errno));
	if (big != NULL)
		memset(big, 1, ROOM / 2);
	free(big);
	/* And a failure still says ENOMEM. */
	errno = 0;
	void *over = malloc(2 * ROOM);
	CHECK(over == NULL && errno == ENOMEM, "malloc beyond the limit: %p, errno %d", over,
	      errno);
	return CHECK_DONE();
}
