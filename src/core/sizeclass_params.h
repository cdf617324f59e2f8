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
 * SLAB_SMALL_BLOCK holds at least SLAB_MIN_BYTES, one of bigger blocks up
 * to SLAB_MID_BLOCK at least SLAB_MIN_BLOCKS of them, and one of blocks
 * above that SLAB_BIG_BLOCKS (half a chunk would be too much address space
 * for a small program's few 64 KiB blocks: python3 under `ulimit -v
 * 65536` ran out with 1 MiB slabs), rounded up so that blocks tile it
 * exactly.
 * Many blocks a slab keep a class's blocks in few slabs, whose slots are
 * reused; a slab goes back to the page heap only when all of its blocks
 * are free (and then only past one spare per class, slab.c). */
#define SLAB_SMALL_BLOCK 4096ul
#define SLAB_MIN_BYTES   65536ul
#define SLAB_MIN_BLOCKS  16ul
#define SLAB_MID_BLOCK   32768ul
#define SLAB_BIG_BLOCKS  8ul
/* The longest slab, in pages: 8 blocks of 64 KiB. */
#define SLAB_MAX_PAGES 128u

/* Requests up to this size find their class with one table load. */
#define LOOKUP_MAX 1024ul

#endif
