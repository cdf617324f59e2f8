/* SPDX-License-Identifier: MIT */
/* Size to class: the one lookup, used wherever a size becomes a class.
 *
 * Three tables: one entry per byte up to LOOKUP_MAX (the fast path's: a
 * load indexed by n itself, two instructions fewer than rounding n to a
 * 16-byte step first, for 1 KiB of table), 128-byte steps up to SMALL_MAX,
 * 8 KiB steps up to LARGE_MAX. Inlined where n's range is known (malloc's
 * fast path: n <= LOOKUP_MAX), the compiler keeps only that table's load. */
#ifndef CAIRN_SIZECLASS_H
#define CAIRN_SIZECLASS_H

#include <stddef.h>

#include "core/sizeclass_params.h"
#include "core/util.h"
#include "sizeclass_table.h"

/* The class of a block of n bytes, 0 < n <= LARGE_MAX (0 is class 0). */
static ALWAYS_INLINE unsigned size_class(size_t n)
{
	if (n <= LOOKUP_MAX)
		return sc_lookup1[n];
	if (n <= SMALL_MAX)
		return sc_lookup128[(n + 127) >> 7];
	return sc_lookup8k[(n + 8191) >> 13];
}

/* The usable size of a block of n bytes, n <= LARGE_MAX. */
static ALWAYS_INLINE size_t size_class_bytes(size_t n)
{
	return sc_size[size_class(n)];
}

#endif
