/* SPDX-License-Identifier: MIT */
/* Chunks, spans and the page map.
 *
 * Address space comes from the OS in chunks of CHUNK_SIZE (2 MiB, the huge
 * page size), aligned to their size. A chunk used by an arena starts with a
 * header: per page, where the descriptor of the span covering it is, and
 * room for a descriptor per page. A span is a run of pages: free, a slab of
 * small blocks, or one large block. Descriptors are slots handed out from
 * the low end as spans come to be (the most recently freed first), so the
 * header's pages are written only as far as the chunk has had spans at
 * once: the first 4 KiB page holds the page entries, the second the
 * header's fields and 45 slots, two of them SLOT_HEADER and SLOT_INSIDE
 * (slabs are 5 to 64 pages, large runs 20 or more), where a descriptor at
 * every page's place wrote all ten pages (1.9% of the chunk).
 *
 * The page map has one word per 2 MiB of address space, for a window of
 * chunk numbers that grows to cover the addresses cairn maps (see
 * pagemap.c: address space is reserved in proportion to use). A word is 0
 * for memory cairn does not own, the chunk address | MAP_CHUNK for an arena
 * chunk, or a huge-block descriptor | MAP_HUGE for each 2 MiB slot a huge
 * block covers. One load answers "is this pointer ours, and what is it"
 * without locks and before anything is read through
 * the pointer. Beside it, for the free fast path, a chunk word: where the
 * page entries of the arena chunk there are, or those of a stub that names
 * pagemap_stub for every page (pagemap_span below). */
#ifndef CAIRN_CHUNK_H
#define CAIRN_CHUNK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sizeclass_params.h"
#include "core/util.h"

struct heap;
struct arena;

enum span_state {
	SPAN_FREE = 0, /* a free run of pages, or a slot that heads nothing */
	SPAN_SMALL,    /* a slab of blocks of one small class */
	SPAN_LARGE,    /* one large block */
	SPAN_HEADER,   /* the chunk header itself */
};

/* Flags of a slab. */
enum span_flag {
	SPAN_FULL = 1,    /* slab on its heap's full list */
	SPAN_PARTIAL = 2, /* slab on its heap's partial list */
	/* A kept empty slab (slab_emptied) that was kept already at its
	 * heap's last trim: unused for a whole trim period (heap_trim). */
	SPAN_KEPT_OLD = 4,
};

/* Flags of a large block. */
enum large_flag {
	LARGE_CACHED = 1, /* freed, kept in a thread heap's large cache */
};

/* Flags of a free run: where its pages are in their life cycle. A run with
 * neither DIRTY nor MUZZY has been released (reads as zeros). */
enum run_flag {
	RUN_DIRTY = 1, /* resident; on the arena's dirty list */
	RUN_MUZZY = 2, /* MADV_FREE'd: the kernel may take the pages; on the muzzy list */
	RUN_BUSY = 4,  /* being purged with the arena unlocked; on no list */
};

struct span {
	/* Read by the free fast path. */
	/* Slab: who may push its frees without a lock, the owner_id of its
	 * heap (heap.h: the calling thread's pointer for a thread's heap)
	 * while it may; 0 otherwise. */
	uintptr_t fast_owner;
	union {
		void *local_free;        /* slab: its free blocks, a list */
		struct span *decay_next; /* free run: next on its decay list */
	};
	union {
		uint64_t div_magic;   /* slab: sc_div_magic of the class */
		uint64_t decay_since; /* free run: when it became dirty or muzzy, ms */
	};
	uintptr_t start; /* address of the first page */

	/* Slow paths. */
	union {
		struct heap *owner;      /* slab: the heap it belongs to */
		struct span *decay_prev; /* free run: previous on its decay list */
	};
	/* Heap slab list or arena free-run bin; a free slot's next is the
	 * next free slot. */
	struct span *next, *prev;
	uint16_t used;   /* blocks carved and not on local_free: held
	                    by the program or sitting in the owner's bin */
	uint16_t carved; /* blocks of the slab cut out so far */
	uint16_t npages : 10;
	uint16_t state : 2; /* enum span_state */
	/* A byte of its own, not bits beside state: a heap changes its
	 * slab's flags under its own lock while an arena, under its lock,
	 * reads the state of the spans beside a free run it merges. */
	uint8_t flags; /* enum span_flag, large_flag or run_flag */
	uint8_t cls;
};

/* One cache line, and a shift rather than a multiply to index. */
_Static_assert(sizeof(struct span) == 64, "struct span is one cache line");
_Static_assert(CHUNK_PAGES < 1024, "npages fits its bit-field");

struct chunk {
	/* Per page, the descriptor of the span covering it. A whole page of
	 * full pointers, first, so that the free fast path reaches an entry
	 * from the page map's chunk word with one load (see pagemap_span). */
	struct span *span_at[CHUNK_PAGES];
	struct arena *arena;
	uint32_t free_pages;     /* Guarded by arena->lock, as are the slots. */
	uint32_t slots_top;      /* slots [0, slots_top) have been written */
	struct span *slots_free; /* freed slots below slots_top, a list */
	/* A created arena's chunks, linked so that a reset can give them all
	 * back; NULL in the automatic arenas. Guarded by arena->lock. */
	struct chunk *next_chunk;
	/* Per slab (indexed by its first page), the blocks lost to purging:
	 * free blocks on pages that were given back while the slab stayed in
	 * use. They are on no list and count as neither free nor used; they
	 * come back when the whole slab is freed. Owned like the slab. */
	uint16_t holes[CHUNK_PAGES];
	/* Descriptor slots, a cache line each: SLOT_HEADER, SLOT_INSIDE,
	 * then the spans'. A span covers a page at least, so the slots never
	 * run out. */
	struct span spans[CHUNK_PAGES] __attribute__((aligned(64)));
};

/* The slot of the header span, and the slot that the pages inside a free
 * run name (see arena_runs.h): it reads SPAN_FREE, with no fast owner,
 * always. */
#define SLOT_HEADER 0
#define SLOT_INSIDE 1

#define HDR_PAGES  ((sizeof(struct chunk) + PAGE_SIZE - 1) / PAGE_SIZE)
#define DATA_PAGES (CHUNK_PAGES - HDR_PAGES)
_Static_assert(2 + DATA_PAGES <= CHUNK_PAGES, "a slot for every span a chunk can hold");

/* The header pages written once slots [0, top) have been. */
static inline uint32_t header_pages_written(uint32_t top)
{
	return (
	    uint32_t)((offsetof(struct chunk, spans) + top * sizeof(struct span) + PAGE_SIZE - 1) /
	              PAGE_SIZE);
}

#define MAP_CHUNK 1u
#define MAP_HUGE  2u
#define MAP_TAGS  3u

/* A window of the page map: the words for chunk numbers [lo, lo + n). The
 * header sits just before the chunk words, so that one pointer, to them,
 * reaches both (the header at a negative offset, a word at the index times
 * 8, with no displacement to add); the tagged words follow the chunk words.
 * The window in use is replaced by a larger copy when cairn maps memory
 * outside it; the old one stays mapped, for readers that loaded it
 * before. */
struct pagemap_window {
	uintptr_t lo; /* the first chunk number covered */
	uintptr_t n;  /* chunk words that follow, and tagged words after them */
};

/* The chunk words of the window in use; never NULL (an empty window until
 * cairn maps memory). */
extern _Atomic(_Atomic(uintptr_t) *) cairn_pagemap HIDDEN;

/* What the free fast path finds where there is no arena chunk: a span that
 * reads SPAN_FREE with no fast owner, named by every one of a page table of
 * the stub's (pagemap_stub_entries), which the chunk word of every slot
 * without an arena chunk points into. Both read-only, so that a stray write
 * through them faults. */
extern const struct span pagemap_stub HIDDEN;
extern const struct span *const pagemap_stub_entries[CHUNK_PAGES] HIDDEN;

/* The chunk word of 2 MiB slot `slot` (an address >> CHUNK_SHIFT) whose
 * page entries are `entries`: the table's address less the slot's first
 * page number times the size of an entry, so that the word plus an
 * address's page number (a >> PAGE_SHIFT) times that size is the address
 * of its page's entry. The fast path then indexes by the page number as it
 * is, with no mask for the page within the chunk and no chunk address to
 * add to an offset: two instructions of every free. Wraps around below 0
 * for most slots; the sum never does. */
static inline uintptr_t pagemap_chunk_word(const void *entries, uintptr_t slot)
{
	return (uintptr_t)entries - (slot << (CHUNK_SHIFT - PAGE_SHIFT)) * sizeof(struct span *);
}

static ALWAYS_INLINE const struct pagemap_window *pagemap_window_of(_Atomic(uintptr_t) *e)
{
	return (const struct pagemap_window *)e - 1;
}

/* The tagged words of the window whose chunk words are e. */
static ALWAYS_INLINE _Atomic(uintptr_t) *pagemap_tagged(_Atomic(uintptr_t) *e)
{
	return e + pagemap_window_of(e)->n;
}

/* One bounds check for both ends: a chunk number below lo wraps around to
 * above n. Costs one instruction more than a map from address 0 (the
 * subtraction), which needs 512 MiB of address space reserved up front. */
static ALWAYS_INLINE uintptr_t pagemap_get(uintptr_t a)
{
	_Atomic(uintptr_t) *e = atomic_load_explicit(&cairn_pagemap, memory_order_acquire);
	const struct pagemap_window *w = pagemap_window_of(e);
	uintptr_t i = (a >> CHUNK_SHIFT) - w->lo;
	if (unlikely(i >= w->n))
		return 0;
	return atomic_load_explicit(&e[w->n + i], memory_order_acquire);
}

/* The free fast path's lookup: the span covering address a's page, where a
 * lies in an arena chunk; &pagemap_stub elsewhere in the window; NULL
 * outside it. Never NULL inside, which the caller's test of the result can
 * count on: it is the bounds check's branch. */
static ALWAYS_INLINE struct span *pagemap_span(uintptr_t a)
{
	_Atomic(uintptr_t) *e = atomic_load_explicit(&cairn_pagemap, memory_order_acquire);
	const struct pagemap_window *w = pagemap_window_of(e);
	uintptr_t i = (a >> CHUNK_SHIFT) - w->lo;
	if (unlikely(i >= w->n))
		return NULL;
	uintptr_t word = atomic_load_explicit(&e[i], memory_order_acquire);
	struct span *s = *(struct span *const *)(word + (a >> PAGE_SHIFT) * sizeof(struct span *));
	if (s == NULL)
		__builtin_unreachable();
	return s;
}

/* Makes the map cover [a, a + size) (grows the window if needed); false
 * when the memory for it cannot be mapped. Call before pagemap_set for a
 * range just mapped. */
bool pagemap_reserve(uintptr_t a, size_t size);
/* Sets the word of every 2 MiB slot [a, a + size) touches, which
 * pagemap_reserve covered (setting 0 needs no reservation). */
void pagemap_set_range(uintptr_t a, size_t size, uintptr_t v);
static inline void pagemap_set(uintptr_t a, uintptr_t v)
{
	pagemap_set_range(a, 1, v);
}
/* Address space the windows take (all of them, the old ones too). */
size_t pagemap_mapped_bytes(void);
/* Calls fn on every arena chunk the window in use names. For a fork child,
 * where no other thread changes the map. */
void pagemap_visit_chunks(void (*fn)(struct chunk *c, void *arg), void *arg);

/* In a fork child, after meta_postfork_child: retires the writers' lock and
 * the window in use if the parent forked while the lock was held (see
 * pagemap.c). */
void pagemap_postfork_child(void);

static ALWAYS_INLINE struct span *chunk_span_of(struct chunk *c, uintptr_t a)
{
	return c->span_at[(a >> PAGE_SHIFT) & (CHUNK_PAGES - 1)];
}

/* The span covering page `page` of chunk c. */
static inline struct span *chunk_page_span(struct chunk *c, uint32_t page)
{
	return c->span_at[page];
}

/* The chunk of an address inside an arena chunk. */
static ALWAYS_INLINE struct chunk *span_chunk_of(const void *p)
{
	return (struct chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1));
}

static inline struct chunk *span_chunk(const struct span *s)
{
	return (struct chunk *)(s->start & ~(CHUNK_SIZE - 1));
}

static inline uint32_t span_page(const struct span *s)
{
	return (uint32_t)((s->start >> PAGE_SHIFT) & (CHUNK_PAGES - 1));
}

static inline uint16_t *span_holes(const struct span *s)
{
	return &span_chunk(s)->holes[span_page(s)];
}

static inline size_t span_bytes(const struct span *s)
{
	return (size_t)s->npages << PAGE_SHIFT;
}

#endif
