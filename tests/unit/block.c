/* SPDX-License-Identifier: MIT */
/* The free-block layout (core/block.h): the mark in word 0 and the link in
 * word 1, block_make_free, block_set_next and block_clear_mark round-trip
 * through the accessors, a block handed out (mark cleared) is not free, a
 * block marked for another slab is not free in this one, and a write over
 * the mark makes a free block not free. Uses fake slab descriptors: the
 * accessors only compare addresses. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/block.h"
#include "core/chunk.h"

#define NBLOCKS 8

/* Blocks of 32 bytes, as a slab of class 32 would lay them out. */
static _Alignas(16) uintptr_t mem[NBLOCKS][4];
static struct span slab_a, slab_b;

int main(void)
{
	void *b = mem[0];
	void *n = mem[1];

	/* make_free writes the mark first, the link second, and nothing
	 * else. */
	memset(mem, 0xa5, sizeof(mem));
	block_make_free(b, &slab_a, n);
	CHECK(mem[0][0] == (uintptr_t)&slab_a, "word 0 holds the slab's address");
	CHECK(mem[0][1] == (uintptr_t)n, "word 1 holds the link");
	CHECK(mem[0][2] == (uintptr_t)0xa5a5a5a5a5a5a5a5ull &&
	          mem[0][3] == (uintptr_t)0xa5a5a5a5a5a5a5a5ull,
	      "the rest of the block is untouched");
	CHECK(mem[1][0] == (uintptr_t)0xa5a5a5a5a5a5a5a5ull, "the next block is untouched");
	CHECK(block_mark(b) == &slab_a, "block_mark reads the mark");
	CHECK(block_next(b) == n, "block_next reads the link");
	CHECK(block_is_free(b, &slab_a), "free in its own slab");
	CHECK(!block_is_free(b, &slab_b), "not free in another slab");

	/* A NULL link ends a list. */
	block_make_free(n, &slab_a, NULL);
	CHECK(block_next(n) == NULL && block_is_free(n, &slab_a), "last block of a list");

	/* set_next changes the link alone. */
	block_set_next(b, mem[5]);
	CHECK(block_next(b) == mem[5], "link rewritten");
	CHECK(block_mark(b) == &slab_a && block_is_free(b, &slab_a), "mark kept by set_next");

	/* Handed out: the mark is cleared, the link is left (the program
	 * owns the bytes from now on). */
	block_clear_mark(b);
	CHECK(mem[0][0] == 0 && block_mark(b) == NULL, "the mark is cleared");
	CHECK(!block_is_free(b, &slab_a), "a handed-out block is not free");
	CHECK(!block_is_free(b, &slab_b), "nor free in any other slab");
	CHECK(block_next(b) == mem[5], "clear_mark leaves the link");

	/* Marked for slab b: free there, not in slab a. */
	block_make_free(b, &slab_b, NULL);
	CHECK(block_is_free(b, &slab_b) && !block_is_free(b, &slab_a),
	      "a block marked for another slab is not free in this one");

	/* A write into freed memory over the mark: no longer free. */
	block_make_free(b, &slab_a, NULL);
	mem[0][0] = 0x1111;
	CHECK(!block_is_free(b, &slab_a), "an overwritten mark is not free");

	/* A list built with the accessors walks in order, each block free in
	 * its slab, and no walk leaves the array. */
	for (int i = 0; i < NBLOCKS; i++)
		block_make_free(mem[i], &slab_a, i + 1 < NBLOCKS ? mem[i + 1] : NULL);
	int len = 0, in_order = 1, all_free = 1;
	for (void *p = mem[0]; p != NULL && len <= NBLOCKS; p = block_next(p)) {
		if (p != mem[len])
			in_order = 0;
		if (!block_is_free(p, &slab_a))
			all_free = 0;
		len++;
	}
	CHECK(len == NBLOCKS, "the list has %d blocks, not %d", NBLOCKS, len);
	CHECK(in_order, "the list follows the links in order");
	CHECK(all_free, "every block on the list is free in its slab");

	/* Taking the head as heap_pop does: read the link, clear the mark. */
	void *head = mem[0];
	void *next = block_next(head);
	block_clear_mark(head);
	CHECK(next == mem[1] && !block_is_free(head, &slab_a) && block_is_free(next, &slab_a),
	      "popping the head leaves the next block free");
	return CHECK_DONE();
}
