/* SPDX-License-Identifier: MIT */
#include "core/explicit.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/counters.h"
#include "core/largecache.h"
#include "core/lock.h"
#include "core/meta.h"
#include "core/pool.h"

/* Numbers below cairn_narenas are the automatic arenas'; a slot, once
 * filled, keeps its memory for every later arena of that number. Slots
 * are read with no lock (a pointer set once, then `live`); creating and
 * destroying take the lock. */
static _Atomic(struct explicit_arena *) arenas[ARENAS_MAX];
static _Atomic unsigned arenas_limit; /* one past the highest number given */
static _Atomic(struct heap *) tcaches[TCACHES_MAX];
static cairn_mutex explicit_lock = CAIRN_MUTEX_INIT;

_Atomic int64_t explicit_dirty_decay_ms = ARENA_DECAY_DEFAULT;
_Atomic int64_t explicit_muzzy_decay_ms = ARENA_DECAY_DEFAULT;

static struct explicit_arena *slot_new(unsigned i)
{
	struct explicit_arena *e = meta_alloc(sizeof(*e));
	if (e == NULL)
		return NULL;
	arena_init_created(&e->arena, i);
	e->shared = shared_heap_create(&e->arena);
	if (e->shared == NULL)
		return NULL; /* the metadata stays: it cannot be given back */
	mutex_init(&e->huge.lock);
	e->huge.arena = i;
	return e;
}

bool explicit_arena_create(unsigned *index)
{
	mutex_lock(&explicit_lock);
	unsigned i = cairn_narenas;
	struct explicit_arena *e = NULL;
	for (; i < ARENAS_MAX; i++) {
		e = atomic_load(&arenas[i]);
		if (e == NULL || !atomic_load(&e->live))
			break;
	}
	if (i < ARENAS_MAX && e == NULL) {
		e = slot_new(i);
		if (e != NULL)
			atomic_store(&arenas[i], e);
	}
	bool ok = i < ARENAS_MAX && e != NULL;
	if (ok) {
		arena_set_decay_ms(&e->arena, true, atomic_load(&explicit_dirty_decay_ms));
		arena_set_decay_ms(&e->arena, false, atomic_load(&explicit_muzzy_decay_ms));
		atomic_store(&e->live, true);
		if (i + 1 > atomic_load(&arenas_limit))
			atomic_store(&arenas_limit, i + 1);
		*index = i;
	}
	mutex_unlock(&explicit_lock);
	return ok;
}

struct explicit_arena *explicit_arena_get(size_t i)
{
	if (i < cairn_narenas || i >= ARENAS_MAX)
		return NULL;
	struct explicit_arena *e = atomic_load_explicit(&arenas[i], memory_order_acquire);
	return e != NULL && atomic_load_explicit(&e->live, memory_order_acquire) ? e : NULL;
}

static void reset_chunks(void *arg)
{
	arena_reset(arg);
}

static void reset(struct explicit_arena *e)
{
	/* The shared heap's lists name slabs in the chunks: forgotten under
	 * its lock, with the chunks. */
	shared_heap_reset(e->shared, reset_chunks, &e->arena);
	huge_free_set(&e->huge);
}

bool explicit_arena_reset(size_t i)
{
	mutex_lock(&explicit_lock);
	struct explicit_arena *e = explicit_arena_get(i);
	if (e != NULL)
		reset(e);
	mutex_unlock(&explicit_lock);
	return e != NULL;
}

bool explicit_arena_destroy(size_t i)
{
	mutex_lock(&explicit_lock);
	struct explicit_arena *e = explicit_arena_get(i);
	if (e != NULL) {
		atomic_store(&e->live, false);
		reset(e);
	}
	mutex_unlock(&explicit_lock);
	return e != NULL;
}

unsigned explicit_narenas(void)
{
	unsigned n = atomic_load_explicit(&arenas_limit, memory_order_relaxed);
	return n > cairn_narenas ? n : cairn_narenas;
}

bool explicit_lookup(const void *p, unsigned *index)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t entry = pagemap_get(a);
	if (entry & MAP_HUGE) {
		struct huge *h = huge_of(entry);
		if (a < h->addr || a >= h->addr + h->mapped)
			return false;
		struct huge_set *set = __atomic_load_n(&h->set, __ATOMIC_RELAXED);
		*index = set != NULL ? set->arena : 0;
		return true;
	}
	if (!(entry & MAP_CHUNK))
		return false;
	*index = ((struct chunk *)(entry - MAP_CHUNK))->arena->index;
	return true;
}

void *explicit_alloc_small(struct explicit_arena *e, unsigned cls)
{
	return shared_heap_alloc(e->shared, cls);
}

struct span *explicit_alloc_run(struct explicit_arena *e, size_t npages, size_t align_pages)
{
	struct span *s = arena_alloc_run(&e->arena, npages, align_pages);
	if (s != NULL)
		large_handed_out(s);
	return s;
}

void *explicit_alloc_huge(struct explicit_arena *e, size_t size, size_t align, bool zero)
{
	return huge_alloc_in(&e->huge, size, align, zero);
}

void created_arenas_visit(void (*fn)(struct arena *a, void *arg), void *arg)
{
	unsigned n = explicit_narenas();
	for (unsigned i = cairn_narenas; i < n; i++) {
		struct explicit_arena *e = explicit_arena_get(i);
		if (e != NULL)
			fn(&e->arena, arg);
	}
}

void arenas_visit_all(void (*fn)(struct arena *a, void *arg), void *arg)
{
	for (unsigned i = 0; i < cairn_narenas; i++)
		fn(&cairn_arenas[i], arg);
	created_arenas_visit(fn, arg);
}

/* ------------------------------------------------------------ caches */

bool explicit_tcache_create(unsigned *id)
{
	mutex_lock(&explicit_lock);
	unsigned i = 0;
	while (i < TCACHES_MAX && atomic_load(&tcaches[i]) != NULL)
		i++;
	struct heap *h = i < TCACHES_MAX ? heap_acquire() : NULL;
	if (h != NULL) {
		h->explicit_cache = true;
		/* Any thread may use it: its slabs name no thread. */
		heap_own(h, (uintptr_t)h);
		atomic_store(&tcaches[i], h);
		*id = i;
	}
	mutex_unlock(&explicit_lock);
	return h != NULL;
}

struct heap *explicit_tcache_get(size_t id)
{
	return id < TCACHES_MAX ? atomic_load_explicit(&tcaches[id], memory_order_acquire) : NULL;
}

bool explicit_tcache_flush(size_t id)
{
	struct heap *h = explicit_tcache_get(id);
	if (h != NULL)
		heap_flush(h);
	return h != NULL;
}

bool explicit_tcache_destroy(size_t id)
{
	mutex_lock(&explicit_lock);
	struct heap *h = explicit_tcache_get(id);
	if (h != NULL)
		atomic_store(&tcaches[id], NULL);
	mutex_unlock(&explicit_lock);
	if (h == NULL)
		return false;
	h->explicit_cache = false;
	heap_abandon(h);
	return true;
}

void explicit_postfork_child(void)
{
	mutex_init(&explicit_lock);
	unsigned n = explicit_narenas();
	for (unsigned i = cairn_narenas; i < n; i++) {
		struct explicit_arena *e = atomic_load(&arenas[i]);
		if (e == NULL)
			continue;
		arena_postfork_child_one(&e->arena);
		shared_heap_postfork_child(e->shared);
		/* A list that was being changed: its blocks stay mapped and
		 * are no longer freed by a reset. */
		if (mutex_reset_was_held(&e->huge.lock))
			e->huge.head = NULL;
	}
}
