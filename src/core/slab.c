/* SPDX-License-Identifier: MIT */
#include "core/slab.h"

#include "core/arena.h"
#include "core/decay_request.h"
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
 * Moves a full slab back to the partial list; an empty one goes as
 * slab_emptied says. */
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

/* A live thread heap keeps the slabs of a class that empty, at the tail of the
 * class's partial list, where refill takes them only once the partly used
 * slabs are taken: a program that frees most of its blocks and allocates
 * as many again (phase after phase) gets back the slots it wrote before,
 * whose first pages are resident, instead of new slabs cut wherever the
 * page heap has room (often from another class's old slab, its blocks at
 * other offsets: new pages touched beside the old ones). Other slabs go to
 * the head, so the kept ones are the tail of the list, the oldest first,
 * which refill takes first. Those that no refill took for a whole trim
 * period go back to the arena, half of them each period (slab_trim_kept),
 * so a burst's slabs do not stay with a thread that went on at a lower
 * pace; all of them when the heap is purged (heap_purge_slabs) and when
 * its thread exits.
 *
 * A kept slab has no fast_owner (no block of it is out, so no free can
 * come; refill sets it again): that tells it from a slab whose last block
 * the owner's fast path just freed and whose slab_emptied waits for the
 * heap's lock, which the purging thread may hold meanwhile. */
void slab_emptied(struct heap *h, struct span *s)
{
	if (h->cur[s->cls] == s)
		return;
	slab_unlink(h, s);
	/* A heap keeps a slab only where a trim and the purging threads give
	 * kept ones back: a live thread's heap, and the shared heaps that
	 * shared_heaps_decay sees (not a created arena's). */
	bool keep = h->kind == HEAP_THREAD
	                ? atomic_load_explicit(&h->state, memory_order_relaxed) == HEAP_LIVE
	                : h->keep_empty;
	if (!keep) {
		slab_release(h, s);
		return;
	}
	struct spanlist *l = &h->partial[s->cls];
	s->fast_owner = 0;
	/* The purging threads give kept slabs back once the thread sits
	 * idle (heaps_decay), or on a shared heap's trim schedule. */
	decay_request_start();
	h->kept_empty |= 1ull << s->cls;
	s->flags = SPAN_PARTIAL;
	s->next = NULL;
	s->prev = l->tail;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

/* Gives back the empty slabs of class c but `keep` of them. */
static void release_empty(struct heap *h, unsigned c, unsigned keep)
{
	struct spanlist *l = &h->partial[c];
	unsigned n = 0;
	struct span *s = l->tail;
	for (; s != NULL && slab_kept(s) && n < keep; s = s->prev)
		n++;
	while (s != NULL && slab_kept(s)) {
		struct span *prev = s->prev;
		slab_unlink(h, s);
		slab_release(h, s);
		s = prev;
	}
}

size_t slab_purge_kept(struct heap *h)
{
	size_t purged = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		for (struct span *s = h->partial[c].tail; s != NULL && slab_kept(s); s = s->prev) {
			if (s->carved == 0)
				continue;
			/* No block of it is out and none listed anywhere but
			 * on its own list, which goes: the slab is as new,
			 * its pages unwritten, and carving starts again. */
			size_t bytes =
			    ((size_t)s->carved * sc_size[c] + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
			os_purge((void *)s->start, bytes);
			counter_add(slab_nmadvise, 1);
			counter_add(slab_purged, bytes >> PAGE_SHIFT);
			purged += bytes;
			s->carved = 0;
			s->local_free = LIST_END;
			*span_holes(s) = 0;
		}
	}
	return purged;
}

void slab_release_kept(struct heap *h)
{
	for (unsigned c = 0; c < SC_NSMALL; c++)
		release_empty(h, c, 0);
	h->kept_empty = 0;
}

_Static_assert(SC_NSMALL <= 64, "a bit of kept_empty for each small class");

void slab_trim_kept(struct heap *h)
{
	for (uint64_t m = h->kept_empty; m != 0; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctzll(m);
		struct spanlist *l = &h->partial[c];
		struct span *oldest = NULL;
		unsigned old = 0;
		for (struct span *s = l->tail; s != NULL && slab_kept(s); s = s->prev) {
			old += (s->flags & SPAN_KEPT_OLD) != 0;
			oldest = s;
		}
		/* Refill takes the oldest first, so those that sat through
		 * the period are the oldest: half of them go, the others wait
		 * one more period. */
		unsigned drop = (old + 1) / 2;
		for (struct span *s = oldest; s != NULL;) {
			struct span *next = s->next;
			if (drop > 0 && (s->flags & SPAN_KEPT_OLD)) {
				slab_unlink(h, s);
				slab_release(h, s);
				drop--;
			} else {
				s->flags |= SPAN_KEPT_OLD;
			}
			s = next;
		}
		if (l->tail == NULL || !slab_kept(l->tail))
			h->kept_empty &= ~(1ull << c);
	}
}

void slab_scan_full(struct heap *h, unsigned cls, unsigned limit)
{
	struct spanlist *full = &h->full[cls];
	/* The first slab put back: reaching it again means every slab was
	 * looked at. */
	struct span *first_back = NULL;
	for (unsigned i = 0; i < limit && full->tail != NULL && full->tail != first_back; i++) {
		struct span *s = full->tail;
		slab_list_remove(full, s);
		if (s->local_free != LIST_END) {
			partial_push(h, s);
		} else {
			slab_list_push(full, s);
			if (first_back == NULL)
				first_back = s;
		}
	}
}

static inline bool page_gone(const uint64_t *gone, unsigned p)
{
	return (gone[p / 64] >> (p % 64)) & 1;
}

/* Gives back the pages of slab s on which every block is free. The free
 * blocks that start on those pages become holes (their links would go
 * with the pages). Runs under the owner's lock or with no owner; the owner's
 * fast path may still push frees in front of the list meanwhile, so the
 * list's first block (and its pages) stays, and the links changed are those
 * of blocks behind it, which nothing else writes. Returns the bytes
 * purged. */
static size_t slab_purge_pages(struct heap *h, struct span *s)
{
	void *head = __atomic_load_n((void **)&s->local_free, __ATOMIC_ACQUIRE);
	if (head == LIST_END)
		return 0;
	size_t size = sc_size[s->cls];
	unsigned carved = s->carved;
	uint64_t free_bits[4096 / 64] = {0};
	unsigned listed = 0;
	for (void *b = head; b != LIST_END; b = block_next(b)) {
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
	uint64_t gone[SLAB_MAX_PAGES / 64] = {0};
	bool any = false;
	/* The list's first block stays, and with it every page it spans: the
	 * pages after its first would be purged again at every purge. */
	size_t head_off = (uintptr_t)head - s->start;
	unsigned head_first = (unsigned)(head_off >> PAGE_SHIFT);
	unsigned head_last = (unsigned)((head_off + size - 1) >> PAGE_SHIFT);
	for (unsigned p = 0; p < npages; p++) {
		unsigned first = (unsigned)(((size_t)p << PAGE_SHIFT) / size);
		unsigned last = (unsigned)((((size_t)p + 1) << PAGE_SHIFT) - 1) / (unsigned)size;
		if (last >= carved)
			last = carved - 1;
		bool all = p < head_first || p > head_last;
		for (unsigned i = first; i <= last && all; i++)
			all = (free_bits[i / 64] >> (i % 64)) & 1;
		if (all) {
			gone[p / 64] |= 1ull << (p % 64);
			any = true;
		}
	}
	if (!any)
		return 0;
	unsigned holes = 0;
	for (void *prev = head, *b = block_next(head); b != LIST_END; b = block_next(prev)) {
		if (page_gone(gone, (unsigned)(((uintptr_t)b - s->start) >> PAGE_SHIFT))) {
			block_set_next(prev, block_next(b));
			holes++;
		} else {
			prev = b;
		}
	}
	*span_holes(s) = (uint16_t)(*span_holes(s) + holes);
	size_t purged = 0;
	for (unsigned p = 0; p < npages;) {
		if (!page_gone(gone, p)) {
			p++;
			continue;
		}
		unsigned q = p;
		while (q < npages && page_gone(gone, q))
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

size_t slab_purge_idle(struct heap *h)
{
	size_t purged = slab_purge_kept(h);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		if (h->cur[c] != NULL)
			purged += slab_purge_pages(h, h->cur[c]);
		for (struct span *s = h->partial[c].head; s != NULL && !slab_kept(s); s = s->next)
			purged += slab_purge_pages(h, s);
		for (struct span *s = h->full[c].head; s != NULL; s = s->next)
			purged += slab_purge_pages(h, s);
	}
	return purged;
}

size_t heap_purge_slabs(struct heap *h)
{
	size_t purged = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		/* Whole: the arena purges them on its own curve. */
		release_empty(h, c, 0);
		if (h->cur[c] != NULL)
			purged += slab_purge_pages(h, h->cur[c]);
		for (struct span *s = h->partial[c].head; s != NULL; s = s->next)
			purged += slab_purge_pages(h, s);
		for (struct span *s = h->full[c].head; s != NULL; s = s->next)
			purged += slab_purge_pages(h, s);
	}
	return purged;
}
