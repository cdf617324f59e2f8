/* SPDX-License-Identifier: MIT */
/* A thread's bytes allocated and freed (jemalloc's thread.allocated,
 * thread.deallocated and thread.peak), without an instruction on the fast
 * paths.
 *
 * Both count usable sizes, as jemalloc's do: a free knows its block's
 * class, not what was asked for, and the two must agree for
 * allocated - deallocated to mean the bytes the thread holds.
 *
 * allocated: what slow paths hand out is counted where it happens (large
 * and huge blocks, small ones from a shared heap); a bin's blocks are
 * counted when the bin is refilled or flushed, the blocks its previous
 * refill gave having all been served by then (slab_adopt, heap_flush), and
 * at a read by walking the bins for the blocks served since (bin_given less
 * the bin's length).
 *
 * deallocated: frees to other heaps, to shared heaps, of large and huge
 * blocks are counted on their slow paths. The owner's frees of its own
 * small blocks (the fast path: only --used) are derived, per class, from
 * counts the slow paths keep anyway: blocks given to the bin (nmalloc) less
 * those flushed back (nflushed) less those in the slabs' `used` is every
 * block that came back to the heap's slabs; less the bytes other threads'
 * frees brought in (remote_in), it is the owner's. A read walks the slabs
 * for their `used`.
 *
 * So a read of thread.allocated, thread.deallocated or thread.peak.read
 * walks the thread's bins and slabs (a few microseconds for a heap of a
 * few hundred slabs) and is exact; *allocatedp and *deallocatedp are the
 * same counters, brought up to date by every such read and, for what slow
 * paths count, at once. Between reads *allocatedp lags by at most the
 * blocks each bin's last refill gave (one refill per class), and
 * *deallocatedp by the owner's frees of its own small blocks since the
 * last read (or since the last event, for a thread that used peak.*). */
#ifndef CAIRN_TALLY_H
#define CAIRN_TALLY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/heap.h"

/* Brings h's counters up to date and samples the peak; h is the calling
 * thread's heap. The _locked form with h's lock held. */
void tally_update(struct heap *h);
void tally_update_locked(struct heap *h);
/* A thread takes h (new, or parked by a thread that exited): its counters
 * start from 0. */
void tally_reset(struct heap *h);
/* thread.peak.reset: the peak starts again from the present level. */
void tally_peak_reset(struct heap *h);
/* The peak since the last reset (0 if the level never rose above it). */
uint64_t tally_peak(struct heap *h);

/* Bytes a slow path handed out or took back for h's thread. h may be a
 * sentinel (a thread with no heap): nothing is counted. */
static inline void tally_alloc(struct heap *h, uint64_t bytes)
{
	if (h->kind == HEAP_THREAD)
		h->tally.allocated += bytes;
}

static inline void tally_free(struct heap *h, uint64_t bytes)
{
	if (h->kind == HEAP_THREAD)
		h->tally.deallocated += bytes;
}

#endif
