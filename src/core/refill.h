/* SPDX-License-Identifier: MIT */
/* A heap's bin refilled from its slabs, and when a heap's trim is due: for
 * the slow paths of both thread heaps (heap.c) and shared heaps (shared.c),
 * so that neither calls the other for them. */
#ifndef CAIRN_REFILL_H
#define CAIRN_REFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/heap.h"

/* A block of class cls from h's bin, which is refilled first when empty
 * (from h's slabs, or a new slab from its arena); NULL if no slab could be
 * had. The caller holds the lock that guards h's lists: a thread heap's
 * own, or its shared heap's. */
void *heap_pop_or_refill(struct heap *h, unsigned cls);

/* What a busy thread's heap keeps unused, its kept empty slabs and cached
 * large runs, goes back on the decay schedule (the purging threads give
 * back all of it once the thread sits idle): a trim every 1/TRIM_PERIODS of
 * dirty_decay_ms gives back half of what sat unused through the whole
 * period before, so a surplus left by a burst is gone about dirty_decay_ms
 * after the thread stopped using it, while a program that goes through its
 * slabs phase after phase, faster than a period, keeps them. Looked at on
 * every TRIM_EVENTS-th rare event (EVENT_INTERVAL bytes the thread
 * allocates each), so that a thread of large blocks, whose rare event comes
 * every few allocations, reads the clock for it rarely. */
#define TRIM_PERIODS 8
#define TRIM_EVENTS  8u

/* Whether h's trim is due at time now; if so, sets when the next one is. */
bool heap_trim_due(struct heap *h, uint64_t now);

#endif
