/* SPDX-License-Identifier: MIT */
/* Explicit arenas and caches: those the program creates, names by number
 * and destroys (jemalloc's arenas.create, tcache.create; cairn.h's heaps).
 *
 * A created arena is a struct arena of its own (arena->created) with a
 * shared heap of its own and a list of its live huge blocks. Only requests
 * that name it use it: its small blocks come from its shared heap under
 * that heap's lock, its large runs from its own chunks (never cached by a
 * thread heap), its huge blocks are listed in it. A free from any thread
 * takes the paths every block takes: a small block's slab belongs to a
 * shared heap, so it is freed under that lock; a large run goes back to
 * its chunk's arena. Reset gives every chunk back to the OS and frees
 * every huge block; destroy does the same and frees the number for the
 * next create. The memory describing an arena is kept for that next
 * create, so that the purging threads may look at an arena while it is
 * destroyed.
 *
 * An explicit cache is a thread-kind heap taken from the pool that no
 * thread has as its own; the program uses it from one thread at a time.
 * Destroying it flushes it and parks it in the pool. */
#ifndef CAIRN_EXPLICIT_H
#define CAIRN_EXPLICIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/heap.h"
#include "core/huge.h"

/* Arenas in all, automatic and created: MALLOCX_ARENA's 12 bits hold the
 * number plus one. */
#define ARENAS_MAX 4095
/* Explicit caches: MALLOCX_TCACHE's 12 bits hold the id plus two. */
#define TCACHES_MAX 4094

struct explicit_arena {
	struct arena arena;
	struct huge_set huge;
	struct heap *shared;
	_Atomic bool live;
};

/* Creates an arena; its number in *index. False when ARENAS_MAX are live
 * or there is no memory for it. */
bool explicit_arena_create(unsigned *index);
/* The live created arena numbered i, or NULL. */
struct explicit_arena *explicit_arena_get(size_t i);
/* Frees every block of created arena i, which stays usable; false if i is
 * not a live created arena. */
bool explicit_arena_reset(size_t i);
/* Frees every block of created arena i and the arena; false if i is not a
 * live created arena. */
bool explicit_arena_destroy(size_t i);
/* One past the highest arena number there has been: the automatic arenas
 * and every number a create gave (jemalloc's arenas.narenas). */
unsigned explicit_narenas(void);
/* The number of the arena holding p (huge blocks outside a created arena
 * count as arena 0); false if cairn does not own p. */
bool explicit_lookup(const void *p, unsigned *index);

/* Blocks of created arena e: a small one of class cls, a run of npages
 * pages aligned to align_pages, a huge one. NULL when out of memory. */
void *explicit_alloc_small(struct explicit_arena *e, unsigned cls);
struct span *explicit_alloc_run(struct explicit_arena *e, size_t npages, size_t align_pages);
void *explicit_alloc_huge(struct explicit_arena *e, size_t size, size_t align, bool zero);

/* Calls fn on every live created arena (no lock held). */
void created_arenas_visit(void (*fn)(struct arena *a, void *arg), void *arg);
/* Calls fn on every arena: the automatic ones, then the created ones. */
void arenas_visit_all(void (*fn)(struct arena *a, void *arg), void *arg);

/* The decay times of arenas created from now on (arenas.dirty_decay_ms and
 * muzzy_decay_ms): ARENA_DECAY_DEFAULT for the options'. */
extern _Atomic int64_t explicit_dirty_decay_ms HIDDEN;
extern _Atomic int64_t explicit_muzzy_decay_ms HIDDEN;

/* Creates an explicit cache; its id in *id. False when TCACHES_MAX are
 * live or there is no memory for it. */
bool explicit_tcache_create(unsigned *id);
/* The live explicit cache id, or NULL. */
struct heap *explicit_tcache_get(size_t id);
/* Gives the blocks in cache id back to their slabs; false if id is not
 * live. */
bool explicit_tcache_flush(size_t id);
/* Flushes cache id and parks it for reuse; false if id is not live. */
bool explicit_tcache_destroy(size_t id);

/* In a fork child, after arenas_postfork_child: created arenas whose
 * locks were held are retired as the automatic ones are. */
void explicit_postfork_child(void);

#endif
