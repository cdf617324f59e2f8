/* SPDX-License-Identifier: MIT */
/* Death tests for sdallocx(): a size the block cannot have been asked for
 * (above its usable size, or of a smaller class) stops the program with
 * SIGABRT and one line,
 *   cairn: sdallocx(): invalid size N for 0x... (a block of usable size U)
 * for small, large and huge blocks; a pointer cairn did not hand out gets
 * free's line. Each misuse runs in a forked child. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <cairn/jemalloc.h>
#include "check.h"

#include "death.h"

struct call {
	void *p;
	size_t size;
};

static void call_sdallocx(void *arg)
{
	struct call *c = arg;
	sdallocx(c->p, c->size, 0);
}

/* Runs sdallocx(p, size, 0) in a child: it dies with the line for size. */
static void expect_size_death(const char *what, void *p, size_t size)
{
	char out[4096], want[256];
	struct call c = {p, size};
	snprintf(want, sizeof want,
	         "cairn: sdallocx(): invalid size %zu for %p (a block of usable size %zu)\n", size,
	         p, sallocx(p, 0));
	int status = death_run(call_sdallocx, &c, out, sizeof out);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: status %#x, want SIGABRT",
	      what, status);
	CHECK(strcmp(out, want) == 0, "%s: want the line\n  %s got\n  %s", what, want, out);
}

static char static_buf[64];

int main(void)
{
	char *small = mallocx(100, 0), *large = mallocx(100000, 0), *huge = mallocx(8 << 20, 0);
	REQUIRE(small && large && huge, "allocation failed");

	TEST_CASE("too_big")
	{
		expect_size_death("sdallocx(mallocx(100), 1000)", small, 1000);
		expect_size_death("sdallocx(mallocx(100), 113)", small, sallocx(small, 0) + 1);
		expect_size_death("sdallocx(mallocx(100000), 200000)", large, 200000);
		expect_size_death("sdallocx(mallocx(8 MiB), 9 MiB)", huge, 9 << 20);
	}

	TEST_CASE("too_small")
	{
		expect_size_death("sdallocx(mallocx(100), 16)", small, 16);
		expect_size_death("sdallocx(mallocx(100000), 100)", large, 100);
		expect_size_death("sdallocx(mallocx(100000), 50000)", large, 50000);
		expect_size_death("sdallocx(mallocx(8 MiB), 4 MiB)", huge, 4 << 20);
	}

	TEST_CASE("not_ours")
	{
		struct call c = {launder(static_buf), 64};
		expect_death("sdallocx(static array, 64)", call_sdallocx, &c, "sdallocx", NOT_OURS,
		             static_buf);
	}

	/* The right sizes still free in the parent. */
	sdallocx(small, 100, 0);
	sdallocx(large, 100000, 0);
	sdallocx(huge, 8 << 20, 0);
	CHECK(1, "the parent's blocks freed with their sizes");
	return CHECK_DONE();
}
