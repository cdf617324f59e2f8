/* SPDX-License-Identifier: MIT */
/* The heap profiler: sampling, backtraces and the table of stacks that hold
 * sampled memory (src/prof/), between the core below and the controls and
 * dumps above.
 *
 * Sampling is byte based: a thread samples one allocation each time the
 * bytes it allocated pass a point drawn from an exponential distribution
 * of mean 2^lg_prof_sample (jemalloc's scheme), on the thread heap's event
 * countdown, so an unsampled allocation pays nothing. A sampled block
 * records its stack's entry; its free takes the entry's counts down. The
 * counts kept are those of the samples themselves: a dump states the
 * sampling interval and the reader (jeprof, pprof, cairn prof) scales them
 * back to an estimate of the whole heap. */
#ifndef CAIRN_PROF_PROF_H
#define CAIRN_PROF_PROF_H

#include <stdbool.h>
#include <stdint.h>

/* A stack's sampled counts: blocks and bytes live now, and (prof_accum)
 * ever sampled. */
struct prof_counts {
	uint64_t curobjs, curbytes;
	uint64_t accumobjs, accumbytes;
};

/* Calls fn for every stack with a live sample (with prof_accum, every
 * stack ever sampled): its return addresses, innermost first, and its
 * counts (a copy taken at one moment: fn runs with the table unlocked, so
 * that its system calls stop no sampling thread). fn must not allocate,
 * nor call back into the profiler; fn NULL: only the totals. Returns the
 * totals over every stack in *total (NULL: not wanted). */
void prof_visit(void (*fn)(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                           void *arg),
                void *arg, struct prof_counts *total);

/* The mean sampling interval in bytes, 2^lg_sample as now set. */
uint64_t prof_sample_interval(void);

#endif
