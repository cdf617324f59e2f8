/* SPDX-License-Identifier: MIT */
/* The cache of freed huge mappings (see huge.h): taking a mapping for a
 * block whole, by its head or assembled; putting a freed one back as its
 * pieces; the mappings that follow a block, for realloc; decay. And the
 * spare descriptors, under the same lock. */
#include "core/huge_internal.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/counters.h"
#include "core/decay_curve.h"
#include "core/lock.h"
#include "core/meta.h"
#include "core/params.h"
#include "os/os.h"

/* Freed huge mappings kept for reuse, each one piece (a single VMA). The
 * bounds are generous because decay (dirty_decay_ms, by the purging thread)
 * gives them back when they stay unused, and a reused page saves a fault.
 * The bytes are bounded below (keep); the count only bounds the walks of
 * the list and the VMAs, and must leave room for the pieces that blocks of
 * mixed sizes leave: assembling and splitting leave 2 MiB pieces behind,
 * and at 16 pieces those were evicted (unmapped) while the bytes allowed
 * them, to be faulted in again by the next block. 20 blocks of 5-25 MiB
 * replaced in a ring, every page written (2,000 replacements): 438k page
 * faults at 16 pieces, 290k at 32, 236k at 64 and at 128; peak RSS 406,
 * 403, 456 and 468 MB (tcmalloc: 169k faults, 503 MB). */
#define CACHE_MAX_COUNT HUGE_CACHE_MAX_COUNT
#define CACHE_MAX_BYTES (1ul << 30)
/* Beyond the block just freed, the cache keeps no more than would lift the
 * huge bytes in use plus cached above their peak so far, plus an eighth of
 * those in use: enough to assemble the next block from in a process whose
 * huge blocks come and go, without running peak RSS above the live set. */
#define CACHE_SLACK_SHARE 8
/* The cache and the spare descriptors, under one lock. A fork child whose
 * parent held the lock retires them (a list may be half changed) and starts
 * empty ones: the retired mappings and descriptors are never used again. */
struct huge_state {
	cairn_mutex lock;
	struct huge *spare_descs; /* Guarded by lock. */
	struct huge *cache;       /* most recently freed first. Guarded by lock. */
	size_t cache_bytes;       /* Guarded by lock. */
	unsigned cache_count;     /* Guarded by lock. */
	bool retired;             /* set in a fork child only */
};

static struct huge_state huge_first = {.lock = CAIRN_MUTEX_INIT};
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
struct huge *huge_desc_get(void)
{
	struct huge_state *st = huge_lock();
	struct huge *h = st->spare_descs;
	if (h != NULL)
		st->spare_descs = h->next;
	huge_unlock(st);
	return h != NULL ? h : meta_alloc(sizeof(struct huge));
}

void huge_desc_put(struct huge *h)
{
	struct huge_state *st = huge_lock();
	h->next = st->spare_descs;
	st->spare_descs = h;
	huge_unlock(st);
}

/* Unmaps what is left of a cached or failed mapping and recycles its
 * descriptor. */
void huge_release(struct huge *h)
{
	if (h->mapped != 0) {
		huge_map_slots(h->addr, h->mapped, 0);
		os_unmap((void *)h->addr, h->mapped);
	}
	huge_desc_put(h);
}

/* The cache. */

/* Puts h back, keeping the cache ordered newest first; cached is its
 * bytes when it was first cached (see struct huge). */
static void cache_insert(struct huge *h, size_t cached)
{
	struct huge_state *st = huge_lock();
	h->cached = cached;
	struct huge **link = &st->cache;
	while (*link != NULL && (*link)->since > h->since)
		link = &(*link)->next;
	h->next = *link;
	*link = h;
	st->cache_bytes += h->mapped;
	st->cache_count++;
	huge_unlock(st);
}

void cache_unlink(struct huge_state *st, struct huge **link)
{
	struct huge *h = *link;
	*link = h->next;
	st->cache_bytes -= h->mapped;
	st->cache_count--;
}

/* Splits h after its first n bytes (a multiple of 2 MiB): the rest goes back
 * to the cache, where it stays the same VMA as h's end. Without a
 * descriptor for the rest, h stays whole. */
void split_off(struct huge *h, size_t n)
{
	if (n >= h->mapped)
		return;
	struct huge *rest = huge_desc_get();
	if (rest == NULL)
		return;
	*rest = *h;
	huge_drop_head(rest, n);
	huge_keep_head(h, n);
	huge_map_slots(rest->addr, rest->mapped, (uintptr_t)rest | MAP_HUGE);
	cache_insert(rest, rest->mapped);
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
	struct huge *b = huge_desc_get();
	void *to = b != NULL ? huge_map_fresh(total, align) : NULL;
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
		huge_map_slots(h->addr, n, 0);
		if (!huge_move_head(h, n, i + 1 == nt ? total - got : 0, b, off)) {
			os_unmap(to, total);
			goto fail;
		}
		if (h->mapped == 0)
			huge_desc_put(h);
		else
			cache_insert(h, h->mapped);
	}
	return b;
fail:
	for (; i < nt; i++)
		huge_release(t[i].h);
	if (b != NULL)
		huge_desc_put(b);
	return NULL;
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
struct huge *huge_cache_take(size_t len, size_t align, bool only_close)
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
		unsigned used = huge_pieces_in(h, n);
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

/* Caches freed block h as its pieces, evicting what the bounds say; a
 * mapping above CACHE_MAX_BYTES, or any with dirty_decay_ms:0, is unmapped
 * at once. */
void huge_cache_put(struct huge *h)
{
	if (h->mapped > CACHE_MAX_BYTES || cairn_core.dirty_decay_ms == 0) {
		huge_release(h);
		return;
	}
	uint64_t now = os_now_ms();
	size_t freed = h->mapped;
	/* Each piece is cached on its own: the next assembly takes the
	 * pieces it needs. */
	struct huge *list = NULL;
	while (h->pieces > 1) {
		struct huge *p = huge_desc_get();
		if (p == NULL)
			break;
		size_t from = h->piece_end[h->pieces - 2];
		*p = *h;
		huge_drop_head(p, from);
		huge_keep_head(h, from);
		p->since = now;
		p->cached = p->mapped;
		p->next = list;
		list = p;
		huge_map_slots(p->addr, p->mapped, (uintptr_t)p | MAP_HUGE);
	}
	h->since = now;
	h->cached = h->mapped;
	h->next = list;
	list = h;
	size_t live = atomic_load_explicit(&huge_live_bytes, memory_order_relaxed);
	size_t peak = atomic_load_explicit(&huge_live_peak, memory_order_relaxed);
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
		huge_release(evicted);
		evicted = next;
	}
}

/* Takes into h's mapping the cached mappings that follow it in the
 * address space, as far as len bytes: their pages are resident, and they
 * join h where they lie. */
void huge_absorb_following(struct huge *h, size_t len)
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
		if (e == NULL || huge_pieces_with(h, e, n) > HUGE_PIECES) {
			huge_unlock(st);
			return;
		}
		cache_unlink(st, link);
		huge_unlock(st);
		for (unsigned i = 0, k = huge_pieces_in(e, n); i < k; i++) {
			size_t end = e->piece_end[i] < n ? e->piece_end[i] : n;
			huge_piece_append(h, h->mapped + end, e->piece_vma[i]);
		}
		huge_map_slots(e->addr, n, (uintptr_t)h | MAP_HUGE);
		h->mapped += n;
		huge_drop_head(e, n);
		if (e->mapped == 0)
			huge_desc_put(e);
		else
			cache_insert(e, e->mapped);
	}
}

/* How long cached mapping h has been cached at time now: 0 when it was
 * cached after now was read (by a pass that began before the free). */
static uint64_t cached_age(const struct huge *h, uint64_t now)
{
	return now > h->since ? now - h->since : 0;
}

size_t huge_decay(uint64_t now, bool force, bool curve)
{
	int64_t decay_ms = cairn_core.dirty_decay_ms;
	size_t released = 0;
	/* The bytes the curve lets wait, summed once per pass (see
	 * decay_curve.h); without the curve, all but what is due. */
	double allowed = -1.0;
	for (;;) {
		struct huge_state *st = huge_lock();
		/* The oldest entry is the last. */
		struct huge **link = &st->cache;
		double sum = 0.0;
		for (; *link != NULL; link = &(*link)->next) {
			if (allowed < 0.0 && curve && decay_ms > 0) {
				/* A share of what it held when cached: its tails
				 * released since do not lower its allowance. */
				double a = (double)(*link)->cached *
				           decay_curve_share(cached_age(*link, now), decay_ms);
				sum += a < (double)(*link)->mapped ? a : (double)(*link)->mapped;
			}
			if ((*link)->next == NULL)
				break;
		}
		if (allowed < 0.0)
			allowed = curve && decay_ms > 0 ? sum : (double)SIZE_MAX;
		struct huge *h = *link;
		/* Whole when due; else, past what the curve allows, its tail
		 * in whole 2 MiB slots (it stays cached with its head), so
		 * that one long mapping goes back along the curve too. */
		size_t keep = 0;
		if (h == NULL) {
			keep = SIZE_MAX;
		} else if (!force && (decay_ms < 0 || cached_age(h, now) < (uint64_t)decay_ms)) {
			double excess = (double)st->cache_bytes - allowed;
			if (excess < (double)CHUNK_SIZE / 2)
				keep = SIZE_MAX;
			else if ((double)h->mapped > excess && (h->addr & (CHUNK_SIZE - 1)) == 0)
				keep = (h->mapped - (size_t)excess) & ~(CHUNK_SIZE - 1);
		}
		if (keep == SIZE_MAX) {
			huge_unlock(st);
			return released;
		}
		cache_unlink(st, link);
		huge_unlock(st);
		size_t bytes = h->mapped - keep, cached = h->cached;
		released += bytes;
		counter_add(huge_released, bytes);
		if (keep == 0) {
			huge_release(h);
			continue;
		}
		huge_map_slots(h->addr + keep, bytes, 0);
		os_unmap((void *)(h->addr + keep), bytes);
		huge_keep_head(h, keep);
		cache_insert(h, cached);
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

void huge_postfork_child(void)
{
	struct huge_state *old = atomic_load(&huge_cur);
	if (!mutex_reset_was_held(&old->lock))
		return;
	struct huge_state *st = meta_alloc(sizeof(*st));
	if (st == NULL)
		return; /* out of memory: the old state goes on */
	mutex_init(&st->lock);
	old->retired = true;
	atomic_store(&huge_cur, st);
}

size_t huge_cached_bytes(void)
{
	struct huge_state *st = huge_lock();
	size_t n = st->cache_bytes;
	huge_unlock(st);
	return n;
}
