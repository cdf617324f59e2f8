/* SPDX-License-Identifier: MIT */
/* jemalloc's non-standard allocation API and control interface, with the
 * names, flag bits and meaning of jemalloc 5's <jemalloc/jemalloc.h>, so
 * that code written for jemalloc compiles against this header and runs on
 * cairn (`#include <cairn/jemalloc.h>` in its place).
 *
 * What cairn does with the flags:
 *   MALLOCX_LG_ALIGN(la), MALLOCX_ALIGN(a)  the block starts on a multiple
 *       of 2^la (a, a power of two); 0 (and MALLOCX_ALIGN(1)): no constraint
 *       beyond the 16 bytes every block has.
 *   MALLOCX_ZERO  mallocx: the whole usable size is zero; rallocx, xallocx:
 *       the bytes past the old usable size are.
 *   MALLOCX_ARENA(a)  from arena a alone (arenas.create makes them), with
 *       no thread cache.
 *   MALLOCX_TCACHE(tc)  small blocks from, and freed into, explicit cache
 *       tc (tcache.create); one thread at a time uses it.
 *   MALLOCX_TCACHE_NONE  past the calling thread's cache, to its arena.
 *   An arena or cache that is not live stops the program with one line.
 *
 * Where jemalloc leaves a case undefined, cairn does this (README, "Using
 * cairn"): size 0 is served as malloc(0) is, a distinct block of the least
 * usable size (and rallocx(p, 0, ...) resizes p to it; it does not free p);
 * rallocx(NULL, ...) is mallocx. A request that can never be met (a size
 * or alignment near PTRDIFF_MAX) fails: mallocx and rallocx return NULL with
 * errno ENOMEM, nallocx returns 0. xallocx resizes in place only: a large
 * run into the free pages after it (or shrunk), a huge block within the
 * mapping it sits in; else it returns the usable size unchanged. sdallocx
 * with a size the block cannot have been asked for stops the program with
 * one line on stderr, as free does with a pointer it did not hand out.
 *
 * mallctl answers part of jemalloc's tree (README, "mallctl");
 * malloc_stats_print is not here yet, and JEMALLOC_VERSION is not defined:
 * code that tests for it is not told that this is jemalloc. */
#ifndef CAIRN_JEMALLOC_H
#define CAIRN_JEMALLOC_H

#include <stddef.h>

#include <cairn.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The prefixed library (-lcairn-prefixed) names these, as jemalloc's
 * prefixed builds do, with cairn_ in front: cairn_mallocx, cairn_mallctl,
 * cairn_malloc_message ... Compiled with CAIRN_PREFIXED defined, a program
 * written for jemalloc's names calls those. */
#ifdef CAIRN_PREFIXED
#define mallocx            cairn_mallocx
#define rallocx            cairn_rallocx
#define xallocx            cairn_xallocx
#define sallocx            cairn_sallocx
#define dallocx            cairn_dallocx
#define sdallocx           cairn_sdallocx
#define nallocx            cairn_nallocx
#define mallctl            cairn_mallctl
#define mallctlnametomib   cairn_mallctlnametomib
#define mallctlbymib       cairn_mallctlbymib
#define malloc_stats_print cairn_malloc_stats_print
#define malloc_message     cairn_malloc_message
#endif

/* The alignment's bit number in the low 6 bits: 2^la, or a (a power of
 * two). */
#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ALIGN(a)     ((int)__builtin_ctzll((unsigned long long)(a)))
#define MALLOCX_ZERO         ((int)0x40)
#define MALLOCX_TCACHE(tc)   ((int)(((tc) + 2) << 8))
#define MALLOCX_TCACHE_NONE  MALLOCX_TCACHE(-1)
#define MALLOCX_ARENA(a)     ((int)(((unsigned)(a) + 1) << 20))

void *mallocx(size_t size, int flags);
void *rallocx(void *ptr, size_t size, int flags);
size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
size_t sallocx(const void *ptr, int flags);
void dallocx(void *ptr, int flags);
void sdallocx(void *ptr, size_t size, int flags);
size_t nallocx(size_t size, int flags);

/* The control interface (README, "mallctl"): the names cairn answers so
 * far, with jemalloc's types and errors. arena.<i> with i =
 * MALLCTL_ARENAS_ALL means every arena. */
#define MALLCTL_ARENAS_ALL 4096
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                 size_t newlen);

/* The statistics report (README, "Reading statistics") through write_cb,
 * or malloc_message when write_cb is NULL, or stderr when both are. opts:
 * jemalloc's letters (J for JSON; g m b l omit sections). */
void malloc_stats_print(void (*write_cb)(void *cbopaque, const char *s), void *cbopaque,
                        const char *opts);
/* Where cairn writes the report when malloc_stats_print gets no callback,
 * and the stats_print and stats_interval reports; NULL: stderr. */
extern void (*malloc_message)(void *cbopaque, const char *s);

#ifdef __cplusplus
}
#endif

#endif
