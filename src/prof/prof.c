/* SPDX-License-Identifier: MIT */
/* The heap profiler's switches (prof.active, prof.gdump, prof.lg_sample,
 * prof.reset ...), the triggers of automatic dumps, and its set-up and
 * fork handling. Sampling is sample.c's, the tables stacks.c's. */
#include "prof/profiler.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/lock.h"
#include "core/meta.h"
#include "prof/cfa.h"
#include "prof/dump.h"
#include "prof/leak.h"
#include "prof/stacks.h"

static _Atomic bool active;
static _Atomic bool thread_active_init;
static _Atomic bool gdump;
static _Atomic unsigned lg_sample;

uint64_t prof_sample_interval(void)
{
	return 1ull << atomic_load_explicit(&lg_sample, memory_order_relaxed);
}

/* ------------------------------------------------------------ switches */

bool prof_active_get(void)
{
	return atomic_load(&active);
}

void prof_active_set(bool on)
{
	atomic_store(&active, on);
}

bool prof_thread_active_init_get(void)
{
	return atomic_load(&thread_active_init);
}

void prof_thread_active_init_set(bool on)
{
	atomic_store(&thread_active_init, on);
}

bool prof_gdump_get(void)
{
	return atomic_load(&gdump);
}

void prof_gdump_set(bool on)
{
	atomic_store(&gdump, on);
}

unsigned prof_lg_sample(void)
{
	return atomic_load_explicit(&lg_sample, memory_order_relaxed);
}

/* The peak the last 'u' dump recorded; what has been dumped since
 * prof.reset. Guarded by prof_lock. */
static uint64_t peak_dumped;
static uint64_t peak_when_ns;
/* Samples above the mark to let pass before the clock is read again, while
 * the last dump holds the next back (prof_peak_check). */
static unsigned peak_quiet;

void prof_reset(unsigned lg)
{
	stacks_lock();
	atomic_store(&lg_sample, lg);
	stacks_reset_locked();
	peak_dumped = 0;
	peak_quiet = 0;
	stacks_unlock();
	prof_shared_rearm();
}

/* ------------------------------------------------------------ triggers
 *
 * Each trigger calls prof_dump_due with no lock held: it counts the dump
 * (for the tests) and has the writer make it (prof_dump_auto), on the
 * thread that found it due. A dump that cannot be written is said in one
 * line on stderr, since nothing else would tell. */

static _Atomic uint64_t dumps_due[3];

static int kind_index(char kind)
{
	return kind == 'f' ? 0 : kind == 'i' ? 1 : kind == 'u' ? 2 : -1;
}

void prof_dump_due(char kind)
{
	int i = kind_index(kind);
	if (i >= 0)
		atomic_fetch_add(&dumps_due[i], 1);
	int err = prof_dump_auto(NULL, kind);
	if (err != 0) {
		char what[2] = {kind, '\0'}, num[24];
		num[fmt_u64(num, (uint64_t)err)] = '\0';
		cairn_message("heap profile (", what, ") not written under prefix ",
		              cairn_prof.prefix != NULL ? cairn_prof.prefix : "jeprof", ": errno ",
		              num, NULL);
	}
}

uint64_t prof_dumps_due(char kind)
{
	int i = kind_index(kind);
	return i >= 0 ? atomic_load(&dumps_due[i]) : 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A new peak of the sampled live bytes, with prof_gdump: a dump when they
 * grew by an eighth over the last peak dumped, at most one a second, so
 * that a service that grows for hours leaves a few profiles of its
 * largest heap rather than one per sample. The second counts from the
 * profiler's start too: the first samples are the program's start-up,
 * whose peak dump (at the very first sample) showed a heap of a few
 * blocks, and a program that ends within the second has its final dump
 * (prof_final) and no other. Called with prof_lock held;
 * the dump itself is made with it released (pending_peak), by the first
 * thread to finish a sample after it: an atomic flag, so that a sample
 * with no peak pending (nearly every one) takes no lock for it. */
static _Atomic bool pending_peak;

void prof_peak_check(uint64_t live_bytes)
{
	if (!atomic_load_explicit(&gdump, memory_order_relaxed))
		return;
	if (live_bytes <= peak_dumped + peak_dumped / 8)
		return;
	/* A heap that stays above the mark within the second would read the
	 * clock at every sample: it is read at every eighth, and the dump
	 * comes at most seven samples late. */
	if (peak_quiet != 0) {
		peak_quiet--;
		return;
	}
	uint64_t t = now_ns();
	if (t - peak_when_ns < 1000000000u) {
		peak_quiet = 7;
		return;
	}
	peak_dumped = live_bytes;
	peak_when_ns = t;
	atomic_store_explicit(&pending_peak, true, memory_order_relaxed);
}

/* Every 2^lg_prof_interval bytes the thread heaps allocated (counted at
 * their rare events, EVENT_INTERVAL at a time, so the interval is kept to
 * within a MiB), looked at after each sample. Also runs a peak dump
 * found due. */
static _Atomic uint64_t interval_next;

void prof_after_sample(void)
{
	if (atomic_load_explicit(&pending_peak, memory_order_relaxed) &&
	    atomic_exchange_explicit(&pending_peak, false, memory_order_relaxed))
		prof_dump_due('u');
	if (cairn_prof.lg_interval < 0)
		return;
	uint64_t step = 1ull << cairn_prof.lg_interval;
	uint64_t bytes = atomic_load_explicit(&cairn_event_bytes, memory_order_relaxed);
	uint64_t next = atomic_load_explicit(&interval_next, memory_order_relaxed);
	if (bytes < next)
		return;
	/* One thread wins each crossing. */
	uint64_t after = bytes - bytes % step + step;
	if (atomic_compare_exchange_strong(&interval_next, &next, after))
		prof_dump_due('i');
}

/* The final dump first: prof_leak_error ends the process after the leak
 * report with _exit(1), as jemalloc does, since a destructor cannot change
 * the status exit() was given. What exit() had left to do after cairn's
 * destructor (later destructors, flushing stdio buffers) is then not done:
 * prof_leak_error is for test runs, whose output goes to stderr. */
void prof_exit(void)
{
	if (!cairn_prof.on)
		return;
	if (cairn_prof.final)
		prof_dump_due('f');
	if (!cairn_prof.leak && !cairn_prof.leak_error)
		return;
	if (prof_leak_report() && cairn_prof.leak_error) {
		cairn_message("exiting with status 1: memory still allocated at exit "
		              "(prof_leak_error)",
		              NULL);
		_exit(1);
	}
}

/* ------------------------------------------------------------ set-up, fork */

bool prof_boot(void)
{
	atomic_store(&active, cairn_prof.active);
	atomic_store(&thread_active_init, cairn_prof.thread_active_init);
	atomic_store(&gdump, cairn_prof.gdump);
	atomic_store(&lg_sample, cairn_prof.lg_sample);
	if (cairn_prof.lg_interval >= 0)
		atomic_store(&interval_next, 1ull << cairn_prof.lg_interval);
	if (!cairn_prof.on)
		return true;
	peak_when_ns = now_ns();
	prof_shared_rearm();
	bool tables = stacks_boot();
	prof_small_heap = shared_heap_create(&cairn_arenas[0]);
	if (!tables || prof_small_heap == NULL) {
		prof_small_heap = NULL;
		cairn_prof.on = false;
		return false;
	}
	shared_heap_on_free(prof_small_heap, prof_unsample);
	shared_heap_cut_singly(prof_small_heap);
	return true;
}

void prof_postfork_child(void)
{
	if (!cairn_prof.on)
		return;
	shared_heap_postfork_child(prof_small_heap);
	cfa_postfork_child();
	stacks_postfork_child();
}
