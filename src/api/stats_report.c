/* SPDX-License-Identifier: MIT */
/* jemalloc's malloc_stats_print and malloc_message, and the reports the
 * options ask for: the report of control/stats_print.c, written through
 * the caller's callback, else through malloc_message if the program set
 * it, else to stderr with write(2). */
#include "api/stats_report.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "api/init.h"
#include <cairn/jemalloc.h>
#include "control/conf.h"
#include "control/stats_print.h"
#include "core/heap.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

/* A program may point it at its own writer, as with jemalloc. */
EXPORT void (*malloc_message)(void *cbopaque, const char *s) = NULL;

static void write_stderr(void *opaque, const char *s)
{
	os_write_stderr(s, strlen(s));
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts)
{
	if (!ensure_init())
		return;
	if (write_cb == NULL)
		write_cb = malloc_message != NULL ? malloc_message : write_stderr;
	stats_print(write_cb, cbopaque, opts);
}

/* ------------------------------------------------------------ stats_interval
 *
 * The thread heaps count what they allocate at their rare events, each
 * EVENT_INTERVAL bytes a thread allocates (core/heap.h), so the fast paths
 * pay nothing: the report comes at the first event past the interval, a
 * little late by up to a MiB per thread. */

void stats_report_init(void)
{
	if (cairn_conf.stats_interval >= 0)
		atomic_store_explicit(&cairn_event_due, (uint64_t)cairn_conf.stats_interval,
		                      memory_order_relaxed);
}

void stats_interval_poll(void)
{
	if (cairn_conf.stats_interval < 0)
		return;
	uint64_t due = atomic_load_explicit(&cairn_event_due, memory_order_relaxed);
	uint64_t bytes = atomic_load_explicit(&cairn_event_bytes, memory_order_relaxed);
	if (bytes < due)
		return;
	/* The thread that moves the mark writes the report; 0 means at
	 * every event. */
	uint64_t step = cairn_conf.stats_interval > 0 ? (uint64_t)cairn_conf.stats_interval : 1;
	if (!atomic_compare_exchange_strong_explicit(&cairn_event_due, &due, bytes + step,
	                                             memory_order_relaxed, memory_order_relaxed))
		return;
	malloc_stats_print(NULL, NULL, cairn_conf.stats_interval_opts);
}

/* ------------------------------------------------------------ stats_print
 *
 * A destructor rather than atexit(), which may allocate: it runs when main
 * returns and at exit(), not at _exit() or on a signal. */
__attribute__((destructor)) static void stats_print_at_exit(void)
{
	if (atomic_load_explicit(&cairn_init_state, memory_order_acquire) == INIT_DONE &&
	    cairn_conf.stats_print)
		malloc_stats_print(NULL, NULL, cairn_conf.stats_print_opts);
}
