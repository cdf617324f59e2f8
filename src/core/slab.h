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
 * its mark. For the slow paths that walk lists, which end in LIST_END: a
 * NULL link is one written over, reported rather than followed. */
static inline bool slab_block_ok(const void *b, const struct span *s)
{
	uintptr_t off = (uintptr_t)b - s->start;
	/* Where it lies first: a link written over may point anywhere, and
	 * is read only once it is known to be a block of s. */
	return b != NULL && off * s->div_magic < s->div_magic &&
	       off < (size_t)s->carved * sc_size[s->cls] && block_is_free(b, s);
}

static inline bool slab_has_free(const struct span *s)
{
	return s->local_free != LIST_END || s->carved < sc_slab_blocks[s->cls];
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
 * Moves a full slab back to the partial list; an empty slab that is not a
 * bin's current one goes as slab_emptied says. */
void slab_free_local(struct heap *h, struct span *s, void *p);
/* Slab s has no block in use: kept by a live heap for its class (see
 * slab.c), else back to its arena, unless it is a bin's current slab. */
void slab_emptied(struct heap *h, struct span *s);
/* Whether s, a slab on its heap's partial list, is one slab_emptied kept. */
static inline bool slab_kept(const struct span *s)
{
	/* fast_owner first: the owner's fast path may be changing `used` of
	 * a slab that has one, while the purging thread looks. */
	return s->fast_owner == 0 && s->used == 0;
}
/* Gives back the pages of h's kept empty slabs, which stay kept with no
 * block cut out; returns the bytes. For a heap whose thread sits idle
 * (under its lock). */
size_t slab_purge_kept(struct heap *h);
/* The same, and the free pages inside h's other slabs. */
size_t slab_purge_idle(struct heap *h);
/* Gives h's kept empty slabs back to their arenas: for a heap whose thread
 * exited or sits idle (under its lock). */
void slab_release_kept(struct heap *h);
/* At the heap's trim (heap_trim, h's lock held): of the kept empty slabs
 * of each class that no refill took since the last trim, half go back to
 * the arena (the slabs one class freed serve another once the program moved
 * on to it); the others are marked to go at a later trim unless taken. */
void slab_trim_kept(struct heap *h);
/* Moves the full-list slabs of class cls that got free blocks back to the
 * partial list, looking at `limit` of them at most, oldest first (the others
 * go to the back). The owner's fast path frees into a full slab without
 * moving it, so a slab may sit on the full list with free blocks. A refill
 * looks at SLAB_SCAN_FULL, so that a heap that rarely frees pays little for
 * the look; before answering out of memory, at all of them
 * (SLAB_SCAN_ALL). */
#define SLAB_SCAN_FULL 4u
#define SLAB_SCAN_ALL  UINT32_MAX
void slab_scan_full(struct heap *h, unsigned cls, unsigned limit);
/* Moves the free blocks of slab s to the caller's bin: its local_free list
 * and, while the slab has blocks not cut out yet and that list is shorter
 * than four carving batches, a batch of those. Short lists grow, so that a
 * thread cycling a few blocks refills its bin rarely (one refill per 16
 * malloc+free pairs of 4 KiB); long ones do not touch fresh pages, so that
 * blocks coming back from other threads are reused first (a producer whose
 * blocks a consumer frees used a third more memory when each refill also
 * carved). At most `room` blocks go (a thread heap's bin holds no more
 * than its event countdown covers: core/refill.c); those past it stay on
 * the slab's own list. */
/* Fresh blocks are cut out of a slab CARVE_BYTES at a time, and at least
 * CARVE_MIN blocks, so the pages of a slab are touched only as they are
 * used (carving writes the first 16 bytes of each block). Blocks bigger
 * than CARVE_BYTES are cut one at a time, while fewer than four are
 * listed: the program soon writes each block it gets whole, so the list
 * that grows to sixteen smaller blocks would make each thread's slab of a
 * class it uses sparsely resident in time (stress/load's soak, 64 threads
 * with a few 4-64 KiB blocks each and a quarter of the blocks freed by
 * other threads: 630-650 MiB peak with sixteen, 540-620 with four, and
 * 525-550 with one, which costs a thread cycling an 8 KiB block a refill
 * at each malloc, 236 instructions a pair against 111 with four and 79
 * with sixteen). */
#define CARVE_BYTES 4096u
#define CARVE_MIN   4u

/* Fresh blocks for slab_adopt: a batch cut out of the slab's pages,
 * unless enough free blocks are listed already. */
static inline void *slab_carve(struct span *s, unsigned listed, void *list, unsigned *carved_now,
                               bool singly)
{
	unsigned carved = s->carved;
	unsigned left = sc_slab_blocks[s->cls] - carved;
	size_t size = sc_size[s->cls];
	unsigned n = 1, enough = singly ? 1 : CARVE_MIN;
	if (size <= CARVE_BYTES && !singly) {
		n = CARVE_BYTES / (unsigned)size;
		if (n < CARVE_MIN)
			n = CARVE_MIN;
		enough = 4 * n;
	}
	if (listed >= enough) {
		*carved_now = 0;
		return list;
	}
	if (n > left)
		n = left;
	char *first = (char *)s->start + (size_t)carved * size;
	char *last = first + (size_t)(n - 1) * size;
	for (char *c = first; c < last; c += size)
		block_make_free(c, s, c + size);
	block_make_free(last, s, list);
	s->carved = (uint16_t)(carved + n);
	*carved_now = n;
	return first;
}

static inline void *slab_adopt(struct heap *h, struct span *s, unsigned room)
{
	unsigned cls = s->cls;
	void *list = s->local_free;
	s->local_free = LIST_END;
	unsigned kept = s->carved - *span_holes(s); /* carved blocks that are no holes */
	unsigned listed = kept - s->used;
	unsigned n = 0;
	if (s->carved < sc_slab_blocks[cls])
		list = slab_carve(s, listed, list, &n, h->cut_singly);
	unsigned given = listed + n;
	if (unlikely(given > room)) {
		/* The first `room` blocks go, the rest stay on the slab's
		 * list. The walk is as long as the room, and a bin is cut
		 * short once per rare event or sample at most. */
		void *last = list;
		for (unsigned i = 1; i < room; i++) {
			/* Each link checked before it is followed: a use after
			 * free may have written over it, and the cut writes
			 * into the block it leads to. */
			void *next = block_next(last);
			if (unlikely(!slab_block_ok(next, s)))
				cairn_freelist_corrupt(next);
			last = next;
		}
		s->local_free = block_next(last);
		block_set_next(last, LIST_END);
		given = room;
	}
	s->used = (uint16_t)(kept - listed + given);
	/* For the statistics: what the bin gets (see core/counters.h). */
	struct heap_counters *k = &h->counters[cls];
	/* The bin is empty: every block the last refill gave was served (see
	 * core/tally.h). */
	h->tally.allocated += (uint64_t)sc_size[cls] * (k->bin_given - h->tally.bin_seen[cls]);
	h->tally.bin_seen[cls] = 0;
	k->bin_given = given;
	k->nmalloc += given;
	k->nfills++;
	return list;
}
/* Gives slab s of h, with no block in use and on none of h's lists, back
 * to its arena. */
void slab_release(struct heap *h, struct span *s);
/* Gives back the free pages inside every slab of h; returns the bytes. Run
 * under h's lock or with no owner. */
size_t heap_purge_slabs(struct heap *h);

#endif
