/* SPDX-License-Identifier: MIT */
/* Thread heaps: the slow paths behind the fast path in heap.h (frees the
 * fast path did not take, the rare event, flush, exit, fork). What a heap's
 * slabs, bin refills, remote frees, large-run cache, the pool of parked
 * heaps and the arenas' shared heaps do is in slab.c, refill.c, remote.c,
 * largecache.c, pool.c and shared.c. */
#include "core/heap.h"

#include <pthread.h>
#include <string.h>

#include "core/decay_request.h"
#include "core/largecache.h"
#include "core/pool.h"
#include "core/refill.h"
#include "core/remote.h"
#include "core/slab.h"
#include "core/tally.h"
#include "os/os.h"

struct heap cairn_heap_empty = {.bin = {[0 ... SC_NSMALL - 1] = LIST_END},
                                .class_of = {SC_LOOKUP1_VALUES},
                                .kind = HEAP_SENTINEL};
struct heap cairn_heap_dead = {.bin = {[0 ... SC_NSMALL - 1] = LIST_END},
                               .class_of = {SC_LOOKUP1_VALUES},
                               .kind = HEAP_SENTINEL};
pthread_key_t cairn_heap_key;
_Atomic int cairn_heap_key_ready;
#ifndef CAIRN_TLS_PTHREAD
__thread struct heap *cairn_tls_heap = &cairn_heap_empty;
#endif
int cairn_tcache_max_class = SC_NSMALL - 1;
_Atomic uint64_t cairn_event_bytes;
_Atomic uint64_t cairn_event_due = UINT64_MAX;

/* A thread heap's lock is held by its owner over every slow path that
 * changes its slab lists, so that a fork child knows which heaps it may
 * find half changed (heaps_postfork_child) and the purging thread can give
 * back the free pages of a thread that sits idle (heaps_decay). The fast paths take no lock: what
 * they change, the head of a bin or of a slab's free list and a slab's
 * count, nothing else rewrites. Lock order: heaps_lock, then a heap's
 * lock, then arena locks; so frees sent to a parked heap, which reclaiming
 * takes in under heaps_lock, wait until the lock is released. */
static inline void slow_path_enter(struct heap *h)
{
	if (h->kind == HEAP_THREAD) {
		heap_lock(h);
		uint32_t n = atomic_load_explicit(&h->slow_count, memory_order_relaxed);
		atomic_store_explicit(&h->slow_count, n + 1, memory_order_relaxed);
	}
}

/* slow_path_leave's rare case: parked heaps to reclaim, once h's lock is
 * released. */
static NOINLINE void slow_path_leave_reclaiming(struct heap *h, unsigned n)
{
	struct heap *later[OUTBOX_SLOTS];
	memcpy(later, h->reclaim_later, n * sizeof later[0]);
	h->n_reclaim_later = 0;
	heap_unlock(h);
	for (unsigned i = 0; i < n; i++)
		pool_reclaim(later[i]);
}

/* Nearly every slow path has no parked heap to reclaim: it unlocks with
 * no call to memcpy and no copy on its stack (about 12 instructions of
 * every refill, and a frame 64 bytes smaller). */
static inline void slow_path_leave(struct heap *h)
{
	if (h->kind != HEAP_THREAD)
		return;
	unsigned n = h->n_reclaim_later;
	if (unlikely(n != 0)) {
		slow_path_leave_reclaiming(h, n);
		return;
	}
	heap_unlock(h);
}

void heap_span_emptied(struct heap *h, struct span *s)
{
	slow_path_enter(h);
	slab_emptied(h, s);
	slow_path_leave(h);
}

/* A small block from h's arena's shared heap: a class above tcache_max, or
 * thread.tcache.enabled false. The frees other threads sent are taken in
 * here too, since the bins that would do it stay empty. */
static void *alloc_shared(struct heap *h, unsigned cls)
{
	if (unlikely(atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL)) {
		slow_path_enter(h);
		remote_drain(h);
		slow_path_leave(h);
	}
	void *p = heap_shared_alloc(h->arena, cls);
	if (p != NULL)
		h->tally.allocated += sc_size[cls];
	return p;
}

void *heap_alloc_again(struct heap *h, unsigned cls)
{
	if ((int)cls > cairn_tcache_max_class || h->tcache_off)
		return alloc_shared(h, cls);
	slow_path_enter(h);
	void *p = heap_pop_or_refill(h, cls);
	slow_path_leave(h);
	return p != NULL ? p : heaps_alloc_parked(cls);
}

void heap_trim(struct heap *h)
{
	slab_trim_kept(h);
	heap_large_trim(h);
}

/* The rare event's trim (refill.h says when and why). */
static void trim_if_due(struct heap *h)
{
	if (++h->events % TRIM_EVENTS == 0 && heap_trim_due(h, os_now_ms()))
		heap_trim(h);
}

/* The countdown ran out: the rare event if its turn came, the countdown
 * set again. Returns true when the stats_interval report is due. Called
 * with h's lock held. */
static bool event_locked(struct heap *h)
{
	bool due = false;
	heap_event_sync(h);
	if (h->event_left <= 0) {
		/* The rare per-thread event: send what this thread freed for
		 * others, take in what others freed for it. */
		h->event_left = EVENT_INTERVAL;
		trim_if_due(h);
		uint64_t counted = EVENT_INTERVAL + h->event_uncounted;
		h->event_uncounted = 0;
		uint64_t bytes =
		    atomic_fetch_add_explicit(&cairn_event_bytes, counted, memory_order_relaxed) +
		    counted;
		due = bytes >= atomic_load_explicit(&cairn_event_due, memory_order_relaxed);
		remote_flush_outboxes(h);
		remote_drain(h);
		/* Let a purging thread asleep with nothing due see that this
		 * heap is busy, so that it comes back once the heap went idle
		 * (see heaps_decay). Never starts one. */
		if (decay_purger_running())
			decay_request();
		/* A thread that reads its peak gets it sampled every
		 * EVENT_INTERVAL bytes too (a walk of its bins and slabs). */
		if (h->tally.peak_on)
			tally_update_locked(h);
	}
	heap_event_arm(h);
	return due;
}

bool heap_event_count(struct heap *h, size_t bytes)
{
	if (h->kind != HEAP_THREAD || heap_count_big(h, (int64_t)bytes))
		return false;
	heap_event_charge(h, (int64_t)bytes);
	/* A sample alone is due: the countdown is the owner's, set again
	 * with no lock (as heap_count_big counts), and the heap's lock is
	 * left to the rare event, which comes every EVENT_INTERVAL bytes
	 * where samples come every 2^lg_prof_sample. (heap_alloc_slow takes
	 * the lock for a small block's sample still: testing for a sample
	 * alone there cost every refill 3 instructions more, 0.2 a pair in
	 * bench/fastpath.c's pair4096 without profiling.) */
	if (h->event_left > 0) {
		heap_event_arm(h);
		return false;
	}
	slow_path_enter(h);
	bool due = event_locked(h);
	slow_path_leave(h);
	return due;
}

void *heap_alloc_slow(struct heap *h, unsigned cls, size_t size, heap_after_fn *after)
{
	void *p;
	bool due = false;
	/* The block handed out now is counted down here; those a refill puts
	 * in the bin behind it, by the refill (core/refill.c). A block that
	 * failed heap_pop's integrity check is reported by heap_bin_pop, which
	 * checks every block the slow paths hand out. */
	if (h->bin[cls] == LIST_END)
		h->event_bytes -= (int64_t)sc_size[cls];
	if ((int)cls > cairn_tcache_max_class || h->tcache_off) {
		if (unlikely(h->event_bytes < 0)) {
			slow_path_enter(h);
			due = event_locked(h);
			slow_path_leave(h);
		}
		/* A sample is the caller's to take (its after), from the
		 * profiler's own slabs. */
		p = h->sample_left <= 0 ? NULL : alloc_shared(h, cls);
		goto done;
	}
	slow_path_enter(h);
	if (h->event_bytes < 0)
		due = event_locked(h);
	p = h->sample_left <= 0 ? NULL : heap_pop_or_refill(h, cls);
	slow_path_leave(h);
	/* Out of memory: the free blocks of heaps parked by exited threads
	 * (no system call); what else can be reclaimed is the caller's to
	 * decide. */
	if (unlikely(p == NULL) && h->sample_left > 0)
		p = heaps_alloc_parked(cls);
done:
	/* Taking in remote frees may have given slabs back and asked for the
	 * purging threads: the caller starts them, with no lock held. A
	 * sample due comes back as p NULL with h->sample_left <= 0: the
	 * caller takes it. */
	if (unlikely(p == NULL) || unlikely(due) ||
	    unlikely(atomic_load_explicit(&cairn_purger_pending, memory_order_relaxed)))
		return after(h, cls, p);
	return p;
}

static NOINLINE void free_slow_rest(struct heap *self, struct span *s, void *p)
{
	struct heap *owner = s->owner;
	if (owner->kind == HEAP_SHARED) {
		/* Under the shared heap's lock alone, none of self's: its
		 * lists do not change, and its tally is its thread's to write
		 * (as alloc_shared's). A sampled block's free comes here. */
		tally_free(self, sc_size[s->cls]);
		shared_heap_free(owner, s, p);
		return;
	}
	slow_path_enter(self);
	if (owner == self) {
		slab_free_local(self, s, p);
	} else {
		tally_free(self, sc_size[s->cls]);
		if (self->kind == HEAP_THREAD) {
			remote_outbox_add(self, owner, p, s);
		} else {
			block_make_free(p, s, NULL); /* marked free while it travels */
			if (remote_push(self, owner, p, p))
				pool_reclaim(owner);
		}
	}
	slow_path_leave(self);
}

void heap_free_slow(struct heap *self, struct span *s, void *p)
{
	/* The common case, a remote free joining a batch under way to the
	 * same owner, without a call or a stack frame. Only thread heaps have
	 * outboxes in use, so o->to == owner also says self is one. */
	struct heap *owner = s->owner;
	struct outbox *o = &self->out[((uintptr_t)owner >> 6) % OUTBOX_SLOTS];
	if (likely(o->to == owner) && likely(owner != self) && likely(o->count != 0) &&
	    likely(o->count < OUTBOX_BATCH - 1)) {
		uint32_t n = o->count;
		outbox_link(o, p, s, n);
		/* The block's words are stored before it is on the list, so
		 * that a child forked meanwhile finds the list whole. */
		atomic_signal_fence(memory_order_release);
		o->head = p;
		o->count = n + 1;
		self->tally.deallocated += sc_size[s->cls];
		return;
	}
	free_slow_rest(self, s, p);
}

void heap_flush(struct heap *h)
{
	slow_path_enter(h);
	heap_large_flush(h);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		void *b = h->bin[c];
		if (b == LIST_END)
			continue;
		h->bin[c] = LIST_END;
		unsigned n = 0;
		for (; b != LIST_END; n++) {
			struct span *s = h->cur[c];
			if (unlikely(!slab_block_ok(b, s) || n >= sc_slab_blocks[c]))
				cairn_freelist_corrupt(b);
			void *next = block_next(b);
			slab_free_local(h, s, b);
			b = next;
		}
		/* The countdown was charged for them as the bin took them
		 * (core/refill.c): they were never handed out. */
		if (h->kind == HEAP_THREAD)
			h->event_bytes += (int64_t)sc_size[c] * n;
		struct heap_counters *k = &h->counters[c];
		/* What the bin served is allocated (core/tally.h). */
		h->tally.allocated +=
		    (uint64_t)sc_size[c] * (k->bin_given - n - h->tally.bin_seen[c]);
		h->tally.bin_seen[c] = 0;
		k->nflushed += n;
		k->bin_given = 0;
		k->nflushes++;
	}
	remote_flush_outboxes(h);
	remote_drain(h);
	slow_path_leave(h);
}

void heap_large_flush_self(void)
{
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD) {
		slow_path_enter(h);
		heap_large_flush(h);
		slow_path_leave(h);
	}
}

size_t heap_purge_self(void)
{
	struct heap *h = heap_self();
	if (h->kind != HEAP_THREAD)
		return 0;
	slow_path_enter(h);
	heap_large_flush(h);
	size_t purged = heap_purge_slabs(h);
	slow_path_leave(h);
	return purged;
}

void heap_own_locked(struct heap *h, uintptr_t id)
{
	h->owner_id = id;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		if (h->cur[c] != NULL)
			h->cur[c]->fast_owner = id;
		/* A kept slab keeps none (see slab_emptied): refill gives it
		 * one when it takes it. */
		for (struct span *s = h->partial[c].head; s != NULL; s = s->next)
			if (s->used != 0)
				s->fast_owner = id;
		for (struct span *s = h->full[c].head; s != NULL; s = s->next)
			s->fast_owner = id;
	}
}

void heap_own(struct heap *h, uintptr_t id)
{
	slow_path_enter(h);
	heap_own_locked(h, id);
	slow_path_leave(h);
}

void heap_abandon(struct heap *h)
{
	heap_flush(h);
	slow_path_enter(h);
	slab_release_kept(h);
	/* Before the thread ends: the next thread given its pointer must
	 * find none of these slabs its own. */
	heap_own_locked(h, 0);
	slow_path_leave(h);
	pool_park(h);
	decay_request();
}

/* heaps_postfork_child's walk over every chunk where a heap was leaked: the
 * slabs that name a thread (a fast_owner that is neither 0 nor their heap's
 * address, an explicit cache's) other than the forking thread's heap's
 * (self_id: 0 if that heap was leaked too) name none from now on. By the
 * chunk's slots, not the heap's lists, which may be half changed; and
 * without reading through a slot's heap pointer, which a half-changed slot
 * may hold as something else. */
static void disown_leaked(struct chunk *c, void *arg)
{
	uintptr_t self_id = *(const uintptr_t *)arg;
	for (uint32_t i = 0; i < c->slots_top; i++) {
		struct span *s = &c->spans[i];
		if (s->state == SPAN_SMALL && s->fast_owner != 0 && s->fast_owner != self_id &&
		    s->fast_owner != (uintptr_t)s->owner)
			s->fast_owner = 0;
	}
}

/* In the child only the forking thread exists. A heap whose lock was held
 * when the parent forked may have its lists half changed: by a thread that
 * is gone, or by the forking thread itself when it forked from a signal
 * handler that interrupted one of its slow paths (the child goes on with
 * that change if the handler returns). Such a heap is leaked, left exactly
 * as it is; the forking thread, if it was its owner, gets a new heap at its
 * next allocation. The heaps of the other threads that are whole are parked
 * for reuse, so what they held can be freed and allocated again. If the
 * pool's own lock was held, the pool is retired with the heaps in it. The
 * shared heaps whose lock was held are retired too. */
void heaps_postfork_child(void)
{
	struct heap *self = heap_self();
	shared_heaps_postfork_child();
	bool pool_lost = pool_postfork_child();
	bool leaked = false;
	for (struct heap *h = pool_all_heaps(); h != NULL; h = h->all_next) {
		uint8_t state = atomic_load(&h->state);
		/* A heap off the pool (HEAP_PURGING) is locked (take_parked). */
		if (mutex_is_held(&h->lock) || state == HEAP_PURGING ||
		    (state == HEAP_ABANDONED && pool_lost)) {
			atomic_store(&h->state, HEAP_LEAKED);
			leaked = true;
		} else if (h != self && state == HEAP_LIVE && !h->explicit_cache) {
			/* Its thread is not in the child, whose new threads
			 * may be given its thread pointer. */
			heap_flush(h);
			heap_own_locked(h, 0);
			pool_park(h);
		}
	}
	if (self->kind == HEAP_THREAD && atomic_load(&self->state) == HEAP_LEAKED)
		heap_set_self(&cairn_heap_empty);
	if (leaked) {
		uintptr_t self_id =
		    self->kind == HEAP_THREAD && atomic_load(&self->state) != HEAP_LEAKED
		        ? self->owner_id
		        : 0;
		pagemap_visit_chunks(disown_leaked, &self_id);
	}
}
