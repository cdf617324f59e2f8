/* SPDX-License-Identifier: MIT */
/* A heap's bin refilled from its slabs, and when a heap's trim is due (see
 * refill.h). */
#include "core/refill.h"

#include "core/arena.h"
#include "core/remote.h"
#include "core/slab.h"

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
	s->fast_owner = h->kind == HEAP_THREAD ? h : NULL;
adopt:
	h->bin[cls] = slab_adopt(h, s);
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
