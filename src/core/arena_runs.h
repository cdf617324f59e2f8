/* SPDX-License-Identifier: MIT */
/* An arena's index of its free runs, shared by the page heap (arena.c) and
 * decay (arena_decay.c), and known to no other module: the size bins, the
 * decay lists, and the page map of a chunk's pages to their spans. Every
 * function here runs under the arena's lock. */
#ifndef CAIRN_ARENA_RUNS_H
#define CAIRN_ARENA_RUNS_H

#include "core/arena.h"
#include "core/lock.h"

/* Every function that takes an arena's lock checks, once it holds it, that
 * the arena was not retired by a fork child (see arenas_postfork_child):
 * one that allocates goes on to the successor, one that gives pages back
 * leaks them, since the retired arena's lists may be half changed. */
static inline struct arena *arena_lock(struct arena *a)
{
	for (;;) {
		mutex_lock(&a->lock);
		if (likely(!a->retired))
			return a;
		mutex_unlock(&a->lock);
		a = a->successor;
	}
}

static inline bool arena_lock_own(struct arena *a)
{
	mutex_lock(&a->lock);
	if (likely(!a->retired))
		return true;
	mutex_unlock(&a->lock);
	return false;
}

/* Bins: exact page counts 1..32, then four bins per doubling. A run in a
 * higher bin is always at least as long as any run in a lower one. */
static inline unsigned run_bin(size_t npages)
{
	if (npages <= 32)
		return (unsigned)npages - 1;
	unsigned lg = 63u - (unsigned)__builtin_clzl(npages);
	return 32 + (lg - 5) * 4 + (unsigned)((npages >> (lg - 2)) & 3);
}

static inline void bin_insert(struct arena *a, struct span *s)
{
	unsigned b = run_bin(s->npages);
	s->prev = NULL;
	s->next = a->runs[b];
	if (s->next)
		s->next->prev = s;
	a->runs[b] = s;
	a->runs_nonempty |= 1ull << b;
}

static inline void bin_remove(struct arena *a, struct span *s)
{
	unsigned b = run_bin(s->npages);
	if (s->prev)
		s->prev->next = s->next;
	else
		a->runs[b] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (a->runs[b] == NULL)
		a->runs_nonempty &= ~(1ull << b);
}

/* ------------------------------------------------------------ page entries
 *
 * What each page's entry (chunk->span_at) names:
 * - a page of a span in use (slab, large block, the header): the span, on
 *   every page, since free and the misuse checks may look up any page of it;
 * - the first and the last page of a free run: the run, which is what
 *   coalescing reads (the page after a span and the page before it);
 * - any other page p of a free run: a descriptor at p or after it, inside
 *   the run.
 * A descriptor that heads no span reads SPAN_FREE with no fast owner (a
 * head that stops being one is always a free run's or a freed span's), so a
 * lookup of any page of a free run finds SPAN_FREE: free and the misuse
 * checks report it as freed, and the small fast path never takes it.
 *
 * The entries inside a free run are left as they are when it is split at
 * its start (they point forward, so those of the part that stays free stay
 * inside it) or merged: the page-entry upkeep of a change is proportional to
 * the pages allocated or freed, never to the length of the free run. */

/* Sets n entries from e to v: 32 at a time, then 8, and the last 8 with
 * one store that may overlap the one before, so that no tail is gone
 * through one entry at a time (a large run has 16 to 256 pages, a slab 5
 * to 64); fewer than 8 (a run grown by a page or two) one by one. */
static inline void fill_entries(uint16_t *e, size_t n, uint16_t v)
{
	typedef uint16_t v8 __attribute__((vector_size(16)));
	v8 w = {v, v, v, v, v, v, v, v};
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			e[i] = v;
		return;
	}
	size_t i = 0, last = n - 8;
	for (; i + 32 <= n; i += 32) {
		__builtin_memcpy(e + i, &w, sizeof w);
		__builtin_memcpy(e + i + 8, &w, sizeof w);
		__builtin_memcpy(e + i + 16, &w, sizeof w);
		__builtin_memcpy(e + i + 24, &w, sizeof w);
	}
	for (; i < last; i += 8)
		__builtin_memcpy(e + i, &w, sizeof w);
	__builtin_memcpy(e + last, &w, sizeof w);
}

/* Pages [first, first + n) of chunk c become span `first`, in use. */
static inline void set_pages(struct chunk *c, uint32_t first, size_t n)
{
	fill_entries(&c->span_at[first], n, span_offset(first));
}

/* Pages [first, first + n), of a span just freed, name its last page: a
 * descriptor at or after each of them (see above); make_free_run then sets
 * the ends of the run they end up in. */
static inline void set_pages_freed(struct chunk *c, uint32_t first, size_t n)
{
	fill_entries(&c->span_at[first], n, span_offset(first + (uint32_t)n - 1));
}

/* The last page of a free run that a run after it is merged into: it named
 * its run's head, behind it, and names itself from now on. */
static inline void unmark_last(struct chunk *c, uint32_t page)
{
	c->span_at[page] = span_offset(page);
}

/* ------------------------------------------------------------ decay lists
 *
 * Free runs whose pages are still resident (dirty) or lazily freed (muzzy)
 * are also on a list per state, oldest first, with the time they entered
 * it. Decay walks from the oldest: a dirty run older than dirty_decay_ms
 * becomes muzzy (MADV_FREE) or, with muzzy_decay_ms:0, is released
 * (MADV_DONTNEED, or unmapped when it is a whole chunk and retain is off);
 * a muzzy run older than muzzy_decay_ms is released. */

static inline void list_append(struct runlist *l, struct span *s)
{
	s->decay_next = NULL;
	s->decay_prev = l->tail;
	if (l->tail)
		l->tail->decay_next = s;
	else
		l->head = s;
	l->tail = s;
}

static inline void list_unlink(struct runlist *l, struct span *s)
{
	if (s->decay_prev)
		s->decay_prev->decay_next = s->decay_next;
	else
		l->head = s->decay_next;
	if (s->decay_next)
		s->decay_next->decay_prev = s->decay_prev;
	else
		l->tail = s->decay_prev;
}

/* Puts t in s's place on list l (t's pages were s's). */
static inline void list_replace(struct runlist *l, struct span *s, struct span *t)
{
	t->decay_prev = s->decay_prev;
	t->decay_next = s->decay_next;
	if (t->decay_prev)
		t->decay_prev->decay_next = t;
	else
		l->head = t;
	if (t->decay_next)
		t->decay_next->decay_prev = t;
	else
		l->tail = t;
}

/* Puts t just after s on list l. */
static inline void list_insert_after(struct runlist *l, struct span *s, struct span *t)
{
	t->decay_prev = s;
	t->decay_next = s->decay_next;
	if (t->decay_next)
		t->decay_next->decay_prev = t;
	else
		l->tail = t;
	s->decay_next = t;
}

/* Whether the oldest run of l is due at time now, with decay time ms (as
 * decay_list in arena_decay.c reckons it). */
static inline bool list_due(const struct runlist *l, uint64_t now, int64_t ms)
{
	if (l->head == NULL || ms < 0)
		return false;
	uint64_t since = l->head->decay_since;
	return ms == 0 || (now > since && now - since >= (uint64_t)ms);
}

/* Whether any of a's runs is due: what lets the page heap's paths skip
 * decay altogether when nothing is (the lists are oldest first). */
static inline bool arena_decay_due(struct arena *a, uint64_t now)
{
	return list_due(&a->dirty, now, arena_dirty_decay_ms(a)) ||
	       list_due(&a->muzzy, now, arena_muzzy_decay_ms(a));
}

/* Puts free run s in its bin and, if dirty or muzzy, on its decay list. */
static inline void run_insert(struct arena *a, struct span *s)
{
	bin_insert(a, s);
	if (s->flags & RUN_DIRTY) {
		list_append(&a->dirty, s);
		a->dirty_pages += s->npages;
	} else if (s->flags & RUN_MUZZY) {
		list_append(&a->muzzy, s);
		a->muzzy_pages += s->npages;
	}
}

static inline void run_remove(struct arena *a, struct span *s)
{
	bin_remove(a, s);
	if (s->flags & RUN_DIRTY) {
		list_unlink(&a->dirty, s);
		a->dirty_pages -= s->npages;
	} else if (s->flags & RUN_MUZZY) {
		list_unlink(&a->muzzy, s);
		a->muzzy_pages -= s->npages;
	}
}

/* Makes pages [first, first + n) of c a free run, on no list. Sets only
 * the entries of its end pages: the caller has left the others naming
 * descriptors inside the run (see page entries above). */
static inline struct span *make_free_run(struct chunk *c, uint32_t first, size_t n, unsigned flags,
                                         uint64_t since)
{
	struct span *s = &c->spans[first];
	s->state = SPAN_FREE;
	s->npages = (uint16_t)n;
	s->start = (uintptr_t)c + ((uintptr_t)first << PAGE_SHIFT);
	s->fast_owner = NULL;
	s->flags = flags & (RUN_DIRTY | RUN_MUZZY);
	s->decay_since = since;
	c->span_at[first] = span_offset(first);
	c->span_at[first + n - 1] = span_offset(first);
	return s;
}

/* ------------------------------------------------------------ search, splits
 * (arena_fit.c) */

/* A free run of a that holds npages pages from a multiple of align_pages,
 * chosen among a bounded number; NULL if none was found. */
struct span *arena_find_run(struct arena *a, size_t npages, size_t align_pages);
/* Takes the first n pages of free run s (n < s->npages) for a span in use
 * (s, now n pages long); the rest becomes a free run in s's place on its
 * decay list. */
void run_take_head(struct arena *a, struct span *s, size_t n);
/* Takes pages [at, at + n) of free run s, which starts before at, for a
 * span in use, and returns its descriptor; s keeps the pages before at, the
 * pages after the span become a free run just after s on its decay list. */
struct span *run_take_middle(struct arena *a, struct span *s, uint32_t at, size_t n);

#endif
