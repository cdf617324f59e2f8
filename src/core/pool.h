/* SPDX-License-Identifier: MIT */
/* The heap pool: every thread heap ever made, and the heaps whose threads
 * exited, parked for the next new thread. A parked heap's frees from other
 * threads are taken in by their senders (pool_reclaim); its free slab pages
 * and those of live heaps whose thread sits idle are given back on decay
 * (heaps_decay); a thread out of memory may take blocks from a parked
 * heap's slabs (heaps_alloc_parked). */
#ifndef CAIRN_POOL_H
#define CAIRN_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/heap.h"

/* A heap for the calling thread: a parked one if any, else a new one. */
struct heap *heap_acquire(void);
/* Parks h, flushed already, for the next new thread. */
void pool_park(struct heap *h);
/* Takes in the frees sent to h if h is parked. Call with no heap lock
 * held. */
void pool_reclaim(struct heap *h);
/* A block of class cls from the slabs of a parked heap, or NULL: for a
 * thread whose own heap and arena are out of memory. */
void *heaps_alloc_parked(unsigned cls);

/* Gives back the free pages inside slabs: those of heaps parked for longer
 * than dirty_decay_ms, and those of live heaps whose thread has taken no
 * slow path for that long, with their cached large runs (all with force);
 * lowers *next to the next time one falls due. Returns the bytes purged. */
size_t heaps_decay(uint64_t now, bool force, uint64_t *next);

/* Every heap ever made, linked by all_next: the list only grows, at its
 * head, so a walk needs no lock. */
struct heap *pool_all_heaps(void);

/* Before fork, unless the calling thread holds a cairn lock: waits until
 * the slow paths other threads are in have ended (their heaps' locks were
 * free once), so that the child leaks fewer heaps. Holds nothing after. */
void heaps_prefork(void);
/* In a fork child: retires the pool if its lock was held (the heaps in it
 * are then lost) and says so. */
bool pool_postfork_child(void);

#endif
