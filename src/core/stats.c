/* SPDX-License-Identifier: MIT */
#include "core/stats.h"

#include <string.h>

#include "core/arena.h"
#include "core/background.h"
#include "core/counters.h"
#include "core/heap.h"
#include "core/huge.h"
#include "core/pool.h"

struct walk {
	struct stats *st;
	uint64_t large_cached;
};

/* Adds heap h's counters and a walk of its slabs; h's lock held. */
static void add_heap(struct heap *h, void *arg)
{
	struct walk *w = arg;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		struct stats_bin *b = &w->st->bins[c];
		const struct heap_counters *k = &h->counters[c];
#define CLASS(name, doc) b->name += k->name;
#include "core/stats.def"
		b->nrequests += k->nmalloc - k->nflushed - k->bin_given;
		struct span *lists[3] = {h->cur[c], h->partial[c].head, h->full[c].head};
		for (unsigned l = 0; l < 3; l++) {
			for (struct span *s = lists[l]; s != NULL; s = l == 0 ? NULL : s->next) {
				b->curslabs++;
				b->curregs += __atomic_load_n(&s->used, __ATOMIC_RELAXED);
			}
		}
	}
	w->large_cached += h->large_bytes;
}

void stats_snapshot(struct stats *st)
{
	memset(st, 0, sizeof(*st));
	struct walk w = {.st = st};
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
	for (unsigned i = 0; i < cairn_narenas; i++) {
		for (struct arena *a = &cairn_arenas[i]; a != NULL; a = a->successor) {
			mutex_lock(&a->lock);
#define ARENA(name, doc) st->name += a->counters.name;
#include "core/stats.def"
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
	uint64_t active_pages = st->active_pages;
	/* Counted apart, slabs may outnumber the pages seen a moment later. */
	uint64_t large_pages = active_pages > slab_pages ? active_pages - slab_pages : 0;
	uint64_t large = large_pages * PAGE_SIZE;
	large = large > w.large_cached ? large - w.large_cached : 0;
	uint64_t chunks = st->mapped_pages / DATA_PAGES;

	st->large_cached = w.large_cached;
	st->large_curruns = st->large_nmalloc - st->large_ndalloc;
	st->huge_curblocks = huge_blocks;
	st->huge_allocated = huge_live;
	st->huge_cached = huge_cached;
	st->dirty = dirty * PAGE_SIZE;
	st->muzzy = muzzy * PAGE_SIZE;
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
}
