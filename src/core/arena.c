/* SPDX-License-Identifier: MIT */
#include "core/arena_runs.h"

#include <sched.h>
#include <string.h>

#include "core/params.h"
#include "core/block.h"
#include "core/decay_request.h"
#include "core/lock.h"
#include "core/meta.h"
#include "os/os.h"
#include "sizeclass_table.h"

struct arena *cairn_arenas;
unsigned cairn_narenas;

static void arena_setup(struct arena *a, unsigned index)
{
	mutex_init(&a->lock);
	a->index = index;
}

void arena_init_created(struct arena *a, unsigned index)
{
	arena_setup(a, index);
	a->created = true;
}

bool arenas_init(unsigned narenas)
{
	struct arena *a = meta_alloc(sizeof(struct arena) * narenas);
	if (a == NULL)
		return false;
	for (unsigned i = 0; i < narenas; i++)
		arena_setup(&a[i], i);
	cairn_arenas = a;
	cairn_narenas = narenas;
	cairn_hugepage_chunks = cairn_core.thp == CORE_THP_ALWAYS ||
	                        (cairn_core.thp == CORE_THP_DEFAULT && os_thp_always());
	return true;
}

static void thp_advice(void *addr, size_t size)
{
	if (cairn_core.thp == CORE_THP_ALWAYS)
		os_hugepage_advise(addr, size);
	else if (cairn_core.thp == CORE_THP_NEVER)
		os_hugepage_forbid(addr, size);
}

/* Maps a new chunk and prepares its header; no lock needed, nothing else
 * knows it yet. */
static struct chunk *chunk_map(struct arena *a)
{
	struct chunk *c = os_map_aligned(CHUNK_SIZE, CHUNK_SIZE);
	if (c == NULL)
		return NULL;
	if (!pagemap_reserve((uintptr_t)c, CHUNK_SIZE)) {
		os_unmap(c, CHUNK_SIZE);
		return NULL;
	}
	thp_advice(c, CHUNK_SIZE);
	c->arena = a;
	c->free_pages = DATA_PAGES;
	struct span *h = &c->spans[SLOT_HEADER];
	h->state = SPAN_HEADER;
	h->start = (uintptr_t)c;
	h->npages = HDR_PAGES;
	set_pages(c, h, 0, HDR_PAGES);
	c->spans[SLOT_INSIDE].state = SPAN_FREE;
	c->slots_top = SLOT_INSIDE + 1;
	/* The data pages become one free run (chunk_add). */
	set_pages_freed(c, HDR_PAGES, DATA_PAGES);
	return c;
}

/* Gives a mapped chunk's pages to the arena (lock held). */
static void chunk_add(struct arena *a, struct chunk *c)
{
	count_header_pages(a, header_pages_written(c->slots_top));
	/* Fresh pages: released, in the life cycle's terms. */
	run_insert(a, make_free_run(c, slot_new(a, c), HDR_PAGES, DATA_PAGES, 0, 0));
	a->counters.mapped_pages += DATA_PAGES;
	pagemap_set((uintptr_t)c, (uintptr_t)c | MAP_CHUNK);
	if (a->created) {
		c->next_chunk = a->chunks;
		a->chunks = c;
	}
}

/* Takes run s, found in a's bins, for a block of npages pages aligned to
 * align_pages (lock held; released on return). */
static struct span *carve(struct arena *a, struct span *s, size_t npages, size_t align_pages)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	uint32_t at = align_pages > 1 ? (uint32_t)align_up(first, align_pages) : first;
	if (at != first)
		s = run_take_middle(a, s, at, npages);
	else if (npages < s->npages)
		run_take_head(a, s, npages);
	else
		run_remove(a, s);
	set_pages(c, s, at, npages);
	c->free_pages -= (uint32_t)npages;
	s->state = SPAN_LARGE;
	s->flags = 0;
	a->counters.active_pages += npages;
	/* No decay here: frees (arena_free_run), the purging threads and,
	 * without them, the api's ticks (decay_tick) look at it; a look here
	 * read the clock on every allocation of a run. */
	mutex_unlock(&a->lock);
	return s;
}

/* When no chunk can be mapped (the address space is used up), a run from
 * another arena's free pages: near an RLIMIT_AS limit the pages that
 * other threads freed are all there is. A run keeps its chunk's arena, to
 * which it goes back when freed. */
static struct span *alloc_run_elsewhere(struct arena *a, size_t npages, size_t align_pages)
{
	for (unsigned i = 0; i < cairn_narenas; i++) {
		/* A retired arena (in a fork child) is passed over for its
		 * successor: its lists may be half changed. */
		struct arena *o = arena_lock(&cairn_arenas[i]);
		if (o != a) {
			struct span *s = arena_find_run(o, npages, align_pages);
			if (s != NULL)
				return carve(o, s, npages, align_pages);
		}
		mutex_unlock(&o->lock);
	}
	return NULL;
}

struct span *arena_alloc_run(struct arena *a, size_t npages, size_t align_pages)
{
	size_t want = npages + align_pages - 1;
	if (want > DATA_PAGES)
		return NULL;
	a = arena_lock(a);
	struct span *s;
	while ((s = arena_find_run(a, npages, align_pages)) == NULL) {
		/* Map a chunk with the lock released: no lock is held across a
		 * system call. Another thread may have added pages meanwhile;
		 * the chunk is added all the same. */
		mutex_unlock(&a->lock);
		struct chunk *c = chunk_map(a);
		mutex_lock(&a->lock);
		if (unlikely(a->retired)) {
			/* Forked meanwhile, from a signal handler that
			 * interrupted this thread here: a fork child. */
			mutex_unlock(&a->lock);
			if (c != NULL)
				os_unmap(c, CHUNK_SIZE);
			return arena_alloc_run(a->successor, npages, align_pages);
		}
		if (c == NULL) {
			s = arena_find_run(a, npages, align_pages);
			if (s != NULL)
				break;
			mutex_unlock(&a->lock);
			/* A created arena's blocks are all in its own chunks,
			 * which its reset gives back. */
			return a->created ? NULL : alloc_run_elsewhere(a, npages, align_pages);
		}
		chunk_add(a, c);
	}
	return carve(a, s, npages, align_pages);
}

/* Frees run s (lock held): its pages are dirty from now on, unless the
 * caller purged them (flags 0; merged with a dirty neighbour the whole run
 * counts as dirty). */
static void free_run_locked(struct arena *a, struct span *s, uint64_t now, unsigned flags)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t n = s->npages;
	c->free_pages += (uint32_t)n;
	a->counters.active_pages -= n;
	set_pages_freed(c, first, n);
	s = merge_run(a, s, MERGE_ANY, &first, &n, &flags);
	run_insert(a, make_free_run(c, s, first, n, flags & RUN_DIRTY ? RUN_DIRTY : flags, now));
}

void arena_free_run(struct arena *a, struct span *s)
{
	uint64_t now = os_now_ms();
	if (!arena_lock_own(a))
		return;
	free_run_locked(a, s, now, RUN_DIRTY);
	if (arena_decay_due(a, now))
		arena_decay_locked(a, now, DECAY_BUDGET, false, false);
	size_t dirty = a->dirty_pages;
	mutex_unlock(&a->lock);
	if (dirty >= DECAY_REQUEST_PAGES)
		decay_request();
}

void arena_free_run_purged(struct arena *a, struct span *s)
{
	os_purge((void *)s->start, span_bytes(s));
	uint64_t now = os_now_ms();
	if (!arena_lock_own(a))
		return;
	free_run_locked(a, s, now, 0);
	mutex_unlock(&a->lock);
}

void arena_shrink_run(struct arena *a, struct span *s, size_t npages)
{
	uint64_t now = os_now_ms();
	if (!arena_lock_own(a))
		return; /* the tail stays with the block */
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t tail = s->npages - npages;
	if (tail > 0) {
		/* A span of its own, freed next, with coalescing. */
		struct span *t = slot_new(a, c);
		t->start = (uintptr_t)c + ((uintptr_t)(first + npages) << PAGE_SHIFT);
		t->npages = (uint16_t)tail;
		s->npages = (uint16_t)npages;
		free_run_locked(a, t, now, RUN_DIRTY);
	}
	mutex_unlock(&a->lock);
}

bool arena_grow_run(struct arena *a, struct span *s, size_t npages)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t extra = npages - s->npages;
	uint32_t next = first + s->npages;
	if (first + npages > CHUNK_PAGES)
		return false;
	if (!arena_lock_own(a))
		return false;
	struct span *r = chunk_page_span(c, next);
	bool ok = r->state == SPAN_FREE && !(r->flags & RUN_BUSY) && r->npages >= extra;
	if (ok) {
		if (r->npages > extra)
			run_take_head(a, r, extra);
		else
			run_remove(a, r);
		set_pages(c, s, next, extra);
		slot_free(c, r);
		c->free_pages -= (uint32_t)extra;
		a->counters.active_pages += extra;
		s->npages = (uint16_t)npages;
	}
	mutex_unlock(&a->lock);
	return ok;
}

size_t arena_release_empty(struct arena *a)
{
	size_t released = 0;
	/* A created arena's chunks stay linked until its reset. */
	if (a->created)
		return 0;
	a = arena_lock(a);
	for (;;) {
		struct span *s = NULL;
		for (unsigned b = run_bin(DATA_PAGES); b < RUN_BINS && s == NULL; b++)
			for (struct span *r = a->runs[b]; r != NULL && s == NULL; r = r->next)
				if (r->npages == DATA_PAGES)
					s = r;
		if (s == NULL)
			break;
		/* Off every list and busy while the arena is unlocked. */
		run_remove(a, s);
		s->flags = RUN_BUSY;
		struct chunk *c = span_chunk(s);
		/* Read before: an unmapped chunk's header is gone. */
		uint32_t header = header_pages_written(c->slots_top);
		mutex_unlock(&a->lock);
		pagemap_set((uintptr_t)c, 0);
		bool ok = os_unmap(c, CHUNK_SIZE);
		if (!ok)
			pagemap_set((uintptr_t)c, (uintptr_t)c | MAP_CHUNK);
		mutex_lock(&a->lock);
		/* Forked meanwhile (from a signal handler that interrupted
		 * this thread): a chunk kept stays busy, on no list. */
		if (unlikely(a->retired)) {
			released += ok ? CHUNK_SIZE : 0;
			break;
		}
		if (!ok) {
			/* Kept, as released pages: the next call may try again. */
			run_insert(a, make_free_run(c, s, HDR_PAGES, DATA_PAGES, 0, 0));
			break;
		}
		released += CHUNK_SIZE;
		a->counters.mapped_pages -= DATA_PAGES;
		count_header_pages(a, -(int64_t)header);
	}
	mutex_unlock(&a->lock);
	return released;
}

struct span *arena_new_slab(struct arena *a, struct heap *h, unsigned cls)
{
	struct span *s = arena_alloc_run(a, sc_slab_pages[cls], 1);
	if (s == NULL)
		return NULL;
	/* Blocks are cut out as the heap needs them (heap.c), so a slab's
	 * untouched pages stay untouched. */
	s->local_free = LIST_END;
	s->carved = 0;
	s->state = SPAN_SMALL;
	s->cls = (uint8_t)cls;
	s->div_magic = sc_div_magic[cls];
	s->used = 0;
	*span_holes(s) = 0;
	s->owner = h;
	s->fast_owner = 0;
	s->flags = 0;
	return s;
}

/* In a fork child. An arena whose lock was held when the parent forked is
 * retired: its lists may be half changed, by a thread
 * that is gone or by the forking thread itself (fork from a signal handler;
 * returning from the handler, the child goes on with that change). A new
 * arena succeeds it, and the retired one's pages are never used again: what
 * is freed into it is leaked. */
void arena_postfork_child_one(struct arena *first)
{
	for (struct arena *a = first; a != NULL; a = a->successor) {
		if (!mutex_reset_was_held(&a->lock) || a->retired)
			continue;
		struct arena *next = meta_alloc(sizeof(*next));
		if (next == NULL)
			continue; /* out of memory: it goes on */
		arena_setup(next, a->index);
		next->created = a->created;
		next->dirty_decay_ms = atomic_load(&a->dirty_decay_ms);
		next->muzzy_decay_ms = atomic_load(&a->muzzy_decay_ms);
		next->decay_own = atomic_load(&a->decay_own);
		a->successor = next;
		a->retired = true;
		break;
	}
}

void arenas_postfork_child(void)
{
	for (unsigned i = 0; i < cairn_narenas; i++)
		arena_postfork_child_one(&cairn_arenas[i]);
}

/* ------------------------------------------------------------ reset */

/* Whether decay holds one of a's runs with the lock released (RUN_BUSY):
 * it relinks the run when done, so a reset must wait for it. */
static bool has_busy_run(struct arena *a)
{
	for (struct chunk *c = a->chunks; c != NULL; c = c->next_chunk) {
		for (uint32_t p = HDR_PAGES; p < CHUNK_PAGES;) {
			struct span *s = chunk_page_span(c, p);
			if (s->state == SPAN_FREE && (s->flags & RUN_BUSY))
				return true;
			p += s->npages != 0 ? s->npages : 1;
		}
	}
	return false;
}

void arena_reset(struct arena *a)
{
	for (;;) {
		a = arena_lock(a);
		if (!has_busy_run(a))
			break;
		mutex_unlock(&a->lock);
		sched_yield();
	}
	struct chunk *c = a->chunks;
	a->chunks = NULL;
	memset(a->runs, 0, sizeof a->runs);
	a->runs_nonempty = 0;
	a->dirty = (struct runlist){0};
	a->muzzy = (struct runlist){0};
	a->dirty_pages = a->muzzy_pages = 0;
	a->counters.active_pages = 0;
	a->counters.mapped_pages = 0;
	a->counters.header_pages = 0;
	/* The large blocks still held go with the chunks: counted as freed,
	 * as jemalloc's reset counts them, so that no class shows blocks in
	 * use that are gone (and a later arena of this number starts with
	 * none). */
	for (unsigned k = 0; k < SC_NLARGE; k++) {
		struct lextent_counters *l = &a->counters.lextents[k];
		uint64_t n = atomic_load_explicit(&l->nmalloc, memory_order_relaxed);
		atomic_store_explicit(&l->ndalloc, n, memory_order_relaxed);
	}
	mutex_unlock(&a->lock);
	/* Out of the page map before the address space is given up: once it
	 * is, another mapping may take the place and claim the entry. */
	while (c != NULL) {
		struct chunk *next = c->next_chunk;
		int64_t header = header_pages_written(c->slots_top);
		pagemap_set((uintptr_t)c, 0);
		os_unmap(c, CHUNK_SIZE);
		counter_add(metadata, -header * PAGE_SIZE);
		c = next;
	}
}
