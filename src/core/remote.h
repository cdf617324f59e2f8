/* SPDX-License-Identifier: MIT */
/* Remote frees: blocks freed by a thread that does not own their slab.
 *
 * They are batched per destination heap in the freeing thread's outbox and
 * pushed as one chain with one compare-and-swap onto the owner's `remote`
 * stack; the owner takes the whole stack with one exchange on its slow
 * paths (remote_drain). A block in transit is marked free with its slab's
 * mark, which the owner checks against the chunk header before it writes
 * anything to the slab. */
#ifndef CAIRN_REMOTE_H
#define CAIRN_REMOTE_H

#include <stdbool.h>

#include "core/heap.h"

/* Pushes the list head..tail onto to's remote frees. self, the sender's
 * heap, holds its lock if it is a thread heap. When to is parked (its
 * thread exited) the sender must take the frees in for it (pool_reclaim)
 * once it holds no heap lock: a thread heap notes that in its
 * reclaim_later list; for any other sender the return value says so. */
bool remote_push(struct heap *self, struct heap *to, void *head, void *tail);
/* Takes in h's remote frees (h's owner, or h's only user). */
void remote_drain_slow(struct heap *h);
static inline void remote_drain(struct heap *h)
{
	if (atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL)
		remote_drain_slow(h);
}
/* Adds b, a block of another heap's slab s, to h's outbox (marks it free
 * while it travels). */
void remote_outbox_add(struct heap *h, struct heap *to, void *b, const struct span *s);
/* Sends every outbox of h. */
void remote_flush_outboxes(struct heap *h);

#endif
