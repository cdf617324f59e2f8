/* SPDX-License-Identifier: MIT */
/* Thread heaps: the slow paths behind the fast path in heap.h. */
#include "core/heap.h"

#include <pthread.h>
#include <string.h>

#include "core/params.h"
#include "core/arena.h"
#include "core/decay_request.h"
#include "core/sizeclass.h"
#include "os/os.h"
#include "core/meta.h"

struct heap cairn_heap_empty = {.kind = HEAP_SENTINEL};
struct heap cairn_heap_dead = {.kind = HEAP_SENTINEL};
pthread_key_t cairn_heap_key;
_Atomic int cairn_heap_key_ready;
#ifndef CAIRN_TLS_PTHREAD
__thread struct heap *cairn_tls_heap = &cairn_heap_empty;
#endif
int cairn_tcache_max_class = SC_NSMALL - 1;

/* The pool of parked heaps, under heaps_lock. A fork child whose parent held
 * the lock retires the pool (see heaps_postfork_child) and starts an empty
 * one. */
struct heap_registry {
	pthread_mutex_t lock; /* heaps_lock */
	struct heap *pool;    /* abandoned heaps. Guarded by lock. */
	unsigned next_arena;  /* Guarded by lock. */
	bool retired;         /* set in a fork child only */
};

static struct heap_registry registry_first = {.lock = PTHREAD_MUTEX_INITIALIZER};
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

static void reclaim_parked(struct heap *h);

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

static inline void slow_path_leave(struct heap *h)
{
	if (h->kind != HEAP_THREAD)
		return;
	struct heap *later[OUTBOX_SLOTS];
	unsigned n = h->n_reclaim_later;
	memcpy(later, h->reclaim_later, n * sizeof later[0]);
	h->n_reclaim_later = 0;
	heap_unlock(h);
	for (unsigned i = 0; i < n; i++)
		reclaim_parked(later[i]);
}

void heap_init(struct heap *h, struct arena *a, enum heap_kind kind)
{
	memset(h, 0, sizeof(*h));
	h->arena = a;
	h->kind = (uint8_t)kind;
	atomic_init(&h->state, HEAP_LIVE);
	h->event_bytes = EVENT_INTERVAL;
}

/* A heap keeps, per class, two lists of slabs besides the current one:
 * `partial` (known to have free blocks) and `full` (had none when the bin
 * last used them up). Slabs on the full list keep their fast_owner, so the
 * owner's frees into them stay on the fast path; refill finds the ones that
 * got free blocks back with a bounded, rotating look at the full list. */
static void list_push(struct spanlist *l, struct span *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	else
		l->tail = s;
	l->head = s;
}

static void list_remove(struct spanlist *l, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
}

static void span_unlink(struct heap *h, struct span *s)
{
	if (s->flags & SPAN_PARTIAL)
		list_remove(&h->partial[s->cls], s);
	else if (s->flags & SPAN_FULL)
		list_remove(&h->full[s->cls], s);
	s->flags = 0;
}

static void partial_push(struct heap *h, struct span *s)
{
	s->flags = SPAN_PARTIAL;
	list_push(&h->partial[s->cls], s);
}

static void span_emptied(struct heap *h, struct span *s);

/* A block freed by the owner of its slab (or under the shared heap's lock).
 * Moves a full slab back to the partial list and gives an empty slab that
 * is not a bin's current one back to the arena. */
static void free_local(struct heap *h, struct span *s, void *p)
{
	block_make_free(p, s, s->local_free);
	s->local_free = p;
	if (--s->used == 0) {
		span_emptied(h, s);
	} else if (s->flags & SPAN_FULL) {
		list_remove(&h->full[s->cls], s);
		partial_push(h, s);
	}
}

static void span_emptied(struct heap *h, struct span *s)
{
	if (h->cur[s->cls] != s) {
		span_unlink(h, s);
		arena_free_run(span_chunk(s)->arena, s);
	}
}

void heap_span_emptied(struct heap *h, struct span *s)
{
	slow_path_enter(h);
	span_emptied(h, s);
	slow_path_leave(h);
}

/* Looks at up to FULL_SCAN slabs of the full list, oldest first; those with
 * free blocks move to the partial list, the others to the back. Bounded so
 * that a heap that rarely frees pays little for the look. */
#define FULL_SCAN 4

static void scan_full(struct heap *h, unsigned cls)
{
	struct spanlist *full = &h->full[cls];
	for (int i = 0; i < FULL_SCAN && full->tail != NULL; i++) {
		struct span *s = full->tail;
		list_remove(full, s);
		if (s->local_free != NULL) {
			partial_push(h, s);
		} else {
			list_push(full, s);
			if (full->tail == s)
				break;
		}
	}
}

/* Pushes the list head..tail onto to's remote frees. self, the sender's
 * heap, holds its lock if it is a thread heap. */
static void remote_push(struct heap *self, struct heap *to, void *head, void *tail)
{
	void *old = atomic_load_explicit(&to->remote, memory_order_relaxed);
	do {
		block_set_next(tail, old);
	} while (!atomic_compare_exchange_weak(&to->remote, &old, head));
	/* A parked heap has no thread to take its frees in: the sender does,
	 * once it holds no heap lock. The push and this load are ordered
	 * against heap_abandon's store of the state and its last drain, so no
	 * block is left behind. */
	if (unlikely(atomic_load(&to->state) == HEAP_ABANDONED)) {
		if (self->kind != HEAP_THREAD) {
			reclaim_parked(to);
			return;
		}
		for (unsigned i = 0; i < self->n_reclaim_later; i++)
			if (self->reclaim_later[i] == to)
				return;
		/* A slow path sends at most one list per outbox; past that
		 * the frees wait for the parked heap's next reclaim or
		 * owner. */
		if (self->n_reclaim_later < OUTBOX_SLOTS)
			self->reclaim_later[self->n_reclaim_later++] = to;
	}
}

/* Whether b is a block of slab s by its address and place, and free by
 * its mark. For the slow paths that walk lists. */
static bool block_ok(const void *b, const struct span *s)
{
	uintptr_t off = (uintptr_t)b - s->start;
	return block_is_free(b, s) && off * s->div_magic < s->div_magic &&
	       off < (size_t)s->carved * sc_size[s->cls];
}

static void drain_remote(struct heap *h)
{
	if (atomic_load_explicit(&h->remote, memory_order_relaxed) == NULL)
		return;
	void *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
	while (b != NULL) {
		/* A block in transit names its slab by its free mark, which
		 * its chunk's header must confirm before anything is written
		 * there (a slab lies in the chunk its blocks lie in). */
		void *next = block_next(b);
		__builtin_prefetch(next, 1);
		struct span *s = (struct span *)block_mark(b);
		if (unlikely(s != chunk_span_of(span_chunk_of(b), (uintptr_t)b)))
			cairn_freelist_corrupt(b);
		free_local(h, s, b);
		b = next;
	}
}

static void outbox_send(struct heap *self, struct outbox *o)
{
	if (o->count) {
		remote_push(self, o->to, o->head, o->tail);
		o->head = o->tail = NULL;
		o->count = 0;
	}
}

static void outbox_add(struct heap *h, struct heap *to, void *b)
{
	struct outbox *o = &h->out[((uintptr_t)to >> 6) % OUTBOX_SLOTS];
	if (o->to != to) {
		outbox_send(h, o);
		o->to = to;
	}
	block_set_next(b, o->head);
	o->head = b;
	if (o->tail == NULL)
		o->tail = b;
	if (++o->count >= OUTBOX_BATCH)
		outbox_send(h, o);
}

/* Fresh blocks are cut out of a slab CARVE_BYTES at a time, and at least
 * CARVE_MIN blocks, so the pages of a slab are touched only as they are
 * used (carving writes the first 16 bytes of each block). */
#define CARVE_BYTES 4096u
#define CARVE_MIN   4u

static bool span_has_free(const struct span *s)
{
	return s->local_free != NULL || s->carved < sc_slab_blocks[s->cls];
}

/* Moves the free blocks of slab s to the caller's bin: its local_free list
 * and, while the slab has blocks not cut out yet and that list is shorter
 * than four carving batches, a batch of those. Short lists grow, so that a
 * thread cycling a few blocks refills its bin rarely (one refill per 16
 * malloc+free pairs of 4 KiB); long ones do not touch fresh pages, so that
 * blocks coming back from other threads are reused first (a producer whose
 * blocks a consumer frees used a third more memory when each refill also
 * carved). Afterwards no carved block is on the slab's own list, so `used`
 * is the number carved less the holes. */
static void *span_adopt(struct span *s)
{
	void **list = s->local_free;
	s->local_free = NULL;
	unsigned left = sc_slab_blocks[s->cls] - s->carved;
	unsigned listed = s->carved - *span_holes(s) - s->used;
	size_t size = sc_size[s->cls];
	unsigned n = CARVE_BYTES / (unsigned)size;
	if (n < CARVE_MIN)
		n = CARVE_MIN;
	if (left > 0 && listed < 4 * n) {
		if (n > left)
			n = left;
		char *first = (char *)s->start + (size_t)s->carved * size;
		char *last = first + (size_t)(n - 1) * size;
		for (char *c = first; c < last; c += size)
			block_make_free(c, s, c + size);
		block_make_free(last, s, list);
		list = (void **)first;
		s->carved = (uint16_t)(s->carved + n);
	}
	s->used = (uint16_t)(s->carved - *span_holes(s));
	return list;
}

void cairn_freelist_corrupt(const void *b)
{
	cairn_fatal_ptr("malloc", "corrupted free list at", b, " (freed memory was written to)");
}

/* heap_pop's checked pop, for the slow paths; the bin is not empty. */
static void *bin_pop(struct heap *h, unsigned cls)
{
	void *b = h->bin[cls];
	if (unlikely(block_mark(b) != h->cur[cls]))
		cairn_freelist_corrupt(b);
	h->bin[cls] = block_next(b);
	block_clear_mark(b);
	return b;
}

/* Fills bin cls, which is empty, and returns one block from it. */
static void *refill(struct heap *h, unsigned cls)
{
	drain_remote(h);
	struct span *s = h->cur[cls];
	if (s != NULL && span_has_free(s))
		goto adopt;
	if (s != NULL) {
		s->flags = SPAN_FULL;
		list_push(&h->full[cls], s);
		h->cur[cls] = NULL;
	}
	if (h->partial[cls].head == NULL)
		scan_full(h, cls);
	s = h->partial[cls].head;
	if (s != NULL) {
		span_unlink(h, s);
	} else {
		s = arena_new_slab(h->arena, h, cls);
		if (s == NULL)
			return NULL;
	}
	h->cur[cls] = s;
	s->fast_owner = h->kind == HEAP_THREAD ? h : NULL;
adopt:
	h->bin[cls] = span_adopt(s);
	return bin_pop(h, cls);
}

static void *heaps_alloc_parked(unsigned cls);

static void *pop_or_refill(struct heap *h, unsigned cls)
{
	if (h->bin[cls] == NULL)
		return refill(h, cls);
	return bin_pop(h, cls);
}

void *heap_shared_alloc(struct arena *a, unsigned cls)
{
	a = arena_shared_lock(a);
	void *p = pop_or_refill(&a->shared, cls);
	mutex_unlock(&a->shared_lock);
	return p != NULL ? p : heaps_alloc_parked(cls);
}

void *heap_alloc_again(struct heap *h, unsigned cls)
{
	if ((int)cls > cairn_tcache_max_class)
		return heap_shared_alloc(h->arena, cls);
	slow_path_enter(h);
	void *p = pop_or_refill(h, cls);
	slow_path_leave(h);
	return p != NULL ? p : heaps_alloc_parked(cls);
}

static void outbox_flush_all(struct heap *h)
{
	for (unsigned i = 0; i < OUTBOX_SLOTS; i++)
		outbox_send(h, &h->out[i]);
}

void *heap_alloc_slow(struct heap *h, unsigned cls, size_t size, heap_fail_fn *fail)
{
	if ((int)cls > cairn_tcache_max_class)
		return heap_shared_alloc(h->arena, cls);
	slow_path_enter(h);
	if (h->event_bytes < 0) {
		/* The rare per-thread event: send what this thread freed for
		 * others, take in what others freed for it. */
		h->event_bytes = EVENT_INTERVAL;
		outbox_flush_all(h);
		drain_remote(h);
		/* Let a purging thread asleep with nothing due see that this
		 * heap is busy, so that it comes back once the heap went idle
		 * (see heaps_decay). Never starts one. */
		if (decay_purger_running())
			decay_request();
	}
	void *p = pop_or_refill(h, cls);
	slow_path_leave(h);
	/* Out of memory: the free blocks of heaps parked by exited threads
	 * (no system call); what else can be reclaimed is the caller's to
	 * decide. */
	if (unlikely(p == NULL) && (p = heaps_alloc_parked(cls)) == NULL)
		return fail(h, cls);
	return p;
}

static NOINLINE void free_slow_rest(struct heap *self, struct span *s, void *p)
{
	slow_path_enter(self);
	struct heap *owner = s->owner;
	if (owner == self) {
		free_local(self, s, p);
	} else if (owner->kind == HEAP_SHARED) {
		/* Into a retired arena's shared heap (in a fork child): its
		 * lists may be half changed, so the block is leaked. */
		struct arena *a = owner->arena;
		mutex_lock(&a->shared_lock);
		if (likely(!a->retired))
			free_local(owner, s, p);
		mutex_unlock(&a->shared_lock);
	} else {
		block_make_free(p, s, NULL); /* marked free while it travels */
		if (self->kind == HEAP_THREAD)
			outbox_add(self, owner, p);
		else
			remote_push(self, owner, p, p);
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
		block_make_free(p, s, o->head);
		/* The block's words are stored before it is on the list, so
		 * that a child forked meanwhile finds the list whole. */
		atomic_signal_fence(memory_order_release);
		o->head = p;
		o->count++;
		return;
	}
	free_slow_rest(self, s, p);
}

/* The large cache: at most LARGE_CACHE_COUNT runs of a class and
 * LARGE_CACHE_BYTES in all per heap. Its runs stay allocated as far as the
 * arena knows, marked LARGE_CACHED so that a second free is caught. */
#define LARGE_CACHE_COUNT 8
#define LARGE_CACHE_BYTES (4ul << 20)

static int large_class(size_t npages)
{
	size_t bytes = npages << PAGE_SHIFT;
	if (bytes <= SMALL_MAX || bytes > LARGE_MAX)
		return -1;
	unsigned c = size_class(bytes);
	return sc_size[c] == bytes ? (int)(c - SC_NSMALL) : -1;
}

/* The owner changes the cache under its heap's lock, since the purging
 * thread empties the caches of idle heaps (heaps_decay); a look at an empty
 * class takes no lock. The lock alone, not slow_path_enter/leave: nothing
 * here sends frees to other heaps. */
static inline void large_lock(struct heap *h)
{
	heap_lock(h);
	uint32_t n = atomic_load_explicit(&h->slow_count, memory_order_relaxed);
	atomic_store_explicit(&h->slow_count, n + 1, memory_order_relaxed);
}

struct span *heap_large_take(struct heap *h, size_t npages)
{
	int c = large_class(npages);
	if (h->kind != HEAP_THREAD || c < 0 ||
	    __atomic_load_n(&h->large[c], __ATOMIC_RELAXED) == NULL)
		return NULL;
	large_lock(h);
	struct span *s = h->large[c];
	if (s != NULL) {
		h->large[c] = s->next;
		h->large_count[c]--;
		h->large_bytes -= span_bytes(s);
		s->flags = 0;
	}
	heap_unlock(h);
	return s;
}

bool heap_large_put(struct heap *h, struct span *s)
{
	int c = large_class(s->npages);
	if (h->kind != HEAP_THREAD || c < 0)
		return false;
	large_lock(h);
	bool room = h->large_count[c] < LARGE_CACHE_COUNT &&
	            h->large_bytes + span_bytes(s) <= LARGE_CACHE_BYTES;
	if (room) {
		s->flags = LARGE_CACHED;
		s->next = h->large[c];
		h->large[c] = s;
		h->large_count[c]++;
		h->large_bytes += span_bytes(s);
	}
	bool want_purger = h->large_bytes >= DECAY_REQUEST_PAGES * PAGE_SIZE;
	heap_unlock(h);
	/* The cache is given back only by the purging thread's looks at idle
	 * heaps: it must be running once the cache holds much. */
	if (want_purger)
		decay_request_start();
	return room;
}

/* Returns the bytes given back to the arenas. */
static size_t large_flush(struct heap *h)
{
	size_t bytes = h->large_bytes;
	for (unsigned c = 0; c < SC_NCLASSES - SC_NSMALL; c++) {
		while (h->large[c] != NULL) {
			struct span *s = h->large[c];
			/* Atomic: the owner may be peeking (heap_large_take). */
			__atomic_store_n(&h->large[c], s->next, __ATOMIC_RELAXED);
			s->flags = 0;
			arena_free_run(span_chunk(s)->arena, s);
		}
		h->large_count[c] = 0;
	}
	h->large_bytes = 0;
	return bytes;
}

void heap_flush(struct heap *h)
{
	slow_path_enter(h);
	large_flush(h);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		void *b = h->bin[c];
		h->bin[c] = NULL;
		for (unsigned n = 0; b != NULL; n++) {
			struct span *s = h->cur[c];
			if (unlikely(!block_ok(b, s) || n >= sc_slab_blocks[c]))
				cairn_freelist_corrupt(b);
			void *next = block_next(b);
			free_local(h, s, b);
			b = next;
		}
	}
	outbox_flush_all(h);
	drain_remote(h);
	slow_path_leave(h);
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
	drain_remote(h);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		struct span *s = h->cur[c];
		if (s != NULL && s->used == 0) {
			h->cur[c] = NULL;
			arena_free_run(span_chunk(s)->arena, s);
		}
	}
	return took;
}

/* Frees sent to a parked heap: heaps_lock makes the caller its only user,
 * since a parked heap is otherwise touched only by heap_acquire, under the
 * same lock, and by heaps_decay and heaps_alloc_parked, which take it out of
 * the pool first (take_parked). */
static void reclaim_parked(struct heap *h)
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

/* Gives back the pages of slab s on which every block is free. The free
 * blocks that start on those pages become holes (their links would go
 * with the pages). Runs under the owner's lock or with no owner; the owner's
 * fast path may still push frees in front of the list meanwhile, so the
 * list's first block (and its page) stays, and the links changed are those
 * of blocks behind it, which nothing else writes. Returns the bytes
 * purged. */
static size_t purge_slab_pages(struct span *s)
{
	void *head = __atomic_load_n((void **)&s->local_free, __ATOMIC_ACQUIRE);
	if (head == NULL)
		return 0;
	size_t size = sc_size[s->cls];
	unsigned carved = s->carved;
	uint64_t free_bits[4096 / 64] = {0};
	unsigned listed = 0;
	for (void *b = head; b != NULL; b = block_next(b)) {
		/* A list written over could lead anywhere, or round in a
		 * circle: each block must be a free one of this slab, and
		 * there are no more of them than carved. */
		if (unlikely(!block_ok(b, s) || ++listed > carved))
			cairn_freelist_corrupt(b);
		unsigned i = (unsigned)(((uintptr_t)b - s->start) / size);
		free_bits[i / 64] |= 1ull << (i % 64);
	}
	/* A page can go if every carved block overlapping it is free. */
	unsigned npages = (unsigned)((carved * size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	uint64_t gone = 0;
	for (unsigned p = 0; p < npages; p++) {
		unsigned first = (unsigned)(((size_t)p << PAGE_SHIFT) / size);
		unsigned last = (unsigned)((((size_t)p + 1) << PAGE_SHIFT) - 1) / (unsigned)size;
		if (last >= carved)
			last = carved - 1;
		bool all = true;
		for (unsigned i = first; i <= last && all; i++)
			all = (free_bits[i / 64] >> (i % 64)) & 1;
		if (all)
			gone |= 1ull << p;
	}
	gone &= ~(1ull << (((uintptr_t)head - s->start) >> PAGE_SHIFT));
	if (gone == 0)
		return 0;
	unsigned holes = 0;
	for (void *prev = head, *b = block_next(head); b != NULL; b = block_next(prev)) {
		if ((gone >> (((uintptr_t)b - s->start) >> PAGE_SHIFT)) & 1) {
			block_set_next(prev, block_next(b));
			holes++;
		} else {
			prev = b;
		}
	}
	*span_holes(s) = (uint16_t)(*span_holes(s) + holes);
	size_t purged = 0;
	for (unsigned p = 0; p < npages;) {
		if (!((gone >> p) & 1)) {
			p++;
			continue;
		}
		unsigned q = p;
		while (q < npages && ((gone >> q) & 1))
			q++;
		os_purge((void *)(s->start + ((uintptr_t)p << PAGE_SHIFT)), (size_t)(q - p)
		                                                                << PAGE_SHIFT);
		purged += (size_t)(q - p) << PAGE_SHIFT;
		p = q;
	}
	return purged;
}

static size_t purge_heap_slabs(struct heap *h)
{
	size_t purged = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		if (h->cur[c] != NULL)
			purged += purge_slab_pages(h->cur[c]);
		for (struct span *s = h->partial[c].head; s != NULL; s = s->next)
			purged += purge_slab_pages(s);
		for (struct span *s = h->full[c].head; s != NULL; s = s->next)
			purged += purge_slab_pages(s);
	}
	return purged;
}

void heap_large_flush_self(void)
{
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD) {
		slow_path_enter(h);
		large_flush(h);
		slow_path_leave(h);
	}
}

size_t heap_purge_self(void)
{
	struct heap *h = heap_self();
	if (h->kind != HEAP_THREAD)
		return 0;
	slow_path_enter(h);
	large_flush(h);
	size_t purged = purge_heap_slabs(h);
	slow_path_leave(h);
	return purged;
}

size_t heaps_decay(uint64_t now, bool force, uint64_t *next)
{
	size_t purged = 0;
	int64_t decay = cairn_core.dirty_decay_ms;
	struct heap_registry *r = heaps_lock();
	for (struct heap **link = &r->pool; *link != NULL;) {
		struct heap *h = *link;
		bool due = h->needs_purge &&
		           (force || (decay >= 0 && now - h->parked_since >= (uint64_t)decay));
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
		purged += purge_heap_slabs(h);
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
		if (count != h->idle_seen) {
			h->idle_seen = count;
			h->idle_backoff = 0;
			h->idle_next = now + wait;
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
		size_t flushed = large_flush(h);
		size_t got = purge_heap_slabs(h);
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
static void *heaps_alloc_parked(unsigned cls)
{
	void *p = NULL;
	struct heap *tried = NULL;
	struct heap_registry *r = heaps_lock();
	for (struct heap **link = &r->pool; p == NULL;) {
		while (*link != NULL && (*link)->bin[cls] == NULL && (*link)->cur[cls] == NULL &&
		       (*link)->partial[cls].head == NULL && (*link)->full[cls].head == NULL)
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
		if (h->bin[cls] != NULL) {
			p = bin_pop(h, cls);
		} else {
			drain_remote(h);
			struct span *s = h->cur[cls];
			if (s == NULL || !span_has_free(s)) {
				if (h->partial[cls].head == NULL)
					scan_full(h, cls);
				s = h->partial[cls].head;
				if (s != NULL) {
					if (h->cur[cls] != NULL) {
						h->cur[cls]->flags = SPAN_FULL;
						list_push(&h->full[cls], h->cur[cls]);
					}
					span_unlink(h, s);
					h->cur[cls] = s;
					s->fast_owner = h;
				}
			}
			if (s != NULL) {
				h->bin[cls] = span_adopt(s);
				p = bin_pop(h, cls);
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

void heap_abandon(struct heap *h)
{
	heap_flush(h);
	struct heap_registry *r = heaps_lock();
	park_locked(r, h, true);
	heaps_unlock(r);
	decay_request();
}

void heaps_prefork(void)
{
	if (lock_held_by_self())
		return;
	for (struct heap *h = atomic_load(&all_heaps); h != NULL; h = h->all_next) {
		/* A leaked heap (in a process that is itself a fork child)
		 * keeps the lock of a thread that is gone. */
		if (atomic_load_explicit(&h->lock, memory_order_relaxed) != 0 &&
		    atomic_load(&h->state) != HEAP_LEAKED) {
			heap_lock(h);
			heap_unlock(h);
		}
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
 * pool's own lock was held, the pool is retired with the heaps in it. */
void heaps_postfork_child(void)
{
	struct heap *self = heap_self();
	struct heap_registry *r = atomic_load(&registry_cur);
	bool pool_lost = false;
	if (mutex_reset_was_held(&r->lock)) {
		struct heap_registry *fresh = meta_alloc(sizeof(*fresh));
		if (fresh != NULL) {
			pthread_mutex_init(&fresh->lock, NULL);
			fresh->next_arena = r->next_arena;
			r->retired = true;
			atomic_store(&registry_cur, fresh);
			pool_lost = true;
		}
	}
	for (struct heap *h = atomic_load(&all_heaps); h != NULL; h = h->all_next) {
		uint8_t state = atomic_load(&h->state);
		/* A heap off the pool (HEAP_PURGING) is locked (take_parked). */
		if (atomic_load(&h->lock) != 0 || state == HEAP_PURGING ||
		    (state == HEAP_ABANDONED && pool_lost)) {
			atomic_store(&h->state, HEAP_LEAKED);
		} else if (h != self && state == HEAP_LIVE) {
			heap_flush(h);
			struct heap_registry *now = heaps_lock();
			park_locked(now, h, true);
			heaps_unlock(now);
		}
	}
	if (self->kind == HEAP_THREAD && atomic_load(&self->state) == HEAP_LEAKED)
		heap_set_self(&cairn_heap_empty);
}
