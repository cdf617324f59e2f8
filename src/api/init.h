/* SPDX-License-Identifier: MIT */
/* Bootstrap and thread attach (init.c), for the rest of the api layer.
 *
 * The first allocation may come from the dynamic loader, from another
 * library's constructor or from a thread racing main: every slow path
 * calls ensure_init(), one load and a branch once cairn is up. */
#ifndef CAIRN_API_INIT_H
#define CAIRN_API_INIT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/arena.h"
#include "core/heap.h"

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
extern _Atomic int cairn_init_state HIDDEN;

bool cairn_init_slow(void) HIDDEN;

static ALWAYS_INLINE bool ensure_init(void)
{
	return likely(atomic_load_explicit(&cairn_init_state, memory_order_acquire) == INIT_DONE) ||
	       cairn_init_slow();
}

/* Gives the calling thread a heap of its own if it has none yet and thread
 * heaps are on; returns the thread's heap (or its stand-in). */
struct heap *cairn_attach_heap(void) HIDDEN;

/* An arena for a thread with no heap: threads are told apart by their
 * stacks, which lie megabytes apart. The stack is told by a local's
 * address: __builtin_frame_address would make every function this is
 * inlined into keep a frame pointer, whose frames the heap profiler's
 * walk cannot take its short cuts through (src/prof/unwind.c). */
static inline struct arena *arena_unattached(void)
{
	volatile char here = 0;
	uintptr_t x = (uintptr_t)&here >> 21;
	return &cairn_arenas[(x * 0x9e3779b97f4a7c15ull >> 32) % cairn_narenas];
}

static inline struct arena *arena_of_caller(void)
{
	struct heap *h = heap_self();
	return h->kind == HEAP_THREAD ? h->arena : arena_unattached();
}

#endif
