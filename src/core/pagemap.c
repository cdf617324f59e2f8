/* The page map: a flat array of one word per 2 MiB of address space, over a
 * window of chunk numbers that grows with the addresses cairn maps.
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
 * anyway) take map_lock, so that no word is written into a window while it
 * is being copied. A reader that loaded the old window just before a
 * growth sees the words as they were at the copy: that is only ever stale
 * for a block that is no longer live (a word changes only when memory is
 * mapped or unmapped), that is for a pointer the program may not free. */
#include <pthread.h>
#include <string.h>

#include "core/chunk.h"
#include "os/os.h"

/* The header of a window and its words, in one mapping. */
struct window {
	struct pagemap_window h;
	_Atomic(uintptr_t) e[];
};

static struct window empty_window;
_Atomic(_Atomic(uintptr_t) *) cairn_pagemap = empty_window.e;

static struct window *current(void)
{
	_Atomic(uintptr_t) *e = atomic_load_explicit(&cairn_pagemap, memory_order_relaxed);
	return (struct window *)((char *)e - offsetof(struct window, e));
}

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t map_bytes; /* Guarded by map_lock. */

/* 47 bits of user address space. */
#define MAP_TOP ((uintptr_t)1 << (47 - CHUNK_SHIFT))
/* The first window: one page of words (512 with 4 KiB pages: 1 GiB). */
#define WINDOW_MIN_BYTES 4096

static size_t window_bytes(uintptr_t n)
{
	return offsetof(struct window, e) + n * sizeof(uintptr_t);
}

/* Grows the window (lock held) to cover chunk numbers [first, last]. */
static bool grow(struct window *w, uintptr_t first, uintptr_t last)
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
	uintptr_t n = (bytes - offsetof(struct window, e)) / sizeof(uintptr_t);
	if (n > MAP_TOP)
		n = MAP_TOP;
	/* The room to spare goes mostly below: the kernel places new mappings
	 * top down, below the ones it placed before. */
	uintptr_t spare = n - (hi - lo);
	uintptr_t below = spare - spare / 4;
	uintptr_t nlo = lo > below ? lo - below : 0;
	if (nlo + n > MAP_TOP)
		nlo = MAP_TOP - n;
	struct window *nw = os_map_aligned(bytes, page);
	if (nw == NULL)
		return false;
	nw->h.lo = nlo;
	nw->h.n = n;
	for (uintptr_t i = 0; i < w->h.n; i++)
		atomic_store_explicit(&nw->e[w->h.lo - nlo + i],
		                      atomic_load_explicit(&w->e[i], memory_order_relaxed),
		                      memory_order_relaxed);
	map_bytes += bytes;
	atomic_store_explicit(&cairn_pagemap, nw->e, memory_order_release);
	return true;
}

bool pagemap_reserve(uintptr_t a, size_t size)
{
	uintptr_t first = a >> CHUNK_SHIFT, last = (a + size - 1) >> CHUNK_SHIFT;
	if (last >= MAP_TOP || last < first)
		return false;
	pthread_mutex_lock(&map_lock);
	struct window *w = current();
	bool ok = (first - w->h.lo < w->h.n && last - w->h.lo < w->h.n) || grow(w, first, last);
	pthread_mutex_unlock(&map_lock);
	return ok;
}

void pagemap_set_range(uintptr_t a, size_t size, uintptr_t v)
{
	uintptr_t first = a >> CHUNK_SHIFT, last = (a + size - 1) >> CHUNK_SHIFT;
	pthread_mutex_lock(&map_lock);
	struct window *w = current();
	for (uintptr_t i = first; i <= last; i++) {
		/* Outside the window a word is 0 already; setting anything else
		 * there is a missing pagemap_reserve. */
		if (i - w->h.lo < w->h.n)
			atomic_store_explicit(&w->e[i - w->h.lo], v, memory_order_release);
	}
	pthread_mutex_unlock(&map_lock);
}

size_t pagemap_mapped_bytes(void)
{
	pthread_mutex_lock(&map_lock);
	size_t b = map_bytes;
	pthread_mutex_unlock(&map_lock);
	return b;
}

void pagemap_prefork(void)
{
	pthread_mutex_lock(&map_lock);
}

void pagemap_postfork_parent(void)
{
	pthread_mutex_unlock(&map_lock);
}

void pagemap_postfork_child(void)
{
	pthread_mutex_init(&map_lock, NULL);
}
