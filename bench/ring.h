/* SPDX-License-Identifier: MIT */
/* A bounded single-producer single-consumer ring of pointers, lock-free:
 * how the workloads hand a block from the thread that allocated it to the
 * thread that frees it (churn -t 2, server, prodcons).
 *
 * head and tail only grow; each is written by one side only and sits in a
 * cache line of its own, so that the two threads share no line they both
 * write. The release store of tail publishes the slot written before it;
 * the release store of head hands slots back. */
#ifndef CAIRN_BENCH_RING_H
#define CAIRN_BENCH_RING_H

#include <stdatomic.h>

struct ring {
	_Alignas(64) _Atomic unsigned long head; /* consumer */
	_Alignas(64) _Atomic unsigned long tail; /* producer */
	_Alignas(64) unsigned long cap;          /* a power of two; read-only */
	void **slot;                             /* cap entries */
};

static inline void ring_init(struct ring *q, void **slot, unsigned long cap)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	q->cap = cap;
	q->slot = slot;
}

/* Producer: 0 when the ring is full. */
static inline int ring_push(struct ring *q, void *p)
{
	unsigned long t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	unsigned long h = atomic_load_explicit(&q->head, memory_order_acquire);
	if (t - h == q->cap)
		return 0;
	q->slot[t & (q->cap - 1)] = p;
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return 1;
}

/* Consumer: takes every entry there is, oldest first, and hands each to
 * fn(ctx, p); returns how many. Slots go back to the producer 16 at a time
 * as it goes, as a real queue would, not all at the end. */
static inline long ring_drain(struct ring *q, void (*fn)(void *ctx, void *p), void *ctx)
{
	unsigned long h = atomic_load_explicit(&q->head, memory_order_relaxed);
	unsigned long t = atomic_load_explicit(&q->tail, memory_order_acquire);
	unsigned long h0 = h;
	if (h == t)
		return 0; /* no store: the producer's copy of the line stays valid */
	for (; h != t; h++) {
		fn(ctx, q->slot[h & (q->cap - 1)]);
		if ((h & 15) == 15)
			atomic_store_explicit(&q->head, h + 1, memory_order_release);
	}
	atomic_store_explicit(&q->head, h, memory_order_release);
	return (long)(t - h0);
}

#endif
