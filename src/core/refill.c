/* SPDX-License-Identifier: MIT */
/* A heap's bin refilled from its slabs, and when a heap's trim is due (see
 * refill.h). */
#include "core/refill.h"

#include <limits.h>

#include "core/arena.h"
#include "core/remote.h"
#include "core/slab.h"

/* How many blocks bin cls may take from a refill, the one handed out at
 * once included. A thread heap's bin is charged to its event countdown as
 * it takes blocks, and takes no more than the countdown covers, so that
 * malloc's fast path counts nothing (two instructions of every malloc) and
 * still reaches the slow path, an empty bin, at the block where the rare
 * event or the next sample is due: each byte is counted once, when its
 * block enters the bin, and heap_flush gives back the count of the blocks
 * that leave it unused. The caller counted the block handed out. */
static unsigned bin_room(const struct heap *h, unsigned cls)
{
	int64_t left = h->event_bytes;
	size_t size = sc_size[cls];
	/* Most refills: the countdown covers a whole slab (no division). */
	if (likely(left >= (int64_t)(size * sc_slab_blocks[cls])) || h->kind != HEAP_THREAD)
		return UINT_MAX;
	return left <= 0 ? 1 : (unsigned)((uint64_t)left / size) + 1;
}

/* Fills bin cls, which is empty, and returns one block from it. */
static void *refill(struct heap *h, unsigned cls)
{
	remote_drain(h);
	struct span *s = h->cur[cls];
	if (s != NULL && slab_has_free(s))
		goto adopt;
	if (s != NULL) {
		s->flags = SPAN_FULL;
		slab_list_push(&h->full[cls], s);
		h->cur[cls] = NULL;
	}
	if (h->partial[cls].head == NULL)
		slab_scan_full(h, cls, SLAB_SCAN_FULL);
	s = h->partial[cls].head;
	if (s == NULL) {
		s = arena_new_slab(h->arena, h, cls);
		if (s != NULL) {
			h->counters[cls].nslabs++;
			goto take;
		}
		/* Out of memory: a full slab beyond the bounded look may have
		 * free blocks (the owner's own frees), which must be used
		 * before the request fails. */
		slab_scan_full(h, cls, SLAB_SCAN_ALL);
		s = h->partial[cls].head;
		if (s == NULL)
			return NULL;
	}
	slab_unlink(h, s);
	h->counters[cls].nreslabs++;
take:
	h->cur[cls] = s;
	s->fast_owner = h->owner_id;
adopt:
	h->bin[cls] = slab_adopt(h, s, bin_room(h, cls));
	if (h->kind == HEAP_THREAD)
		h->event_bytes -= (int64_t)sc_size[cls] * (h->counters[cls].bin_given - 1);
	return heap_bin_pop(h, cls);
}

void *heap_pop_or_refill(struct heap *h, unsigned cls)
{
	if (h->bin[cls] == LIST_END)
		return refill(h, cls);
	return heap_bin_pop(h, cls);
}

bool heap_trim_due(struct heap *h, uint64_t now)
{
	if (now < h->trim_at)
		return false;
	int64_t ms = arena_dirty_decay_ms(h->arena);
	if (ms < 0) {
		/* Decay off: nothing goes back, look again in a while. */
		h->trim_at = now + 1000;
		return false;
	}
	h->trim_at = now + (uint64_t)ms / TRIM_PERIODS;
	return true;
}
