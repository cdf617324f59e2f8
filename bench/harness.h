/* SPDX-License-Identifier: MIT */
/* The frame every bench program shares: its options, its clock, its result
 * line. The workloads' own helpers (random numbers, fill/check, /proc) are
 * in common.h.
 *
 * Conventions every workload follows, so that bench/run.py can drive it:
 *   - arguments are fixed by the caller; nothing depends on time or pid;
 *   - random choices come from splitmix64 with a fixed seed;
 *   - the program ends by printing one line of key=value pairs on stdout
 *     (bench_result() below), which includes time_s=<seconds of the timed
 *     section> and a checksum computed from the memory it was handed (so
 *     the compiler cannot drop the work, and a broken allocator shows up as
 *     errors=<n> > 0);
 *   - that line ends with rss_end_kb=<VmRSS> and anon_huge_kb=<the
 *     AnonHugePages of /proc/self/smaps_rollup>, measured after it freed
 *     what it allocated: what the allocator keeps; a workload may print
 *     more key=value lines before the last one (the runner merges all of
 *     them, later lines win);
 *   - exit status 0 on success, 1 on a usage error, 2 when the data it
 *     wrote into its blocks did not read back (allocator corruption).
 *
 * Options are described once, in a table that both parses them and prints
 * the usage message:
 *
 *     const struct bench_opt opts[] = {
 *         {'s', "SLOTS", BENCH_COUNT, &slots, "live blocks"},
 *         {'S', "SEED", BENCH_SEED, &seed, "random seed"},
 *         {0},
 *     };
 *     bench_options(argc, argv, opts, NULL);
 *
 * Every option takes a value. A value that does not parse ends the program
 * with status 1 and a message saying what was expected; range checks that
 * involve the workload stay in the program. */
#ifndef CAIRN_BENCH_HARNESS_H
#define CAIRN_BENCH_HARNESS_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BENCH_MAXOPT 10

enum bench_kind {
	BENCH_INT,   /* int: a plain decimal number */
	BENCH_COUNT, /* long: 200000, 200k, 4M (decimal suffixes) */
	BENCH_SEED,  /* uint64_t, written as a count */
	BENCH_SIZE,  /* size_t: 65536, 64k, 1G (binary suffixes) */
	BENCH_STR,   /* const char *, as given */
};

struct bench_opt {
	char letter;
	const char *name; /* of the value, in the usage message */
	enum bench_kind kind;
	void *var;
	const char *help;
};

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A number with an optional k/M/G suffix worth unit, unit^2, unit^3; *end
 * is left after it. -1 when s does not start with a number. */
static inline double bench_scan(const char *s, char **end, double unit)
{
	double v = strtod(s, end);
	if (*end == s)
		return -1;
	switch (**end) {
	case 'k':
	case 'K':
		v *= unit;
		break;
	case 'm':
	case 'M':
		v *= unit * unit;
		break;
	case 'g':
	case 'G':
		v *= unit * unit * unit;
		break;
	default:
		return v;
	}
	(*end)++;
	return v;
}

/* The whole of s as a number (unit as above), or -1. */
static inline double bench_number(const char *s, double unit)
{
	char *end;
	double v = bench_scan(s, &end, unit);
	return *end || !(v >= 0 && v < 9.2e18) ? -1 : v; /* NaN too */
}

/* Parses a count such as 200000, 200k, 4M (decimal suffixes). Exits with
 * status 1 on garbage, so a typo in run.py fails loudly. */
static inline long bench_count(const char *s)
{
	double v = bench_number(s, 1000);
	if (v < 0) {
		fprintf(stderr, "bad count '%s'\n", s);
		exit(1);
	}
	return (long)v;
}

/* Stores the option's value: NULL, or else what the value should have been. */
static inline const char *bench_set(const struct bench_opt *o, const char *arg)
{
	char *end;
	long l;
	double v;

	switch (o->kind) {
	case BENCH_INT:
		errno = 0;
		l = strtol(arg, &end, 10);
		if (end == arg || *end || errno || l < INT_MIN || l > INT_MAX)
			return "a whole number";
		*(int *)o->var = (int)l;
		return NULL;
	case BENCH_COUNT:
	case BENCH_SEED:
		v = bench_number(arg, 1000);
		if (v < 0)
			return "a count (a number, optionally followed by k, M or G: 200k, 4M)";
		if (o->kind == BENCH_SEED)
			*(uint64_t *)o->var = (uint64_t)v;
		else
			*(long *)o->var = (long)v;
		return NULL;
	case BENCH_SIZE:
		v = bench_number(arg, 1024);
		if (v < 0)
			return "a size (bytes, optionally followed by k, M or G: 64k, 1G)";
		*(size_t *)o->var = (size_t)v;
		return NULL;
	case BENCH_STR:
		*(const char **)o->var = arg;
		return NULL;
	}
	return "?";
}

/* The usage message shows each option's default: its value when the
 * program started parsing, kept here. */
static const char *bench_argv0, *bench_synopsis;
static const struct bench_opt *bench_opts;
static char bench_defaults[BENCH_MAXOPT][40];

static inline void bench_keep_default(int i, const struct bench_opt *o)
{
	char *d = bench_defaults[i];
	size_t n = sizeof bench_defaults[i], z;
	int u = 0;

	switch (o->kind) {
	case BENCH_INT:
		snprintf(d, n, "%d", *(int *)o->var);
		break;
	case BENCH_COUNT:
		snprintf(d, n, "%ld", *(long *)o->var);
		break;
	case BENCH_SEED:
		snprintf(d, n, "%#llx", (unsigned long long)*(uint64_t *)o->var);
		break;
	case BENCH_SIZE: /* 1G rather than 1073741824 */
		for (z = *(size_t *)o->var; z && z % 1024 == 0 && u < 3; u++)
			z /= 1024;
		snprintf(d, n, "%zu%s", z, (const char *[]){"", "k", "M", "G"}[u]);
		break;
	case BENCH_STR:
		snprintf(d, n, "%s", *(const char **)o->var ? *(const char **)o->var : "");
		break;
	}
}

/* Prints the usage message of the program on stderr and exits 1. */
__attribute__((noreturn)) static inline void bench_usage(void)
{
	const char *s = bench_synopsis;
	int w = 0;

	if (s) {
		for (int line = 0; *s; line++) {
			int n = (int)strcspn(s, "\n");
			fprintf(stderr, "%s %s %.*s\n", line ? "      " : "usage:", bench_argv0, n,
			        s);
			s += n + (s[n] == '\n');
		}
	} else {
		fprintf(stderr, "usage: %s", bench_argv0);
		for (const struct bench_opt *o = bench_opts; o->letter; o++)
			fprintf(stderr, " [-%c %s]", o->letter, o->name);
		fprintf(stderr, "\n");
	}
	for (const struct bench_opt *o = bench_opts; o->letter; o++)
		if ((int)strlen(o->name) > w)
			w = (int)strlen(o->name);
	for (int i = 0; bench_opts[i].letter; i++) {
		const struct bench_opt *o = &bench_opts[i];
		fprintf(stderr, "  -%c %-*s  %s", o->letter, w, o->name, o->help);
		if (bench_defaults[i][0])
			fprintf(stderr, " (default %s)", bench_defaults[i]);
		fprintf(stderr, "\n");
	}
	exit(1);
}

/* Parses the options of argv into the variables of the table opts (ended
 * by letter 0); returns the index of the first argument after them. On an
 * unknown option or a missing value: getopt's message, then the usage.
 * synopsis: what follows "usage: PROG ", one line per form of the command;
 * NULL: "[-x NAME] ..." for every option. */
static inline int bench_parse(int argc, char **argv, const struct bench_opt *opts,
                              const char *synopsis)
{
	/* "+": parsing stops at the first argument that is not an option, so
	 * that runwrap leaves the options of the program it runs alone. */
	char optstring[2 + 2 * BENCH_MAXOPT] = "+";
	int c, n = 1;

	bench_argv0 = argv[0];
	bench_opts = opts;
	bench_synopsis = synopsis;
	for (int i = 0; opts[i].letter; i++) {
		if (i == BENCH_MAXOPT) {
			fprintf(stderr, "%s: more than %d options\n", argv[0], BENCH_MAXOPT);
			exit(1);
		}
		bench_keep_default(i, &opts[i]);
		optstring[n++] = opts[i].letter;
		optstring[n++] = ':';
	}
	while ((c = getopt(argc, argv, optstring)) != -1) {
		const struct bench_opt *o = opts;
		while (o->letter && o->letter != c)
			o++;
		if (!o->letter)
			bench_usage();
		const char *want = bench_set(o, optarg);
		if (want) {
			fprintf(stderr, "%s: -%c %s: not %s\n", argv[0], c, optarg, want);
			exit(1);
		}
	}
	return optind;
}

/* The options of a workload, which takes nothing else. */
static inline void bench_options(int argc, char **argv, const struct bench_opt *opts,
                                 const char *synopsis)
{
	int first = bench_parse(argc, argv, opts, synopsis);
	if (first < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[first]);
		bench_usage();
	}
}

/* The memory keys every workload ends its last line with (bench_result()
 * prints them): " rss_end_kb=N anon_huge_kb=N", leading space, no newline.
 * The values are taken first and printed after, so stdio's own buffer does
 * not count. */
static inline void bench_mem_end(void)
{
	long rss = bench_rss_kb(), huge = bench_anon_huge_kb();
	printf(" rss_end_kb=%ld anon_huge_kb=%ld", rss, huge);
}

/* Ends a workload, after it freed its data: prints its result line -- fmt
 * (workload=NAME, its parameters, time_s= and its own figures), then
 * checksum=, errors=, rss_end_kb=, anon_huge_kb= -- and returns the exit
 * status for main(): 2 when errors were found. */
__attribute__((format(printf, 3, 4))) static inline int bench_result(uint64_t checksum, long errors,
                                                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" checksum=%lx errors=%ld", (unsigned long)checksum, errors);
	bench_mem_end();
	printf("\n");
	return errors ? 2 : 0;
}

#endif
