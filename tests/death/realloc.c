/* SPDX-License-Identifier: MIT */
/* Death tests for realloc(): a pointer cairn never handed out, one inside a
 * block, and a block already freed each stop the program with SIGABRT and
 *   cairn: realloc(): invalid pointer 0x... (not allocated by cairn)
 *   cairn: realloc(): invalid pointer 0x... (inside a block, not its start)
 *   cairn: realloc(): invalid pointer 0x... (already freed)
 * Each misuse runs in a forked child. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

#include "death.h"

static void call_realloc(void *p)
{
	void *volatile q = realloc(p, 100);
	(void)q;
}

static void call_realloc_big(void *p)
{
	void *volatile q = realloc(p, 5 << 20);
	(void)q;
}

static void call_realloc_zero(void *p)
{
	void *volatile q = realloc(p, 0);
	(void)q;
}

/* arg is a block: free it, then realloc it. */
static void free_then_realloc(void *p)
{
	free(p);
	call_realloc(p);
}

static char static_buf[64];

int main(void)
{
	char stack_buf[64];

	memset(stack_buf, 0, sizeof stack_buf);
	char *small = malloc(64), *large = malloc(100000), *huge = malloc(8 << 20);
	REQUIRE(small && large && huge, "allocation failed");
	char *gone = malloc(64);
	REQUIRE(gone != NULL, "malloc(64) returned NULL");
	free(gone);

	TEST_CASE("not_ours")
	{
		expect_death("realloc(stack array, 100)", call_realloc, launder(stack_buf),
		             "realloc", NOT_OURS, stack_buf);
		expect_death("realloc(stack array, 5 MiB)", call_realloc_big, launder(stack_buf),
		             "realloc", NOT_OURS, stack_buf);
		expect_death("realloc(stack array, 0)", call_realloc_zero, launder(stack_buf),
		             "realloc", NOT_OURS, stack_buf);
		expect_death("realloc(static array, 100)", call_realloc, launder(static_buf),
		             "realloc", NOT_OURS, static_buf);
	}

	TEST_CASE("interior")
	{
		expect_death("realloc(malloc(64) + 16, 100)", call_realloc, small + 16, "realloc",
		             INTERIOR, small + 16);
		expect_death("realloc(malloc(100000) + 4096, 100)", call_realloc, large + 4096,
		             "realloc", INTERIOR, large + 4096);
		expect_death("realloc(malloc(8 MiB) + 4096, 100)", call_realloc, huge + 4096,
		             "realloc", INTERIOR, huge + 4096);
		expect_death("realloc(malloc(64) + 16, 5 MiB)", call_realloc_big, small + 16,
		             "realloc", INTERIOR, small + 16);
	}

	/* Freed in the child, then realloc'd. */
	TEST_CASE("freed_in_child")
	{
		expect_death("realloc of a freed malloc(64)", free_then_realloc, small, "realloc",
		             ALREADY_FREED, small);
		expect_death("realloc of a freed malloc(100000)", free_then_realloc, large,
		             "realloc", ALREADY_FREED, large);
		expect_death("realloc of a freed malloc(8 MiB)", free_then_realloc, huge, "realloc",
		             ALREADY_FREED, huge);
	}

	/* Freed in the parent before the fork (the child inherits the state). */
	TEST_CASE("freed_before_fork")
	{
		expect_death("realloc(freed block, 100)", call_realloc, gone, "realloc",
		             ALREADY_FREED, gone);
		expect_death("realloc(freed block, 0)", call_realloc_zero, gone, "realloc",
		             ALREADY_FREED, gone);
	}

	/* The parent's blocks still realloc normally. */
	memset(small, 0x5c, 64);
	char *grown = realloc(small, 200000);
	CHECK(grown != NULL && grown[0] == 0x5c && grown[63] == 0x5c,
	      "parent realloc after the children");
	free(grown ? grown : small);
	free(large);
	free(huge);
	return CHECK_DONE();
}
