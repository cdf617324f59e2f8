/* SPDX-License-Identifier: MIT */
#include "core/pool.h"

#include <limits.h>
#include <pthread.h>

#include "core/arena.h"
#include "core/largecache.h"
#include "core/meta.h"
#include "core/params.h"
#include "core/remote.h"
#include "core/slab.h"
#include "os/os.h"

/* The pool of parked heaps, under heaps_lock. A fork child whose parent held
 * the lock retires the pool (see pool_postfork_child) and starts an empty
 * one. */
struct heap_registry {
	cairn_mutex lock;    /* heaps_lock */
	struct heap *pool;   /* abandoned heaps. Guarded by lock. */
	unsigned next_arena; /* Guarded by lock. */
	bool retired;        /* set in a fork child only */
};

static struct heap_registry registry_first = {.lock = CAIRN_MUTEX_INIT};
static struct heap_registry *_Atomic registry_cur = &registry_first;
/* Every heap ever made: pushed with a compare-and-swap, never unlinked, so
 * that a walk needs no lock and a fork child finds the list whole. */
static struct heap *_Atomic all_heaps;

static struct heap_registry *heaps_lock(void)
{
	for (;;) {
		struct heap_registry *r = atomic_load_explicit(&registry_cur, memory_order_acquire);
		mutex_lock(&r->lock);
		if (likely(!r->retired))
			return r;
		mutex_unlock(&r->lock);
	}
}

static void heaps_unlock(struct heap_registry *r)
{
	mutex_unlock(&r->lock);
}

struct heap *heap_acquire(void)
{
	struct heap_registry *r = heaps_lock();
	struct heap *h = r->pool;
	if (h != NULL) {
		r->pool = h->pool_next;
	} else {
		h = meta_alloc(sizeof(*h));
		if (h != NULL) {
			heap_init(h, &cairn_arenas[r->next_arena++ % cairn_narenas], HEAP_THREAD);
			struct heap *head = atomic_load(&all_heaps);
			do
				h->all_next = head;
			while (!atomic_compare_exchange_weak(&all_heaps, &head, h));
		}
	}
	if (h != NULL)
		atomic_store(&h->state, HEAP_LIVE);
	heaps_unlock(r);
	return h;
}

/* Takes in h's remote frees and gives back its current slabs that are
 * empty. For a heap no thread uses: a parked one, under heaps_lock. */
static bool release_unused(struct heap *h)
{
	bool took = atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL;
	remote_drain(h);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		struct span *s = h->cur[c];
		if (s != NULL && s->used == 0) {
			h->cur[c] = NULL;
			slab_release(h, s);
		}
	}
	return took;
}

/* Frees sent to a parked heap: heaps_lock makes the caller its only user,
 * since a parked heap is otherwise touched only by heap_acquire, under the
 * same lock, and by heaps_decay and heaps_alloc_parked, which take it out of
 * the pool first (take_parked). */
void pool_reclaim(struct heap *h)
{
	struct heap_registry *r = heaps_lock();
	if (atomic_load(&h->state) == HEAP_ABANDONED && release_unused(h) && !h->needs_purge) {
		h->needs_purge = true;
		h->parked_since = os_now_ms();
	}
	heaps_unlock(r);
}

/* Parks h (r locked): marks it abandoned, takes in what was freed to it
 * meanwhile and puts it in the pool for the next new thread. */
static void park_locked(struct heap_registry *r, struct heap *h, bool purge_later)
{
	atomic_store(&h->state, HEAP_ABANDONED);
	if (release_unused(h) || purge_later) {
		h->needs_purge = true;
		h->parked_since = os_now_ms();
	}
	h->pool_next = r->pool;
	r->pool = h;
}

/* Takes h, found at *link in r's pool (r locked), out of the pool for the
 * caller alone: HEAP_PURGING, with its lock held until put_back puts it
 * back. A heap off the pool is thus always locked, so that a fork child
 * leaks it (heaps_postfork_child) rather than park it while this thread,
 * if it forked from a signal handler, goes on with it. Nothing else waits
 * for the lock of a heap off the pool, so it may be held while heaps_lock
 * is taken again. False, h left where it is, if h is not a parked heap any
 * more (a fork child leaked it: this thread forked from a signal handler
 * while it held r, and r is retired) or if its lock is busy (a prefork
 * looking at it). */
static bool take_parked(struct heap **link, struct heap *h)
{
	if (!heap_trylock(h))
		return false;
	uint8_t parked = HEAP_ABANDONED;
	if (!atomic_compare_exchange_strong(&h->state, &parked, HEAP_PURGING)) {
		heap_unlock(h);
		return false;
	}
	*link = h->pool_next;
	return true;
}

/* Puts h, taken by take_parked, back in the pool (r locked) and unlocks it;
 * unless a fork child leaked it meanwhile (this thread forked from a signal
 * handler while it held h's lock). */
static void put_back(struct heap_registry *r, struct heap *h, bool purge_later)
{
	if (atomic_load(&h->state) == HEAP_PURGING)
		park_locked(r, h, purge_later);
	heap_unlock(h);
}

size_t heaps_decay(uint64_t now, bool force, uint64_t *next)
{
	size_t purged = 0;
	int64_t decay = cairn_core.dirty_decay_ms;
	struct heap_registry *r = heaps_lock();
	/* A heap parked after the caller read the clock is not due: its age
	 * would wrap. */
	for (struct heap **link = &r->pool; *link != NULL;) {
		struct heap *h = *link;
		bool due = h->needs_purge && (force || (decay >= 0 && now >= h->parked_since &&
		                                        now - h->parked_since >= (uint64_t)decay));
		if (!due) {
			if (h->needs_purge && decay >= 0 &&
			    h->parked_since + (uint64_t)decay < *next)
				*next = h->parked_since + (uint64_t)decay;
			link = &h->pool_next;
			continue;
		}
		/* Out of the pool while its slabs are purged, so heaps_lock is
		 * not held across the system calls: no thread can take it, and
		 * frees sent to it wait on its remote list. Its own lock is
		 * (take_parked): a fork child then knows its lists may be half
		 * changed. */
		if (!take_parked(link, h)) {
			link = &h->pool_next;
			continue;
		}
		h->needs_purge = false;
		heaps_unlock(r);
		purged += heap_purge_slabs(h);
		r = heaps_lock();
		put_back(r, h, false);
		link = &r->pool; /* the pool changed while unlocked */
	}
	/* Live heaps whose thread took no slow path for dirty_decay_ms: their
	 * cached large runs and the free pages in their slabs go back under
	 * the heap's lock (skipped if the owner holds it: then it is not
	 * idle). The lock stays held across
	 * the madvise calls: released earlier, a slab could empty and go back
	 * to its arena, and a page purged after that could hold someone
	 * else's block. The list of all heaps only grows at its head, so the
	 * walk survives dropping heaps_lock. */
	/* At least 100 ms of it, even with dirty_decay_ms:0: each look walks
	 * the heap's free lists, and holds its lock meanwhile. */
	uint64_t wait = decay > 100 ? (uint64_t)decay : 100;
	for (struct heap *h = atomic_load(&all_heaps); h != NULL; h = h->all_next) {
		if (h->kind != HEAP_THREAD || atomic_load(&h->state) != HEAP_LIVE)
			continue;
		uint32_t count = atomic_load_explicit(&h->slow_count, memory_order_relaxed);
		bool moved = count != h->idle_seen;
		if (moved) {
			h->idle_seen = count;
			h->idle_backoff = 0;
			h->idle_next = now + wait;
		}
		/* A heap whose thread took no slow path from one look to the
		 * next gives back the free pages in its slabs, those it kept
		 * empty for reuse included, once for that quiet spell: the
		 * thread sits idle, and a slab page is refaulted as cheaply as
		 * an arena's. Its cached large runs wait for idle_next. While
		 * it is busy, the next look comes a decay step later. */
		if (decay >= 0 && moved) {
			uint64_t step = (uint64_t)decay / 20 + 1;
			if (now + step < *next)
				*next = now + step;
		} else if (decay >= 0 && h->quick_purged != count && heap_trylock(h)) {
			h->quick_purged = count;
			heaps_unlock(r);
			purged += slab_purge_idle(h);
			heap_unlock(h);
			r = heaps_lock();
		}
		if (!force && (decay < 0 || now < h->idle_next)) {
			if (decay >= 0 && h->idle_next < *next)
				*next = h->idle_next;
			continue;
		}
		if (!heap_trylock(h))
			continue;
		heaps_unlock(r);
		/* Its cached large runs go back to their arenas, which purge
		 * them on their own decay curves (and count them then). */
		size_t flushed = heap_large_flush(h);
		size_t got = heap_purge_slabs(h);
		heap_unlock(h);
		purged += got;
		r = heaps_lock();
		/* Its thread may still be freeing: on the fast path, which
		 * moves no count. So look again, as soon while purges find
		 * pages, and then twice as late after each that finds none,
		 * up to 64 times. */
		h->idle_backoff = got + flushed != 0    ? 0
		                  : h->idle_backoff < 6 ? h->idle_backoff + 1
		                                        : 6;
		h->idle_next = now + (wait << h->idle_backoff);
		if (decay >= 0 && h->idle_next < *next)
			*next = h->idle_next;
	}
	heaps_unlock(r);
	return purged;
}

/* A block of class cls from the slabs of a heap parked by a thread that
 * exited, for a thread whose own heap and arena are out of address space.
 * Each heap tried is out of the pool meanwhile (as heaps_decay takes one),
 * so its lists are the caller's alone; the block stays its slab's, and
 * freeing it later is a free to the parked heap. */
void *heaps_alloc_parked(unsigned cls)
{
	void *p = NULL;
	struct heap *tried = NULL;
	struct heap_registry *r = heaps_lock();
	for (struct heap **link = &r->pool; p == NULL;) {
		while (*link != NULL && (*link)->bin[cls] == LIST_END &&
		       (*link)->cur[cls] == NULL && (*link)->partial[cls].head == NULL &&
		       (*link)->full[cls].head == NULL)
			link = &(*link)->pool_next;
		struct heap *h = *link;
		if (h == NULL)
			break;
		/* Locked and off the pool until put back (take_parked). */
		if (!take_parked(link, h)) {
			link = &h->pool_next;
			continue;
		}
		heaps_unlock(r);
		if (h->bin[cls] != LIST_END) {
			p = heap_bin_pop(h, cls);
		} else {
			remote_drain(h);
			struct span *s = h->cur[cls];
			if (s == NULL || !slab_has_free(s)) {
				/* Out of memory (heaps_alloc_parked's
				 * caller): every full slab. */
				if (h->partial[cls].head == NULL)
					slab_scan_full(h, cls, SLAB_SCAN_ALL);
				s = h->partial[cls].head;
				if (s != NULL) {
					if (h->cur[cls] != NULL) {
						h->cur[cls]->flags = SPAN_FULL;
						slab_list_push(&h->full[cls], h->cur[cls]);
					}
					slab_unlink(h, s);
					h->cur[cls] = s;
					s->fast_owner = h->owner_id;
				}
			}
			if (s != NULL) {
				h->bin[cls] = slab_adopt(h, s, UINT_MAX);
				p = heap_bin_pop(h, cls);
			}
		}
		r = heaps_lock();
		h->pool_next = tried;
		tried = h;
		link = &r->pool; /* the pool changed while unlocked */
	}
	while (tried != NULL) {
		struct heap *h = tried;
		tried = h->pool_next;
		put_back(r, h, false);
	}
	heaps_unlock(r);
	return p;
}

void heaps_prefork(void)
{
	if (lock_held_by_self())
		return;
	for (struct heap *h = atomic_load(&all_heaps); h != NULL; h = h->all_next) {
		/* A leaked heap (in a process that is itself a fork child)
		 * keeps the lock of a thread that is gone. */
		if (mutex_is_held(&h->lock) && atomic_load(&h->state) != HEAP_LEAKED) {
			heap_lock(h);
			heap_unlock(h);
		}
	}
}

void pool_park(struct heap *h)
{
	struct heap_registry *r = heaps_lock();
	park_locked(r, h, true);
	heaps_unlock(r);
}

struct heap *pool_all_heaps(void)
{
	return atomic_load(&all_heaps);
}

bool pool_postfork_child(void)
{
	struct heap_registry *r = atomic_load(&registry_cur);
	if (!mutex_reset_was_held(&r->lock))
		return false;
	struct heap_registry *fresh = meta_alloc(sizeof(*fresh));
	if (fresh == NULL)
		return false;
	mutex_init(&fresh->lock);
	fresh->next_arena = r->next_arena;
	r->retired = true;
	atomic_store(&registry_cur, fresh);
	return true;
}
