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
 * - any other page of a free run: SLOT_INSIDE, which reads SPAN_FREE with no
 *   fast owner.
 * So a lookup of any page of a free run finds SPAN_FREE: free and the misuse
 * checks report it as freed, and the small fast path never takes it. No
 * entry names a free slot: a slot is freed only once no entry names it, and
 * it may head another span next.
 *
 * The entries inside a free run are left as they are when it is split at
 * its start or merged: the page-entry upkeep of a change is proportional to
 * the pages allocated or freed, never to the length of the free run. */

/* Sets n entries from e to v: 16 at a time, then 2, and the last 2 with
 * one store that may overlap the one before, so that no tail is gone
 * through one entry at a time (a large run has 16 to 256 pages, a slab 5
 * to 64); a single entry (a run grown by a page) on its own. */
static inline void fill_entries(struct span **e, size_t n, struct span *v)
{
	typedef uintptr_t v2 __attribute__((vector_size(16)));
	v2 w = {(uintptr_t)v, (uintptr_t)v};
	if (n < 2) {
		if (n == 1)
			e[0] = v;
		return;
	}
	size_t i = 0, last = n - 2;
	for (; i + 16 <= n; i += 16) {
		__builtin_memcpy(e + i, &w, sizeof w);
		__builtin_memcpy(e + i + 2, &w, sizeof w);
		__builtin_memcpy(e + i + 4, &w, sizeof w);
		__builtin_memcpy(e + i + 6, &w, sizeof w);
		__builtin_memcpy(e + i + 8, &w, sizeof w);
		__builtin_memcpy(e + i + 10, &w, sizeof w);
		__builtin_memcpy(e + i + 12, &w, sizeof w);
		__builtin_memcpy(e + i + 14, &w, sizeof w);
	}
	for (; i < last; i += 2)
		__builtin_memcpy(e + i, &w, sizeof w);
	__builtin_memcpy(e + last, &w, sizeof w);
}

/* Pages [first, first + n) of chunk c become span s, in use. */
static inline void set_pages(struct chunk *c, struct span *s, uint32_t first, size_t n)
{
	fill_entries(&c->span_at[first], n, s);
}

/* Pages [first, first + n), of a span just freed, are inside a free run;
 * make_free_run then sets the ends of the run they end up in. */
static inline void set_pages_freed(struct chunk *c, uint32_t first, size_t n)
{
	fill_entries(&c->span_at[first], n, &c->spans[SLOT_INSIDE]);
}

/* The end page of a free run merged with its neighbour is inside the
 * merged run from now on. */
static inline void set_page_inside(struct chunk *c, uint32_t page)
{
	c->span_at[page] = &c->spans[SLOT_INSIDE];
}

/* ------------------------------------------------------------ slots */

/* Chunk header pages a's chunks wrote (pages > 0) or gave up with their
 * chunk (pages < 0): in a's counters and in the metadata. */
static inline void count_header_pages(struct arena *a, int64_t pages)
{
	a->counters.header_pages += (uint64_t)pages;
	counter_add(metadata, pages * PAGE_SIZE);
}

/* A slot of chunk c for a new span: the one freed last, else the next one
 * never used, whose header page is counted once it is first written. */
static inline struct span *slot_new(struct arena *a, struct chunk *c)
{
	struct span *s = c->slots_free;
	if (s != NULL) {
		c->slots_free = s->next;
		return s;
	}
	uint32_t pages = header_pages_written(c->slots_top);
	s = &c->spans[c->slots_top++];
	uint32_t grown = header_pages_written(c->slots_top) - pages;
	if (grown != 0)
		count_header_pages(a, grown);
	return s;
}

/* Slot s heads nothing from now on, and no entry names it. Until it heads a
 * span again it reads SPAN_FREE with no fast owner, as SLOT_INSIDE does:
 * what a lookup racing with a program's misuse may find. */
static inline void slot_free(struct chunk *c, struct span *s)
{
	s->state = SPAN_FREE;
	s->fast_owner = 0;
	s->flags = 0;
	s->npages = 0;
	s->next = c->slots_free;
	c->slots_free = s;
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

/* Makes pages [first, first + n) of c a free run headed by slot s, on no
 * list. Sets only the entries of its end pages: the caller has left the
 * others naming SLOT_INSIDE (see page entries above). */
static inline struct span *make_free_run(struct chunk *c, struct span *s, uint32_t first, size_t n,
                                         unsigned flags, uint64_t since)
{
	s->state = SPAN_FREE;
	s->npages = (uint16_t)n;
	s->start = (uintptr_t)c + ((uintptr_t)first << PAGE_SHIFT);
	s->fast_owner = 0;
	s->flags = flags & (RUN_DIRTY | RUN_MUZZY);
	s->decay_since = since;
	c->span_at[first] = c->span_at[first + n - 1] = s;
	return s;
}

/* Which free neighbours a run merges with: a freed span with any that decay
 * is not purging (with the lock released); a run decay purged with those in
 * the state it is in now, so that no page is purged twice and none
 * skipped. */
enum merge_with { MERGE_ANY, MERGE_SAME };

static inline bool run_joins(const struct span *r, enum merge_with with, unsigned flags)
{
	return r->state == SPAN_FREE &&
	       (with == MERGE_ANY ? !(r->flags & RUN_BUSY) : r->flags == flags);
}

/* Merges pages [*first, *first + *n), span s's, with the free runs before
 * and after them that `with` allows, taking those off their lists and
 * widening the pages to theirs; *flags gathers the runs' flags. Returns the
 * slot that heads the pages now (s, or the run before), the others freed;
 * the caller makes it a free run. s's pages inside it name SLOT_INSIDE
 * already but for its ends, which this sets. */
static inline struct span *merge_run(struct arena *a, struct span *s, enum merge_with with,
                                     uint32_t *first, size_t *n, unsigned *flags)
{
	struct chunk *c = span_chunk(s);
	unsigned state = *flags;
	struct span *head = s;
	if (*first > HDR_PAGES) {
		struct span *l = chunk_page_span(c, *first - 1);
		if (run_joins(l, with, state)) {
			run_remove(a, l);
			set_page_inside(c, *first - 1);
			set_page_inside(c, *first);
			slot_free(c, s);
			head = l;
			*flags |= l->flags;
			*first = span_page(l);
			*n += l->npages;
		}
	}
	uint32_t end = *first + (uint32_t)*n;
	if (end < CHUNK_PAGES) {
		struct span *r = chunk_page_span(c, end);
		if (run_joins(r, with, state)) {
			run_remove(a, r);
			set_page_inside(c, end - 1);
			set_page_inside(c, end);
			*flags |= r->flags;
			*n += r->npages;
			slot_free(c, r);
		}
	}
	return head;
}

/* ------------------------------------------------------------ search, splits
 * (arena_fit.c) */

/* A free run of a that holds npages pages from a multiple of align_pages,
 * chosen among a bounded number; NULL if none was found. */
struct span *arena_find_run(struct arena *a, size_t npages, size_t align_pages);
/* Takes the first n pages of free run s (n < s->npages) for a span in use
 * (s, now n pages long); the rest becomes a free run, in a new slot, in s's
 * place on its decay list. */
void run_take_head(struct arena *a, struct span *s, size_t n);
/* Takes pages [at, at + n) of free run s, which starts before at, for a
 * span in use, and returns its descriptor; s keeps the pages before at, the
 * pages after the span become a free run just after s on its decay list. */
struct span *run_take_middle(struct arena *a, struct span *s, uint32_t at, size_t n);

#endif
