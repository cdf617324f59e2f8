/* SPDX-License-Identifier: MIT */
/* Thread heaps: the fast path.
 *
 * Each thread has a heap: per small class, a list of free blocks (the bin)
 * and the slab those blocks come from. malloc pops a bin; free pushes onto
 * the slab's local_free list when the calling thread owns the slab. Both
 * are a handful of instructions with no lock, no atomic read-modify-write
 * and no call (see heap_pop and heap_free_fast below, and the instruction
 * counts in the README). Everything else is out of line: refilling a bin
 * in refill.c, frees the fast path does not take and the rare events in
 * heap.c, a heap's slabs in slab.c, frees to other threads in remote.c, its
 * cache of large runs in largecache.c, parked heaps in pool.c, the arenas'
 * shared heaps in shared.c.
 *
 * A slab's block counter `used` counts the blocks not on the slab's own
 * lists (held by the program or sitting in its owner's bin). A bin is only
 * refilled when empty, and a refill adopts every free block of the slab at
 * once, so `used` becomes the capacity without counting anything.
 *
 * A freed block holds the address of its slab descriptor, the free mark,
 * in its first word and the next link in its second (core/block.h): free
 * recognises a block that is already free by the mark (one compare), and
 * malloc checks it against the bin's slab before handing the block out
 * (three instructions, which an empty bin fails too: its lists end in
 * LIST_END), then clears it. A program never sees descriptor
 * addresses, so live data matches the mark only if it was copied out of
 * freed memory.
 *
 * Frees from other threads are batched per destination heap in the freeing
 * thread's outbox and pushed as one chain with one CAS onto the owner's
 * `remote` stack; the owner takes the whole stack with one exchange on its
 * slow paths. */
#ifndef CAIRN_HEAP_H
#define CAIRN_HEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/block.h"
#include "core/chunk.h"
#include "core/counters.h"
#include "core/lock.h"
#include "os/os.h"
#include "sizeclass_table.h"

enum heap_kind {
	HEAP_THREAD,
	HEAP_SHARED,   /* an arena's shared heap, used under its lock */
	HEAP_SENTINEL, /* the static stand-ins below; never owns anything */
};

enum heap_state {
	HEAP_LIVE,      /* a thread's */
	HEAP_ABANDONED, /* parked in the pool after its thread exited */
	/* taken out of the pool, locked, while its slabs are purged or a
	 * block is taken from them (take_parked in pool.c) */
	HEAP_PURGING,
	/* In a fork child: its lock was held when the parent forked, so its
	 * lists may be half changed. Never used again; frees sent to it stay
	 * on its remote list. */
	HEAP_LEAKED,
};

#define OUTBOX_SLOTS 8
#define OUTBOX_BATCH 32

/* Links of a chain of blocks another thread freed are cache misses one
 * after the other when the owner walks it (the freeing thread wrote them
 * on its core last). With each block naming the one this many places on,
 * that many of those misses are under way at once: producer/consumer spent
 * 38% of its time walking such chains. */
#define OUTBOX_AHEAD 4

struct outbox {
	struct heap *to;
	void *head, *tail;
	uint32_t count;
	/* The last OUTBOX_AHEAD blocks added, at count % OUTBOX_AHEAD: each
	 * new block names the one added OUTBOX_AHEAD before it (block_ahead). */
	void *recent[OUTBOX_AHEAD];
};

/* Block p of slab s joins outbox o's chain as its block number n
 * (o->count before it): p's words as a free block written, it names the
 * block OUTBOX_AHEAD places on. Every class but the first (16 bytes) has
 * room for that (tests/unit/sizeclass.c); outbox_send clears the last
 * blocks noted, so that a new chain's first blocks name none. The caller
 * then makes p the head and counts it. */
static ALWAYS_INLINE void outbox_link(struct outbox *o, void *p, const struct span *s, uint32_t n)
{
	void **r = &o->recent[n % OUTBOX_AHEAD];
	void *ahead = *r;
	block_make_free(p, s, o->head);
	if (s->cls != 0)
		block_set_ahead(p, ahead);
	*r = p;
}

struct spanlist {
	struct span *head, *tail;
};

/* The calling thread's bytes allocated and freed, jemalloc's
 * thread.allocated and thread.deallocated, in usable sizes (what a free
 * knows), counted on slow paths only: core/tally.h says how, and how far
 * the two counters below may lag. Written by the owner only (a parked
 * heap's by whoever holds it); reset when a thread takes the heap. */
struct heap_tally {
	uint64_t allocated;   /* what thread.allocatedp points at */
	uint64_t deallocated; /* what thread.deallocatedp points at */
	/* Bytes of this heap's small blocks that other threads freed, taken
	 * in (remote_drain): not this thread's frees. */
	uint64_t remote_in;
	/* The owner's frees of its own small blocks as of the last walk of
	 * the slabs (tally_fast_frees), in deallocated already. */
	uint64_t fast_seen;
	/* Per class, the blocks the bin served since its last refill that are
	 * in allocated already (counted by a walk of the bin). */
	uint32_t bin_seen[SC_NSMALL];
	/* thread.peak: the highest allocated - deallocated seen, less the
	 * level at the last reset; sampled at every update, and at the
	 * thread's events once it used peak.* (peak_on). */
	int64_t peak, peak_base;
	bool peak_on;
};

struct heap {
	/* Hot: the fast path touches only these. */
	void *bin[SC_NSMALL];        /* free blocks ready to hand out, per class */
	struct span *cur[SC_NSMALL]; /* the slab each bin draws from (its mark) */
	/* The class of n for n <= LOOKUP_MAX (sc_lookup1): malloc reads it off
	 * the heap pointer it holds already, one instruction fewer than
	 * addressing the library's table (a lea), for 1 KiB a heap. */
	uint8_t class_of[LOOKUP_MAX + 1];

	/* Slow paths. */
	struct spanlist partial[SC_NSMALL]; /* other slabs with free blocks */
	struct spanlist full[SC_NSMALL];    /* slabs that had none left */
	struct arena *arena;
	_Atomic(void *) remote; /* blocks freed by other threads */
	struct outbox out[OUTBOX_SLOTS];
	uint8_t out_used; /* bit i: out[i] holds blocks (the rare event sends only those) */
	/* Freed large runs kept for this thread's next large allocations of
	 * the same class, without the arena lock (LARGE_CACHE_* bound them). */
	struct span *large[SC_NCLASSES - SC_NSMALL];
	uint8_t large_count[SC_NCLASSES - SC_NSMALL];
	/* Per class, the fewest runs cached since the last trim: that many
	 * sat unused for the whole period (heap_trim). */
	uint8_t large_low[SC_NCLASSES - SC_NSMALL];
	size_t large_bytes;
	/* The bytes the cache may hold (LARGE_CACHE_BYTES below). Written by
	 * the owner without the lock, and by the purging thread with it: a
	 * bound the cache adapts, read and written relaxed. */
	size_t large_limit;
	struct heap *all_next;  /* every heap ever made; set before it is listed */
	struct heap *pool_next; /* abandoned heaps. Guarded by heaps_lock. */
	/* What the fast_owner of this heap's slabs holds while its frees may
	 * be pushed without a lock (see heap_owner_id): the pointer of the
	 * thread whose heap it is, or its own address for a thread-kind heap
	 * no thread has (an explicit cache, a heap not yet taken); 0 for a
	 * parked heap and the shared ones. Changed under the heap's lock,
	 * with the slabs' (heap_own). */
	uintptr_t owner_id;
	uint8_t kind;
	/* A thread-kind heap that no thread has as its own: a cache the
	 * program created (tcache.create), used by one thread at a time. */
	bool explicit_cache;
	/* Blocks cut out of slabs one at a time and only when none is free:
	 * the heap profiler's, whose blocks (sampled ones) are few and far
	 * between, so that each class it holds costs a page, not a batch. */
	bool cut_singly;
	/* A shared heap that keeps the slabs that empty, as a live thread's
	 * heap does, for its trims and the purging threads to give back
	 * (shared_heaps_decay): the automatic arenas' and the profiler's. */
	bool keep_empty;
	_Atomic uint8_t state; /* enum heap_state */
	/* Held by the owner over every slow path that changes the slab lists
	 * (see slow_path_enter in heap.c). */
	cairn_mutex lock;
	/* Slow paths taken so far: the purging thread sees that a live heap's
	 * thread sits idle when this stops moving. Written by the owner only. */
	_Atomic uint32_t slow_count;
	/* Rare events run so far, and when (ms) one next trims what the heap
	 * keeps unused (heap_trim). Owner only. */
	uint32_t events;
	uint64_t trim_at;
	uint64_t kept_empty;   /* classes that may have empty slabs to give back */
	uint32_t idle_seen;    /* slow_count when last looked at. Guarded by heaps_lock. */
	uint32_t quick_purged; /* slow_count at the last quick purge. Guarded by heaps_lock. */
	uint8_t idle_backoff;  /* purges in a row that found nothing. Guarded by heaps_lock. */
	uint64_t idle_next;    /* ms: when to purge it next. Guarded by heaps_lock. */
	/* Parked heaps this slow path sent frees to, taken in once the lock is
	 * released (reclaiming takes heaps_lock, which ranks above it). */
	struct heap *reclaim_later[OUTBOX_SLOTS];
	uint8_t n_reclaim_later;
	bool needs_purge;      /* parked with free slab pages. Guarded by heaps_lock. */
	uint64_t parked_since; /* ms. Guarded by heaps_lock. */
	/* Statistics, counted on slow paths under the heap's lock. */
	struct heap_counters counters[SC_NSMALL];
	struct heap_tally tally;
	/* thread.tcache.enabled false: the bins stay empty and every small
	 * request goes to the arena's shared heap (heap_alloc_slow), large
	 * runs are not cached. Owner only. */
	bool tcache_off;
	/* The event countdown: bytes until the rare event or the next sample,
	 * whichever comes first. Charged by the slow paths only: a small
	 * block's bytes when its bin takes it (core/refill.c), a big block's
	 * when it is allocated. */
	int64_t event_bytes;
	/* The countdown's two clients, in bytes left as of the last time
	 * event_bytes was set (to event_set, the smaller of them): the rare
	 * event's (EVENT_INTERVAL apart) and the heap profiler's next sample
	 * (src/prof/; INT64_MAX while it does not sample). One countdown
	 * serves both. */
	int64_t event_set;
	int64_t event_left;
	int64_t sample_left;
	/* Bytes of big blocks that the rare event's count left out (past
	 * EVENT_WEIGHT_MAX each), added to cairn_event_bytes at the next
	 * event so that stats_interval still counts every byte. */
	uint64_t event_uncounted;
	/* The profiler's, for this heap's thread: src/prof/sample.c. */
	uint64_t prof_rng;
	bool prof_active;   /* thread.prof.active */
	bool prof_busy;     /* sampling now: what it allocates is not sampled */
	char prof_name[32]; /* thread.prof.name */
};

/* Heap stand-ins with empty bins, so a thread without a heap falls into the
 * slow path with no extra test on the fast path: empty before the thread's
 * first allocation, dead after its exit destructor ran. */
extern struct heap cairn_heap_empty HIDDEN;
extern struct heap cairn_heap_dead HIDDEN;

/* The key whose destructor runs at thread exit; in the variant built to be
 * dlopen-safe (CAIRN_TLS_PTHREAD) it also holds the thread's heap, since
 * that variant has no initial-exec TLS at all. */
extern pthread_key_t cairn_heap_key HIDDEN;
extern _Atomic int cairn_heap_key_ready HIDDEN;

#ifdef CAIRN_TLS_PTHREAD
static ALWAYS_INLINE struct heap *heap_self(void)
{
	if (unlikely(!atomic_load_explicit(&cairn_heap_key_ready, memory_order_acquire)))
		return &cairn_heap_empty;
	struct heap *h = pthread_getspecific(cairn_heap_key);
	return h ? h : &cairn_heap_empty;
}
static inline void heap_set_self(struct heap *h)
{
	pthread_setspecific(cairn_heap_key, h);
}
#else
extern __thread struct heap *cairn_tls_heap HIDDEN __attribute__((tls_model("initial-exec")));
static ALWAYS_INLINE struct heap *heap_self(void)
{
	return cairn_tls_heap;
}
static inline void heap_set_self(struct heap *h)
{
	cairn_tls_heap = h;
	pthread_setspecific(cairn_heap_key, h);
}
#endif

/* Who the calling thread is to the free fast path, as a slab's fast_owner
 * names it: the thread pointer where reading it is one instruction, one
 * fewer than the heap pointer's initial-exec TLS (a GOT load, then the
 * %fs-relative load). A thread pointer is used again by a thread created
 * later (glibc hands a joined thread's stack and TCB to the next one, and
 * a fork child's new threads those of the parent's other threads), so a
 * heap's slabs name no thread once its thread is gone: heap_abandon sets
 * their fast_owner to 0 before the thread ends, a fork child does it for
 * the heaps of the threads it lacks (heaps_postfork_child), and a thread
 * taking a parked heap names itself in them (heap_own). Elsewhere, the
 * heap pointer, as the heap's owner_id is then. */
static ALWAYS_INLINE uintptr_t heap_owner_id(void)
{
	uintptr_t id;
#if defined(__x86_64__)
	__asm__("mov %%fs:0, %0" : "=r"(id));
#elif defined(__aarch64__)
	__asm__("mrs %0, tpidr_el0" : "=r"(id));
#else
	id = (uintptr_t)heap_self();
#endif
	return id;
}

/* Every EVENT_INTERVAL bytes allocated a thread takes its rare-event slow
 * path: it processes frees other threads sent it and flushes its outbox.
 * The heap profiler's samples come on the same countdown (sample_left).
 * An allocation counts toward the rare event as EVENT_WEIGHT_MAX bytes at
 * most (every small one in full): the event's work is per operation, not
 * per byte, and a thread of 32 KiB-1 MiB blocks took it every third
 * allocation, a third of the cost of a large block cached by its thread.
 * Now a thread of large blocks takes it at least every 16 of them. The
 * profiler's countdown counts every byte, a small block's as its class's
 * size (the bytes the profile records for it). */
#define EVENT_INTERVAL   (1 << 20)
#define EVENT_WEIGHT_MAX (64 << 10)

/* A thread heap's cache of large runs (largecache.h) keeps at most
 * LARGE_CACHE_COUNT runs of a class, and at most large_limit bytes in all:
 * LARGE_CACHE_BYTES at first, raised by each miss of a cache too full to
 * have taken the run missed, up to LARGE_CACHE_BYTES_MAX, and lowered again
 * by the runs a trim finds unused. The room above LARGE_CACHE_BYTES is
 * shared by all thread heaps, LARGE_CACHE_EXTRA_ALL in all, so that many
 * threads cannot each hold twice as much.
 *
 * Why: a thread that keeps four blocks of 32 KiB-1 MiB live and replaces
 * them at random missed its 4 MiB cache on a quarter of its allocations,
 * and each miss went through the arena twice (its lock, search, split and
 * merge: about 680 instructions a pair, against 235 for a hit): 461
 * instructions a pair in all. With its bound at 8 MiB it misses on 8%
 * (323), where 16 MiB would take it to 260 but hold 10% more peak RSS in
 * the 2-thread server and in buffers grown by realloc (cached runs are
 * pages other sizes cannot reuse, and that an in-place realloc cannot grow
 * into); 8 MiB within the shared room cost them and python 2-4%, at most
 * LARGE_CACHE_EXTRA_ALL a process. */
#define LARGE_CACHE_COUNT     8
#define LARGE_CACHE_BYTES     (4ul << 20)
#define LARGE_CACHE_BYTES_MAX (8ul << 20)
#define LARGE_CACHE_EXTRA_ALL (4ul << 20)

static inline void heap_init(struct heap *h, struct arena *a, enum heap_kind kind)
{
	memset(h, 0, sizeof(*h));
	for (unsigned c = 0; c < SC_NSMALL; c++)
		h->bin[c] = LIST_END;
	memcpy(h->class_of, sc_lookup1, sizeof(h->class_of));
	h->arena = a;
	h->kind = (uint8_t)kind;
	h->owner_id = kind == HEAP_THREAD ? (uintptr_t)h : 0;
	atomic_init(&h->state, HEAP_LIVE);
	h->event_bytes = h->event_set = h->event_left = EVENT_INTERVAL;
	h->sample_left = INT64_MAX;
	h->large_limit = LARGE_CACHE_BYTES;
}

/* Takes the bytes counted down since event_bytes was last set off both
 * clients' counts; heap_event_arm sets the countdown again. */
static inline void heap_event_sync(struct heap *h)
{
	int64_t spent = h->event_set - h->event_bytes;
	h->event_left -= spent;
	if (h->sample_left != INT64_MAX)
		h->sample_left -= spent;
	h->event_set = h->event_bytes = 0;
}

static inline void heap_event_arm(struct heap *h)
{
	int64_t n = h->event_left < h->sample_left ? h->event_left : h->sample_left;
	if (n < 0)
		n = 0;
	h->event_set = h->event_bytes = n;
}

/* What an allocation of `bytes` counts toward the rare event. */
static inline int64_t event_weight(int64_t bytes)
{
	return bytes < EVENT_WEIGHT_MAX ? bytes : EVENT_WEIGHT_MAX;
}

/* Charges an allocation of `bytes` to h's countdown as of now (the
 * owner): event_weight(bytes) to the rare event, all of them to the
 * profiler's next sample, and what the event's count left out to
 * event_uncounted. The caller arms the countdown again. */
static inline void heap_event_charge(struct heap *h, int64_t bytes)
{
	int64_t w = event_weight(bytes);
	heap_event_sync(h);
	h->event_left -= w;
	if (h->sample_left != INT64_MAX)
		h->sample_left -= bytes;
	h->event_uncounted += (uint64_t)(bytes - w);
}

/* Counts a big block's `bytes` on thread heap h's countdown where that
 * brings neither the rare event nor a sample due (the owner, no lock), as
 * heap_event_charge does. False, nothing counted, where one would come
 * due: the caller then goes the slow way (heap_event_count). */
static ALWAYS_INLINE bool heap_count_big(struct heap *h, int64_t bytes)
{
	int64_t w = event_weight(bytes);
	/* Not sampling, the countdown serves the event alone. */
	if (likely(h->sample_left == INT64_MAX)) {
		if (unlikely(h->event_bytes < w))
			return false;
		h->event_bytes -= w;
		h->event_uncounted += (uint64_t)(bytes - w);
		return true;
	}
	int64_t spent = h->event_set - h->event_bytes;
	if (h->event_left - spent < w || h->sample_left - spent < bytes)
		return false;
	heap_event_charge(h, bytes);
	heap_event_arm(h);
	return true;
}

/* A heap's lock (core/lock.h): taken by the owner on its slow paths, and
 * rarely by the purging thread as well. */
static inline void heap_lock(struct heap *h)
{
	mutex_lock(&h->lock);
}

static inline bool heap_trylock(struct heap *h)
{
	return mutex_trylock(&h->lock);
}

static inline void heap_unlock(struct heap *h)
{
	mutex_unlock(&h->lock);
}

/* What heap_alloc_slow returns through, rather than returning itself, when
 * it has no block (p NULL: no slab could be had, not even from the heaps
 * exited threads left), when a request to start the purging threads
 * waits, or when cairn_event_bytes passed cairn_event_due: a function of the caller's that may
 * reclaim memory (decay.h) and try heap_alloc_again, start the threads where no lock is held, and
 * say why it failed. A constant at every call, like heap_slow_fn. */
typedef void *heap_after_fn(struct heap *h, unsigned cls, void *p);

/* The bytes thread heaps allocated, counted EVENT_INTERVAL at a time at
 * their rare events, and the count past which heap_alloc_slow leaves
 * through its `after` (UINT64_MAX, the default: never). The api sets
 * cairn_event_due for the stats_interval report. */
extern _Atomic uint64_t cairn_event_bytes HIDDEN;
extern _Atomic uint64_t cairn_event_due HIDDEN;

/* Slow paths, out of line. heap_alloc_slow serves heap_pop when h's bin is
 * empty, its first block is not its slab's (reported when it would be
 * handed out) or its event countdown ran out; h is a thread heap, never a
 * sentinel (those are the caller's to deal with: see heap_pop). Neither it
 * nor heap_alloc_again sets errno; heap_alloc_again returns NULL when it
 * fails. */
void *heap_alloc_slow(struct heap *h, unsigned cls, size_t size, heap_after_fn *after);
/* An allocation of `bytes` by a path other than the small fast path (a
 * large or huge block, a small one past the thread's cache) that
 * heap_count_big did not count: counts them (event_weight(bytes) toward
 * the rare event, all toward the sample), and runs the rare event when its
 * count passes zero. True when the stats_interval report is due (as
 * heap_alloc_slow's `after`). A sample is due when h->sample_left <= 0
 * afterwards. */
bool heap_event_count(struct heap *h, size_t bytes);
void *heap_alloc_again(struct heap *h, unsigned cls);
void heap_free_slow(struct heap *self, struct span *s, void *p);
/* The owner's last block of slab s came back: the slab stays with the heap
 * for its class (slab.c), or goes back to the arena. */
void heap_span_emptied(struct heap *h, struct span *s);
/* Called at thread exit: flushes the heap and parks it for reuse, its
 * slabs owned by no thread (heap_own(h, 0)). */
void heap_abandon(struct heap *h);
/* Makes id h's owner_id and the fast_owner of its slabs that have one (not
 * the kept empty ones): a thread taking a heap (its heap_owner_id), an
 * explicit cache (its address), a heap being parked (0). Takes h's lock. */
void heap_own(struct heap *h, uintptr_t id);
/* The same with no lock, in a fork child, for a heap whose lock was free. */
void heap_own_locked(struct heap *h, uintptr_t id);
/* Returns the blocks in h's bins to their slabs, sends its outbox and takes
 * in its remote frees. */
void heap_flush(struct heap *h);
/* Gives back half of the kept empty slabs and cached large runs that sat
 * unused since h's last trim, and marks the rest (h's lock held). The
 * owner's rare event calls it every 1/8 of dirty_decay_ms. */
void heap_trim(struct heap *h);

/* The arenas' shared heaps (shared.c). */

/* Sets up the arenas' shared heaps, one per arena (after arenas_init). */
bool shared_heaps_init(void);
/* The decay of the empty slabs the automatic arenas' shared heaps and the
 * profiler's keep: every 1/8 of dirty_decay_ms, half of those no refill
 * took through the period before go back to their arenas (all of them
 * with force). Lowers *next to when it is due again while some are kept. */
void shared_heaps_decay(uint64_t now, bool force, uint64_t *next);
/* Calls visit on each shared heap of the automatic arenas, their own and
 * those shared_heap_create made for them, its lock held. */
void shared_heaps_visit(void (*visit)(struct heap *h, void *arg), void *arg);
/* Takes a small block from an arena's shared heap (under its lock), or
 * from the heaps exited threads left; NULL, errno untouched, if neither
 * has one. */
void *heap_shared_alloc(struct arena *a, unsigned cls);
/* A created arena's shared heap (metadata memory, never freed), its
 * blocks, and its reset: every slab forgotten, for arena_reset to take
 * back with the chunks (call with the arena's blocks no longer used). */
struct heap *shared_heap_create(struct arena *a);
void *shared_heap_alloc(struct heap *h, unsigned cls);
/* Has fn told of every block freed into shared heap h, before it is
 * freed, with no lock of the heap's held (set once, before h is used):
 * the heap profiler's heap of sampled blocks learns their frees there, on
 * a path only frees into shared heaps take, not on a thread's. */
void shared_heap_on_free(struct heap *h, void (*fn)(void *p, size_t size));
/* Has shared heap h cut blocks out of its slabs one at a time (see
 * struct heap's cut_singly), from now on and after any reset. */
void shared_heap_cut_singly(struct heap *h);
/* Calls visit on h, a created arena's shared heap, its lock held. */
void shared_heap_visit(struct heap *h, void (*visit)(struct heap *h, void *arg), void *arg);
/* Runs fn(arg) with h's lock held, its lists emptied first. */
void shared_heap_reset(struct heap *h, void (*fn)(void *arg), void *arg);
/* Frees p, a block of slab s of shared heap h, under h's lock, after
 * telling h's on_free of it: heap_free_slow's, for a block of a shared
 * heap's slab. */
void shared_heap_free(struct heap *h, struct span *s, void *p);
/* In a fork child: retires the automatic arenas' shared heaps whose lock
 * was held when the parent forked (for heaps_postfork_child). */
void shared_heaps_postfork_child(void);
/* In a fork child: a created arena's shared heap, as
 * heaps_postfork_child does the automatic ones. */
void shared_heap_postfork_child(struct heap *h);

/* The largest class thread heaps cache (tcache_max); -1 for none. */
extern int cairn_tcache_max_class HIDDEN;

/* The same for the calling thread's own heap, now, after giving its cached
 * large runs back to their arenas. */
size_t heap_purge_self(void);
/* Gives the calling thread's cached large runs back to their arenas. */
void heap_large_flush_self(void);

/* In a fork child (see the comment in heap.c). */
void heaps_postfork_child(void);

/* The fast paths. */

/* What heap_pop calls when it cannot pop: heap_alloc_slow, or a function of
 * the caller's that first deals with the sentinel heaps (a thread with no
 * heap of its own yet, which may be the first allocation of all, before
 * initialisation) and passes the others on to heap_alloc_slow. It is a
 * constant at every call, so the call stays a direct one. Its arguments
 * come in the order malloc holds them (n arrives first, in the first
 * argument's register), so that the fast path moves nothing to make the
 * call. */
typedef void *heap_slow_fn(size_t size, unsigned cls, struct heap *h);

static ALWAYS_INLINE void *heap_pop(struct heap *h, uintptr_t cls, size_t size, heap_slow_fn *slow)
{
	void *b = h->bin[cls];
#if defined(__x86_64__)
	/* b in the register it is returned in, and cls hidden from gcc's
	 * reuse of the bin's address, so that the three accesses through it
	 * (bin, cur, bin) each address it as heap + class * 8: without this
	 * gcc 12 spends a lea on the address and a mov of b into rax, two
	 * instructions of every malloc. Emits nothing. */
	__asm__("" : "+r"(cls), "+a"(b));
#endif
	/* Only a free block of the bin's slab carries that slab's mark: not
	 * LIST_END (the bin is empty), nor a block a write into freed memory
	 * reached. The slow path tells which. Nothing is counted here: the
	 * event countdown was charged for every block of the bin when the bin
	 * took it, and a bin takes no more than the countdown covers (see
	 * core/refill.c), so that an empty bin is also where the rare event
	 * or a sample comes due. */
	if (likely(block_mark(b) == h->cur[cls])) {
		void *next = block_next(b);
		h->bin[cls] = next;
		/* The next malloc of this class reads next's words: start
		 * loading its line now, while the program works. Freed blocks
		 * are scattered, so that read is most often a cache miss. */
		__builtin_prefetch(next, 1);
		block_clear_mark(b);
		return b;
	}
	return slow(size, (unsigned)cls, h);
}

/* What heap_free_fast calls when a free leaves slab s, not a bin's current
 * one, with no block in use:
 * heap_span_emptied, or a function of the caller's that calls it and then
 * does what the caller must after a slow path (start the purging threads).
 * A constant at every call, like heap_slow_fn. */
typedef void heap_emptied_fn(struct heap *h, struct span *s);

/* Whether p is a block boundary of slab s: (p - start) * magic < magic
 * (sizeclass_table.h). gcc loads the magic into a register for its two uses;
 * read from memory by both, it takes one instruction less on every free. */
static ALWAYS_INLINE bool span_block_start(const struct span *s, uintptr_t p)
{
	uint64_t x = p - s->start;
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
	bool below;
	__asm__("imul %[m], %[x]\n\tcmp %[m], %[x]"
	        : [x] "+r"(x), "=@ccb"(below)
	        : [m] "m"(s->div_magic));
	return below;
#else
	return x * s->div_magic < s->div_magic;
#endif
}

/* Pushes p onto its slab's local_free list if the slab's fast_owner is id
 * (heap_owner_id() for the calling thread's heap, an explicit cache's
 * owner_id), p is a block boundary and p is not already free; returns
 * false (nothing done) otherwise. h is the heap id names, or NULL for the
 * calling thread's: read only where the slab empties. */
static ALWAYS_INLINE bool heap_free_fast(uintptr_t id, struct heap *h, struct span *s, void *p,
                                         heap_emptied_fn *emptied)
{
	if (likely(s->fast_owner == id) && likely(span_block_start(s, (uintptr_t)p)) &&
	    likely(!block_is_free(p, s))) {
		block_make_free(p, s, s->local_free);
		/* The block's words are stored before it is on the list, so
		 * that a child forked meanwhile finds the list whole (a block
		 * missing at worst). A compiler barrier only: x86 keeps
		 * stores in order. */
		atomic_signal_fence(memory_order_release);
		/* A release store, a plain one on x86: the purging thread
		 * reads the list's head while this thread pushes (see
		 * slab_purge_pages). */
		__atomic_store_n(&s->local_free, p, __ATOMIC_RELEASE);
		/* A bin's current slab stays when it empties: the common
		 * case (a thread cycling a few blocks) takes no call. */
		if (unlikely(--s->used == 0)) {
			if (h == NULL)
				h = heap_self();
			if (h->cur[s->cls] != s)
				emptied(h, s);
		}
		return true;
	}
	return false;
}

#endif
