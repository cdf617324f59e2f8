/* SPDX-License-Identifier: MIT */
/* The leak report at exit (prof_leak, prof_leak_error): the sampled blocks
 * still live when the process exits, summed per call stack, scaled back to
 * an estimate of the whole heap as jeprof scales a profile, and written to
 * stderr with the largest stacks' frames named in the process.
 *
 * Only sampled blocks are seen: at lg_prof_sample:0 every block is, at the
 * default rate a block of n bytes is seen with probability
 * 1 - exp(-n / 2^19), and the figures are estimates. */
#ifndef CAIRN_PROF_LEAK_H
#define CAIRN_PROF_LEAK_H

#include <stdbool.h>

/* Writes the report when any sampled block is still live (nothing
 * otherwise) and says whether there was one. Allocates nothing: dladdr1
 * and the object files mapped read-only name the frames. */
bool prof_leak_report(void);

/* The largest stacks the report shows, and the frames shown of each. */
#define LEAK_TOP_STACKS 10
#define LEAK_TOP_FRAMES 16

#endif
