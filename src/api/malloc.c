/* SPDX-License-Identifier: MIT */
/* The exported C allocation functions, bootstrap, fork handlers and thread
 * exit. The fast paths are in entry.h and core/heap.h; everything here is
 * either a thin exported wrapper or a slow path. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "api/entry.h"
#include "cairn.h"
#include "control/conf.h"
#include "core/arena.h"
#include "core/background.h"
#include "core/huge.h"
#include "core/lock.h"
#include "core/meta.h"
#include "core/params.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

/* A program may define its own; the executable's definition wins. */
EXPORT const char *malloc_conf __attribute__((weak)) = NULL;

/* ------------------------------------------------------------ bootstrap
 *
 * The first allocation may come from the dynamic loader, from another
 * library's constructor or from a thread racing main: every slow path
 * calls ensure_init(). Initialisation runs under init_lock; calls back into
 * malloc from inside it (pthread_atfork may allocate) are served from
 * arena 0's shared heap, which exists before anything that could recurse. */

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
static _Atomic int init_state;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t init_thread; /* Guarded by init_lock. */
static bool core_ready;
static bool use_thread_heaps;

static void thread_exit(void *v);
static void prefork(void);
static void postfork_parent(void);
static void postfork_child(void);

/* The key's destructor is how cairn learns that the leading thread left
 * with pthread_exit (see background_leader_exiting); a thread without a
 * heap (thread heaps off, or none needed yet) has no value to destroy, so
 * the leader gets a stand-in. */
static void watch_leader(void)
{
	if (os_thread_id() == os_process_id() && pthread_getspecific(cairn_heap_key) == NULL)
		pthread_setspecific(cairn_heap_key, &cairn_heap_empty);
}

/* The core never reads the options: it receives what it needs of them here,
 * once they are parsed and before any core code that reads them runs
 * (arenas_init is the first). Nothing changes the options afterwards. */
_Static_assert((int)CORE_THP_DEFAULT == THP_DEFAULT && (int)CORE_THP_ALWAYS == THP_ALWAYS &&
                   (int)CORE_THP_NEVER == THP_NEVER,
               "thp values");
_Static_assert((int)CORE_METADATA_THP_DISABLED == METADATA_THP_DISABLED &&
                   (int)CORE_METADATA_THP_AUTO == METADATA_THP_AUTO &&
                   (int)CORE_METADATA_THP_ALWAYS == METADATA_THP_ALWAYS,
               "metadata_thp values");

static void core_params_from_conf(void)
{
	cairn_core = (struct core_params){
	    .dirty_decay_ms = cairn_conf.dirty_decay_ms,
	    .muzzy_decay_ms = cairn_conf.muzzy_decay_ms,
	    .retain = cairn_conf.retain,
	    .background_thread = cairn_conf.background_thread,
	    .max_background_threads = cairn_conf.max_background_threads,
	    .thp = cairn_conf.thp,
	    .metadata_thp = cairn_conf.metadata_thp,
	};
}

static COLD bool init_slow(void)
{
	if (atomic_load_explicit(&init_state, memory_order_acquire) == INIT_RUNNING &&
	    pthread_equal(init_thread, pthread_self()))
		return core_ready;
	int saved = errno;
	mutex_lock(&init_lock);
	if (atomic_load_explicit(&init_state, memory_order_relaxed) == INIT_DONE) {
		mutex_unlock(&init_lock);
		return true;
	}
	init_thread = pthread_self();
	atomic_store_explicit(&init_state, INIT_RUNNING, memory_order_release);

	os_init();
	conf_init(malloc_conf);
	if (cairn_conf.narenas == 0) {
		/* One arena per CPU the process may use: its affinity mask,
		 * and its cgroup's cpu.max quota where there is one. */
		unsigned cpus = os_ncpus();
		unsigned quota = os_cgroup_cpus();
		cairn_conf.narenas = quota != 0 && quota < cpus ? quota : cpus;
	}
	/* Thread heaps cache classes up to tcache_max; junk and zero fill on
	 * slow paths only, so they turn thread heaps off altogether. */
	int max_class = -1;
	for (int c = 0; c < SC_NSMALL && sc_size[c] <= cairn_conf.tcache_max; c++)
		max_class = c;
	cairn_tcache_max_class = max_class;
	use_thread_heaps = cairn_conf.tcache && !cairn_conf.junk && !cairn_conf.zero;
	core_params_from_conf();

	if (!arenas_init(cairn_conf.narenas)) {
		atomic_store_explicit(&init_state, INIT_NONE, memory_order_release);
		mutex_unlock(&init_lock);
		errno = ENOMEM;
		return false;
	}
	core_ready = true;
	if (pthread_key_create(&cairn_heap_key, thread_exit) == 0) {
		atomic_store_explicit(&cairn_heap_key_ready, 1, memory_order_release);
		watch_leader();
	} else {
		use_thread_heaps = false;
	}
	pthread_atfork(prefork, postfork_parent, postfork_child);
	if (cairn_conf.confirm_conf)
		conf_print();
	atomic_store_explicit(&init_state, INIT_DONE, memory_order_release);
	mutex_unlock(&init_lock);
	errno = saved;
	return true;
}

static ALWAYS_INLINE bool ensure_init(void)
{
	return likely(atomic_load_explicit(&init_state, memory_order_acquire) == INIT_DONE) ||
	       init_slow();
}

/* Initialise before main even if nothing allocated yet, so confirm_conf
 * reports and option errors show up at start-up. */
__attribute__((constructor)) static void cairn_constructor(void)
{
	ensure_init();
}

static void thread_exit(void *v)
{
	struct heap *h = v;
	if (h != NULL && h->kind == HEAP_THREAD)
		heap_abandon(h);
	/* Only pthread_exit gets here in the leading thread: exit() runs no
	 * key destructors. */
	if (os_thread_id() == os_process_id())
		background_leader_exiting();
	/* Allocations from destructors that run after this one are served by
	 * the shared heaps; re-setting the key keeps that state for them. */
	heap_set_self(&cairn_heap_dead);
}

/* An arena for a thread with no heap: threads are told apart by their
 * stacks, which lie megabytes apart. */
static struct arena *arena_unattached(void)
{
	uintptr_t x = (uintptr_t)__builtin_frame_address(0) >> 21;
	return &cairn_arenas[(x * 0x9e3779b97f4a7c15ull >> 32) % cairn_narenas];
}

static struct arena *arena_of_caller(void)
{
	struct heap *h = heap_self();
	return h->kind == HEAP_THREAD ? h->arena : arena_unattached();
}

static COLD void fill_new(void *p, size_t len)
{
	if (cairn_conf.zero)
		memset(p, 0, len);
	else if (cairn_conf.junk & JUNK_ALLOC)
		memset(p, 0xa5, len);
}

/* A huge block, zeroed or junk-filled as the options say: a fresh mapping
 * is zero already, so only reused pages are cleared (by huge_alloc). */
static void *huge_block(size_t n, size_t align)
{
	void *p = huge_alloc(n, align, cairn_conf.zero);
	if (p != NULL && unlikely(cairn_conf.junk & JUNK_ALLOC) && !cairn_conf.zero)
		memset(p, 0xa5, align_up(n, os_page_size()));
	return p;
}

/* Gives the calling thread a heap of its own if it has none yet and thread
 * heaps are on; returns the thread's heap (or its stand-in). */
static struct heap *attach_heap(void)
{
	struct heap *h = heap_self();
	if (h == &cairn_heap_empty && use_thread_heaps &&
	    atomic_load_explicit(&init_state, memory_order_acquire) == INIT_DONE) {
		struct heap *mine = heap_acquire();
		if (mine != NULL) {
			heap_set_self(mine);
			h = mine;
		}
	}
	return h;
}

/* A small allocation for a thread that has no heap of its own yet (or any
 * more): initialises cairn if that is still to do, and attaches a heap when
 * it can. */
static COLD void *alloc_unattached(unsigned cls, size_t size)
{
	if (!ensure_init())
		return NULL;
	struct heap *h = attach_heap();
	if (h->kind == HEAP_THREAD)
		return heap_pop(h, cls, size, heap_alloc_slow);
	void *p = heap_shared_alloc(arena_unattached(), cls);
	if (p == NULL)
		errno = ENOMEM;
	else if (unlikely(cairn_conf.junk || cairn_conf.zero))
		fill_new(p, sc_size[cls]);
	return p;
}

/* heap_pop's slow path for the exported functions: the thread heaps' own
 * (heap_alloc_slow), after the sentinels' (bootstrap and attach), which the
 * core leaves to this layer. */
NOINLINE void *cairn_alloc_refill(struct heap *h, unsigned cls, size_t size)
{
	if (h->kind == HEAP_SENTINEL)
		return alloc_unattached(cls, size);
	return heap_alloc_slow(h, cls, size);
}

/* ------------------------------------------------------------ allocation */

static size_t large_pages(size_t n)
{
	if (n <= SMALL_MAX)
		return (n + PAGE_SIZE - 1) >> PAGE_SHIFT;
	return sc_size[sc_lookup8k[(n + 8191) >> 13]] >> PAGE_SHIFT;
}

static void *alloc_large(size_t n, size_t align_pages)
{
	size_t pages = large_pages(n);
	/* A thread whose first request is large takes its heap now: its
	 * blocks then come from the arena its small ones will, not from one
	 * picked by its stack's address, and its freed runs are cached. */
	struct heap *h = attach_heap();
	struct span *s = align_pages == 1 ? heap_large_take(h, pages) : NULL;
	if (s == NULL)
		s = arena_alloc_run(h->kind == HEAP_THREAD ? h->arena : arena_unattached(), pages,
		                    align_pages);
	if (s == NULL)
		return NULL;
	if (unlikely(cairn_conf.junk || cairn_conf.zero))
		fill_new((void *)s->start, span_bytes(s));
	return (void *)s->start;
}

static NOINLINE void *alloc_big(size_t n)
{
	if (unlikely(n > PTRDIFF_MAX) || !ensure_init()) {
		errno = ENOMEM;
		return NULL;
	}
	if (!cairn_conf.background_thread)
		decay_tick(arena_of_caller());
	void *p = n <= LARGE_MAX ? alloc_large(n, 1) : huge_block(n, CHUNK_SIZE);
	if (unlikely(p == NULL)) {
		/* Once more after reclaiming (no lock is held here). */
		reclaim_for_retry();
		p = n <= LARGE_MAX ? alloc_large(n, 1) : huge_block(n, CHUNK_SIZE);
	}
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

NOINLINE void *cairn_alloc_medium(size_t n)
{
	if (likely(n <= SMALL_MAX))
		return heap_pop(heap_self(), sc_lookup128[(n + 127) >> 7], n, cairn_alloc_refill);
	return alloc_big(n);
}

void *cairn_alloc_aligned(size_t align, size_t n)
{
	if (align <= 16)
		return cairn_alloc(n);
	if (unlikely(n > PTRDIFF_MAX || align > ((size_t)PTRDIFF_MAX >> 1) + 1) || !ensure_init()) {
		errno = ENOMEM;
		return NULL;
	}
	/* Size 0 gets a distinct block like any other: one byte's worth. A
	 * run of zero pages or a mapping of zero bytes cannot be a block. */
	if (n == 0)
		n = 1;
	size_t want = n > align ? n : align;
	if (align <= PAGE_SIZE && want <= SMALL_MAX) {
		/* Slabs start on a page and tile it exactly, so every block of a
		 * class whose size is a multiple of align is aligned. */
		unsigned c = want <= LOOKUP_MAX ? sc_lookup16[(want + 15) >> 4]
		                                : sc_lookup128[(want + 127) >> 7];
		c = sc_aligned_class[__builtin_ctzl(align) - 5][c];
		if (c < SC_NSMALL)
			return heap_pop(heap_self(), c, n, cairn_alloc_refill);
	}
	void *p = NULL;
	for (int round = 0; p == NULL && round < 2; round++) {
		/* The second round after reclaiming (no lock is held here). */
		if (round > 0)
			reclaim_for_retry();
		if (align < CHUNK_SIZE && n <= LARGE_MAX) {
			size_t align_pages = align > PAGE_SIZE ? align >> PAGE_SHIFT : 1;
			p = alloc_large(n, align_pages);
		}
		if (p == NULL)
			p = huge_block(n, align);
	}
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

/* ------------------------------------------------------------ lookup
 *
 * Every path that takes a pointer from the program (free's slow path,
 * realloc, malloc_usable_size) resolves it here and stops the program with
 * one line on stderr if cairn did not hand it out, if it points inside a
 * block, or if the block is already free. */

enum block_kind { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE };

struct block {
	enum block_kind kind;
	struct span *span;
	struct huge *huge;
	size_t usable;
};

__attribute__((noreturn, cold)) static void report_freed(const char *fn, const void *p)
{
	if (strcmp(fn, "free") == 0)
		cairn_fatal_ptr(fn, "double free of", p, "");
	cairn_fatal_ptr(fn, "invalid pointer", p, " (already freed)");
}

__attribute__((noreturn, cold)) static void report_foreign(const char *fn, const void *p)
{
	cairn_fatal_ptr(fn, "invalid pointer", p, " (not allocated by cairn)");
}

__attribute__((noreturn, cold)) static void report_interior(const char *fn, const void *p)
{
	cairn_fatal_ptr(fn, "invalid pointer", p, " (inside a block, not its start)");
}

static struct block block_lookup(void *p, uintptr_t entry, const char *fn)
{
	uintptr_t a = (uintptr_t)p;
	struct block b = {0};
	if (entry == 0)
		report_foreign(fn, p);
	if (entry & MAP_HUGE) {
		struct huge *h = huge_of(entry);
		if (a < h->addr || a >= h->addr + h->size)
			report_foreign(fn, p);
		if (!h->live)
			report_freed(fn, p);
		if (a != h->addr)
			report_interior(fn, p);
		b.kind = BLOCK_HUGE;
		b.huge = h;
		b.usable = h->size;
		return b;
	}
	struct span *s = chunk_span_of((struct chunk *)(entry - MAP_CHUNK), a);
	switch (s->state) {
	case SPAN_SMALL:
		if ((uint64_t)(uint32_t)(a - s->start) * s->div_magic >= s->div_magic)
			report_interior(fn, p);
		if (block_is_free(p, s))
			report_freed(fn, p);
		b.kind = BLOCK_SMALL;
		b.usable = sc_size[s->cls];
		break;
	case SPAN_LARGE:
		if (a != s->start)
			report_interior(fn, p);
		if (s->flags & LARGE_CACHED)
			report_freed(fn, p);
		b.kind = BLOCK_LARGE;
		b.usable = span_bytes(s);
		break;
	case SPAN_FREE:
		report_freed(fn, p);
	default:
		report_foreign(fn, p);
	}
	b.span = s;
	return b;
}

static void release_block(void *p, struct block b)
{
	if (unlikely(cairn_conf.junk & JUNK_FREE) && b.usable > 2 * sizeof(void *))
		memset((char *)p + 2 * sizeof(void *), 0x5a, b.usable - 2 * sizeof(void *));
	switch (b.kind) {
	case BLOCK_SMALL:
		heap_free_slow(heap_self(), b.span, p);
		break;
	case BLOCK_LARGE:
		if (!heap_large_put(heap_self(), b.span))
			arena_free_run(span_chunk(b.span)->arena, b.span);
		break;
	case BLOCK_HUGE:
		huge_free(b.huge);
		break;
	}
	/* If this free is what calls for the purging threads, start them
	 * now: it may be the program's last call into the allocator. */
	if (cairn_conf.background_thread)
		background_poll();
	else if (b.kind != BLOCK_SMALL)
		decay_tick(arena_of_caller());
}

NOINLINE void cairn_free_slow(void *p, uintptr_t entry, const char *fn)
{
	if (p == NULL)
		return;
	release_block(p, block_lookup(p, entry, fn));
}

/* A pointer into an arena chunk that the fast path did not take: most often
 * a small block freed by a thread that does not own its slab (a remote
 * free). Nothing here or below changes errno: the OS layer preserves it. */
NOINLINE void cairn_free_small_slow(void *p, struct span *s, const char *fn)
{
	uintptr_t a = (uintptr_t)p;
	if (likely(s->state == SPAN_SMALL) &&
	    likely((a - s->start) * s->div_magic < s->div_magic) && likely(!block_is_free(p, s)) &&
	    likely(!cairn_conf.junk)) {
		/* A thread that only frees gets a heap too, so that its
		 * remote frees travel in batches. */
		struct heap *self = heap_self();
		if (unlikely(self == &cairn_heap_empty))
			self = attach_heap();
		heap_free_slow(self, s, p);
		background_poll();
		return;
	}
	release_block(p, block_lookup(p, pagemap_get(a), fn));
}

/* ------------------------------------------------------------ the C API */

EXPORT void *malloc(size_t n)
{
	return cairn_alloc(n);
}

EXPORT void free(void *p)
{
	cairn_free(p, "free");
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &n))) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > LARGE_MAX) {
		/* Fresh mappings are zero already: only reused ones are cleared. */
		if (unlikely(n > PTRDIFF_MAX) || !ensure_init()) {
			errno = ENOMEM;
			return NULL;
		}
		void *p = huge_alloc(n, CHUNK_SIZE, true);
		if (unlikely(p == NULL)) {
			reclaim_for_retry();
			p = huge_alloc(n, CHUNK_SIZE, true);
		}
		if (p == NULL)
			errno = ENOMEM;
		return p;
	}
	void *p = cairn_alloc(n);
	if (likely(p != NULL))
		memset(p, 0, n);
	return p;
}

/* realloc moves a block it grows to this size or more (and at most
 * LARGE_MAX) into a mapping of its own when cached huge pages can take it
 * closely: a block that grows is likely to grow again, and there it does so
 * without copying, into pages that are resident already. Fresh mappings are
 * not used for it: a mapping per block faults in every page of every new
 * block, where an arena reuses the pages freed blocks left. */
#define REALLOC_MAP_MIN (128ul << 10)

/* Copies block b at p into q (n bytes asked for) and frees b. A large run
 * left for a huge mapping is purged at once: the program's memory is growing
 * past the arenas, and its old pages would otherwise add to the peak it is
 * reaching while they wait for decay. */
static void *move_into(void *p, struct block b, void *q, size_t n)
{
	memcpy(q, p, b.usable < n ? b.usable : n);
	if (b.kind == BLOCK_LARGE && (pagemap_get((uintptr_t)q) & MAP_HUGE))
		arena_free_run_purged(span_chunk(b.span)->arena, b.span);
	else
		release_block(p, b);
	return q;
}

EXPORT void *realloc(void *p, size_t n)
{
	if (p == NULL)
		return cairn_alloc(n);
	if (n == 0) {
		cairn_free(p, "realloc");
		return NULL;
	}
	if (unlikely(n > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	struct block b = block_lookup(p, pagemap_get((uintptr_t)p), "realloc");
	if (b.kind != BLOCK_HUGE && n > b.usable && n >= REALLOC_MAP_MIN && n <= LARGE_MAX &&
	    huge_room()) {
		void *q = huge_alloc_cached(n, cairn_conf.zero);
		if (q != NULL) {
			if (unlikely(cairn_conf.junk & JUNK_ALLOC) && !cairn_conf.zero)
				memset(q, 0xa5, align_up(n, os_page_size()));
			return move_into(p, b, q, n);
		}
	}
	switch (b.kind) {
	case BLOCK_SMALL:
		/* In place while the block is big enough and moving would not
		 * at least halve it. */
		if (n <= b.usable) {
			size_t fit = n <= LOOKUP_MAX ? sc_size[sc_lookup16[(n + 15) >> 4]]
			                             : sc_size[sc_lookup128[(n + 127) >> 7]];
			if (fit > b.usable / 2)
				return p;
		}
		break;
	case BLOCK_LARGE:
		if (n > SMALL_MAX && n <= LARGE_MAX) {
			size_t pages = large_pages(n);
			struct arena *a = span_chunk(b.span)->arena;
			if (pages < b.span->npages)
				arena_shrink_run(a, b.span, pages);
			if (pages <= b.span->npages || arena_grow_run(a, b.span, pages)) {
				/* Pages taken in from free neighbours hold stale data. */
				if (unlikely(cairn_conf.junk || cairn_conf.zero) &&
				    span_bytes(b.span) > b.usable)
					fill_new((char *)p + b.usable,
					         span_bytes(b.span) - b.usable);
				return p;
			}
		}
		break;
	case BLOCK_HUGE:
		/* Under LARGE_MAX, it goes to an arena once it shrinks below
		 * REALLOC_MAP_MIN or to half its size. */
		if (n > LARGE_MAX || (n >= REALLOC_MAP_MIN && n > b.usable / 2)) {
			size_t fresh;
			void *q = huge_realloc(b.huge, n, &fresh);
			if (unlikely(q == NULL)) {
				reclaim_for_retry();
				q = huge_realloc(b.huge, n, &fresh);
			}
			if (q == NULL) {
				errno = ENOMEM;
			} else if (unlikely(cairn_conf.junk || cairn_conf.zero)) {
				/* New pages are zero: those need junk only. */
				size_t end = cairn_conf.zero ? fresh : b.huge->size;
				if (end > b.usable)
					fill_new((char *)q + b.usable, end - b.usable);
			}
			return q;
		}
		break;
	}
	void *q = cairn_alloc(n);
	return q != NULL ? move_into(p, b, q, n) : NULL;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &n))) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t n)
{
	if (align < sizeof(void *) || !is_pow2(align))
		return EINVAL;
	int saved = errno;
	void *p = cairn_alloc_aligned(align, n);
	errno = saved;
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return cairn_alloc_aligned(align, n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	/* glibc rounds an alignment that is not a power of two up to one. */
	if (align > ((size_t)PTRDIFF_MAX >> 1) + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_pow2(align))
		align = align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzl(align - 1));
	return cairn_alloc_aligned(align, n);
}

EXPORT void *valloc(size_t n)
{
	if (!ensure_init()) {
		errno = ENOMEM;
		return NULL;
	}
	return cairn_alloc_aligned(os_page_size(), n);
}

EXPORT void *pvalloc(size_t n)
{
	if (!ensure_init()) {
		errno = ENOMEM;
		return NULL;
	}
	size_t page = os_page_size();
	size_t rounded = align_up(n ? n : 1, page);
	if (rounded < n) {
		errno = ENOMEM;
		return NULL;
	}
	return cairn_alloc_aligned(page, rounded);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	return block_lookup(p, pagemap_get((uintptr_t)p), "malloc_usable_size").usable;
}

EXPORT void free_sized(void *p, size_t size)
{
	cairn_free(p, "free");
}

EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	cairn_free(p, "free");
}

/* Gives every free page back to the kernel now; pad is ignored (cairn
 * keeps no heap top to pad). Returns 1 if memory was released, as glibc. */
EXPORT int malloc_trim(size_t pad)
{
	if (!ensure_init())
		return 0;
	return purge_all(true) > 0;
}

EXPORT size_t cairn_purge(int arena)
{
	if (!ensure_init())
		return 0;
	if (arena < 0)
		return purge_all(true);
	if ((unsigned)arena >= cairn_narenas)
		return 0;
	heap_large_flush_self();
	return arena_decay(&cairn_arenas[arena], os_now_ms(), true);
}

EXPORT const char *cairn_version(void)
{
	return CAIRN_VERSION;
}

/* glibc's internal names, which some programs and libraries call directly,
 * and the obsolete cfree. */
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#define ALIAS(name) __attribute__((alias(#name), visibility("default")))
EXPORT void cfree(void *p) ALIAS(free);
EXPORT void *__libc_malloc(size_t n) ALIAS(malloc);
EXPORT void __libc_free(void *p) ALIAS(free);
EXPORT void *__libc_calloc(size_t nmemb, size_t size) ALIAS(calloc);
EXPORT void *__libc_realloc(void *p, size_t n) ALIAS(realloc);
EXPORT void *__libc_memalign(size_t align, size_t n) ALIAS(memalign);
EXPORT void *__libc_valloc(size_t n) ALIAS(valloc);
EXPORT void *__libc_pvalloc(size_t n) ALIAS(pvalloc);
EXPORT int __posix_memalign(void **memptr, size_t align, size_t n) ALIAS(posix_memalign);

/* ------------------------------------------------------------ fork
 *
 * No lock is held across fork. glibc runs the prepare handlers first and
 * only then takes its stdio list lock (and, in a multi-threaded process,
 * waits for it); a thread that holds a FILE's lock and calls realloc
 * (getline) while the forking thread holds an allocator lock, with a third
 * thread in fflush(NULL) holding the list lock and waiting for that FILE,
 * closes a cycle (glibc's tst-malloc-fork-deadlock). And a fork from a
 * signal handler that interrupted this thread inside cairn would wait
 * forever for the locks it holds itself (glibc's tst-mallocfork2), or, if
 * the signal landed inside fork, for init_lock.
 *
 * So prepare only waits until the slow paths that other threads are in
 * have ended, and not even that when the forking thread holds a cairn lock
 * (src/core/lock.h), then returns holding nothing. The parent has nothing
 * to undo. The child re-initialises every lock and never uses what a lock
 * held at the fork guarded: such an arena, heap, heap pool, huge cache or
 * metadata region may be half changed, by a thread that is gone or by this
 * very thread, which goes on with its change if the signal handler that
 * forked returns. It is retired and leaked, and a fresh one takes its
 * place. The heaps of the other threads that are whole are parked for reuse,
 * so the child can free what they held. */

static void prefork(void)
{
	heaps_prefork();
}

static void postfork_parent(void)
{
}

static void postfork_child(void)
{
	int saved = errno;
	background_postfork_child();
	meta_postfork_child(); /* first: the others may take metadata */
	pagemap_postfork_child();
	huge_postfork_child();
	arenas_postfork_child();
	/* A thread that was initialising cairn when the parent forked: it did
	 * everything but say so (the handlers are registered last). */
	pthread_mutex_init(&init_lock, NULL);
	if (atomic_load(&init_state) == INIT_RUNNING && core_ready &&
	    !pthread_equal(init_thread, pthread_self()))
		atomic_store(&init_state, INIT_DONE);
	heaps_postfork_child();
	/* The forking thread leads the child. */
	watch_leader();
	/* Last: restarting the purging threads allocates. */
	background_postfork_child_restart();
	errno = saved;
}
