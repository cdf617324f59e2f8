/* SPDX-License-Identifier: MIT */
/* Minimal test helpers shared by every test program.
 *
 * CHECK(cond, fmt, ...) records one check and prints the failing ones with
 * their location; CHECK_DONE() prints the tally and returns the exit code
 * (0 when every check passed). Nothing here allocates through malloc except
 * what the test itself asks for.
 *
 * Named cases. TEST_CASE("name") { ... } runs its body as the case "name":
 * a failing check in it prints "case name: file:line: check failed: ...",
 * and the case's own tally is printed when it ends ("case name: N passed,
 * M failed"). A case in which no check ran fails. The body is a one-pass
 * loop: break or continue in it ends the case, not a loop around it.
 *
 * One case alone: with TEST_CASE=NAME in the environment, only the cases
 * so named run (NAME: a comma-separated list, each item a name or a prefix
 * ending in '*'); the others are skipped, counted as skipped and never as
 * passed. Checks outside every case still run. CHECK_DONE() fails when no
 * check ran at all, when a case failed, and when the program has cases but
 * TEST_CASE named none of them. A child process started by tests/child.h
 * labels its failures with the case of the parent that started it
 * (CHECK_PARENT_CASE in its environment). */
#ifndef CAIRN_TESTS_CHECK_H
#define CAIRN_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_passed;
static int check_failed;

/* The case running, "" between cases (a copy: the name given may not live
 * as long); the tally when it began; how the cases went. */
static char check_case[128];
static int check_case_passed0, check_case_failed0;
static int check_cases_passed, check_cases_failed, check_cases_skipped;

/* The case a failing check names: this process's, else its parent's. */
static inline const char *check_case_label(void)
{
	if (check_case[0] != '\0')
		return check_case;
	const char *parent = getenv("CHECK_PARENT_CASE");
	return parent != NULL && parent[0] != '\0' ? parent : NULL;
}

static inline void check_fail_where(const char *file, int line, const char *cond)
{
	const char *label = check_case_label();
	if (label != NULL)
		fprintf(stderr, "case %s: ", label);
	fprintf(stderr, "%s:%d: check failed: %s: ", file, line, cond);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			check_fail_where(__FILE__, __LINE__, #cond);                               \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* Whether TEST_CASE (unset or empty: every case) selects the case name. */
static inline int check_case_selected(const char *name)
{
	const char *want = getenv("TEST_CASE");
	if (want == NULL || want[0] == '\0')
		return 1;
	for (const char *p = want;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && p[len - 1] == '*') {
			if (strncmp(p, name, len - 1) == 0)
				return 1;
		} else if (len > 0 && strlen(name) == len && strncmp(p, name, len) == 0) {
			return 1;
		}
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/* Ends the case running, if any, with its tally. */
static inline void check_case_end(void)
{
	if (check_case[0] == '\0')
		return;
	int ok = check_passed - check_case_passed0, bad = check_failed - check_case_failed0;
	if (ok + bad == 0) {
		fprintf(stderr, "case %s: no check ran\n", check_case);
		check_cases_failed++;
	} else {
		fprintf(stderr, "case %s: %d passed, %d failed\n", check_case, ok, bad);
		if (bad == 0)
			check_cases_passed++;
		else
			check_cases_failed++;
	}
	check_case[0] = '\0';
}

/* Ends the case before and starts the case name; returns 0 when TEST_CASE
 * skips it. */
static inline int check_case_begin(const char *name)
{
	check_case_end();
	if (!check_case_selected(name)) {
		check_cases_skipped++;
		return 0;
	}
	snprintf(check_case, sizeof check_case, "%s", name[0] != '\0' ? name : "?");
	check_case_passed0 = check_passed;
	check_case_failed0 = check_failed;
	return 1;
}

#define TEST_CASE(name)                                                                            \
	for (int check_case_once_ = check_case_begin(name); check_case_once_;                      \
	     check_case_once_ = (check_case_end(), 0))

/* Prints the tallies (the last line "checks: N passed, M failed", which
 * tests/run.sh reads) and returns the exit code. */
static inline int check_done(void)
{
	check_case_end();
	int cases = check_cases_passed + check_cases_failed;
	int unmatched = cases == 0 && check_cases_skipped > 0;
	if (cases + check_cases_skipped > 0)
		fprintf(stderr, "cases: %d passed, %d failed, %d skipped\n", check_cases_passed,
		        check_cases_failed, check_cases_skipped);
	if (unmatched)
		fprintf(stderr, "no case of this program matches TEST_CASE=%s\n",
		        getenv("TEST_CASE"));
	fprintf(stderr, "checks: %d passed, %d failed\n", check_passed, check_failed);
	return check_failed == 0 && check_passed > 0 && check_cases_failed == 0 && !unmatched ? 0
	                                                                                      : 1;
}

/* Stops the test at once: for a check whose failure makes the rest moot. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		int require_ok_ = !!(cond);                                                        \
		CHECK(require_ok_, __VA_ARGS__);                                                   \
		if (!require_ok_) {                                                                \
			check_done();                                                              \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_DONE() check_done()

/* Writes to stderr with write(2), no stdio buffer: for fork children of a
 * threaded process and for threads. */
__attribute__((format(printf, 1, 2), unused)) static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
		return;
}

#endif
