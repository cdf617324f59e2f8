/* SPDX-License-Identifier: MIT */
#include "core/huge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>

#include "core/params.h"
#include "core/decay_request.h"
#include "core/chunk.h"
#include "core/counters.h"
#include "core/lock.h"
#include "core/meta.h"
#include "os/os.h"

/* Freed huge mappings kept for reuse, each one piece (a single VMA). The
 * bounds are generous because decay (dirty_decay_ms, by the purging thread)
 * gives them back when they stay unused, and a reused page saves a fault. */
#define CACHE_MAX_COUNT 16
#define CACHE_MAX_BYTES (1ul << 30)
/* Beyond the block just freed, the cache keeps no more than would lift the
 * huge bytes in use plus cached above their peak so far, plus an eighth of
 * those in use: enough to assemble the next block from in a process whose
 * huge blocks come and go, without running peak RSS above the live set. */
#define CACHE_SLACK_SHARE 8
/* Assembled blocks spread over several VMAs; past this many live huge
 * blocks new ones take a single piece, and realloc no longer moves blocks
 * under LARGE_MAX into cached mappings, so that huge blocks never use
 * more than a quarter of the default vm.max_map_count (65530). */
#define MANY_BLOCKS 2048

/* The cache and the spare descriptors, under one lock. A fork child whose
 * parent held the lock retires them (a list may be half changed) and starts
 * empty ones: the retired mappings and descriptors are never used again. */
struct huge_state {
	pthread_mutex_t lock;
	struct huge *spare_descs; /* Guarded by lock. */
	struct huge *cache;       /* most recently freed first. Guarded by lock. */
	size_t cache_bytes;       /* Guarded by lock. */
	unsigned cache_count;     /* Guarded by lock. */
	bool retired;             /* set in a fork child only */
};

static struct huge_state huge_first = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct huge_state *_Atomic huge_cur = &huge_first;

/* Takes the lock of the current state and returns it. */
static struct huge_state *huge_lock(void)
{
	for (;;) {
		struct huge_state *st = atomic_load_explicit(&huge_cur, memory_order_acquire);
		mutex_lock(&st->lock);
		if (likely(!st->retired))
			return st;
		mutex_unlock(&st->lock);
	}
}

static void huge_unlock(struct huge_state *st)
{
	mutex_unlock(&st->lock);
}

static _Atomic size_t live_bytes;  /* the size of every live huge block */
static _Atomic size_t live_peak;   /* the most live_bytes has been */
static _Atomic size_t live_blocks; /* how many there are */
static _Atomic uint64_t vma_ids;

/* Advice covers whole mappings: advising part of one would split it into
 * two VMAs, and mremap refuses to move a range that spans two. */
static void thp_advice(void *p, size_t len)
{
	if (cairn_core.thp == CORE_THP_ALWAYS)
		os_hugepage_advise(p, len);
	else if (cairn_core.thp == CORE_THP_NEVER)
		os_hugepage_forbid(p, len);
}

static void map_slots(uintptr_t addr, size_t size, uintptr_t value)
{
	if (size != 0)
		pagemap_set_range(addr, size, value);
}

static uint64_t new_vma(void)
{
	return atomic_fetch_add_explicit(&vma_ids, 1, memory_order_relaxed) + 1;
}

static void *map_fresh(size_t len, size_t align)
{
	void *p = os_map_aligned(len, align);
	if (p == NULL)
		return NULL;
	if (!pagemap_reserve((uintptr_t)p, len)) {
		os_unmap(p, len);
		return NULL;
	}
	thp_advice(p, len);
	return p;
}

static struct huge *desc_get(void)
{
	struct huge_state *st = huge_lock();
	struct huge *h = st->spare_descs;
	if (h != NULL)
		st->spare_descs = h->next;
	huge_unlock(st);
	return h != NULL ? h : meta_alloc(sizeof(struct huge));
}

static void desc_put(struct huge *h)
{
	struct huge_state *st = huge_lock();
	h->next = st->spare_descs;
	st->spare_descs = h;
	huge_unlock(st);
}

/* Unmaps what is left of a cached or failed mapping and recycles its
 * descriptor. */
static void release(struct huge *h)
{
	if (h->mapped != 0) {
		map_slots(h->addr, h->mapped, 0);
		os_unmap((void *)h->addr, h->mapped);
	}
	desc_put(h);
}

/* Pieces.
 *
 * Every piece lies within one VMA, and pieces meet on 2 MiB boundaries
 * (only a mapping's end may fall between two), so every cached piece
 * starts on one and has page map slots of its own. Two neighbouring pieces
 * with the same VMA id are one VMA: an id is given when a range is mapped
 * or moved, and parts of it keep their places until a move gives them a
 * new one. */

/* How many of h's pieces the first n bytes of its mapping touch. */
static unsigned pieces_in(const struct huge *h, size_t n)
{
	unsigned i = 0;
	while (h->piece_end[i] < n)
		i++;
	return i + 1;
}

/* Adds a piece of VMA vma that ends at offset end of h's mapping. */
static void piece_append(struct huge *h, size_t end, uint64_t vma)
{
	if (h->pieces != 0 && h->piece_vma[h->pieces - 1] == vma) {
		h->piece_end[h->pieces - 1] = end;
		return;
	}
	h->piece_end[h->pieces] = end;
	h->piece_vma[h->pieces] = vma;
	h->pieces++;
}

/* How many pieces h would have with the first n bytes of e's mapping
 * appended. */
static unsigned pieces_with(const struct huge *h, const struct huge *e, size_t n)
{
	unsigned k = h->pieces + pieces_in(e, n);
	return e->piece_vma[0] == h->piece_vma[h->pieces - 1] ? k - 1 : k;
}

/* The first n bytes of h's mapping have gone: what remains starts n bytes
 * further on. */
static void drop_head(struct huge *h, size_t n)
{
	unsigned k = 0;
	for (unsigned i = 0; i < h->pieces; i++) {
		if (h->piece_end[i] > n) {
			h->piece_end[k] = h->piece_end[i] - n;
			h->piece_vma[k] = h->piece_vma[i];
			k++;
		}
	}
	h->pieces = (unsigned char)k;
	h->addr += n;
	h->mapped -= n;
}

/* h keeps only the first n bytes of its mapping. */
static void keep_head(struct huge *h, size_t n)
{
	h->pieces = (unsigned char)pieces_in(h, n);
	h->piece_end[h->pieces - 1] = n;
	h->mapped = n;
}

/* Moves the first n bytes of src's mapping to offset off of dst's, one
 * mremap per piece, the last growing by grow bytes of fresh pages, and
 * appends them to dst's pieces. src's page map slots must be cleared
 * already. False if a move failed: src then holds what did not move. */
static bool move_head(struct huge *src, size_t n, size_t grow, struct huge *dst, size_t off)
{
	for (size_t moved = 0; moved < n;) {
		size_t len = src->piece_end[0] < n - moved ? src->piece_end[0] : n - moved;
		size_t extra = moved + len == n ? grow : 0;
		void *to = (void *)(dst->addr + off + moved);
		if (!os_remap_to((void *)src->addr, len, to, len + extra))
			return false;
		drop_head(src, len);
		moved += len;
		piece_append(dst, off + moved + extra, new_vma());
	}
	return true;
}

/* The cache. */

/* Puts h back, keeping the cache ordered newest first. */
static void cache_insert(struct huge *h)
{
	struct huge_state *st = huge_lock();
	struct huge **link = &st->cache;
	while (*link != NULL && (*link)->since > h->since)
		link = &(*link)->next;
	h->next = *link;
	*link = h;
	st->cache_bytes += h->mapped;
	st->cache_count++;
	huge_unlock(st);
}

static void cache_unlink(struct huge_state *st, struct huge **link)
{
	struct huge *h = *link;
	*link = h->next;
	st->cache_bytes -= h->mapped;
	st->cache_count--;
}

/* Splits h after its first n bytes (a multiple of 2 MiB): the rest goes back
 * to the cache, where it stays the same VMA as h's end. Without a
 * descriptor for the rest, h stays whole. */
static void split_off(struct huge *h, size_t n)
{
	if (n >= h->mapped)
		return;
	struct huge *rest = desc_get();
	if (rest == NULL)
		return;
	*rest = *h;
	drop_head(rest, n);
	keep_head(h, n);
	map_slots(rest->addr, rest->mapped, (uintptr_t)rest | MAP_HUGE);
	cache_insert(rest);
}

struct take {
	struct huge *h;
	size_t n; /* the head of h's mapping to move */
};

/* Builds a mapping of at least len bytes from the cached mappings in
 * t[0..nt), unlinked by the caller, moving them into a fresh range; what
 * they do not cover is the last piece's growth. NULL if a system call
 * failed: the mappings taken are given back to the OS. */
static struct huge *assemble(struct take *t, unsigned nt, size_t len, size_t align)
{
	size_t got = 0;
	for (unsigned i = 0; i < nt; i++)
		got += t[i].n;
	size_t total = got > len ? got : len;
	struct huge *b = desc_get();
	void *to = b != NULL ? map_fresh(total, align) : NULL;
	unsigned i = 0;
	if (to == NULL)
		goto fail;
	b->addr = (uintptr_t)to;
	b->mapped = total;
	b->pieces = 0;
	b->fresh = false;
	for (size_t off = 0; i < nt; off += t[i].n, i++) {
		struct huge *h = t[i].h;
		size_t n = t[i].n;
		map_slots(h->addr, n, 0);
		if (!move_head(h, n, i + 1 == nt ? total - got : 0, b, off)) {
			os_unmap(to, total);
			goto fail;
		}
		if (h->mapped == 0)
			desc_put(h);
		else
			cache_insert(h);
	}
	return b;
fail:
	for (; i < nt; i++)
		release(t[i].h);
	if (b != NULL)
		desc_put(b);
	return NULL;
}

bool huge_room(void)
{
	return atomic_load_explicit(&live_blocks, memory_order_relaxed) < MANY_BLOCKS;
}

/* A cached mapping of len bytes or a little more is taken whole, with no
 * system call at all; "a little" is bounded, since the excess stays
 * resident and unused while the block lives. */
static bool fits(const struct huge *h, size_t len)
{
	return h->mapped >= len && h->mapped - len <= (len / 8 > CHUNK_SIZE ? len / 8 : CHUNK_SIZE);
}

/* A mapping from the cache for a block of len bytes, or NULL: the closest
 * that fits whole; else the longest, split where it lies after the
 * block's last 2 MiB slot if it is long enough (the longest, so that what
 * stays cached is a long piece, not a sliver); else the longest ones moved
 * together and grown into fresh pages. With only_close, for a block under
 * 2 MiB that need not be huge at all: a mapping at most twice len whole, or
 * the head of one with a 2 MiB slot to spare, never an assembly. */
static struct huge *cache_take(size_t len, size_t align, bool only_close)
{
	struct huge_state *st = huge_lock();
	struct huge **fit = NULL, **big = NULL;
	for (struct huge **link = &st->cache; *link != NULL; link = &(*link)->next) {
		struct huge *h = *link;
		if ((h->addr & (align - 1)) != 0)
			continue;
		bool close = only_close ? h->mapped >= len && h->mapped - len <= len : fits(h, len);
		if (close && (fit == NULL || h->mapped < (*fit)->mapped))
			fit = link;
		if (big == NULL || h->mapped > (*big)->mapped)
			big = link;
	}
	if (only_close && fit == NULL &&
	    (big == NULL || (*big)->mapped < align_up(len, CHUNK_SIZE) + CHUNK_SIZE)) {
		huge_unlock(st);
		return NULL;
	}
	if (fit != NULL || (big != NULL && (*big)->mapped >= len)) {
		struct huge *h = fit != NULL ? *fit : *big;
		cache_unlink(st, fit != NULL ? fit : big);
		huge_unlock(st);
		if (fit == NULL) {
			split_off(h, align_up(len, CHUNK_SIZE));
			/* A block under 2 MiB (one realloc moved here) gets a
			 * whole 2 MiB slot. Past twice its size, room for one
			 * doubling, the slot's pages are given back: one long
			 * mapping split for many such blocks would otherwise
			 * stay resident, unused and out of decay's reach, for
			 * as long as they live. */
			if (h->mapped - len > len) {
				size_t keep = align_up(2 * len, os_page_size());
				os_purge((void *)(h->addr + keep), h->mapped - keep);
			}
		}
		return h;
	}
	struct take t[HUGE_PIECES];
	unsigned nt = 0;
	unsigned budget = huge_room() ? HUGE_PIECES : 1;
	/* No aligned cached mapping is as long as len. Largest first: the
	 * fewest pieces. */
	for (size_t want = len; want > 0 && budget > 0 && st->cache != NULL;) {
		struct huge **longest = &st->cache;
		for (struct huge **link = &st->cache->next; *link != NULL; link = &(*link)->next)
			if ((*link)->mapped > (*longest)->mapped)
				longest = link;
		struct huge *h = *longest;
		size_t n = align_up(want, CHUNK_SIZE);
		bool last = false;
		if (n >= h->mapped && ((n = h->mapped) & (CHUNK_SIZE - 1)) != 0) {
			/* A tail between 2 MiB boundaries can only come last. */
			if (n > CHUNK_SIZE)
				n &= ~(CHUNK_SIZE - 1);
			else
				last = true;
		}
		unsigned used = pieces_in(h, n);
		if (used > budget)
			break;
		cache_unlink(st, longest);
		t[nt++] = (struct take){h, n};
		budget -= used;
		want -= n < want ? n : want;
		if (last)
			break;
	}
	huge_unlock(st);
	return nt != 0 ? assemble(t, nt, len, align) : NULL;
}

static void count_live(ssize_t bytes, int blocks)
{
	size_t live = atomic_fetch_add_explicit(&live_bytes, (size_t)bytes, memory_order_relaxed) +
	              (size_t)bytes;
	atomic_fetch_add_explicit(&live_blocks, (size_t)blocks, memory_order_relaxed);
	if (live > atomic_load_explicit(&live_peak, memory_order_relaxed))
		atomic_store_explicit(&live_peak, live, memory_order_relaxed);
}

/* Makes h, taken from the cache or just mapped, the live block of len
 * bytes. */
static void *hand_out(struct huge *h, size_t len, bool zero)
{
	h->size = len;
	count_live((ssize_t)len, 1);
	counter_add(huge_nmalloc, 1);
	if (zero && !h->fresh)
		memset((void *)h->addr, 0, len);
	h->fresh = false;
	h->live = true;
	map_slots(h->addr, h->mapped, (uintptr_t)h | MAP_HUGE);
	return (void *)h->addr;
}

void *huge_alloc_cached(size_t size, bool zero)
{
	size_t len = align_up(size, os_page_size());
	struct huge *h = len < CHUNK_SIZE ? cache_take(len, CHUNK_SIZE, true) : NULL;
	return h != NULL ? hand_out(h, len, zero) : NULL;
}

void *huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len = align_up(size, os_page_size());
	if (len < size)
		return NULL;
	if (align < CHUNK_SIZE)
		align = CHUNK_SIZE;
	struct huge *h = cache_take(len, align, false);
	if (h == NULL) {
		void *p = map_fresh(len, align);
		if (p == NULL)
			return NULL;
		h = desc_get();
		if (h == NULL) {
			os_unmap(p, len);
			return NULL;
		}
		h->addr = (uintptr_t)p;
		h->mapped = len;
		h->pieces = 0;
		piece_append(h, len, new_vma());
		h->fresh = true;
	}
	return hand_out(h, len, zero);
}

void huge_free(struct huge *h)
{
	h->live = false;
	count_live(-(ssize_t)h->size, -1);
	counter_add(huge_ndalloc, 1);
	if (h->mapped > CACHE_MAX_BYTES || cairn_core.dirty_decay_ms == 0) {
		release(h);
		return;
	}
	uint64_t now = os_now_ms();
	size_t freed = h->mapped;
	/* Each piece is cached on its own: the next assembly takes the
	 * pieces it needs. */
	struct huge *list = NULL;
	while (h->pieces > 1) {
		struct huge *p = desc_get();
		if (p == NULL)
			break;
		size_t from = h->piece_end[h->pieces - 2];
		*p = *h;
		drop_head(p, from);
		keep_head(h, from);
		p->since = now;
		p->next = list;
		list = p;
		map_slots(p->addr, p->mapped, (uintptr_t)p | MAP_HUGE);
	}
	h->since = now;
	h->next = list;
	list = h;
	size_t live = atomic_load_explicit(&live_bytes, memory_order_relaxed);
	size_t peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
	size_t keep = freed + (peak > live ? peak - live : 0) + live / CACHE_SLACK_SHARE;
	struct huge *evicted = NULL;
	struct huge_state *st = huge_lock();
	while (list != NULL) {
		struct huge *p = list;
		list = p->next;
		p->next = st->cache;
		st->cache = p;
		st->cache_bytes += p->mapped;
		st->cache_count++;
	}
	while (st->cache_count > CACHE_MAX_COUNT || st->cache_bytes > CACHE_MAX_BYTES ||
	       st->cache_bytes > keep) {
		/* Evict the smallest other than the newest: the largest save
		 * the most page faults for the fewest pieces. */
		struct huge **link = &st->cache->next;
		if (*link == NULL)
			break;
		for (struct huge **l = link; *l != NULL; l = &(*l)->next)
			if ((*l)->mapped < (*link)->mapped)
				link = l;
		struct huge *e = *link;
		cache_unlink(st, link);
		e->next = evicted;
		evicted = e;
	}
	huge_unlock(st);
	while (evicted != NULL) {
		struct huge *next = evicted->next;
		release(evicted);
		evicted = next;
	}
	decay_request();
}

size_t huge_decay(uint64_t now, bool force)
{
	size_t released = 0;
	for (;;) {
		/* The oldest entry is the last. */
		struct huge_state *st = huge_lock();
		struct huge *h = NULL, **link = &st->cache;
		while (*link != NULL && (*link)->next != NULL)
			link = &(*link)->next;
		h = *link;
		/* Cached after now was read (by a pass that began before the
		 * free): just cached, not due. */
		if (h != NULL &&
		    (force || (cairn_core.dirty_decay_ms >= 0 && now >= h->since &&
		               now - h->since >= (uint64_t)cairn_core.dirty_decay_ms))) {
			*link = NULL;
			st->cache_bytes -= h->mapped;
			st->cache_count--;
		} else {
			h = NULL;
		}
		huge_unlock(st);
		if (h == NULL)
			return released;
		released += h->mapped;
		counter_add(huge_released, h->mapped);
		release(h);
	}
}

uint64_t huge_decay_deadline(void)
{
	uint64_t next = UINT64_MAX;
	struct huge_state *st = huge_lock();
	if (st->cache != NULL && cairn_core.dirty_decay_ms >= 0) {
		struct huge *h = st->cache;
		while (h->next != NULL)
			h = h->next;
		next = h->since + (uint64_t)cairn_core.dirty_decay_ms;
	}
	huge_unlock(st);
	return next;
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
	map_slots(keep, end - keep, 0);
	if (!os_unmap((void *)keep, end - keep)) {
		map_slots(keep, end - keep, (uintptr_t)h | MAP_HUGE);
		return;
	}
	keep_head(h, keep - h->addr);
}

/* Takes into h's mapping the cached mappings that follow it in the
 * address space, as far as len bytes: their pages are resident, and they
 * join h where they lie. */
static void absorb_neighbours(struct huge *h, size_t len)
{
	while (h->mapped < len) {
		size_t n = align_up(len - h->mapped, CHUNK_SIZE);
		struct huge_state *st = huge_lock();
		struct huge **link = &st->cache;
		while (*link != NULL && (*link)->addr != h->addr + h->mapped)
			link = &(*link)->next;
		struct huge *e = *link;
		if (e != NULL && n > e->mapped)
			n = e->mapped;
		if (e == NULL || pieces_with(h, e, n) > HUGE_PIECES) {
			huge_unlock(st);
			return;
		}
		cache_unlink(st, link);
		huge_unlock(st);
		for (unsigned i = 0, k = pieces_in(e, n); i < k; i++) {
			size_t end = e->piece_end[i] < n ? e->piece_end[i] : n;
			piece_append(h, h->mapped + end, e->piece_vma[i]);
		}
		map_slots(e->addr, n, (uintptr_t)h | MAP_HUGE);
		h->mapped += n;
		drop_head(e, n);
		if (e->mapped == 0)
			desc_put(e);
		else
			cache_insert(e);
	}
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
	absorb_neighbours(h, len);
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
		map_slots(h->addr, len, value);
		return true;
	}
	void *to = map_fresh(len, CHUNK_SIZE);
	if (to == NULL)
		return false;
	map_slots((uintptr_t)to, len, value);
	map_slots(h->addr, h->mapped, 0);
	struct huge moved = {.addr = (uintptr_t)to};
	size_t old = h->mapped;
	if (!move_head(h, old, len - old, &moved, 0)) {
		memcpy((char *)to + (old - h->mapped), (void *)h->addr, h->mapped);
		os_unmap((void *)h->addr, h->mapped);
		piece_append(&moved, len, new_vma());
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
	count_live((ssize_t)len - (ssize_t)h->size, 0);
	h->size = len;
	return (void *)h->addr;
}

void huge_postfork_child(void)
{
	struct huge_state *old = atomic_load(&huge_cur);
	if (!mutex_reset_was_held(&old->lock))
		return;
	struct huge_state *st = meta_alloc(sizeof(*st));
	if (st == NULL)
		return; /* out of memory: the old state goes on */
	pthread_mutex_init(&st->lock, NULL);
	old->retired = true;
	atomic_store(&huge_cur, st);
}

void huge_stats(size_t *live, size_t *blocks, size_t *cached)
{
	*live = atomic_load_explicit(&live_bytes, memory_order_relaxed);
	*blocks = atomic_load_explicit(&live_blocks, memory_order_relaxed);
	struct huge_state *st = huge_lock();
	*cached = st->cache_bytes;
	huge_unlock(st);
}
