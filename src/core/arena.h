/* Arenas: the shared state behind the thread heaps.
 *
 * Each arena owns chunks and serves page runs from them (the page heap):
 * best fit from size-segregated bins of free runs, split on allocation,
 * coalesced with both neighbours on free. A chunk that falls entirely empty
 * is kept as the arena's one spare; further empty chunks go back to the OS.
 *
 * Each arena also has a shared heap, used under shared_lock by threads that
 * have no heap of their own (tcache:false, a thread past its exit
 * destructors, classes above tcache_max).
 *
 * Lock order: heaps_lock -> arena.shared_lock -> arena.lock -> huge_lock ->
 * meta_lock. Arenas are locked in index order. */
#ifndef CAIRN_ARENA_H
#define CAIRN_ARENA_H

#include <pthread.h>

#include "core/chunk.h"
#include "core/heap.h"

#define RUN_BINS 64

struct arena {
	pthread_mutex_t lock;        /* the page heap below */
	struct span *runs[RUN_BINS]; /* free runs by size. Guarded by lock. */
	uint64_t runs_nonempty;      /* bit b: runs[b] non-empty. Guarded by lock. */
	uint32_t empty_chunks;       /* chunks with no page in use. Guarded by lock. */
	unsigned index;
	pthread_mutex_t shared_lock; /* the shared heap */
	struct heap shared;
};

extern struct arena *cairn_arenas HIDDEN;
extern unsigned cairn_narenas HIDDEN;

bool arenas_init(unsigned narenas);

/* A run of npages pages whose first page is a multiple of align_pages pages
 * from the chunk start (1 for no constraint); state and owner are left for
 * the caller to set. NULL when out of memory. Takes arena->lock. */
struct span *arena_alloc_run(struct arena *a, size_t npages, size_t align_pages);
/* Returns a span (slab or large run) to the free runs. Takes arena->lock. */
void arena_free_run(struct arena *a, struct span *s);
/* Shrinks a large run in place to npages; the tail becomes free. */
void arena_shrink_run(struct arena *a, struct span *s, size_t npages);
/* Grows a large run in place to npages if the pages after it are free. */
bool arena_grow_run(struct arena *a, struct span *s, size_t npages);

/* Slab for class cls owned by heap h, from a fresh run. */
struct span *arena_new_slab(struct arena *a, struct heap *h, unsigned cls);

void arenas_prefork(void);
void arenas_postfork_parent(void);
void arenas_postfork_child(void);

#endif
