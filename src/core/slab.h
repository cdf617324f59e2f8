/* SPDX-License-Identifier: MIT */
/* Slabs: a heap's lists of them, a block's way back to its slab, handing a
 * slab's free blocks to a bin, and giving back the pages inside slabs on
 * which every block is free. The heap that owns a slab (or, for a shared
 * heap's, its lock) is the only one to change it. */
#ifndef CAIRN_SLAB_H
#define CAIRN_SLAB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/heap.h"

/* A heap keeps, per class, two lists of slabs besides the current one:
 * `partial` (known to have free blocks) and `full` (had none when the bin
 * last used them up). Slabs on the full list keep their fast_owner, so the
 * owner's frees into them stay on the fast path; refill finds the ones that
 * got free blocks back with a bounded, rotating look at the full list. */
static inline void slab_list_push(struct spanlist *l, struct span *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	else
		l->tail = s;
	l->head = s;
}

static inline void slab_list_remove(struct spanlist *l, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
}

static inline void slab_unlink(struct heap *h, struct span *s)
{
	if (s->flags & SPAN_PARTIAL)
		slab_list_remove(&h->partial[s->cls], s);
	else if (s->flags & SPAN_FULL)
		slab_list_remove(&h->full[s->cls], s);
	s->flags = 0;
}

/* Whether b is a block of slab s by its address and place, and free by
 * its mark. For the slow paths that walk lists. */
static inline bool slab_block_ok(const void *b, const struct span *s)
{
	uintptr_t off = (uintptr_t)b - s->start;
	return block_is_free(b, s) && off * s->div_magic < s->div_magic &&
	       off < (size_t)s->carved * sc_size[s->cls];
}

static inline bool slab_has_free(const struct span *s)
{
	return s->local_free != NULL || s->carved < sc_slab_blocks[s->cls];
}

/* heap_pop's checked pop, for the slow paths; the bin is not empty. */
static inline void *heap_bin_pop(struct heap *h, unsigned cls)
{
	void *b = h->bin[cls];
	if (unlikely(block_mark(b) != h->cur[cls]))
		cairn_freelist_corrupt(b);
	h->bin[cls] = block_next(b);
	block_clear_mark(b);
	return b;
}

/* A block freed by the owner of its slab (or under the shared heap's lock).
 * Moves a full slab back to the partial list and gives an empty slab that
 * is not a bin's current one back to the arena. */
void slab_free_local(struct heap *h, struct span *s, void *p);
/* Slab s has no block in use: back to its arena unless it is a bin's
 * current slab. */
void slab_emptied(struct heap *h, struct span *s);
/* Moves the full-list slabs of class cls that got free blocks back to the
 * partial list (a bounded look). */
void slab_scan_full(struct heap *h, unsigned cls);
/* The free blocks of slab s, as a list for h's empty bin (see slab.c). */
void *slab_adopt(struct heap *h, struct span *s);
/* Gives slab s of h, with no block in use and on none of h's lists, back
 * to its arena. */
void slab_release(struct heap *h, struct span *s);
/* Gives back the free pages inside every slab of h; returns the bytes. Run
 * under h's lock or with no owner. */
size_t heap_purge_slabs(struct heap *h);

#endif
