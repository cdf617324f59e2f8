/* SPDX-License-Identifier: MIT */
#include "core/arena.h"

#include <string.h>

#include "core/params.h"
#include "core/decay_request.h"
#include "core/lock.h"
#include "core/meta.h"
#include "os/os.h"
#include "sizeclass_table.h"

bool cairn_hugepage_chunks;
struct arena *cairn_arenas;
unsigned cairn_narenas;

static void arena_setup(struct arena *a, unsigned index)
{
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->shared_lock, NULL);
	a->index = index;
	heap_init(&a->shared, a, HEAP_SHARED);
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

/* Every function that takes an arena's lock checks, once it holds it, that
 * the arena was not retired by a fork child (see arenas_postfork_child):
 * one that allocates goes on to the successor, one that gives pages back
 * leaks them, since the retired arena's lists may be half changed. */
static struct arena *arena_lock(struct arena *a)
{
	for (;;) {
		mutex_lock(&a->lock);
		if (likely(!a->retired))
			return a;
		mutex_unlock(&a->lock);
		a = a->successor;
	}
}

static bool arena_lock_own(struct arena *a)
{
	mutex_lock(&a->lock);
	if (likely(!a->retired))
		return true;
	mutex_unlock(&a->lock);
	return false;
}

/* Bins: exact page counts 1..32, then four bins per doubling. A run in a
 * higher bin is always at least as long as any run in a lower one. */
static unsigned run_bin(size_t npages)
{
	if (npages <= 32)
		return (unsigned)npages - 1;
	unsigned lg = 63u - (unsigned)__builtin_clzl(npages);
	return 32 + (lg - 5) * 4 + (unsigned)((npages >> (lg - 2)) & 3);
}

static void bin_insert(struct arena *a, struct span *s)
{
	unsigned b = run_bin(s->npages);
	s->prev = NULL;
	s->next = a->runs[b];
	if (s->next)
		s->next->prev = s;
	a->runs[b] = s;
	a->runs_nonempty |= 1ull << b;
}

static void bin_remove(struct arena *a, struct span *s)
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
static void set_pages(struct chunk *c, uint32_t first, size_t n, uint32_t owner)
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

static void list_append(struct runlist *l, struct span *s)
{
	s->decay_next = NULL;
	s->decay_prev = l->tail;
	if (l->tail)
		l->tail->decay_next = s;
	else
		l->head = s;
	l->tail = s;
}

static void list_unlink(struct runlist *l, struct span *s)
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
static void run_insert(struct arena *a, struct span *s)
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

static void run_remove(struct arena *a, struct span *s)
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

static struct span *make_free_run(struct chunk *c, uint32_t first, size_t n, unsigned flags,
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
	struct span *h = &c->spans[0];
	h->state = SPAN_HEADER;
	h->start = (uintptr_t)c;
	h->npages = HDR_PAGES;
	set_pages(c, 0, HDR_PAGES, 0);
	return c;
}

/* Gives a mapped chunk's pages to the arena (lock held). */
static void chunk_add(struct arena *a, struct chunk *c)
{
	/* Fresh pages: released, in the life cycle's terms. */
	run_insert(a, make_free_run(c, HDR_PAGES, DATA_PAGES, 0, 0));
	pagemap_set((uintptr_t)c, (uintptr_t)c | MAP_CHUNK);
}

/* Splits run s so that it keeps its first n pages; the rest becomes a free
 * run in the same state of the life cycle. */
static void split_tail(struct arena *a, struct span *s, size_t n, unsigned flags, uint64_t since)
{
	if (s->npages == n)
		return;
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	run_insert(a, make_free_run(c, first + (uint32_t)n, s->npages - n, flags, since));
	s->npages = (uint16_t)n;
}

/* Among the runs that fit, prefers the one in the fullest chunk, so that
 * emptier chunks drain and can be released whole, and then a dirty one,
 * whose pages are resident already. Looks at a bounded number of runs. */
#define FIT_CANDIDATES 16

static unsigned run_score(const struct span *s)
{
	return span_chunk(s)->free_pages * 2u + !(s->flags & RUN_DIRTY);
}

static struct span *find_run(struct arena *a, size_t npages)
{
	struct span *best = NULL;
	unsigned best_score = ~0u, seen = 0;
	unsigned b = run_bin(npages);
	/* The first bin may hold runs shorter than npages; any run in a
	 * higher bin fits. */
	for (; b < RUN_BINS && seen < FIT_CANDIDATES; b++) {
		if (!(a->runs_nonempty & (1ull << b)))
			continue;
		for (struct span *s = a->runs[b]; s && seen < FIT_CANDIDATES; s = s->next) {
			if (s->npages < npages)
				continue;
			seen++;
			unsigned score = run_score(s);
			if (score < best_score) {
				best = s;
				best_score = score;
			}
		}
		if (best != NULL)
			break;
	}
	return best;
}

static void decay_locked(struct arena *a, uint64_t now, unsigned budget, bool force, bool curve);

/* Slow paths pay for a bounded amount of purging when decay is due. */
#define DECAY_BUDGET 4

static void maybe_decay(struct arena *a)
{
	if (a->dirty.head != NULL || a->muzzy.head != NULL)
		decay_locked(a, os_now_ms(), DECAY_BUDGET, false, false);
}

/* Takes run s, found in a's bins, for a block of npages pages aligned to
 * align_pages (lock held; released on return). */
static struct span *carve(struct arena *a, struct span *s, size_t npages, size_t align_pages)
{
	run_remove(a, s);
	unsigned flags = s->flags;
	uint64_t since = s->decay_since;
	if (align_pages > 1) {
		uint32_t first = span_page(s);
		uint32_t aligned = (uint32_t)align_up(first, align_pages);
		if (aligned != first) {
			struct chunk *c = span_chunk(s);
			size_t head = aligned - first;
			struct span *rest = make_free_run(c, aligned, s->npages - head, 0, 0);
			s->npages = (uint16_t)head;
			run_insert(a, s);
			s = rest;
		}
	}
	split_tail(a, s, npages, flags, since);
	span_chunk(s)->free_pages -= (uint32_t)npages;
	s->state = SPAN_LARGE;
	s->flags = 0;
	maybe_decay(a);
	mutex_unlock(&a->lock);
	return s;
}

/* When no chunk can be mapped (the address space is used up), a run from
 * another arena's free pages: near an RLIMIT_AS limit the pages that
 * other threads freed are all there is. A run keeps its chunk's arena, to
 * which it goes back when freed. */
static struct span *alloc_run_elsewhere(struct arena *a, size_t npages, size_t align_pages)
{
	size_t want = npages + align_pages - 1;
	for (unsigned i = 0; i < cairn_narenas; i++) {
		/* A retired arena (in a fork child) is passed over for its
		 * successor: its lists may be half changed. */
		struct arena *o = arena_lock(&cairn_arenas[i]);
		if (o != a) {
			struct span *s = find_run(o, want);
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
	while ((s = find_run(a, want)) == NULL) {
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
			s = find_run(a, want);
			if (s != NULL)
				break;
			mutex_unlock(&a->lock);
			return alloc_run_elsewhere(a, npages, align_pages);
		}
		chunk_add(a, c);
	}
	return carve(a, s, npages, align_pages);
}

/* Merges free run [*first, *first + *n) with the free neighbours that are
 * not being purged; returns the flags the merged pages had in common
 * (dirty if any part was). */
static unsigned merge_neighbours(struct arena *a, struct chunk *c, uint32_t *first, size_t *n,
                                 unsigned flags)
{
	if (*first > HDR_PAGES) {
		struct span *l = chunk_page_span(c, *first - 1);
		if (l->state == SPAN_FREE && !(l->flags & RUN_BUSY)) {
			run_remove(a, l);
			flags |= l->flags;
			*first = span_page(l);
			*n += l->npages;
		}
	}
	if (*first + *n < CHUNK_PAGES) {
		struct span *r = chunk_page_span(c, *first + (uint32_t)*n);
		if (r->state == SPAN_FREE && !(r->flags & RUN_BUSY)) {
			run_remove(a, r);
			flags |= r->flags;
			*n += r->npages;
		}
	}
	return flags & RUN_DIRTY ? RUN_DIRTY : flags;
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
	s->state = SPAN_FREE;
	s->fast_owner = NULL;
	s->flags = 0;
	flags = merge_neighbours(a, c, &first, &n, flags);
	run_insert(a, make_free_run(c, first, n, flags, now));
}

void arena_free_run(struct arena *a, struct span *s)
{
	uint64_t now = os_now_ms();
	if (!arena_lock_own(a))
		return;
	free_run_locked(a, s, now, RUN_DIRTY);
	decay_locked(a, now, DECAY_BUDGET, false, false);
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
		struct span *t = make_free_run(c, first + (uint32_t)npages, tail, 0, 0);
		t->state = SPAN_LARGE; /* freed next, with coalescing */
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
		run_remove(a, r);
		uint32_t rn = r->npages;
		if (rn > extra)
			run_insert(a, make_free_run(c, next + (uint32_t)extra, rn - extra, r->flags,
			                            r->decay_since));
		set_pages(c, next, extra, first);
		c->free_pages -= (uint32_t)extra;
		s->npages = (uint16_t)npages;
	}
	mutex_unlock(&a->lock);
	return ok;
}

/* Purges run s, which the caller took off every list and marked busy,
 * with the arena unlocked. Returns the bytes given back to the kernel. A
 * whole chunk that is released is unmapped unless retain is on; s then no
 * longer exists. */
static size_t purge_run(struct arena *a, struct span *s, bool lazy, bool *unmapped)
{
	struct chunk *c = span_chunk(s);
	size_t bytes = span_bytes(s);
	*unmapped = false;
	if (!lazy && s->npages == DATA_PAGES && !cairn_core.retain) {
		pagemap_set((uintptr_t)c, 0);
		*unmapped = true;
		os_unmap(c, CHUNK_SIZE);
		return CHUNK_SIZE;
	}
	if (lazy)
		os_purge_lazy((void *)s->start, bytes);
	else
		os_purge((void *)s->start, bytes);
	return bytes;
}

/* The pages of run s the decay curve still allows to wait: all of them
 * when just freed, none at decay_ms, following 1 - smoothstep(age /
 * decay_ms) in between (as jemalloc does): little goes back in the first
 * moments, when reuse is likely, and most of it around the middle. Summed
 * over a list at the start of a pass, it is the most pages the list may
 * hold; the pass purges the oldest runs until it holds no more. (Taking a
 * purged run's own allowance off the sum as well would purge far too much:
 * a young run's allowance is nearly all of it, so each purge would bring
 * the list barely closer to its limit.) */
static double curve_allowed(const struct span *s, uint64_t now, int64_t decay_ms)
{
	double x = (double)(now - s->decay_since) / (double)decay_ms;
	if (x >= 1.0)
		return 0.0;
	return (double)s->npages * (1.0 - x * x * (3.0 - 2.0 * x));
}

/* How far down a decay list the search for a run that frees a huge page
 * goes. */
#define HUGEPAGE_SCAN 64

/* With chunks on huge pages, purging part of one splits the huge page (and
 * every later access to the chunk pays for 4 KiB translations). So the
 * decay curve, which only hastens purging, takes a run that is a whole
 * chunk first, else one in a chunk at most half in use, whose huge page is
 * worth little; a run in a fuller chunk waits until it is due. NULL when
 * none of the oldest runs qualifies. */
static struct span *hugepage_victim(const struct runlist *l)
{
	struct span *half = NULL;
	unsigned n = 0;
	for (struct span *s = l->head; s != NULL && n < HUGEPAGE_SCAN; s = s->decay_next, n++) {
		uint32_t free_pages = span_chunk(s)->free_pages;
		if (s->npages == DATA_PAGES)
			return s;
		if (half == NULL && free_pages * 2 >= DATA_PAGES)
			half = s;
	}
	return half;
}

static size_t decay_list(struct arena *a, struct runlist *l, size_t *list_pages, int64_t decay_ms,
                         bool to_muzzy, uint64_t now, unsigned *budget, bool force, bool curve)
{
	size_t released = 0;
	double allowed = 0.0;
	if (unlikely(a->retired))
		return 0;
	if (curve && decay_ms > 0)
		for (struct span *s = l->head; s != NULL; s = s->decay_next)
			allowed += curve_allowed(s, now, decay_ms);
	while (*budget > 0 && l->head != NULL &&
	       (force || (decay_ms >= 0 && now - l->head->decay_since >= (uint64_t)decay_ms) ||
	        (curve && decay_ms > 0 && (double)*list_pages > allowed + 0.5))) {
		struct span *s = l->head;
		bool due = force || (decay_ms >= 0 && now - s->decay_since >= (uint64_t)decay_ms);
		if (!due && cairn_hugepage_chunks && (s = hugepage_victim(l)) == NULL)
			break;
		run_remove(a, s);
		s->flags = RUN_BUSY;
		(*budget)--;
		/* No lock held across the system call: the run is off every
		 * list, and busy runs are not merged with. */
		mutex_unlock(&a->lock);
		bool unmapped;
		size_t bytes = purge_run(a, s, to_muzzy, &unmapped);
		mutex_lock(&a->lock);
		/* Forked meanwhile (from a signal handler that interrupted
		 * this thread): the run stays busy, on no list. */
		if (unlikely(a->retired))
			return released;
		if (unmapped) {
			released += bytes;
			continue;
		}
		if (!to_muzzy)
			released += bytes;
		struct chunk *c = span_chunk(s);
		uint32_t first = span_page(s);
		size_t n = s->npages;
		unsigned flags = to_muzzy ? RUN_MUZZY : 0;
		/* Merge with neighbours in the same state only, so no page is
		 * purged twice and none skipped. */
		if (first > HDR_PAGES) {
			struct span *left = chunk_page_span(c, first - 1);
			if (left->state == SPAN_FREE && left->flags == flags) {
				run_remove(a, left);
				first = span_page(left);
				n += left->npages;
			}
		}
		if (first + n < CHUNK_PAGES) {
			struct span *right = chunk_page_span(c, first + (uint32_t)n);
			if (right->state == SPAN_FREE && right->flags == flags) {
				run_remove(a, right);
				n += right->npages;
			}
		}
		run_insert(a, make_free_run(c, first, n, flags, now));
	}
	return released;
}

static void decay_locked(struct arena *a, uint64_t now, unsigned budget, bool force, bool curve)
{
	bool lazy = cairn_core.muzzy_decay_ms != 0 && !force;
	a->released_bytes += decay_list(a, &a->dirty, &a->dirty_pages, cairn_core.dirty_decay_ms,
	                                lazy, now, &budget, force, curve);
	a->released_bytes += decay_list(a, &a->muzzy, &a->muzzy_pages, cairn_core.muzzy_decay_ms,
	                                false, now, &budget, force, curve);
}

size_t arena_decay(struct arena *a, uint64_t now, bool force)
{
	a = arena_lock(a);
	size_t before = a->released_bytes;
	decay_locked(a, now, ~0u, force, true);
	size_t released = a->released_bytes - before;
	mutex_unlock(&a->lock);
	return released;
}

void arena_decay_step(struct arena *a, uint64_t now)
{
	a = arena_lock(a);
	decay_locked(a, now, DECAY_BUDGET, false, false);
	mutex_unlock(&a->lock);
}

uint64_t arena_decay_deadline(struct arena *a)
{
	uint64_t next = UINT64_MAX;
	a = arena_lock(a);
	if (a->dirty.head != NULL && cairn_core.dirty_decay_ms >= 0)
		next = a->dirty.head->decay_since + (uint64_t)cairn_core.dirty_decay_ms;
	if (a->muzzy.head != NULL && cairn_core.muzzy_decay_ms >= 0) {
		uint64_t m = a->muzzy.head->decay_since + (uint64_t)cairn_core.muzzy_decay_ms;
		if (m < next)
			next = m;
	}
	mutex_unlock(&a->lock);
	return next;
}

size_t arena_release_empty(struct arena *a)
{
	size_t released = 0;
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
		mutex_unlock(&a->lock);
		struct chunk *c = span_chunk(s);
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
			run_insert(a, make_free_run(c, HDR_PAGES, DATA_PAGES, 0, 0));
			break;
		}
		released += CHUNK_SIZE;
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
	s->local_free = NULL;
	s->carved = 0;
	s->state = SPAN_SMALL;
	s->cls = (uint8_t)cls;
	s->div_magic = sc_div_magic[cls];
	s->used = 0;
	*span_holes(s) = 0;
	s->owner = h;
	s->fast_owner = NULL;
	s->flags = 0;
	return s;
}

/* In a fork child. An arena whose page heap or shared heap was locked when
 * the parent forked is retired: its lists may be half changed, by a thread
 * that is gone or by the forking thread itself (fork from a signal handler;
 * returning from the handler, the child goes on with that change). A new
 * arena succeeds it, and the retired one's pages are never used again: what
 * is freed into it is leaked. */
void arenas_postfork_child(void)
{
	for (unsigned i = 0; i < cairn_narenas; i++) {
		for (struct arena *a = &cairn_arenas[i]; a != NULL; a = a->successor) {
			bool held = mutex_reset_was_held(&a->lock);
			held |= mutex_reset_was_held(&a->shared_lock);
			if (!held || a->retired)
				continue;
			struct arena *next = meta_alloc(sizeof(*next));
			if (next == NULL)
				continue; /* out of memory: it goes on */
			arena_setup(next, a->index);
			a->successor = next;
			a->retired = true;
			break;
		}
	}
}

struct arena *arena_shared_lock(struct arena *a)
{
	for (;;) {
		mutex_lock(&a->shared_lock);
		if (likely(!a->retired))
			return a;
		mutex_unlock(&a->shared_lock);
		a = a->successor;
	}
}
