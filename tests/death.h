/* SPDX-License-Identifier: MIT */
/* Shared by the death tests: run a misuse in a forked child and check that
 * it dies of SIGABRT after printing exactly the line cairn prints for it.
 *
 * The including file defines _GNU_SOURCE before its first #include (child.h). */
#ifndef CAIRN_TESTS_DEATH_H
#define CAIRN_TESTS_DEATH_H

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "child.h"

/* expect_death() runs fn(arg) in a forked child whose stderr goes to a pipe,
 * then checks that the child died of SIGABRT after printing exactly one line,
 * the one cairn prints for this kind of misuse:
 *   cairn: FN(): invalid pointer PTR (not allocated by cairn)
 *   cairn: FN(): invalid pointer PTR (inside a block, not its start)
 *   cairn: FN(): double free of PTR
 *   cairn: FN(): invalid pointer PTR (already freed)
 * with PTR as printf's %p writes it. */
enum misuse { NOT_OURS, INTERIOR, DOUBLE_FREE, ALREADY_FREED };

static const char *const phrase[] = {
    "(not allocated by cairn)",        /* NOT_OURS */
    "(inside a block, not its start)", /* INTERIOR */
    "double free of",                  /* DOUBLE_FREE */
    "(already freed)",                 /* ALREADY_FREED */
};

/* Hides where a pointer came from, so that gcc does not warn about freeing
 * a non-heap object: that is the point of these tests. */
static __attribute__((unused)) void *launder(const void *p)
{
	void *q = (void *)p;
	__asm__ volatile("" : "+r"(q));
	return q;
}

/* Runs fn(arg) in a forked child with its stderr into out; returns its wait status. The child
 * leaves no core dump, and dies of SIGALRM after 10 s if it hangs. */
static inline int death_run(void (*fn)(void *), void *arg, char *out, size_t cap)
{
	struct child_opts opts;
	memset(&opts, 0, sizeof opts); /* C++ too: no designated initializers */
	opts.timeout = 10;
	opts.no_core = 1;
	return child_call(fn, arg, &opts, out, cap, NULL);
}

static __attribute__((unused)) void expect_death(const char *what, void (*fn)(void *), void *arg,
                                                 const char *func, enum misuse kind,
                                                 const void *ptr)
{
	char out[4096], ptrs[32], fn_part[64], want[256];
	int status;

	snprintf(ptrs, sizeof ptrs, "%p", ptr);
	snprintf(fn_part, sizeof fn_part, "cairn: %s(): ", func);
	if (kind == DOUBLE_FREE)
		snprintf(want, sizeof want, "%s%s %s\n", fn_part, phrase[kind], ptrs);
	else
		snprintf(want, sizeof want, "%sinvalid pointer %s %s\n", fn_part, ptrs,
		         phrase[kind]);

	status = death_run(fn, arg, out, sizeof out);

	if (WIFSIGNALED(status))
		CHECK(WTERMSIG(status) == SIGABRT,
		      "%s: child killed by signal %d (%s), want SIGABRT", what, WTERMSIG(status),
		      strsignal(WTERMSIG(status)));
	else
		CHECK(0, "%s: child exited with %d, want death by SIGABRT", what,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	char *nl = strchr(out, '\n');
	CHECK(nl != NULL && nl[1] == '\0', "%s: want exactly one line on stderr, got:\n%s", what,
	      out);
	CHECK(strncmp(out, "cairn: ", 7) == 0, "%s: line does not begin with \"cairn: \": %s", what,
	      out);
	CHECK(strstr(out, fn_part) != NULL, "%s: line does not name %s(): %s", what, func, out);
	CHECK(strstr(out, ptrs) != NULL, "%s: line does not show the pointer %s: %s", what, ptrs,
	      out);
	CHECK(strstr(out, phrase[kind]) != NULL, "%s: line lacks \"%s\": %s", what, phrase[kind],
	      out);
	CHECK(strcmp(out, want) == 0, "%s: want the line\n  %s got\n  %s", what, want, out);
}

#endif
