/* SPDX-License-Identifier: MIT */
/* The statistics report of malloc_stats_print, in text or JSON, laid out
 * as jemalloc's so that tools reading jemalloc's report read cairn's. */
#ifndef CAIRN_CONTROL_STATS_PRINT_H
#define CAIRN_CONTROL_STATS_PRINT_H

/* Takes a new snapshot and writes the report through write (never NULL)
 * in NUL-terminated pieces of whole lines, each at most 4 KiB. opts
 * (NULL: none) are jemalloc's letters: J for JSON; g, m, a, b, l omit the
 * general information, the merged arena statistics, the per arena
 * sections, and (in every section) the per size class tables of bins and
 * of large classes; d, x, e, h (destroyed arenas, mutex, extent and hpa
 * statistics, none of which cairn prints) and any other letter do
 * nothing. Never allocates; safe from any thread, concurrently. */
void stats_print(void (*write)(void *opaque, const char *s), void *opaque, const char *opts);

#endif
