/* SPDX-License-Identifier: MIT */
#include "core/remote.h"

#include <string.h>

#include "core/slab.h"

bool remote_push(struct heap *self, struct heap *to, void *head, void *tail)
{
	void *old = atomic_load_explicit(&to->remote, memory_order_relaxed);
	do {
		block_set_next(tail, old);
	} while (!atomic_compare_exchange_weak(&to->remote, &old, head));
	/* A parked heap has no thread to take its frees in: the sender does,
	 * once it holds no heap lock. The push and this load are ordered
	 * against heap_abandon's store of the state and its last drain, so no
	 * block is left behind. */
	if (unlikely(atomic_load(&to->state) == HEAP_ABANDONED)) {
		if (self->kind != HEAP_THREAD)
			return true;
		for (unsigned i = 0; i < self->n_reclaim_later; i++)
			if (self->reclaim_later[i] == to)
				return false;
		/* A slow path sends at most one list per outbox; past that
		 * the frees wait for the parked heap's next reclaim or
		 * owner. */
		if (self->n_reclaim_later < OUTBOX_SLOTS)
			self->reclaim_later[self->n_reclaim_later++] = to;
	}
	return false;
}

void remote_drain_slow(struct heap *h)
{
	void *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
	uint64_t bytes = 0; /* not this thread's frees (core/tally.h) */
	while (b != NULL) {
		/* A block in transit names its slab by its free mark, which
		 * its chunk's header must confirm before anything is written
		 * there (a slab lies in the chunk its blocks lie in). */
		void *next = block_next(b);
		__builtin_prefetch(next, 1);
		struct span *s = (struct span *)block_mark(b);
		if (unlikely(s != chunk_span_of(span_chunk_of(b), (uintptr_t)b)))
			cairn_freelist_corrupt(b);
		if (s->cls != 0) /* as outbox_link */
			__builtin_prefetch(block_ahead(b), 1);
		bytes += sc_size[s->cls];
		slab_free_local(h, s, b);
		b = next;
	}
	h->tally.remote_in += bytes;
}

static void outbox_send(struct heap *self, struct outbox *o)
{
	if (o->count) {
		remote_push(self, o->to, o->head, o->tail); /* self is a thread heap */
		o->head = o->tail = NULL;
		o->count = 0;
		memset(o->recent, 0, sizeof o->recent);
		self->out_used &= (uint8_t) ~(1u << (o - self->out));
	}
}

void remote_outbox_add(struct heap *h, struct heap *to, void *b, const struct span *s)
{
	unsigned i = ((uintptr_t)to >> 6) % OUTBOX_SLOTS;
	struct outbox *o = &h->out[i];
	if (o->to != to) {
		outbox_send(h, o);
		o->to = to;
	}
	outbox_link(o, b, s, o->count);
	o->head = b;
	if (o->tail == NULL) {
		o->tail = b;
		h->out_used |= (uint8_t)(1u << i);
	}
	if (++o->count >= OUTBOX_BATCH)
		outbox_send(h, o);
}

/* The outboxes that hold blocks only: a thread that sends nothing to
 * others (a thread of large blocks reaches its rare event every few
 * allocations) pays one test. */
void remote_flush_outboxes(struct heap *h)
{
	for (unsigned used = h->out_used; used != 0; used &= used - 1)
		outbox_send(h, &h->out[__builtin_ctz(used)]);
}
