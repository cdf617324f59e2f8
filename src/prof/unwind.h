/* SPDX-License-Identifier: MIT */
/* The backtrace of a sampled allocation. */
#ifndef CAIRN_PROF_UNWIND_H
#define CAIRN_PROF_UNWIND_H

#include <stdint.h>

/* Writes at most max return addresses of the calling thread's stack into
 * pcs, innermost first, starting at the first frame outside cairn's own
 * code (the caller of malloc) where cairn is a shared library; returns how
 * many. Allocates nothing and takes none of cairn's locks. */
unsigned prof_backtrace(uintptr_t *pcs, unsigned max);

/* The same, always by libgcc's unwinder, which prof_backtrace falls back
 * to; and how many of prof_backtrace's walks fell back to it (what tests
 * compare and count). */
unsigned prof_backtrace_libgcc(uintptr_t *pcs, unsigned max);
unsigned long prof_unwind_fallbacks(void);

#endif
