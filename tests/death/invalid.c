/* SPDX-License-Identifier: MIT */
/* Death tests: free(), and malloc_usable_size(), of pointers cairn never
 * handed out (a stack variable, a static variable, a string literal, a
 * function, pages of a private mmap, a page that was unmapped again, wild
 * values) stop the program with SIGABRT and the line
 *   cairn: free(): invalid pointer 0x... (not allocated by cairn)
 * and malloc_usable_size() of a freed block with "(already freed)".
 * Each misuse runs in a forked child. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

#include "death.h"

static void call_free(void *p)
{
	free(p);
}

static void call_usable_size(void *p)
{
	volatile size_t n = malloc_usable_size(p);
	(void)n;
}

static char static_buf[256];
static long static_long = 42;

int main(void)
{
	char stack_buf[128];
	long stack_long = 1;
	const long page = sysconf(_SC_PAGESIZE);

	memset(stack_buf, 0, sizeof stack_buf);

	/* A page of a private mapping; a mapped page on a 2 MiB boundary, where cairn's own
	 * chunks and huge blocks start, so a header lookup there must not be trusted; an
	 * address with nothing mapped there any more. */
	char *map =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(map != MAP_FAILED, "mmap: %s", strerror(errno));
	const size_t two_mib = (size_t)2 << 20;
	char *big =
	    mmap(NULL, 2 * two_mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(big != MAP_FAILED, "mmap: %s", strerror(errno));
	char *boundary = (char *)(((uintptr_t)big + two_mib - 1) & ~(uintptr_t)(two_mib - 1));
	char *gone =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(gone != MAP_FAILED, "mmap: %s", strerror(errno));
	REQUIRE(munmap(gone, (size_t)page) == 0, "munmap: %s", strerror(errno));

	TEST_CASE("stack_and_static")
	{
		expect_death("free(stack array)", call_free, launder(stack_buf), "free", NOT_OURS,
		             stack_buf);
		expect_death("free(&stack variable)", call_free, launder(&stack_long), "free",
		             NOT_OURS, &stack_long);
		expect_death("free(stack array + 16)", call_free, launder(stack_buf + 16), "free",
		             NOT_OURS, stack_buf + 16);
		expect_death("free(static array)", call_free, launder(static_buf), "free", NOT_OURS,
		             static_buf);
		expect_death("free(&static variable)", call_free, launder(&static_long), "free",
		             NOT_OURS, &static_long);
		const char *literal = "a string literal";
		expect_death("free(string literal)", call_free, launder(literal), "free", NOT_OURS,
		             literal);
		expect_death("free(function)", call_free, launder((void *)(uintptr_t)call_free),
		             "free", NOT_OURS, (void *)(uintptr_t)call_free);
	}

	TEST_CASE("mappings")
	{
		expect_death("free(mmap page)", call_free, map, "free", NOT_OURS, map);
		expect_death("free(mmap page + 64)", call_free, map + 64, "free", NOT_OURS,
		             map + 64);
		expect_death("free(2 MiB-aligned mmap page)", call_free, boundary, "free", NOT_OURS,
		             boundary);
		expect_death("free(unmapped page)", call_free, gone, "free", NOT_OURS, gone);
	}

	/* Wild values: near NULL, and above the user address space. */
	TEST_CASE("wild")
	{
		void *low = (void *)(uintptr_t)0x10;
		void *high = (void *)(uintptr_t)0x800000000000ull;
		expect_death("free(0x10)", call_free, low, "free", NOT_OURS, low);
		expect_death("free(0x800000000000)", call_free, high, "free", NOT_OURS, high);
	}

	/* malloc_usable_size checks its pointer the same way, and says when a block is freed. */
	TEST_CASE("usable_size")
	{
		expect_death("malloc_usable_size(stack array)", call_usable_size,
		             launder(stack_buf), "malloc_usable_size", NOT_OURS, stack_buf);
		expect_death("malloc_usable_size(static array)", call_usable_size,
		             launder(static_buf), "malloc_usable_size", NOT_OURS, static_buf);
		expect_death("malloc_usable_size(mmap page)", call_usable_size, map,
		             "malloc_usable_size", NOT_OURS, map);
		void *freed = malloc(64);
		REQUIRE(freed != NULL, "malloc(64) returned NULL");
		free(freed);
		expect_death("malloc_usable_size(freed small block)", call_usable_size, freed,
		             "malloc_usable_size", ALREADY_FREED, freed);
	}

	/* The parent, which never misused anything, is fine. */
	void *p = malloc(100);
	CHECK(p != NULL && malloc_usable_size(p) >= 100, "parent malloc after the children");
	free(p);
	munmap(map, (size_t)page);
	munmap(big, 2 * two_mib);
	return CHECK_DONE();
}
