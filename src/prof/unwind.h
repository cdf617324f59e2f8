/* SPDX-License-Identifier: MIT */
/* The backtrace of a sampled allocation. */
#ifndef CAIRN_PROF_UNWIND_H
#define CAIRN_PROF_UNWIND_H

#include <stdint.h>

#include "core/util.h"

/* Writes at most max return addresses of the calling thread's stack into
 * pcs, innermost first, starting at the first frame outside cairn's own
 * code (the caller of malloc) where cairn is a shared library; returns how
 * many. Allocates nothing and takes none of cairn's locks. */
unsigned prof_backtrace(uintptr_t *pcs, unsigned max);

/* Where a backtrace starts: a frame's return address, its stack pointer and
 * rbp (x86-64's; elsewhere the walk is libgcc's and they are not used). */
struct prof_regs {
	uintptr_t pc, sp, bp;
};

/* *r: the caller's state as this call returns to it. */
void cairn_prof_capture(struct prof_regs *r) HIDDEN;

/* prof_backtrace from r, taken by cairn_prof_capture in a frame that is
 * still live: a sample captures where it is decided, so that the frames
 * between that one and the walk are not unwound (each costs a sample
 * about 50 instructions). Frames in cairn's code are left out as
 * prof_backtrace leaves them; where cairn is linked into the program,
 * r's own frame is. */
unsigned prof_backtrace_from(const struct prof_regs *r, uintptr_t *pcs, unsigned max);

/* prof_backtrace_from, and a memo for its frames: where the walk followed
 * to the stack's end a way kept from an earlier walk, comparing every
 * return address with the one it kept, the frames are that walk's, and
 * *memo is a word the way keeps for the caller to remember what it made
 * of them (NULL until the caller writes it); NULL otherwise. Only
 * stacks_record uses memos, under prof_lock. */
unsigned prof_backtrace_memo(const struct prof_regs *r, uintptr_t *pcs, unsigned max, void ***memo);

/* The same, always by libgcc's unwinder, which prof_backtrace falls back
 * to; and how many of prof_backtrace's walks fell back to it (what tests
 * compare and count). */
unsigned prof_backtrace_libgcc(uintptr_t *pcs, unsigned max);
unsigned long prof_unwind_fallbacks(void);

#endif
