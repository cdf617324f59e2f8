/* SPDX-License-Identifier: MIT */
/* The profiler's tables, inside src/prof/: the distinct stacks with their
 * counts and the sampled blocks' records (stacks.c), and what sampling and
 * the switches (sample.c, prof.c) need of them and of each other. */
#ifndef CAIRN_PROF_STACKS_H
#define CAIRN_PROF_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "prof/unwind.h"

/* prof_lock: guards the stacks, the blocks' records, the totals and the
 * peak trigger's state (prof.c). Taken once per sample and once per free
 * of a sampled block. */
void stacks_lock(void);
void stacks_unlock(void);

/* Records p (usable bytes) under the calling thread's stack, unwound from
 * from (a frame of the caller's, still live); false when it is not
 * recorded (out of memory). Called with no lock held. */
bool stacks_record(void *p, size_t usable, const struct prof_regs *from);

/* The tables' first sizes: false when out of memory. */
bool stacks_boot(void);

/* prof.reset: every count zeroed, every record forgotten. Called with
 * prof_lock held. */
void stacks_reset_locked(void);

/* In a fork child: prof_lock made anew; where the parent held it, the
 * records forgotten (the table may have been half changed), the stacks
 * kept. */
void stacks_postfork_child(void);

/* prof.c's triggers, run by sampling: prof_peak_check with prof_lock held
 * and the sampled live bytes now; prof_after_sample with no lock held, to
 * write what is due. */
void prof_peak_check(uint64_t live_bytes);
void prof_after_sample(void);

#endif
