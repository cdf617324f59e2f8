/* SPDX-License-Identifier: MIT */
/* cairn.h's names of malloc's family in the replacing library (-lcairn):
 * the same allocator as malloc, so blocks pass between the two families;
 * cairn_realloc_aligned keeps a block's alignment through moves, and its
 * edge cases (NULL, size 0, a bad alignment) are realloc's and
 * aligned_alloc's. */
#define _GNU_SOURCE
#include <cairn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

static int filled(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

int main(void)
{
	TEST_CASE("the same functions as malloc's")
	{
		/* Aliases: one function under two names. */
		CHECK((void *)cairn_malloc == (void *)malloc, "cairn_malloc is not malloc");
		CHECK((void *)cairn_free == (void *)free, "cairn_free is not free");
		CHECK((void *)cairn_realloc == (void *)realloc, "cairn_realloc is not realloc");
		void *p = cairn_malloc(100);
		CHECK(p != NULL && ((uintptr_t)p & 15) == 0, "cairn_malloc(100) = %p", p);
		CHECK(cairn_usable_size(p) == 112, "cairn_usable_size = %zu, want the class 112",
		      cairn_usable_size(p));
		CHECK(malloc_usable_size(p) == cairn_usable_size(p), "usable sizes differ");
		memset(p, 0x5a, 100);
		free(p); /* a cairn_malloc block freed by free */
		void *q = malloc(3000);
		CHECK(q != NULL, "malloc(3000)");
		memset(q, 0x11, 3000);
		q = cairn_realloc(q, 70000);
		CHECK(q != NULL && filled(q, 3000, 0x11), "cairn_realloc kept the bytes");
		CHECK(cairn_usable_size(q) >= 70000, "usable %zu", cairn_usable_size(q));
		cairn_free_sized(q, 70000);
		CHECK(cairn_usable_size(NULL) == 0, "cairn_usable_size(NULL)");
		cairn_free(NULL);
	}

	TEST_CASE("cairn_calloc")
	{
		unsigned char *p = cairn_calloc(1000, 3);
		CHECK(p != NULL && filled(p, 3000, 0), "cairn_calloc zeroes");
		cairn_free(p);
		errno = 0;
		CHECK(cairn_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM,
		      "an overflowing cairn_calloc fails with ENOMEM (errno %d)", errno);
	}

	TEST_CASE("cairn_aligned_alloc")
	{
		for (size_t a = 1; a <= (4u << 20); a <<= 1) {
			void *p = cairn_aligned_alloc(a, 200);
			CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0, "align %zu: %p", a, p);
			cairn_free(p);
		}
		errno = 0;
		CHECK(cairn_aligned_alloc(48, 100) == NULL && errno == EINVAL,
		      "alignment 48: NULL with EINVAL (errno %d)", errno);
	}

	TEST_CASE("cairn_realloc_aligned")
	{
		const size_t aligns[] = {8, 16, 64, 4096, 65536, 2u << 20};
		for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
			size_t a = aligns[i];
			unsigned char *p = cairn_realloc_aligned(NULL, 40, a);
			CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0, "NULL, align %zu: %p", a,
			      (void *)p);
			memset(p, 0xc3, 40);
			/* Through every size range: small, large, huge and back. */
			const size_t sizes[] = {5000, 300000, 3u << 20, 64, 100000};
			size_t kept = 40;
			for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
				p = cairn_realloc_aligned(p, sizes[j], a);
				CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0,
				      "align %zu, size %zu: %p", a, sizes[j], (void *)p);
				if (p == NULL)
					break;
				CHECK(filled(p, kept < sizes[j] ? kept : sizes[j], 0xc3),
				      "align %zu, size %zu: the bytes moved with it", a, sizes[j]);
				CHECK(cairn_usable_size(p) >= sizes[j], "usable %zu < %zu",
				      cairn_usable_size(p), sizes[j]);
				memset(p, 0xc3, sizes[j]);
				kept = sizes[j];
			}
			errno = 0;
			CHECK(cairn_realloc_aligned(p, 0, a) == NULL, "size 0 frees: NULL");
		}
		void *p = cairn_malloc(10);
		errno = 0;
		CHECK(cairn_realloc_aligned(p, 20, 24) == NULL && errno == EINVAL,
		      "alignment 24: NULL with EINVAL (errno %d)", errno);
		CHECK(cairn_realloc_aligned(p, 20, 0) == NULL && errno == EINVAL,
		      "alignment 0: NULL with EINVAL");
		CHECK(cairn_usable_size(p) >= 10, "the block is still live after the EINVALs");
		errno = 0;
		CHECK(cairn_realloc_aligned(p, SIZE_MAX - 4096, 64) == NULL && errno == ENOMEM,
		      "an impossible size: NULL with ENOMEM (errno %d)", errno);
		cairn_free(p);
	}
	return CHECK_DONE();
}
