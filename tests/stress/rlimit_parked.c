/* SPDX-License-Identifier: MIT */
/* rlimit_parked: near the address-space limit, the small blocks that exited
 * threads freed are reusable by a thread that has none of its own. With
 * RLIMIT_AS a little above what the process maps at start, four threads
 * allocate blocks of one size until a request fails, free every other one
 * and exit, so that their slabs, half free, stay with their parked heaps
 * and no page run is free anywhere. The main thread, which never asked for
 * that size, must then get 200 blocks of it (and of a second size) out of
 * those slabs. */
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

#define MiB      (1ul << 20)
#define ROOM     (256 * MiB)
#define NTHREADS 4
#define MAXBLK   (1u << 22)

static void **blocks[NTHREADS];
static size_t nblocks[NTHREADS];
static size_t block_size;

static void *worker(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	void **b = blocks[k];
	size_t n = 0;
	while (n < MAXBLK) {
		void *p = malloc(block_size);
		if (p == NULL)
			break;
		memset(p, (int)k, block_size);
		b[n++] = p;
	}
	nblocks[k] = n;
	for (size_t i = 0; i < n; i += 2)
		free(b[i]);
	return NULL;
}

/* Four threads fill the room with blocks of `size` and free half; returns
 * how many blocks of `size` the main thread then gets out of 200. */
static int round_of(size_t size)
{
	block_size = size;
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
	CHECK(total * size > ROOM / 4, "only %zu blocks of %zu bytes fit in %lu MiB", total, size,
	      ROOM / MiB);
	int got = 0;
	void *mine[200];
	for (int i = 0; i < 200; i++) {
		mine[i] = malloc(size);
		if (mine[i] != NULL) {
			memset(mine[i], 0x77, size);
			got++;
		}
	}
	fprintf(stderr, "%zu-byte blocks: the threads held %zu; then %d of 200 for main\n", size,
	        total, got);
	for (int i = 0; i < 200; i++)
		free(mine[i]);
	for (int k = 0; k < NTHREADS; k++)
		for (size_t i = 1; i < nblocks[k]; i += 2)
			free(blocks[k][i]);
	return got;
}

int main(void)
{
	for (int k = 0; k < NTHREADS; k++) {
		blocks[k] = mmap(NULL, MAXBLK * sizeof(void *), PROT_READ | PROT_WRITE,
		                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		REQUIRE(blocks[k] != MAP_FAILED, "mmap");
	}
	free(malloc(100000)); /* cairn is set up, with no slab of the sizes below */
	long vm = vm_size_kib();
	REQUIRE(vm > 0, "VmSize");
	struct rlimit as = {(rlim_t)vm * 1024 + ROOM, (rlim_t)vm * 1024 + ROOM};
	REQUIRE(setrlimit(RLIMIT_AS, &as) == 0, "setrlimit");
	int got = round_of(64);
	CHECK(got == 200,
	      "%d of 200 malloc(64) succeeded after exited threads freed half of theirs", got);
	got = round_of(1000);
	CHECK(got == 200,
	      "%d of 200 malloc(1000) succeeded after exited threads freed half of theirs", got);
	errno = 0;
	void *over = malloc(2 * ROOM);
	CHECK(over == NULL && errno == ENOMEM, "malloc beyond the limit: %p, errno %d", over,
	      errno);
	return CHECK_DONE();
}
