/* SPDX-License-Identifier: MIT */
/* The page map: a flat array of two words per 2 MiB of address space, over
 * a window of chunk numbers that grows with the addresses cairn maps.
 *
 * Why two words: the tagged word (chunk.h: 0, a chunk, a huge block) is what
 * every lookup but one reads. The free fast path reads the chunk word
 * instead: the page entries of the arena chunk there, or a stub's whose
 * every entry names pagemap_stub, biased by the slot's first page number
 * (pagemap_chunk_word), so that it finds a span for any address in the
 * window without testing a tag or NULL (the stub's span is no thread's, and
 * sends the free to the slow path, which reads the tagged word). Two
 * instructions of every free, for
 * 8 bytes more per 2 MiB slot of the window, all of it resident (every
 * chunk word holds a pointer): a page per 510 MiB of the window's span.
 *
 * Why a window and not the whole 47-bit space: a map of all of it is 2^26
 * words, 512 MiB of address space, and RLIMIT_AS (`ulimit -v`) counts
 * reserved address space whether or not it is ever touched (MAP_NORESERVE
 * and PROT_NONE included), so under a limit of 256 MiB or less cairn could
 * not even start. The kernel hands out mappings next to each other (top
 * down from below the stack, or bottom up in the legacy layout), so the
 * chunk numbers cairn uses form a narrow band: a window of a few pages
 * covers gigabytes.
 *
 * Why not a two-level map (a table of leaves mapped on demand): the lookup
 * is on the free fast path. The window costs one instruction over the map
 * from address 0 (subtracting lo; one unsigned compare then checks both
 * ends), a two-level map three or four (a second shift, a mask and a
 * dependent load). The price is paid on the slow side: a window that must
 * grow is copied into a larger mapping, and the old one stays mapped for
 * readers that may still hold it (a reader loads the window pointer and
 * then one word of it, with no lock). Windows at least double, so the old
 * ones together take no more address space than the one in use.
 *
 * Writers (chunk and huge mappings, on slow paths that make system calls
 * anyway) take the writers' lock, so that no word is written into a window
 * while it is being copied. A reader that loaded the old window just before
 * a growth sees the words as they were at the copy: that is only ever stale
 * for a block that is no longer live (a word changes only when memory is
 * mapped or unmapped), that is for a pointer the program may not free.
 *
 * Fork (see src/core/lock.h): no lock is held across it, so a fork child
 * may find the writers' lock held, by a thread that is gone or by the
 * forking thread itself, interrupted by the signal whose handler forked (it
 * goes on where it was if the handler returns). The map stays usable for
 * readers whatever the writer was doing: a growth copies the window in use
 * into a new mapping and publishes the copy only once it is whole, and a
 * window is never unmapped, so the window in use is whole but for the words
 * of the range a writer was setting. Those are the words of memory that
 * writer was mapping (nothing knows it yet: if the writer is gone, it is
 * leaked) or unmapping (nothing may use it any more). The child retires
 * the lock, as it retires what other held locks guard, and the window in
 * use with it: a copy of the window takes its place, under a fresh lock. A
 * half-done growth is then abandoned: its thread, if it goes on, finds its
 * lock retired or its window replaced, unmaps its copy and starts over
 * under the fresh lock; the new mapping of a thread that is gone is
 * leaked. A writer that was setting words goes on into the window it had
 * loaded and, finding its lock retired, sets them again under the fresh
 * lock in the window then in use. */
#include <pthread.h>
#include <string.h>

#include "core/chunk.h"
#include "core/lock.h"
#include "core/meta.h"
#include "os/os.h"

/* The header of a window and its words, in one mapping: the chunk words
 * (what cairn_pagemap points at) and after them the tagged words, n of
 * each. */
struct window {
	struct pagemap_window h;
	_Atomic(uintptr_t) chunks[];
};

static struct window empty_window;
_Atomic(_Atomic(uintptr_t) *) cairn_pagemap = empty_window.chunks;

/* Zero: no fast owner, SPAN_FREE. */
const struct span pagemap_stub;
const struct span *const pagemap_stub_entries[CHUNK_PAGES] = {
    [0 ... CHUNK_PAGES - 1] = &pagemap_stub,
};

static struct window *current(void)
{
	_Atomic(uintptr_t) *e = atomic_load_explicit(&cairn_pagemap, memory_order_relaxed);
	return (struct window *)((char *)e - offsetof(struct window, chunks));
}

/* The chunk word that goes with tagged word v of slot `slot`. */
static uintptr_t chunk_word(uintptr_t v, uintptr_t slot)
{
	const void *entries = (v & MAP_TAGS) == MAP_CHUNK
	                          ? (const void *)((struct chunk *)(v - MAP_CHUNK))->span_at
	                          : (const void *)pagemap_stub_entries;
	return pagemap_chunk_word(entries, slot);
}

/* The writers' lock. A fork child whose parent held it retires it (and the
 * window in use, see above) and starts a fresh one; code that takes it
 * checks, once it holds it, that it was not retired. */
struct map_writers {
	cairn_mutex lock;
	bool retired; /* set in a fork child only */
};

static struct map_writers writers_first = {.lock = CAIRN_MUTEX_INIT};
static struct map_writers *_Atomic writers_cur = &writers_first;
/* Address space the windows take: grows only, so it needs no lock. */
static _Atomic size_t map_bytes;

static struct map_writers *map_lock(void)
{
	for (;;) {
		struct map_writers *m = atomic_load_explicit(&writers_cur, memory_order_acquire);
		mutex_lock(&m->lock);
		if (likely(!m->retired))
			return m;
		mutex_unlock(&m->lock);
	}
}

static void map_unlock(struct map_writers *m)
{
	mutex_unlock(&m->lock);
}

/* 47 bits of user address space. */
#define MAP_TOP ((uintptr_t)1 << (47 - CHUNK_SHIFT))
/* The first window: one page (255 slots of each kind with 4 KiB pages:
 * 510 MiB). */
#define WINDOW_MIN_BYTES 4096

/* A slot's two words. */
#define SLOT_BYTES (2 * sizeof(uintptr_t))

static size_t window_bytes(uintptr_t n)
{
	return offsetof(struct window, chunks) + n * SLOT_BYTES;
}

/* A new mapping of `bytes` bytes holding a window for chunk numbers
 * [lo, lo + n) with w's words copied in; NULL when it cannot be mapped. */
static struct window *copy_window(const struct window *w, uintptr_t lo, uintptr_t n, size_t bytes)
{
	struct window *nw = os_map_aligned(bytes, os_page_size());
	if (nw == NULL)
		return NULL;
	nw->h.lo = lo;
	nw->h.n = n;
	/* The tagged words follow the chunk words, n of each. */
	_Atomic(uintptr_t) *words = nw->chunks + n;
	const _Atomic(uintptr_t) *old = w->chunks + w->h.n;
	for (uintptr_t i = 0; i < n; i++)
		atomic_store_explicit(&nw->chunks[i], chunk_word(0, lo + i), memory_order_relaxed);
	for (uintptr_t i = 0; i < w->h.n; i++) {
		uintptr_t v = atomic_load_explicit(&old[i], memory_order_relaxed);
		atomic_store_explicit(&words[w->h.lo - lo + i], v, memory_order_relaxed);
		atomic_store_explicit(&nw->chunks[w->h.lo - lo + i], chunk_word(v, w->h.lo + i),
		                      memory_order_relaxed);
	}
	return nw;
}

enum grown { GROW_FAILED, GROW_DONE, GROW_AGAIN };

/* Grows window w, the one in use, to cover chunk numbers [first, last];
 * m is held. GROW_AGAIN when a fork child retired m meanwhile (this thread
 * forked from a signal handler while it copied): the copy may lack words
 * set in the child since, so it is dropped, for the caller to start over
 * under the fresh lock. */
static enum grown grow(struct map_writers *m, struct window *w, uintptr_t first, uintptr_t last)
{
	uintptr_t lo = first, hi = last + 1;
	if (w->h.n != 0) {
		if (w->h.lo < lo)
			lo = w->h.lo;
		if (w->h.lo + w->h.n > hi)
			hi = w->h.lo + w->h.n;
	}
	size_t page = os_page_size();
	size_t want = window_bytes(2 * w->h.n > hi - lo ? 2 * w->h.n : hi - lo);
	size_t bytes = align_up(want > WINDOW_MIN_BYTES ? want : WINDOW_MIN_BYTES, page);
	uintptr_t n = (bytes - offsetof(struct window, chunks)) / SLOT_BYTES;
	if (n > MAP_TOP)
		n = MAP_TOP;
	/* The room to spare goes mostly below: the kernel places new mappings
	 * top down, below the ones it placed before. */
	uintptr_t spare = n - (hi - lo);
	uintptr_t below = spare - spare / 4;
	uintptr_t nlo = lo > below ? lo - below : 0;
	if (nlo + n > MAP_TOP)
		nlo = MAP_TOP - n;
	struct window *nw = copy_window(w, nlo, n, bytes);
	if (nw == NULL)
		return GROW_FAILED;
	/* Retired before the check: the copy may be stale. Retired after it:
	 * the child put a copy of w in its place, and the exchange fails. */
	_Atomic(uintptr_t) *old = w->chunks;
	if (unlikely(m->retired) ||
	    !atomic_compare_exchange_strong_explicit(&cairn_pagemap, &old, nw->chunks,
	                                             memory_order_release, memory_order_relaxed)) {
		os_unmap(nw, bytes);
		return GROW_AGAIN;
	}
	atomic_fetch_add_explicit(&map_bytes, bytes, memory_order_relaxed);
	return GROW_DONE;
}

bool pagemap_reserve(uintptr_t a, size_t size)
{
	uintptr_t first = a >> CHUNK_SHIFT, last = (a + size - 1) >> CHUNK_SHIFT;
	if (last >= MAP_TOP || last < first)
		return false;
	for (;;) {
		struct map_writers *m = map_lock();
		struct window *w = current();
		enum grown g = first - w->h.lo < w->h.n && last - w->h.lo < w->h.n
		                   ? GROW_DONE
		                   : grow(m, w, first, last);
		map_unlock(m);
		if (g != GROW_AGAIN)
			return g == GROW_DONE;
	}
}

void pagemap_set_range(uintptr_t a, size_t size, uintptr_t v)
{
	uintptr_t first = a >> CHUNK_SHIFT, last = (a + size - 1) >> CHUNK_SHIFT;
	for (;;) {
		struct map_writers *m = map_lock();
		struct window *w = current();
		for (uintptr_t i = first; i <= last; i++) {
			/* Outside the window a word is 0 already; setting
			 * anything else there is a missing pagemap_reserve. */
			if (i - w->h.lo < w->h.n) {
				atomic_store_explicit(&pagemap_tagged(w->chunks)[i - w->h.lo], v,
				                      memory_order_release);
				atomic_store_explicit(&w->chunks[i - w->h.lo], chunk_word(v, i),
				                      memory_order_release);
			}
		}
		/* Retired: a fork child (this thread forked from a signal
		 * handler meanwhile) may have copied the window before these
		 * words were set, or this thread wrote to the window in use
		 * without the fresh lock. Again, under that lock. */
		bool again = unlikely(m->retired);
		map_unlock(m);
		if (!again)
			return;
	}
}

void pagemap_visit_chunks(void (*fn)(struct chunk *c, void *arg), void *arg)
{
	struct window *w = current();
	const _Atomic(uintptr_t) *words = pagemap_tagged(w->chunks);
	for (uintptr_t i = 0; i < w->h.n; i++) {
		uintptr_t v = atomic_load_explicit(&words[i], memory_order_acquire);
		if ((v & MAP_TAGS) == MAP_CHUNK)
			fn((struct chunk *)(v - MAP_CHUNK), arg);
	}
}

size_t pagemap_mapped_bytes(void)
{
	return atomic_load_explicit(&map_bytes, memory_order_relaxed);
}

void pagemap_postfork_child(void)
{
	struct map_writers *m = atomic_load(&writers_cur);
	if (!mutex_reset_was_held(&m->lock))
		return;
	struct map_writers *fresh = meta_alloc(sizeof(*fresh));
	if (fresh == NULL)
		return; /* out of memory: the lock and the window go on */
	/* The empty window has no words to lose. */
	struct window *w = current();
	if (w->h.n != 0) {
		size_t bytes = align_up(window_bytes(w->h.n), os_page_size());
		struct window *nw = copy_window(w, w->h.lo, w->h.n, bytes);
		if (nw == NULL)
			return; /* likewise */
		atomic_store_explicit(&cairn_pagemap, nw->chunks, memory_order_release);
		atomic_fetch_add_explicit(&map_bytes, bytes, memory_order_relaxed);
	}
	mutex_init(&fresh->lock);
	m->retired = true;
	atomic_store_explicit(&writers_cur, fresh, memory_order_release);
}
