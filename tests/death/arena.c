/* SPDX-License-Identifier: MIT */
/* Death tests: a block of a destroyed arena freed, and a MALLOCX_ARENA or
 * MALLOCX_TCACHE number that is not live, stop the program with SIGABRT
 * and one line on stderr. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"
#include "death.h"

static void call_free(void *p)
{
	free(p);
}

static void alloc_arena(void *arg)
{
	(void)mallocx(16, MALLOCX_ARENA((unsigned)(uintptr_t)arg));
}

static void alloc_tcache(void *arg)
{
	(void)mallocx(16, MALLOCX_TCACHE((unsigned)(uintptr_t)arg));
}

static void expect_line(const char *what, void (*fn)(void *), void *arg, const char *want)
{
	char out[4096];
	int status = death_run(fn, arg, out, sizeof out);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: want SIGABRT", what);
	CHECK(strcmp(out, want) == 0, "%s: want\n  %s got\n  %s", what, want, out);
}

int main(void)
{
	cairn_heap_t *h = cairn_heap_create();
	REQUIRE(h != NULL, "cairn_heap_create");
	void *small = cairn_heap_malloc(h, 64);
	void *large = cairn_heap_malloc(h, 200000);
	unsigned a = cairn_heap_arena(h);
	cairn_heap_destroy(h);
	expect_death("small block of a destroyed heap", call_free, small, "free", NOT_OURS, small);
	expect_death("large block of a destroyed heap", call_free, large, "free", NOT_OURS, large);
	char want[128];
	snprintf(want, sizeof want,
	         "cairn: mallocx(): invalid arena %u (not created, or destroyed)\n", a);
	expect_line("MALLOCX_ARENA of a destroyed arena", alloc_arena, (void *)(uintptr_t)a, want);
	expect_line("MALLOCX_TCACHE never created", alloc_tcache, (void *)(uintptr_t)17,
	            "cairn: mallocx(): invalid thread cache 17 (not created, or destroyed)\n");
	return CHECK_DONE();
}
