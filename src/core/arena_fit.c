/* SPDX-License-Identifier: MIT */
/* The page heap's search for a free run and the splits that take a span
 * from one (arena_runs.h), apart from the rest of arena.c: what makes the
 * search bounded and a split's upkeep proportional to the pages taken. */
#include "core/arena_runs.h"

/* Among the runs that fit, prefers the one in the fullest chunk, so that
 * emptier chunks drain and can be released whole, and then a dirty one,
 * whose pages are resident already. Looks at FIT_CANDIDATES runs at most in
 * each of a few bins, the runs that do not fit counted: a search costs the
 * same however many runs the bins hold. */
#define FIT_CANDIDATES 16

static unsigned run_score(const struct span *s)
{
	return span_chunk(s)->free_pages * 2u + !(s->flags & RUN_DIRTY);
}

/* Whether free run s holds npages pages from a multiple of align_pages. */
static bool run_fits(const struct span *s, size_t npages, size_t align_pages)
{
	uint32_t first = span_page(s);
	return align_up(first, align_pages) + npages <= first + (size_t)s->npages;
}

/* The best of at most FIT_CANDIDATES runs of bin b that fit. */
static struct span *best_in_bin(struct arena *a, unsigned b, size_t npages, size_t align_pages)
{
	struct span *best = NULL;
	unsigned best_score = ~0u, seen = 0;
	for (struct span *s = a->runs[b]; s && seen < FIT_CANDIDATES; s = s->next) {
		seen++;
		if (!run_fits(s, npages, align_pages))
			continue;
		unsigned score = run_score(s);
		if (score < best_score) {
			best = s;
			best_score = score;
		}
	}
	a->fit_visits += seen;
	return best;
}

/* The first non-empty bin from b on, or RUN_BINS. */
static unsigned bin_from(struct arena *a, unsigned b)
{
	uint64_t bins = b < RUN_BINS ? a->runs_nonempty >> b << b : 0;
	return bins != 0 ? (unsigned)__builtin_ctzll(bins) : RUN_BINS;
}

/* A run for npages pages aligned to align_pages. A run in a bin above the
 * one of length L is longer than L, and one of npages + align_pages - 1
 * pages fits wherever it starts. So: the first two non-empty bins that may
 * hold a run of npages pages (with no alignment, every run of the second
 * fits); aligned, then the bin of the length that always fits, and the
 * first non-empty one above it, where every run fits. Four bins at most. */
struct span *arena_find_run(struct arena *a, size_t npages, size_t align_pages)
{
	unsigned b = bin_from(a, run_bin(npages)), next = 0;
	for (int i = 0; i < 2 && b < RUN_BINS; i++, b = bin_from(a, b + 1)) {
		struct span *s = best_in_bin(a, b, npages, align_pages);
		if (s != NULL)
			return s;
		next = b + 1;
	}
	if (align_pages == 1)
		return NULL;
	unsigned w = run_bin(npages + align_pages - 1);
	b = bin_from(a, w > next ? w : next);
	if (b == w) {
		struct span *s = best_in_bin(a, b, npages, align_pages);
		if (s != NULL)
			return s;
		b = bin_from(a, w + 1);
	}
	return b < RUN_BINS ? best_in_bin(a, b, npages, align_pages) : NULL;
}

/* Takes the first n pages of free run s (n < s->npages) for a span in use;
 * the rest becomes a free run in s's place on its decay list. */
void run_take_head(struct arena *a, struct span *s, size_t n)
{
	struct chunk *c = span_chunk(s);
	bin_remove(a, s);
	struct span *t = make_free_run(c, slot_new(a, c), span_page(s) + (uint32_t)n, s->npages - n,
	                               s->flags, s->decay_since);
	if (s->flags & RUN_DIRTY) {
		list_replace(&a->dirty, s, t);
		a->dirty_pages -= n;
	} else if (s->flags & RUN_MUZZY) {
		list_replace(&a->muzzy, s, t);
		a->muzzy_pages -= n;
	}
	bin_insert(a, t);
	s->npages = (uint16_t)n;
}

/* Takes pages [at, at + n) of free run s, which starts before at, for a
 * span in use, and returns its descriptor. What follows them becomes a
 * free run just after s on s's decay list, and s keeps what goes before. */
struct span *run_take_middle(struct arena *a, struct span *s, uint32_t at, size_t n)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s), end = first + s->npages, after = at + (uint32_t)n;
	struct runlist *l = s->flags & RUN_DIRTY   ? &a->dirty
	                    : s->flags & RUN_MUZZY ? &a->muzzy
	                                           : NULL;
	size_t *list_pages = l == &a->dirty ? &a->dirty_pages : &a->muzzy_pages;
	bin_remove(a, s);
	/* Page at - 1 was inside the run and ends s from now on. */
	s->npages = (uint16_t)(at - first);
	c->span_at[at - 1] = s;
	bin_insert(a, s);
	if (l != NULL)
		*list_pages -= end - at;
	if (after < end) {
		struct span *t =
		    make_free_run(c, slot_new(a, c), after, end - after, s->flags, s->decay_since);
		bin_insert(a, t);
		if (l != NULL) {
			list_insert_after(l, s, t);
			*list_pages += end - after;
		}
	}
	struct span *b = slot_new(a, c);
	b->start = (uintptr_t)c + ((uintptr_t)at << PAGE_SHIFT);
	b->npages = (uint16_t)n;
	b->fast_owner = 0;
	return b;
}
