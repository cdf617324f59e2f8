/* SPDX-License-Identifier: MIT */
/* Huge blocks as the api sees them: handed out, freed, resized (see
 * huge.h; the cache is huge_cache.c's, the mappings huge_map.c's). */
#include "core/huge_internal.h"

#include <stdatomic.h>
#include <string.h>

#include "core/counters.h"
#include "core/decay_request.h"
#include "core/lock.h"
#include "os/os.h"

/* Makes h, taken from the cache or just mapped, the live block of len
 * bytes. */
static void *hand_out(struct huge *h, size_t len, bool zero)
{
	h->size = len;
	huge_count_live((ssize_t)len, 1);
	counter_add(huge_nmalloc, 1);
	if (zero && !h->fresh)
		memset((void *)h->addr, 0, len);
	h->fresh = false;
	h->set = NULL;
	h->live = true;
	h->sampled = false;
	huge_map_slots(h->addr, h->mapped, (uintptr_t)h | MAP_HUGE);
	return (void *)h->addr;
}

void *huge_alloc_cached(size_t size, bool zero)
{
	size_t len = align_up(size, os_page_size());
	struct huge *h = len < CHUNK_SIZE ? huge_cache_take(len, CHUNK_SIZE, true) : NULL;
	return h != NULL ? hand_out(h, len, zero) : NULL;
}

void *huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len = align_up(size, os_page_size());
	if (len < size)
		return NULL;
	if (align < CHUNK_SIZE)
		align = CHUNK_SIZE;
	struct huge *h = huge_cache_take(len, align, false);
	if (h == NULL) {
		void *p = huge_map_fresh(len, align);
		if (p == NULL)
			return NULL;
		h = huge_desc_get();
		if (h == NULL) {
			os_unmap(p, len);
			return NULL;
		}
		h->addr = (uintptr_t)p;
		h->mapped = len;
		h->pieces = 0;
		huge_piece_append(h, len, huge_new_vma());
		h->fresh = true;
	}
	return hand_out(h, len, zero);
}

void *huge_alloc_in(struct huge_set *set, size_t size, size_t align, bool zero)
{
	void *p = huge_alloc(size, align, zero);
	if (p == NULL)
		return NULL;
	struct huge *h = huge_of(pagemap_get((uintptr_t)p));
	mutex_lock(&set->lock);
	h->set = set;
	h->set_prev = NULL;
	h->set_next = set->head;
	if (set->head != NULL)
		set->head->set_prev = h;
	set->head = h;
	mutex_unlock(&set->lock);
	return p;
}

static void set_unlink(struct huge *h)
{
	struct huge_set *set = h->set;
	if (set == NULL)
		return;
	mutex_lock(&set->lock);
	if (h->set_prev != NULL)
		h->set_prev->set_next = h->set_next;
	else
		set->head = h->set_next;
	if (h->set_next != NULL)
		h->set_next->set_prev = h->set_prev;
	h->set = NULL;
	mutex_unlock(&set->lock);
}

void huge_free_set(struct huge_set *set)
{
	mutex_lock(&set->lock);
	struct huge *h = set->head;
	set->head = NULL;
	for (struct huge *e = h; e != NULL; e = e->set_next)
		e->set = NULL;
	mutex_unlock(&set->lock);
	while (h != NULL) {
		struct huge *next = h->set_next;
		huge_free(h);
		h = next;
	}
}

void huge_free(struct huge *h)
{
	set_unlink(h);
	h->live = false;
	huge_count_live(-(ssize_t)h->size, -1);
	counter_add(huge_ndalloc, 1);
	huge_cache_put(h);
	decay_request();
}

/* Gives back the whole 2 MiB slots past len bytes of h's mapping. Slots
 * leave the page map before their address space is given up: once it is,
 * another thread may map a block there and claim them. */
static void trim(struct huge *h, size_t len)
{
	uintptr_t keep = align_up(h->addr + len, CHUNK_SIZE);
	uintptr_t end = h->addr + h->mapped;
	if (end <= keep)
		return;
	huge_map_slots(keep, end - keep, 0);
	if (!os_unmap((void *)keep, end - keep)) {
		huge_map_slots(keep, end - keep, (uintptr_t)h | MAP_HUGE);
		return;
	}
	huge_keep_head(h, keep - h->addr);
}

/* Grows h's mapping to at least len bytes: with the cached mappings that
 * follow it, then its last piece in place where the address space after it
 * is free, else every piece moved with mremap to a fresh range, the last
 * growing into it. Should a move fail, what did not move is copied
 * instead. False (block unchanged) only if no range can be had. */
/* Grows h's mapping to len bytes. *fresh_from is where the pages the
 * kernel zeroed begin: those before it held data (the mapping's own tail,
 * cached neighbours taken in), those after are new. */
static bool grow(struct huge *h, size_t len, size_t *fresh_from)
{
	huge_absorb_following(h, len);
	*fresh_from = h->mapped < len ? h->mapped : len;
	if (h->mapped >= len)
		return true;
	uintptr_t value = (uintptr_t)h | MAP_HUGE;
	unsigned last = h->pieces - 1u;
	size_t from = last != 0 ? h->piece_end[last - 1] : 0;
	if (pagemap_reserve(h->addr, len) &&
	    os_remap_inplace((void *)(h->addr + from), h->mapped - from, len - from)) {
		h->mapped = len;
		h->piece_end[last] = len;
		huge_map_slots(h->addr, len, value);
		return true;
	}
	void *to = huge_map_fresh(len, CHUNK_SIZE);
	if (to == NULL)
		return false;
	huge_map_slots((uintptr_t)to, len, value);
	huge_map_slots(h->addr, h->mapped, 0);
	struct huge moved = {.addr = (uintptr_t)to};
	size_t old = h->mapped;
	if (!huge_move_head(h, old, len - old, &moved, 0)) {
		memcpy((char *)to + (old - h->mapped), (void *)h->addr, h->mapped);
		os_unmap((void *)h->addr, h->mapped);
		huge_piece_append(&moved, len, huge_new_vma());
	}
	h->addr = moved.addr;
	h->mapped = len;
	h->pieces = moved.pieces;
	memcpy(h->piece_end, moved.piece_end, sizeof h->piece_end);
	memcpy(h->piece_vma, moved.piece_vma, sizeof h->piece_vma);
	return true;
}

void *huge_realloc(struct huge *h, size_t size, size_t *fresh_from)
{
	size_t len = align_up(size, os_page_size());
	if (len < size)
		return NULL;
	/* Within the mapping there is nothing to map; a block that shrinks
	 * gives back the whole 2 MiB slots it left. */
	*fresh_from = len;
	if (len > h->mapped) {
		if (!grow(h, len, fresh_from))
			return NULL;
	} else if (len < h->size) {
		trim(h, len);
	}
	huge_count_live((ssize_t)len - (ssize_t)h->size, 0);
	h->size = len;
	return (void *)h->addr;
}

void huge_stats(size_t *live, size_t *blocks, size_t *cached)
{
	*live = atomic_load_explicit(&huge_live_bytes, memory_order_relaxed);
	*blocks = atomic_load_explicit(&huge_live_blocks, memory_order_relaxed);
	*cached = huge_cached_bytes();
}
