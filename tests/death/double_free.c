/* SPDX-License-Identifier: MIT */
/* Death tests: freeing a block twice stops the program with SIGABRT and
 *   cairn: free(): double free of 0x...
 * for small (16, 64, 1000, 32768 bytes), large (100000) and huge (8 MiB)
 * blocks, aligned and calloc'd ones, a free with another block freed in
 * between, a block freed by realloc(p, 0) or free_sized first, and a
 * second free on another thread than the first (both ways round), and
 * huge blocks built from the pages of two freed ones or split from a
 * longer freed one, and large blocks whose runs merged in their arena.
 * Each
 * misuse runs in a forked child; the blocks are allocated before the fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

#include "death.h"

void free_sized(void *ptr, size_t size);

static void free_twice(void *p)
{
	free(p);
	free(p);
}

/* arg: two blocks a, b; frees a, b, then a again. */
static void free_aba(void *arg)
{
	void **ab = arg;
	free(ab[0]);
	free(ab[1]);
	free(ab[0]);
}

static void realloc0_then_free(void *p)
{
	void *volatile q = realloc(p, 0);
	(void)q;
	free(p);
}

static void free_sized_then_free(void *p)
{
	free_sized(p, 64);
	free(p);
}

static void *thread_free(void *p)
{
	free(p);
	return NULL;
}

/* First free on a new thread, second on the child's main thread. */
static void free_on_thread_then_main(void *p)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_free, p) != 0)
		_exit(3);
	pthread_join(t, NULL);
	free(p);
}

/* First free on the main thread, second on a new thread. */
static void free_on_main_then_thread(void *p)
{
	pthread_t t;
	free(p);
	if (pthread_create(&t, NULL, thread_free, p) != 0)
		_exit(3);
	pthread_join(t, NULL);
}

/* Three neighbouring large blocks, freed in the child, and given back to
 * their arena by malloc_trim: their runs merge into one free run. */
static void *neighbours[3];

static void free_neighbours_trim_then_free(void *p)
{
	for (int i = 0; i < 3; i++)
		free(neighbours[i]);
	malloc_trim(0);
	free(p);
}

int main(void)
{
	const size_t sizes[] = {16, 64, 1000, 32768, 100000, 8 << 20};
	void *blocks[6];

	for (int i = 0; i < 6; i++) {
		blocks[i] = malloc(sizes[i]);
		REQUIRE(blocks[i] != NULL, "malloc(%zu) returned NULL", sizes[i]);
	}
	void *c = calloc(10, 10), *m = memalign(4096, 200), *hm = memalign(2 << 20, 3 << 20);
	REQUIRE(c && m && hm, "allocation failed");
	void *ab[2] = {malloc(64), malloc(64)};
	REQUIRE(ab[0] && ab[1], "malloc(64) returned NULL");

	TEST_CASE("sizes")
	{
		for (int i = 0; i < 6; i++) {
			char label[64];
			snprintf(label, sizeof label, "double free of malloc(%zu)", sizes[i]);
			expect_death(label, free_twice, blocks[i], "free", DOUBLE_FREE, blocks[i]);
		}
	}

	TEST_CASE("calloc_memalign")
	{
		expect_death("double free of calloc(10, 10)", free_twice, c, "free", DOUBLE_FREE,
		             c);
		expect_death("double free of memalign(4096, 200)", free_twice, m, "free",
		             DOUBLE_FREE, m);
		expect_death("double free of memalign(2 MiB, 3 MiB)", free_twice, hm, "free",
		             DOUBLE_FREE, hm);
	}

	TEST_CASE("another_between")
	{
		expect_death("free(a); free(b); free(a)", free_aba, ab, "free", DOUBLE_FREE, ab[0]);
	}

	TEST_CASE("realloc_free_sized")
	{
		expect_death("realloc(p, 0) then free(p)", realloc0_then_free, blocks[1], "free",
		             DOUBLE_FREE, blocks[1]);
		expect_death("free_sized(p, 64) then free(p)", free_sized_then_free, blocks[1],
		             "free", DOUBLE_FREE, blocks[1]);
	}

	TEST_CASE("threads")
	{
		expect_death("free on a thread, then on main", free_on_thread_then_main, blocks[1],
		             "free", DOUBLE_FREE, blocks[1]);
		expect_death("free on main, then on a thread", free_on_main_then_thread, blocks[1],
		             "free", DOUBLE_FREE, blocks[1]);
		expect_death("large: free on a thread, then on main", free_on_thread_then_main,
		             blocks[4], "free", DOUBLE_FREE, blocks[4]);
	}

	/* Huge blocks made of the pages of others: one built from two freed
	 * 8 MiB blocks, one split from a freed 32 MiB block. */
	TEST_CASE("huge_reused")
	{
		void *x = malloc(8 << 20), *y = malloc(8 << 20);
		REQUIRE(x && y, "malloc(8 MiB) returned NULL");
		free(x);
		free(y);
		void *built = malloc(15 << 20);
		REQUIRE(built != NULL, "malloc(15 MiB) returned NULL");
		expect_death("double free of a huge block built from two", free_twice, built,
		             "free", DOUBLE_FREE, built);
		void *longer = malloc(32 << 20);
		REQUIRE(longer != NULL, "malloc(32 MiB) returned NULL");
		free(longer);
		void *head = malloc(4 << 20);
		REQUIRE(head != NULL, "malloc(4 MiB) returned NULL");
		expect_death("double free of a huge block split from a longer one", free_twice,
		             head, "free", DOUBLE_FREE, head);
		free(built);
		free(head);
	}

	/* A large block whose run merged with its neighbours': its start and
	 * a page inside it read as freed, though the arena wrote no page
	 * entry of the merged run but its ends. */
	TEST_CASE("large_merged")
	{
		for (int i = 0; i < 3; i++) {
			neighbours[i] = malloc(100000);
			REQUIRE(neighbours[i] != NULL, "malloc(100000) returned NULL");
		}
		char *mid = neighbours[1];
		expect_death("double free of a large block merged in its arena",
		             free_neighbours_trim_then_free, mid, "free", DOUBLE_FREE, mid);
		expect_death("free inside a large block merged in its arena",
		             free_neighbours_trim_then_free, mid + 8192, "free", DOUBLE_FREE,
		             mid + 8192);
		for (int i = 0; i < 3; i++)
			free(neighbours[i]);
	}

	/* In the parent every block is still live and frees once, fine. */
	for (int i = 0; i < 6; i++)
		free(blocks[i]);
	free(c);
	free(m);
	free(hm);
	free(ab[0]);
	free(ab[1]);
	void *again = malloc(64);
	CHECK(again != NULL, "malloc(64) in the parent after the children");
	free(again);
	return CHECK_DONE();
}
