/* SPDX-License-Identifier: MIT */
#include "core/slab.h"

#include "core/arena.h"
#include "os/os.h"

static void partial_push(struct heap *h, struct span *s)
{
	s->flags = SPAN_PARTIAL;
	slab_list_push(&h->partial[s->cls], s);
}

void slab_release(struct heap *h, struct span *s)
{
	arena_free_run(span_chunk(s)->arena, s);
}

/* A block freed by the owner of its slab (or under the shared heap's lock).
 * Moves a full slab back to the partial list and gives an empty slab that
 * is not a bin's current one back to the arena. */
void slab_free_local(struct heap *h, struct span *s, void *p)
{
	block_make_free(p, s, s->local_free);
	s->local_free = p;
	if (--s->used == 0) {
		slab_emptied(h, s);
	} else if (s->flags & SPAN_FULL) {
		slab_list_remove(&h->full[s->cls], s);
		partial_push(h, s);
	}
}

void slab_emptied(struct heap *h, struct span *s)
{
	if (h->cur[s->cls] != s) {
		slab_unlink(h, s);
		slab_release(h, s);
	}
}

/* Looks at up to FULL_SCAN slabs of the full list, oldest first; those with
 * free blocks move to the partial list, the others to the back. Bounded so
 * that a heap that rarely frees pays little for the look. */
#define FULL_SCAN 4

void slab_scan_full(struct heap *h, unsigned cls)
{
	struct spanlist *full = &h->full[cls];
	for (int i = 0; i < FULL_SCAN && full->tail != NULL; i++) {
		struct span *s = full->tail;
		slab_list_remove(full, s);
		if (s->local_free != NULL) {
			partial_push(h, s);
		} else {
			slab_list_push(full, s);
			if (full->tail == s)
				break;
		}
	}
}

/* Gives back the pages of slab s on which every block is free. The free
 * blocks that start on those pages become holes (their links would go
 * with the pages). Runs under the owner's lock or with no owner; the owner's
 * fast path may still push frees in front of the list meanwhile, so the
 * list's first block (and its page) stays, and the links changed are those
 * of blocks behind it, which nothing else writes. Returns the bytes
 * purged. */
static size_t slab_purge_pages(struct heap *h, struct span *s)
{
	void *head = __atomic_load_n((void **)&s->local_free, __ATOMIC_ACQUIRE);
	if (head == NULL)
		return 0;
	size_t size = sc_size[s->cls];
	unsigned carved = s->carved;
	uint64_t free_bits[4096 / 64] = {0};
	unsigned listed = 0;
	for (void *b = head; b != NULL; b = block_next(b)) {
		/* A list written over could lead anywhere, or round in a
		 * circle: each block must be a free one of this slab, and
		 * there are no more of them than carved. */
		if (unlikely(!slab_block_ok(b, s) || ++listed > carved))
			cairn_freelist_corrupt(b);
		unsigned i = (unsigned)(((uintptr_t)b - s->start) / size);
		free_bits[i / 64] |= 1ull << (i % 64);
	}
	/* A page can go if every carved block overlapping it is free. */
	unsigned npages = (unsigned)((carved * size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	uint64_t gone = 0;
	for (unsigned p = 0; p < npages; p++) {
		unsigned first = (unsigned)(((size_t)p << PAGE_SHIFT) / size);
		unsigned last = (unsigned)((((size_t)p + 1) << PAGE_SHIFT) - 1) / (unsigned)size;
		if (last >= carved)
			last = carved - 1;
		bool all = true;
		for (unsigned i = first; i <= last && all; i++)
			all = (free_bits[i / 64] >> (i % 64)) & 1;
		if (all)
			gone |= 1ull << p;
	}
	gone &= ~(1ull << (((uintptr_t)head - s->start) >> PAGE_SHIFT));
	if (gone == 0)
		return 0;
	unsigned holes = 0;
	for (void *prev = head, *b = block_next(head); b != NULL; b = block_next(prev)) {
		if ((gone >> (((uintptr_t)b - s->start) >> PAGE_SHIFT)) & 1) {
			block_set_next(prev, block_next(b));
			holes++;
		} else {
			prev = b;
		}
	}
	*span_holes(s) = (uint16_t)(*span_holes(s) + holes);
	size_t purged = 0;
	for (unsigned p = 0; p < npages;) {
		if (!((gone >> p) & 1)) {
			p++;
			continue;
		}
		unsigned q = p;
		while (q < npages && ((gone >> q) & 1))
			q++;
		os_purge((void *)(s->start + ((uintptr_t)p << PAGE_SHIFT)), (size_t)(q - p)
		                                                                << PAGE_SHIFT);
		counter_add(slab_nmadvise, 1);
		counter_add(slab_purged, q - p);
		purged += (size_t)(q - p) << PAGE_SHIFT;
		p = q;
	}
	return purged;
}

size_t heap_purge_slabs(struct heap *h)
{
	size_t purged = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		if (h->cur[c] != NULL)
			purged += slab_purge_pages(h, h->cur[c]);
		for (struct span *s = h->partial[c].head; s != NULL; s = s->next)
			purged += slab_purge_pages(h, s);
		for (struct span *s = h->full[c].head; s != NULL; s = s->next)
			purged += slab_purge_pages(h, s);
	}
	return purged;
}
