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

/* Marks pages [first, first + n) of chunk c as covered by the span at page
 * `owner`. Every page carries its span, free or not, so that any address
 * resolves to a descriptor whose state is current. */
static inline void set_pages(struct chunk *c, uint32_t first, size_t n, uint32_t owner)
{
	for (size_t i = 0; i < n; i++)
		c->span_at[first + i] = span_offset(owner);
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
	set_pages(c, first, n, first);
	return s;
}

#endif
