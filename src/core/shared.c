/* SPDX-License-Identifier: MIT */
/* The arenas' shared heaps, declared in heap.h.
 *
 * One per arena, used under its lock by threads that have no heap of their
 * own (tcache:false, a thread past its exit destructors, classes above
 * tcache_max). A fork child whose parent held one's lock retires it (its
 * lists may be half changed) and a successor serves in its place; blocks
 * freed into a retired one are leaked. */
#include "core/heap.h"

#include <stddef.h>

#include "core/arena.h"
#include "core/meta.h"
#include "core/pool.h"
#include "core/refill.h"
#include "core/slab.h"
#include "os/os.h"

struct shared_heap {
	cairn_mutex lock;
	struct heap heap;
	bool retired;
	struct shared_heap *successor;
	/* Told of every block freed into the heap, before it is (the heap
	 * profiler's heap of sampled blocks: shared_heap_on_free). */
	void (*on_free)(void *p, size_t size);
	/* Next on the list of shared heaps made for automatic arenas. */
	struct shared_heap *made_next;
};

static struct shared_heap *shared_heaps;
/* The shared heaps shared_heap_create made for automatic arenas (the heap
 * profiler's): shared_heaps_visit visits them with the arenas' own, so that
 * the statistics see their slabs as slabs, not as large runs. A created
 * arena's shared heap is visited with that arena. Pushed, never removed. */
static struct shared_heap *_Atomic shared_made;

static void shared_setup(struct shared_heap *sh, struct arena *a)
{
	mutex_init(&sh->lock);
	heap_init(&sh->heap, a, HEAP_SHARED);
	/* A created arena's is reset or destroyed with it, and no decay
	 * pass visits it: it gives its slabs back as they empty. */
	sh->heap.keep_empty = !a->created;
}

bool shared_heaps_init(void)
{
	struct shared_heap *sh = meta_alloc(sizeof(*sh) * cairn_narenas);
	if (sh == NULL)
		return false;
	for (unsigned i = 0; i < cairn_narenas; i++)
		shared_setup(&sh[i], &cairn_arenas[i]);
	shared_heaps = sh;
	return true;
}

static struct shared_heap *shared_of(struct heap *h)
{
	return (struct shared_heap *)((char *)h - offsetof(struct shared_heap, heap));
}

/* Takes the lock of sh, or of its successor's if sh was retired; returns
 * the one whose lock is held. */
static struct shared_heap *shared_lock(struct shared_heap *sh)
{
	for (;;) {
		mutex_lock(&sh->lock);
		if (likely(!sh->retired))
			return sh;
		mutex_unlock(&sh->lock);
		sh = sh->successor;
	}
}

/* A shared heap that keeps empty slabs looks at its trim every
 * TRIM_EVENTS-th allocation (its lock held), so that a busy one trims
 * itself as a thread's heap does; the purging threads trim the idle ones
 * (shared_heaps_decay). Without this keeping, a shared heap whose few
 * blocks come and go (the profiler's sampled blocks, four to a slab of
 * 4-64 KiB blocks) gave a slab back and took a new one time and again, each
 * cut at other offsets of recycled pages: churn-mid-1t peaked 6 MiB higher
 * with prof:true. */
static void shared_trim_step(struct heap *h)
{
	if (h->kept_empty != 0 && ++h->events % TRIM_EVENTS == 0 && heap_trim_due(h, os_now_ms()))
		slab_trim_kept(h);
}

void *heap_shared_alloc(struct arena *a, unsigned cls)
{
	struct shared_heap *sh = shared_lock(&shared_heaps[a->index]);
	void *p = heap_pop_or_refill(&sh->heap, cls);
	shared_trim_step(&sh->heap);
	mutex_unlock(&sh->lock);
	return p != NULL ? p : heaps_alloc_parked(cls);
}

void shared_heaps_visit(void (*visit)(struct heap *h, void *arg), void *arg)
{
	for (unsigned i = 0; i < cairn_narenas; i++) {
		struct shared_heap *sh = shared_lock(&shared_heaps[i]);
		visit(&sh->heap, arg);
		mutex_unlock(&sh->lock);
	}
	for (struct shared_heap *m = atomic_load(&shared_made); m != NULL; m = m->made_next) {
		struct shared_heap *sh = shared_lock(m);
		visit(&sh->heap, arg);
		mutex_unlock(&sh->lock);
	}
}

void shared_heap_visit(struct heap *h, void (*visit)(struct heap *h, void *arg), void *arg)
{
	struct shared_heap *sh = shared_lock(shared_of(h));
	visit(&sh->heap, arg);
	mutex_unlock(&sh->lock);
}

static void shared_postfork_child(struct shared_heap *first)
{
	for (struct shared_heap *sh = first; sh != NULL; sh = sh->successor) {
		if (!mutex_reset_was_held(&sh->lock) || sh->retired)
			continue;
		struct shared_heap *next = meta_alloc(sizeof(*next));
		if (next == NULL)
			continue; /* out of memory: it goes on */
		shared_setup(next, sh->heap.arena);
		next->on_free = sh->on_free;
		next->heap.cut_singly = sh->heap.cut_singly;
		next->heap.keep_empty = sh->heap.keep_empty;
		sh->successor = next;
		sh->retired = true;
		break;
	}
}

void shared_heaps_postfork_child(void)
{
	for (unsigned i = 0; i < cairn_narenas; i++)
		shared_postfork_child(&shared_heaps[i]);
}

void shared_heap_postfork_child(struct heap *h)
{
	shared_postfork_child(shared_of(h));
}

/* A created arena's: no fallback to the parked heaps, whose blocks are in
 * the automatic arenas. */
struct heap *shared_heap_create(struct arena *a)
{
	struct shared_heap *sh = meta_alloc(sizeof(*sh));
	if (sh == NULL)
		return NULL;
	shared_setup(sh, a);
	if (!a->created) {
		sh->made_next = atomic_load(&shared_made);
		while (!atomic_compare_exchange_weak(&shared_made, &sh->made_next, sh))
			;
	}
	return &sh->heap;
}

void shared_heap_on_free(struct heap *h, void (*fn)(void *p, size_t size))
{
	shared_of(h)->on_free = fn;
}

void shared_heap_cut_singly(struct heap *h)
{
	struct shared_heap *sh = shared_lock(shared_of(h));
	sh->heap.cut_singly = true;
	mutex_unlock(&sh->lock);
}

void *shared_heap_alloc(struct heap *h, unsigned cls)
{
	struct shared_heap *sh = shared_lock(shared_of(h));
	void *p = heap_pop_or_refill(&sh->heap, cls);
	shared_trim_step(&sh->heap);
	mutex_unlock(&sh->lock);
	return p;
}

void shared_heap_free(struct heap *h, struct span *s, void *p)
{
	struct shared_heap *sh = shared_of(h);
	if (unlikely(sh->on_free != NULL))
		sh->on_free(p, sc_size[s->cls]);
	/* Into a retired shared heap (in a fork child): its lists may be
	 * half changed, so the block is leaked. */
	mutex_lock(&sh->lock);
	if (likely(!sh->retired))
		slab_free_local(h, s, p);
	mutex_unlock(&sh->lock);
}

void shared_heap_reset(struct heap *h, void (*fn)(void *arg), void *arg)
{
	struct shared_heap *sh = shared_lock(shared_of(h));
	bool singly = sh->heap.cut_singly, keep = sh->heap.keep_empty;
	heap_init(&sh->heap, sh->heap.arena, HEAP_SHARED);
	sh->heap.cut_singly = singly;
	sh->heap.keep_empty = keep;
	fn(arg);
	mutex_unlock(&sh->lock);
}

struct shared_decay {
	uint64_t now, next;
	bool force;
};

static void shared_decay_one(struct heap *h, void *arg)
{
	struct shared_decay *d = arg;
	if (h->kept_empty == 0)
		return;
	if (d->force)
		slab_release_kept(h);
	else if (heap_trim_due(h, d->now))
		slab_trim_kept(h);
	/* With decay off the kept slabs stay: no pass is due for them. */
	if (h->kept_empty != 0 && arena_dirty_decay_ms(h->arena) >= 0 && h->trim_at < d->next)
		d->next = h->trim_at;
}

void shared_heaps_decay(uint64_t now, bool force, uint64_t *next)
{
	struct shared_decay d = {now, *next, force};
	shared_heaps_visit(shared_decay_one, &d);
	*next = d.next;
}
