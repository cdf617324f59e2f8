/* SPDX-License-Identifier: MIT */
/* Heap profile dumps in jemalloc's heap_v2 text format, which jeprof (and
 * pprof's legacy reader) read:
 *
 *     heap_v2/<sampling interval>
 *       t*: <curobjs>: <curbytes> [<accumobjs>: <accumbytes>]
 *     @ 0x<pc> 0x<pc> ...                 one per stack, innermost first
 *       t*: <curobjs>: <curbytes> [<accumobjs>: <accumbytes>]
 *     ...
 *
 *     MAPPED_LIBRARIES:
 *     <the contents of /proc/self/maps>
 *
 * The counts are the samples' own; the reader scales them by the interval.
 * There are no per-thread lines (jemalloc's "t<n>:"): the stack table keeps
 * no per-thread counts, and jeprof needs only t*. */
#ifndef CAIRN_PROF_DUMP_H
#define CAIRN_PROF_DUMP_H

/* Writes a heap_v2 profile of the live samples to path, created new
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600): 0, or an errno value (EEXIST if
 * the file exists, ELOOP if it is a symbolic link). Allocates nothing. */
int prof_dump_to(const char *path);

/* Writes <prefix>.<pid>.<seq>.<kind>.heap, kind one of 'f' (final), 'i'
 * (interval), 'u' (new peak), 'm' (manual); seq counts this process's dumps
 * from 0 (a forked child counts its own from 0: its pid tells its files
 * apart). A name already taken (an old file, another process's with a reused
 * pid) is skipped for the next seq. prefix NULL: cairn_prof.prefix, else
 * "jeprof". Returns 0 or an errno value: EINVAL for another kind, EPERM in
 * a secure-mode process (AT_SECURE), where cairn writes no profile on its
 * own. Allocates nothing. */
int prof_dump_auto(const char *prefix, char kind);

#endif
