/* SPDX-License-Identifier: MIT */
/* The heap profiler as the api and control layers drive it: sampling on
 * the thread heaps' event countdown, the sampled blocks' records, the
 * run-time switches, the dump triggers. prof.h is what dumps read.
 *
 * Memory, all of it metadata memory (core/meta.h), none of it a page per
 * sample: a distinct stack costs 64 bytes plus 8 per frame, rounded up to
 * a multiple of 64, plus 8 of its hash table's (one slot per stack at
 * most); a live sampled block costs one 16-byte slot of the blocks'
 * table, which is kept between a quarter and half full: 32 to 64 bytes a
 * sample. A dump's copy of the counts takes 40 bytes per stack shown, made
 * twice the size needed when it grows. Tables that grew are not given back
 * (metadata memory never is): at most as much again. */
#ifndef CAIRN_PROF_PROFILER_H
#define CAIRN_PROF_PROFILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"
#include "prof/params.h"
#include "prof/prof.h"

/* Large blocks that were sampled carry this in their span's flags. */
#define LARGE_SAMPLED 2

/* The shared heap sampled small blocks come from (NULL while the profiler
 * is off): its slabs have no fast owner, so their frees take the slow
 * path, where `s->owner == prof_small_heap` says the block was sampled. */
extern struct heap *prof_small_heap;

/* Sets the profiler up from cairn_prof (after the arenas): false when out
 * of memory (the profiler then stays off). */
bool prof_boot(void);

/* Bytes to the next sample: drawn from an exponential distribution of mean
 * 2^lg with the PRNG state *rng. */
int64_t prof_draw(uint64_t *rng, unsigned lg);

/* A thread takes heap h: its thread.prof.* values set afresh, its first
 * sample point drawn. */
void prof_thread_start(struct heap *h);

/* A sample is due on a small request of class cls: h->sample_left ran out
 * on thread heap h (its next point is drawn), or prof_shared_due said so
 * for a thread without one (h its stand-in). A block from the sampled
 * slabs, recorded, when the thread samples; NULL when it does not (or is
 * out of memory): the caller then allocates as usual. */
void *prof_sample_small(struct heap *h, unsigned cls);

/* A sample is due, as for prof_sample_small, on large or huge block p of
 * `usable` bytes, just allocated (pagemap entry `entry`): p recorded and
 * marked when the thread samples. */
void prof_sample_big(struct heap *h, void *p, size_t usable, uintptr_t entry);

/* The countdown of the threads without a heap of their own, which the
 * process shares: prof_shared_due counts `usable` bytes allocated down and
 * says whether this allocation is to be sampled; prof_shared_rearm draws
 * its point afresh (at start-up and prof.reset). */
bool prof_shared_due(size_t usable);
void prof_shared_rearm(void);

/* A sampled block at p of `usable` bytes leaves (freed, or resized in
 * place): its stack's counts go down, its record goes. The caller has
 * recognised it and clears the large or huge mark itself. */
void prof_unsample(void *p, size_t usable);

/* The run-time switches (mallctl prof.*, thread.prof.*). */
bool prof_active_get(void);
void prof_active_set(bool on);
bool prof_thread_active_init_get(void);
void prof_thread_active_init_set(bool on);
bool prof_gdump_get(void);
void prof_gdump_set(bool on);
unsigned prof_lg_sample(void);
/* prof.reset: every sample's counts dropped (blocks sampled before free
 * without touching counts), the sampling rate set to 2^lg. */
void prof_reset(unsigned lg);

/* The triggers. prof_dump_due is what each calls when a dump of `kind`
 * ('f' final, 'i' interval, 'u' new peak) is due; prof_dumps_due counts
 * them (what a test reads). */
void prof_dump_due(char kind);
uint64_t prof_dumps_due(char kind);
/* At exit (api/init.c's destructor): the final dump, when prof_final; then,
 * with prof_leak or prof_leak_error, the leak report (leak.h), and with
 * prof_leak_error and a leak, _exit(1). */
void prof_exit(void);

/* fork (api/init.c): the child's profiler lock is new, its tables kept
 * unless the parent forked inside a change of them. */
void prof_postfork_child(void);

#endif
