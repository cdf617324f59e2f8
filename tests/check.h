/* SPDX-License-Identifier: MIT */
/* Minimal test helpers shared by every test program.
 *
 * CHECK(cond, fmt, ...) records one check and prints the failing ones with
 * their location; CHECK_DONE() prints the tally and returns the exit code
 * (0 when every check passed). Nothing here allocates through malloc except
 * what the test itself asks for. */
#ifndef CAIRN_TESTS_CHECK_H
#define CAIRN_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_passed;
static int check_failed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* Stops the test at once: for a check whose failure makes the rest moot. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		int require_ok_ = !!(cond);                                                        \
		CHECK(require_ok_, __VA_ARGS__);                                                   \
		if (!require_ok_) {                                                                \
			fprintf(stderr, "checks: %d passed, %d failed\n", check_passed,            \
			        check_failed);                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_DONE()                                                                               \
	(fprintf(stderr, "checks: %d passed, %d failed\n", check_passed, check_failed),            \
	 check_failed == 0 && check_passed > 0 ? 0 : 1)

#endif
