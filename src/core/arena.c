#include "core/arena.h"

#include <string.h>

#include "core/meta.h"
#include "os/os.h"
#include "sizeclass_table.h"

struct arena *cairn_arenas;
unsigned cairn_narenas;

bool arenas_init(unsigned narenas)
{
	struct arena *a = meta_alloc(sizeof(struct arena) * narenas);
	if (a == NULL)
		return false;
	for (unsigned i = 0; i < narenas; i++) {
		pthread_mutex_init(&a[i].lock, NULL);
		pthread_mutex_init(&a[i].shared_lock, NULL);
		a[i].index = i;
		heap_init(&a[i].shared, &a[i], HEAP_SHARED);
	}
	cairn_arenas = a;
	cairn_narenas = narenas;
	return true;
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

static struct span *make_free_run(struct chunk *c, uint32_t first, size_t n)
{
	struct span *s = &c->spans[first];
	s->state = SPAN_FREE;
	s->npages = (uint16_t)n;
	s->start = (uintptr_t)c + ((uintptr_t)first << PAGE_SHIFT);
	s->fast_owner = NULL;
	s->owner = NULL;
	s->flags = 0;
	set_pages(c, first, n, first);
	return s;
}

static struct chunk *chunk_new(struct arena *a)
{
	struct chunk *c = os_map_aligned(CHUNK_SIZE, CHUNK_SIZE);
	if (c == NULL)
		return NULL;
	c->arena = a;
	c->free_pages = DATA_PAGES;
	struct span *h = &c->spans[0];
	h->state = SPAN_HEADER;
	h->start = (uintptr_t)c;
	h->npages = HDR_PAGES;
	set_pages(c, 0, HDR_PAGES, 0);
	bin_insert(a, make_free_run(c, HDR_PAGES, DATA_PAGES));
	a->empty_chunks++;
	pagemap_set((uintptr_t)c, (uintptr_t)c | MAP_CHUNK);
	return c;
}

/* Splits run s so that it keeps its first n pages; the rest becomes free. */
static void split_tail(struct arena *a, struct span *s, size_t n)
{
	if (s->npages == n)
		return;
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	bin_insert(a, make_free_run(c, first + (uint32_t)n, s->npages - n));
	s->npages = (uint16_t)n;
}

static struct span *find_run(struct arena *a, size_t npages)
{
	unsigned b = run_bin(npages);
	/* The first bin may hold runs shorter than npages: search it; any run
	 * in a higher non-empty bin fits. */
	for (struct span *s = a->runs[b]; s; s = s->next)
		if (s->npages >= npages)
			return s;
	uint64_t higher = b + 1 < RUN_BINS ? a->runs_nonempty & (~0ull << (b + 1)) : 0;
	if (higher == 0)
		return NULL;
	return a->runs[__builtin_ctzll(higher)];
}

static void take_pages(struct arena *a, struct span *s, size_t npages)
{
	struct chunk *c = span_chunk(s);
	if (c->free_pages == DATA_PAGES)
		a->empty_chunks--;
	c->free_pages -= (uint32_t)npages;
}

struct span *arena_alloc_run(struct arena *a, size_t npages, size_t align_pages)
{
	size_t want = npages + align_pages - 1;
	if (want > DATA_PAGES)
		return NULL;
	pthread_mutex_lock(&a->lock);
	struct span *s = find_run(a, want);
	if (s == NULL) {
		if (chunk_new(a) == NULL) {
			pthread_mutex_unlock(&a->lock);
			return NULL;
		}
		s = find_run(a, want);
	}
	bin_remove(a, s);
	if (align_pages > 1) {
		uint32_t first = span_page(s);
		uint32_t aligned = (uint32_t)align_up(first, align_pages);
		if (aligned != first) {
			struct chunk *c = span_chunk(s);
			size_t head = aligned - first;
			struct span *rest = make_free_run(c, aligned, s->npages - head);
			s->npages = (uint16_t)head;
			bin_insert(a, s);
			s = rest;
		}
	}
	split_tail(a, s, npages);
	take_pages(a, s, npages);
	s->state = SPAN_LARGE;
	pthread_mutex_unlock(&a->lock);
	return s;
}

/* Frees run s (lock held), merging it with free neighbours. */
static void free_run_locked(struct arena *a, struct span *s)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t n = s->npages;
	c->free_pages += (uint32_t)n;
	s->state = SPAN_FREE;
	s->fast_owner = NULL;
	s->owner = NULL;
	s->flags = 0;

	if (first > HDR_PAGES) {
		struct span *l = chunk_page_span(c, first - 1);
		if (l->state == SPAN_FREE) {
			bin_remove(a, l);
			first = span_page(l);
			n += l->npages;
		}
	}
	if (first + n < CHUNK_PAGES) {
		struct span *r = chunk_page_span(c, first + n);
		if (r->state == SPAN_FREE) {
			bin_remove(a, r);
			n += r->npages;
		}
	}
	struct span *run = make_free_run(c, first, n);
	if (c->free_pages == DATA_PAGES && ++a->empty_chunks > 1) {
		/* One empty chunk stays as a spare; the others go back. */
		a->empty_chunks--;
		pagemap_set((uintptr_t)c, 0);
		os_unmap(c, CHUNK_SIZE);
		return;
	}
	bin_insert(a, run);
}

void arena_free_run(struct arena *a, struct span *s)
{
	pthread_mutex_lock(&a->lock);
	free_run_locked(a, s);
	pthread_mutex_unlock(&a->lock);
}

void arena_shrink_run(struct arena *a, struct span *s, size_t npages)
{
	pthread_mutex_lock(&a->lock);
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t tail = s->npages - npages;
	if (tail > 0) {
		struct span *t = make_free_run(c, first + (uint32_t)npages, tail);
		t->state = SPAN_LARGE; /* freed next, with coalescing */
		s->npages = (uint16_t)npages;
		free_run_locked(a, t);
	}
	pthread_mutex_unlock(&a->lock);
}

bool arena_grow_run(struct arena *a, struct span *s, size_t npages)
{
	struct chunk *c = span_chunk(s);
	uint32_t first = span_page(s);
	size_t extra = npages - s->npages;
	uint32_t next = first + s->npages;
	if (first + npages > CHUNK_PAGES)
		return false;
	pthread_mutex_lock(&a->lock);
	struct span *r = chunk_page_span(c, next);
	bool ok = r->state == SPAN_FREE && r->npages >= extra;
	if (ok) {
		bin_remove(a, r);
		uint32_t rn = r->npages;
		if (rn > extra)
			bin_insert(a, make_free_run(c, next + (uint32_t)extra, rn - extra));
		set_pages(c, next, extra, first);
		c->free_pages -= (uint32_t)extra;
		s->npages = (uint16_t)npages;
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
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
	s->owner = h;
	s->fast_owner = NULL;
	s->flags = 0;
	return s;
}

void arenas_prefork(void)
{
	for (unsigned i = 0; i < cairn_narenas; i++) {
		pthread_mutex_lock(&cairn_arenas[i].shared_lock);
		pthread_mutex_lock(&cairn_arenas[i].lock);
	}
}

void arenas_postfork_parent(void)
{
	for (unsigned i = cairn_narenas; i-- > 0;) {
		pthread_mutex_unlock(&cairn_arenas[i].lock);
		pthread_mutex_unlock(&cairn_arenas[i].shared_lock);
	}
}

void arenas_postfork_child(void)
{
	for (unsigned i = 0; i < cairn_narenas; i++) {
		pthread_mutex_init(&cairn_arenas[i].lock, NULL);
		pthread_mutex_init(&cairn_arenas[i].shared_lock, NULL);
	}
}
