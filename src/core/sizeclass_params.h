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
 * chunks, huge ones get a mapping of their own. */
#define SMALL_MAX 32768ul
#define LARGE_MAX (1ul << 20)

/* Requests up to this size find their class with one table load. */
#define LOOKUP_MAX 1024ul

#endif
