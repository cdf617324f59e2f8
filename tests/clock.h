/* SPDX-License-Identifier: MIT */
/* The tests' one clock: now_s(), CLOCK_MONOTONIC in seconds. No allocation, and safe in a
 * signal handler and in the child of a threaded fork (clock_gettime is async-signal-safe). */
#ifndef CAIRN_TESTS_CLOCK_H
#define CAIRN_TESTS_CLOCK_H

#include <time.h>

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
