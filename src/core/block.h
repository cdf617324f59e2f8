/* SPDX-License-Identifier: MIT */
/* The layout of a free small block: the only code that knows it.
 *
 * A free block holds two words:
 *   word 0, the mark: the address of its slab's descriptor;
 *   word 1, the link: the next free block, or LIST_END (below).
 * A block freed by a thread that does not own its slab travels to the
 * owner on a list of the same shape, and the owner finds the slab by the
 * mark (after checking it against the page map); while it travels, a block
 * of 24 bytes or more also holds a hint in word 2 (block_ahead below).
 * The mark tells free that a block is already free (one compare), and
 * tells malloc that a block it is about to hand out is one of its slab's
 * free blocks: heap_pop compares it with the slab the bin draws from
 * (three instructions) and clears it. So a write into freed memory or an
 * overflow into a free neighbour is caught before a block is handed out
 * that is not free in that slab, or is handed out twice:
 *   - the mark comes first: an overflow from the block below, or a write to
 *     a freed object's first field, changes it, and the block is refused;
 *   - a link pointed anywhere else leads to a block whose mark is not the
 *     slab's (a program never sees descriptor addresses; live blocks have
 *     their mark cleared), and that block is refused;
 *   - a block handed out has mark 0, so a second way to it is refused;
 *   - the slow paths that walk free lists (taking in other threads' frees,
 *     flushing bins, purging slab pages) check each block's mark and
 *     place, and walk no further than the slab has blocks.
 * A link overwritten alone with a value that is no mapped address (NULL
 * among them: no list ends in NULL) is the one case that ends in SIGSEGV
 * instead (at the next malloc of the class), with nothing handed out. */
#ifndef CAIRN_BLOCK_H
#define CAIRN_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

struct span;

/* The end of every list of free blocks a bin may take (a slab's own list,
 * and so a bin): a constant block of no slab, whose mark is its own
 * address, which no slab descriptor has. heap_pop's integrity check refuses
 * it as it refuses a block written over, so an empty bin costs malloc no
 * test of its own (two instructions of every malloc, against a NULL end);
 * the slow path tells the two apart. Chains of blocks travelling to their
 * owner (core/remote.c) end in NULL: no bin takes them. */
struct block_end {
	const void *mark;
	void *next;
};
extern const struct block_end cairn_list_end HIDDEN;
#define LIST_END ((void *)&cairn_list_end)

static ALWAYS_INLINE void *block_next(const void *b)
{
	return ((void *const *)b)[1];
}

static ALWAYS_INLINE void block_set_next(void *b, void *next)
{
	((void **)b)[1] = next;
}

static ALWAYS_INLINE const void *block_mark(const void *b)
{
	return ((const void *const *)b)[0];
}

/* b is free on slab s's lists (or in its owner's bin), before next. */
static ALWAYS_INLINE void block_make_free(void *b, const struct span *s, void *next)
{
	((const void **)b)[0] = s;
	((void **)b)[1] = next;
}

/* b is handed out: a later free finds no mark. */
static ALWAYS_INLINE void block_clear_mark(void *b)
{
	((void **)b)[0] = NULL;
}

/* Whether b, a block of slab s, is free. */
static ALWAYS_INLINE bool block_is_free(const void *b, const struct span *s)
{
	return block_mark(b) == (const void *)s;
}

/* A block of BLOCK_AHEAD_MIN bytes or more that travels to its owner
 * (core/remote.c) holds in its third word the block OUTBOX_AHEAD places
 * further along its chain, or NULL: the owner taking the chain in starts
 * loading that block while it works on this one. A hint that only a
 * prefetch reads: a wrong value costs a useless load, never a write. */
#define BLOCK_AHEAD_MIN 24
static ALWAYS_INLINE void *block_ahead(const void *b)
{
	return ((void *const *)b)[2];
}
static ALWAYS_INLINE void block_set_ahead(void *b, void *ahead)
{
	((void **)b)[2] = ahead;
}

/* cairn_freelist_corrupt (util.h) reports a free-list block whose mark or
 * place is wrong. */

#endif
