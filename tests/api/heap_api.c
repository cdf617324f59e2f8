/* SPDX-License-Identifier: MIT */
/* heap_api.c: cairn.h's heaps. A heap's blocks are in its arena
 * (arenas.lookup gives cairn_heap_arena), of every size, zeroed by
 * calloc, aligned as asked; realloc moves within the heap; errors are
 * malloc's; reset and destroy give its memory back; free works from
 * another thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"

static long arena_of(void *p)
{
	unsigned i = ~0u;
	size_t len = sizeof i;
	int rc = mallctl("arenas.lookup", &i, &len, &p, sizeof p);
	return rc == 0 ? (long)i : -rc;
}

static void *free_it(void *p)
{
	free(p);
	return NULL;
}

int main(void)
{
	TEST_CASE("blocks")
	{
		cairn_heap_t *h = cairn_heap_create();
		REQUIRE(h != NULL, "cairn_heap_create: %s", strerror(errno));
		long a = cairn_heap_arena(h);
		const size_t sizes[] = {1, 48, 4000, 50000, 700000, 5 << 20};
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			char *p = cairn_heap_malloc(h, sizes[k]);
			unsigned char *z = cairn_heap_calloc(h, 1, sizes[k]);
			REQUIRE(p != NULL && z != NULL, "size %zu", sizes[k]);
			CHECK(arena_of(p) == a && arena_of(z) == a, "size %zu in the heap's arena",
			      sizes[k]);
			CHECK(z[0] == 0 && z[sizes[k] - 1] == 0, "calloc zeroes");
			memset(p, 7, sizes[k]);
			p = cairn_heap_realloc(h, p, sizes[k] * 3);
			CHECK(p != NULL && arena_of(p) == a && p[sizes[k] - 1] == 7,
			      "realloc keeps the bytes and the heap, size %zu", sizes[k]);
			free(p);
			pthread_t t;
			REQUIRE(pthread_create(&t, NULL, free_it, z) == 0, "thread");
			pthread_join(t, NULL);
		}
		void *al = cairn_heap_aligned_alloc(h, 4096, 100);
		CHECK(al != NULL && ((uintptr_t)al & 4095) == 0 && arena_of(al) == a, "aligned");
		errno = 0;
		CHECK(cairn_heap_aligned_alloc(h, 48, 100) == NULL && errno == EINVAL,
		      "alignment not a power of two: EINVAL");
		errno = 0;
		CHECK(cairn_heap_calloc(h, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM,
		      "calloc overflow: ENOMEM");
		errno = 0;
		CHECK(cairn_heap_malloc(h, SIZE_MAX - 4096) == NULL && errno == ENOMEM,
		      "too large: ENOMEM");
		void *keep = cairn_heap_malloc(h, 100);
		void *m = malloc(100);
		CHECK(arena_of(m) != a, "malloc stays out of the heap");
		cairn_heap_reset(h);
		CHECK(arena_of(keep) == -EINVAL && arena_of(al) == -EINVAL,
		      "reset: the blocks are gone");
		void *after = cairn_heap_malloc(h, 100);
		CHECK(after != NULL && arena_of(after) == a, "usable after reset");
		cairn_heap_destroy(h);
		CHECK(arena_of(after) == -EINVAL, "destroy: the blocks are gone");
		CHECK(arena_of(m) >= 0, "malloc's block untouched");
		free(m);
		cairn_heap_t *again = cairn_heap_create();
		CHECK(again != NULL && cairn_heap_arena(again) == (unsigned)a,
		      "the number is reused");
		cairn_heap_destroy(again);
	}
	return CHECK_DONE();
}
