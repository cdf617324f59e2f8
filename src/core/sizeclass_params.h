/* SPDX-License-Identifier: MIT */
/* The fixed geometry of cairn, shared by the allocator and by the build-time
 * generator of the size-class table (tools/gen_sizeclass.c).
 *
 * A "page" here is cairn's unit of span bookkeeping, 4 KiB. It is not the
 * OS page size, which is read at run time (os_page_size()) and used for
 * everything the kernel sees: valloc/pvalloc rounding, huge mappings and
 * purging, which rounds inward to whole OS pages. */
#ifndef CAIRN_SIZECLASS_PARAMS_H
#define CAIRN_SIZECLASS_PARAMS_H

/* musl's <limits.h> names the OS page PAGE_SIZE (with _GNU_SOURCE, on
 * architectures whose page size is fixed). Included here first, so that its
 * guard keeps it from coming back, and its name given up for cairn's unit. */
#include <limits.h>
#undef PAGE_SIZE

#define PAGE_SHIFT  12
#define PAGE_SIZE   (1ul << PAGE_SHIFT)
#define CHUNK_SHIFT 21 /* 2 MiB: the x86-64 huge page */
#define CHUNK_SIZE  (1ul << CHUNK_SHIFT)
#define CHUNK_PAGES (CHUNK_SIZE >> PAGE_SHIFT)

/* Size ranges: small blocks live in slabs, large ones are page runs inside
 * chunks, huge ones get a mapping of their own. Blocks up to 64 KiB are
 * slab blocks so that a block of a class always starts at one of its
 * slab's fixed slots: a program that frees and allocates them phase after
 * phase gets the slots it wrote before back, whose first pages are
 * resident, where page runs cut from merged free runs would start at new
 * offsets and fault in new pages beside the old ones. */
#define SMALL_MAX 65536ul
#define LARGE_MAX (1ul << 20)

/* Slab geometry (tools/gen_sizeclass.c applies it): a slab of blocks up to
 * SLAB_SMALL_BLOCK holds at least SLAB_MIN_BYTES, one of bigger blocks
 * SLAB_MIN_BLOCKS of them, rounded up so that blocks tile it exactly.
 * What keeps a class's blocks at fixed slots phase after phase is that they
 * are slab blocks and that a live heap keeps its emptied slabs (slab.c),
 * not many blocks a slab: with 4 blocks above 4 KiB `phases-mid` peaked
 * at 366-375 MiB against 362-371 with 16 (8 above 32 KiB), the medium
 * workloads within 1%, while a thread that leaves a few blocks behind pins
 * a quarter as much: thread churn 13.7 MiB against 21.2, and the soak of
 * 64 threads the same. Fewer blocks a slab also take less address space
 * (python3 under `ulimit -v 65536` ran out with 1 MiB slabs). */
#define SLAB_SMALL_BLOCK 4096ul
#define SLAB_MIN_BYTES   65536ul
#define SLAB_MIN_BLOCKS  4ul
/* The longest slab, in pages: 4 blocks of 64 KiB. */
#define SLAB_MAX_PAGES 64u

/* Requests up to this size find their class with one table load. */
#define LOOKUP_MAX 1024ul

#endif
