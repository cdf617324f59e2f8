/* SPDX-License-Identifier: MIT */
/* zero:true and junk:true on every way a block comes into being: small,
 * large and huge allocation, aligned allocation, and each way realloc grows
 * a block (within its class, into free neighbouring pages, within a huge
 * mapping, into cached huge pages, by mremap). Every byte a program gets
 * that it has not written is zero under zero:true and 0xa5 under
 * junk:alloc. Each mode runs in a child started with its MALLOC_CONF. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "child.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static unsigned char want; /* the byte every fresh byte must hold */

/* Bytes in [from, to) of p that are not `want`. */
static size_t stale(const unsigned char *p, size_t from, size_t to)
{
	size_t n = 0;
	for (size_t i = from; i < to; i++)
		n += p[i] != want;
	return n;
}

/* Fresh blocks of sizes from 1 byte to 8 MiB, each made dirty and freed
 * before the same size is asked for again, so reuse is covered. */
static void fresh_blocks(void)
{
	static const size_t sizes[] = {1,        16,        100,     1000,    4096,    32 * KiB,
	                               40 * KiB, 100 * KiB, 1 * MiB, MiB + 1, 3 * MiB, 8 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (int r = 0; r < 3; r++) {
			size_t n = sizes[i];
			unsigned char *p = malloc(n);
			REQUIRE(p != NULL, "malloc(%zu)", n);
			size_t u = malloc_usable_size(p);
			CHECK(stale(p, 0, u) == 0,
			      "malloc(%zu) round %d: %zu of %zu bytes not 0x%02x", n, r,
			      stale(p, 0, u), u, want);
			memset(p, 0x3c, u);
			free(p);
			p = aligned_alloc(64 * KiB, n);
			REQUIRE(p != NULL, "aligned_alloc(64 KiB, %zu)", n);
			u = malloc_usable_size(p);
			CHECK(stale(p, 0, u) == 0,
			      "aligned_alloc(64 KiB, %zu): %zu bytes not 0x%02x", n, stale(p, 0, u),
			      want);
			memset(p, 0x3c, u);
			free(p);
		}
	}
}

/* Grows a block from `from` to `to` bytes after writing all of it, with
 * dirty free memory around so that in-place growth takes stale pages, and
 * checks that the bytes past what was written are fresh. */
static void grow(size_t from, size_t to)
{
	/* Dirty pages of every kind for the growth to find. */
	void *dirt[4];
	size_t dsize[4] = {from, to, 2 * to, 64 * KiB};
	for (int i = 0; i < 4; i++) {
		dirt[i] = malloc(dsize[i]);
		REQUIRE(dirt[i] != NULL, "malloc(%zu)", dsize[i]);
		memset(dirt[i], 0x3c, dsize[i]);
	}
	unsigned char *p = malloc(from);
	REQUIRE(p != NULL, "malloc(%zu)", from);
	size_t u = malloc_usable_size(p);
	memset(p, 0x11, u);
	for (int i = 0; i < 4; i++)
		free(dirt[i]);
	unsigned char *q = realloc(p, to);
	REQUIRE(q != NULL, "realloc(%zu -> %zu)", from, to);
	size_t v = malloc_usable_size(q);
	CHECK(stale(q, 0, u) == u, "realloc(%zu -> %zu) lost the block's bytes", from, to);
	CHECK(stale(q, u, v) == 0, "realloc(%zu -> %zu)%s: %zu of the %zu new bytes not 0x%02x",
	      from, to, q == p ? " in place" : "", stale(q, u, v), v - u, want);
	free(q);
}

/* Shrinks a huge block, dirties what it gave up by growing a neighbour
 * of nothing, then grows it back within its mapping. */
static void regrow_huge(void)
{
	unsigned char *p = malloc(6 * MiB);
	REQUIRE(p != NULL, "malloc(6 MiB)");
	memset(p, 0x3c, 6 * MiB);
	p = realloc(p, 5 * MiB);
	REQUIRE(p != NULL, "realloc(6 -> 5 MiB)");
	size_t u = malloc_usable_size(p);
	unsigned char *q = realloc(p, 6 * MiB);
	REQUIRE(q != NULL, "realloc(5 -> 6 MiB)");
	CHECK(stale(q, u, 6 * MiB) == 0, "realloc(5 -> 6 MiB): %zu bytes not 0x%02x",
	      stale(q, u, 6 * MiB), want);
	free(q);
}

static void child(void)
{
	fresh_blocks();
	static const size_t pairs[][2] = {
	    {20, 30},               /* within the class or a new small block */
	    {1000, 3000},           /* small to small */
	    {40 * KiB, 120 * KiB},  /* a slab block to a large run */
	    {80 * KiB, 200 * KiB},  /* large, into free neighbouring pages */
	    {81920, 163840},        /* an 80 KiB growth of a large run */
	    {100 * KiB, 300 * KiB}, /* into cached huge pages */
	    {128 * KiB, 512 * KiB},
	    {512 * KiB, 2 * MiB}, /* large to huge */
	    {2 * MiB, 16 * MiB},  /* huge, by mremap or into cached pages */
	    {3 * MiB, 5 * MiB},
	};
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
			grow(pairs[i][0], pairs[i][1]);
	regrow_huge();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		want = (unsigned char)strtoul(argv[2], NULL, 0);
		child();
		return CHECK_DONE();
	}
	static const struct {
		const char *name, *conf, *want;
	} modes[] = {
	    {"zero", "zero:true", "0"},
	    {"junk", "junk:true", "0xa5"},
	    {"junk_alloc", "junk:alloc", "0xa5"},
	    /* The huge-mapping cache kept: realloc grows into it. */
	    {"zero_cached", "zero:true,dirty_decay_ms:-1", "0"},
	    {"junk_alloc_cached", "junk:alloc,dirty_decay_ms:-1", "0xa5"},
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		TEST_CASE(modes[i].name)
		{
			struct child_opts opts = {.name = "fill",
			                          .args = {"--child", modes[i].want},
			                          .conf = modes[i].conf,
			                          .timeout = 60};
			static char out[16384];
			int st = child_run(&opts, out, sizeof out, NULL);
			const char *tally = child_fold_checks(out);
			CHECK_CHILD(st, tally, "MALLOC_CONF=%s", modes[i].conf);
		}
	return CHECK_DONE();
}
