/* SPDX-License-Identifier: MIT */
#include "core/stats.h"

#include <string.h>

#include "core/arena.h"
#include "core/background.h"
#include "core/counters.h"
#include "core/explicit.h"
#include "core/heap.h"
#include "core/huge.h"
#include "core/meta.h"
#include "core/pool.h"
#include "os/os.h"

/* When the library was loaded: the automatic arenas are made at its first
 * call, within moments of it, and nothing records that call's time. */
static uint64_t loaded_ms;

__attribute__((constructor)) static void note_load_time(void)
{
	if (loaded_ms == 0)
		loaded_ms = os_now_ms();
}

struct walk {
	struct stats *st;
	struct stats_arena *arenas; /* NULL: totals only */
	unsigned narenas;
	uint64_t large_cached;
	/* Pages of slabs no block was cut out of yet: never written since
	 * the slab was made (see add_heap). */
	uint64_t fresh_pages;
};

static void bins_add(struct stats_bin *to, const struct stats_bin *from)
{
	for (unsigned c = 0; c < SC_NSMALL; c++) {
#define CLASS(name, doc)       to[c].name += from[c].name;
#define CLASS_TOTAL(name, doc) to[c].name += from[c].name;
#include "core/stats.def"
	}
}

/* The arena heap h's numbers count to, or NULL: one that is not an arena
 * of the walk's. */
static struct stats_arena *arena_of(struct walk *w, struct heap *h)
{
	if (w->arenas == NULL || h->arena == NULL || h->arena->index >= w->narenas)
		return NULL;
	return &w->arenas[h->arena->index];
}

/* Adds heap h's counters and a walk of its slabs; h's lock held. */
static void add_heap(struct heap *h, void *arg)
{
	struct walk *w = arg;
	struct stats_bin bins[SC_NSMALL];
	uint64_t fresh = 0;
	memset(bins, 0, sizeof bins);
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		struct stats_bin *b = &bins[c];
		const struct heap_counters *k = &h->counters[c];
#define CLASS(name, doc) b->name = k->name;
#include "core/stats.def"
		b->nrequests = k->nmalloc - k->nflushed - k->bin_given;
		struct span *lists[3] = {h->cur[c], h->partial[c].head, h->full[c].head};
		for (unsigned l = 0; l < 3; l++) {
			for (struct span *s = lists[l]; s != NULL; s = l == 0 ? NULL : s->next) {
				b->curslabs++;
				b->nonfull_slabs += l == 1;
				b->curregs += __atomic_load_n(&s->used, __ATOMIC_RELAXED);
				/* Carving writes the blocks it cuts out (core/slab.h), and
				 * nothing writes past them: the rest of a slab of big
				 * blocks is no more resident than free pages are. */
				size_t cut = (size_t)s->carved * sc_size[c];
				fresh += sc_slab_pages[c] - ((cut + PAGE_SIZE - 1) >> PAGE_SHIFT);
			}
		}
	}
	w->fresh_pages += fresh;
	bins_add(w->st->bins, bins);
	w->large_cached += h->large_bytes;
	struct stats_arena *a = arena_of(w, h);
	if (a != NULL) {
		bins_add(a->bins, bins);
		a->tcache_bytes += h->large_bytes;
		a->fresh_pages += fresh;
		a->nthreads += h->kind == HEAP_THREAD &&
		               atomic_load_explicit(&h->state, memory_order_relaxed) == HEAP_LIVE;
	}
}

/* Arena a's counters (a's lock held) into st's sums and, if any, into
 * sa's. */
static void add_arena(struct stats *st, struct stats_arena *sa, struct arena *a)
{
#define ARENA(name, doc) st->name += a->counters.name;
#include "core/stats.def"
	/* ndalloc first: a block's free is counted after its allocation, so
	 * nmalloc read later is never behind. */
	for (unsigned c = 0; c < SC_NLARGE; c++) {
		const struct lextent_counters *k = &a->counters.lextents[c];
		uint64_t ndalloc = atomic_load_explicit(&k->ndalloc, memory_order_relaxed);
		uint64_t nmalloc = atomic_load_explicit(&k->nmalloc, memory_order_relaxed);
		st->lextents[c].nmalloc += nmalloc;
		st->lextents[c].ndalloc += ndalloc;
		if (sa != NULL) {
			sa->lextents[c].nmalloc += nmalloc;
			sa->lextents[c].ndalloc += ndalloc;
		}
	}
	if (sa != NULL) {
#define ARENA(name, doc) sa->name += a->counters.name;
#include "core/stats.def"
		sa->dirty_pages += a->dirty_pages;
		sa->muzzy_pages += a->muzzy_pages;
	}
}

/* The totals of one arena's numbers, from its counters and its heaps'. */
static void arena_totals(struct stats_arena *sa)
{
	/* Active pages are those of runs and of slabs written so far: fresh
	 * slab pages count as retained, mapped and never written. */
	sa->active_pages -= sa->fresh_pages < sa->active_pages ? sa->fresh_pages : sa->active_pages;
	uint64_t chunks = sa->mapped_pages / DATA_PAGES;
	uint64_t idle = sa->active_pages + sa->dirty_pages + sa->muzzy_pages;
	sa->base = sa->header_pages * PAGE_SIZE;
	sa->mapped = (sa->mapped_pages + chunks * HDR_PAGES) * PAGE_SIZE;
	sa->retained = sa->mapped_pages > idle ? (sa->mapped_pages - idle) * PAGE_SIZE : 0;
	sa->resident = (sa->active_pages + sa->dirty_pages) * PAGE_SIZE + sa->base;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		struct stats_bin *b = &sa->bins[c];
		b->ndalloc = b->nmalloc - b->curregs;
		sa->small_allocated += b->curregs * sc_size[c];
		sa->small_nmalloc += b->nmalloc;
		sa->small_ndalloc += b->ndalloc;
		sa->small_nrequests += b->nrequests;
		sa->small_nfills += b->nfills;
		sa->small_nflushes += b->nflushes;
	}
	for (unsigned c = 0; c < SC_NLARGE; c++) {
		struct stats_lextent *l = &sa->lextents[c];
		l->curlextents = l->nmalloc - l->ndalloc;
		sa->large_allocated += l->curlextents * sc_size[SC_NSMALL + c];
		sa->large_nmalloc += l->nmalloc;
		sa->large_ndalloc += l->ndalloc;
	}
}

/* Every field of struct stats_arena is a uint64_t that sums over arenas. */
_Static_assert(sizeof(struct stats_arena) % sizeof(uint64_t) == 0, "stats_arena: uint64_t only");

static void arena_sum(struct stats_arena *to, const struct stats_arena *from)
{
	uint64_t *t = (uint64_t *)to;
	const uint64_t *f = (const uint64_t *)from;
	for (size_t k = 0; k < sizeof(*to) / sizeof(uint64_t); k++)
		t[k] += f[k];
}

struct stats_arena *stats_arenas_new(unsigned n)
{
	return meta_alloc(sizeof(struct stats_arena) * ((size_t)n + 1));
}

void stats_snapshot(struct stats *st)
{
	stats_snapshot_arenas(st, NULL, 0);
}

void stats_snapshot_arenas(struct stats *st, struct stats_arena *arenas, unsigned n)
{
	memset(st, 0, sizeof(*st));
	if (arenas != NULL)
		memset(arenas, 0, sizeof(*arenas) * ((size_t)n + 1));
	struct walk w = {.st = st, .arenas = arenas, .narenas = n};
	for (struct heap *h = pool_all_heaps(); h != NULL; h = h->all_next) {
		/* A heap leaked in a fork child keeps a lock no one releases. */
		if (h->kind != HEAP_THREAD || atomic_load(&h->state) == HEAP_LEAKED)
			continue;
		st->nheaps++;
		heap_lock(h);
		add_heap(h, &w);
		heap_unlock(h);
	}
	shared_heaps_visit(add_heap, &w);

	uint64_t dirty = 0, muzzy = 0;
	/* The automatic arenas, then the created ones (numbered on from
	 * them), with their shared heaps. An arena created meanwhile is
	 * counted if its number is below the limit read here. */
	unsigned limit = explicit_narenas();
	for (unsigned i = 0; i < limit; i++) {
		struct stats_arena *sa = arenas != NULL && i < n ? &arenas[i] : NULL;
		struct arena *first;
		if (i < cairn_narenas) {
			first = &cairn_arenas[i];
		} else {
			struct explicit_arena *e = explicit_arena_get(i);
			if (e == NULL)
				continue;
			shared_heap_visit(e->shared, add_heap, &w);
			first = &e->arena;
		}
		for (struct arena *a = first; a != NULL; a = a->successor) {
			mutex_lock(&a->lock);
			add_arena(st, sa, a);
			dirty += a->dirty_pages;
			muzzy += a->muzzy_pages;
			mutex_unlock(&a->lock);
		}
	}
#define GLOBAL(name, doc)                                                                          \
	st->name = atomic_load_explicit(&cairn_counters.name, memory_order_relaxed);
#include "core/stats.def"

	size_t huge_live, huge_blocks, huge_cached;
	huge_stats(&huge_live, &huge_blocks, &huge_cached);
	uint64_t small = 0, slab_pages = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		/* Every block a bin was given is in use or back on its slab. */
		st->bins[c].ndalloc = st->bins[c].nmalloc - st->bins[c].curregs;
		small += st->bins[c].curregs * sc_size[c];
		slab_pages += st->bins[c].curslabs * sc_slab_pages[c];
	}
	for (unsigned c = 0; c < SC_NLARGE; c++)
		st->lextents[c].curlextents = st->lextents[c].nmalloc - st->lextents[c].ndalloc;
	/* As in arena_totals. */
	slab_pages -= w.fresh_pages < slab_pages ? w.fresh_pages : slab_pages;
	st->active_pages -= w.fresh_pages < st->active_pages ? w.fresh_pages : st->active_pages;
	uint64_t active_pages = st->active_pages;
	/* Counted apart, slabs may outnumber the pages seen a moment later. */
	uint64_t large_pages = active_pages > slab_pages ? active_pages - slab_pages : 0;
	uint64_t large = large_pages * PAGE_SIZE;
	large = large > w.large_cached ? large - w.large_cached : 0;
	uint64_t chunks = st->mapped_pages / DATA_PAGES;

	st->large_cached = w.large_cached;
	for (unsigned c = 0; c < SC_NLARGE; c++) {
		st->large_nmalloc += st->lextents[c].nmalloc;
		st->large_ndalloc += st->lextents[c].ndalloc;
	}
	st->large_curruns = st->large_nmalloc - st->large_ndalloc;
	st->huge_curblocks = huge_blocks;
	st->huge_allocated = huge_live;
	st->huge_cached = huge_cached;
	st->dirty = dirty * PAGE_SIZE;
	st->muzzy = muzzy * PAGE_SIZE;
	/* active and resident count the pages of slabs that were written. */
	st->active = active_pages * PAGE_SIZE + huge_live;
	st->allocated = small + large + huge_live;
	if (st->allocated > st->active)
		st->allocated = st->active;
	st->mapped = (st->mapped_pages + chunks * HDR_PAGES) * PAGE_SIZE + huge_live + huge_cached;
	uint64_t idle = active_pages + dirty + muzzy;
	st->retained = st->mapped_pages > idle ? (st->mapped_pages - idle) * PAGE_SIZE : 0;
	st->resident = st->active + st->dirty + huge_cached + st->metadata;
	st->background_threads = background_threads();
	st->narenas = cairn_narenas;
	uint64_t now = os_now_ms();
	st->uptime = loaded_ms != 0 && now > loaded_ms ? (now - loaded_ms) * 1000000 : 0;

	if (arenas != NULL) {
		for (unsigned i = 0; i < n; i++) {
			arena_totals(&arenas[i]);
			arena_sum(&arenas[n], &arenas[i]);
		}
	}
}
