#include "core/huge.h"

#include <pthread.h>
#include <string.h>

#include "control/conf.h"
#include "core/background.h"
#include "core/chunk.h"
#include "core/meta.h"
#include "os/os.h"

/* Freed huge mappings kept for reuse. The bound is generous because decay
 * (dirty_decay_ms, by the purging thread) gives them back when they stay
 * unused, and a reused mapping saves a page fault per page. */
#define CACHE_MAX_COUNT 16
#define CACHE_MAX_BYTES (1ul << 30)

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct huge *spare_descs; /* Guarded by huge_lock. */
static struct huge *cache;       /* most recently freed first. Guarded by huge_lock. */
static size_t cache_bytes;       /* Guarded by huge_lock. */
static unsigned cache_count;     /* Guarded by huge_lock. */

/* Advice covers whole mappings: advising part of one would split it into
 * two VMAs, and mremap refuses to move a range that spans two. */
static void thp_advice(void *p, size_t len)
{
	if (cairn_conf.thp == THP_ALWAYS)
		os_hugepage_advise(p, len);
	else if (cairn_conf.thp == THP_NEVER)
		os_hugepage_forbid(p, len);
}

static void map_slots(uintptr_t addr, size_t size, uintptr_t value)
{
	for (uintptr_t a = addr; a < addr + size; a += CHUNK_SIZE)
		pagemap_set(a, value);
}

static struct huge *desc_get(void)
{
	pthread_mutex_lock(&huge_lock);
	struct huge *h = spare_descs;
	if (h != NULL)
		spare_descs = h->next;
	pthread_mutex_unlock(&huge_lock);
	return h != NULL ? h : meta_alloc(sizeof(struct huge));
}

/* Unmaps a cached or failed block and recycles its descriptor. */
static void release(struct huge *h)
{
	map_slots(h->addr, h->mapped, 0);
	os_unmap((void *)h->addr, h->mapped);
	pthread_mutex_lock(&huge_lock);
	h->next = spare_descs;
	spare_descs = h;
	pthread_mutex_unlock(&huge_lock);
}

/* Resizes h's mapping to len bytes (page multiple) without copying: in
 * place where the address space allows, else by moving the pages with
 * mremap to a fresh range aligned to align (at least 2 MiB). A shrink gives back only whole
 * 2 MiB slots, so the mapping may stay a little longer than len. Page map
 * slots leave the map before the address space they cover is given up:
 * once it is, another thread may map a block there and claim them. */
static bool remap(struct huge *h, size_t len, size_t align)
{
	uintptr_t value = (uintptr_t)h | MAP_HUGE;
	if (len <= h->mapped) {
		uintptr_t keep = align_up(h->addr + len, CHUNK_SIZE);
		if (h->addr + h->mapped > keep) {
			map_slots(keep, h->addr + h->mapped - keep, 0);
			if (os_remap_inplace((void *)h->addr, h->mapped, keep - h->addr))
				h->mapped = keep - h->addr;
			else
				map_slots(keep, h->addr + h->mapped - keep, value);
		}
		return true;
	}
	if (os_remap_inplace((void *)h->addr, h->mapped, len)) {
		h->mapped = len;
		map_slots(h->addr, len, value);
		return true;
	}
	void *to = os_map_aligned(len, align);
	if (to == NULL)
		return false;
	map_slots((uintptr_t)to, len, value);
	map_slots(h->addr, h->mapped, 0);
	if (!os_remap_to((void *)h->addr, h->mapped, to, len)) {
		map_slots((uintptr_t)to, len, 0);
		map_slots(h->addr, h->mapped, value);
		os_unmap(to, len);
		return false;
	}
	h->addr = (uintptr_t)to;
	h->mapped = len;
	thp_advice(to, len);
	return true;
}

/* A reused mapping may be longer than the block; how much longer is
 * bounded, since the excess stays resident while the block lives. */
static bool fits(const struct huge *h, size_t len)
{
	return h->mapped >= len && (h->mapped - len <= 4 * CHUNK_SIZE || h->mapped / 2 <= len);
}

/* A cached mapping made ready for a block of len bytes, or NULL. The best
 * fit if one fits; else the longest shorter one, grown with mremap; else a
 * longer one, trimmed. Either way its resident pages are reused rather than
 * faulted in anew. */
static struct huge *cache_take(size_t len, size_t align)
{
	pthread_mutex_lock(&huge_lock);
	struct huge **fit = NULL, **shorter = NULL, **longer = NULL;
	for (struct huge **link = &cache; *link != NULL; link = &(*link)->next) {
		struct huge *h = *link;
		if ((h->addr & (align - 1)) != 0)
			continue;
		if (fits(h, len)) {
			if (fit == NULL || h->mapped < (*fit)->mapped)
				fit = link;
		} else if (h->mapped < len) {
			if (shorter == NULL || h->mapped > (*shorter)->mapped)
				shorter = link;
		} else if (longer == NULL || h->mapped < (*longer)->mapped) {
			longer = link;
		}
	}
	struct huge **take = fit ? fit : shorter ? shorter : longer;
	struct huge *h = NULL;
	if (take != NULL) {
		h = *take;
		*take = h->next;
		cache_bytes -= h->mapped;
		cache_count--;
	}
	pthread_mutex_unlock(&huge_lock);
	if (h != NULL && !fits(h, len) && (!remap(h, len, align) || h->mapped < len)) {
		release(h); /* could not be resized: give it back */
		h = NULL;
	}
	return h;
}

void *huge_alloc(size_t size, size_t align, bool zero)
{
	/* Without purging threads, huge allocations and frees move the
	 * cache's decay along. */
	if (!cairn_conf.background_thread)
		huge_decay(os_now_ms(), false);
	size_t len = align_up(size, os_page_size());
	if (len < size)
		return NULL;
	if (align < CHUNK_SIZE)
		align = CHUNK_SIZE;
	struct huge *h = cache_take(len, align);
	if (h == NULL) {
		void *p = os_map_aligned(len, align);
		if (p == NULL)
			return NULL;
		h = desc_get();
		if (h == NULL) {
			os_unmap(p, len);
			return NULL;
		}
		h->addr = (uintptr_t)p;
		h->mapped = len;
		h->fresh = true;
		thp_advice(p, len);
	}
	h->size = len;
	if (zero && !h->fresh)
		memset((void *)h->addr, 0, len);
	h->fresh = false;
	h->live = true;
	map_slots(h->addr, h->mapped, (uintptr_t)h | MAP_HUGE);
	return (void *)h->addr;
}

void huge_free(struct huge *h)
{
	h->live = false;
	if (h->mapped > CACHE_MAX_BYTES || cairn_conf.dirty_decay_ms == 0) {
		release(h);
		return;
	}
	uint64_t now = os_now_ms();
	h->since = now;
	struct huge *evicted = NULL;
	pthread_mutex_lock(&huge_lock);
	h->next = cache;
	cache = h;
	cache_bytes += h->mapped;
	cache_count++;
	while (cache_count > CACHE_MAX_COUNT || cache_bytes > CACHE_MAX_BYTES) {
		/* Evict the oldest. */
		struct huge **link = &cache;
		while ((*link)->next != NULL)
			link = &(*link)->next;
		struct huge *e = *link;
		*link = NULL;
		cache_bytes -= e->mapped;
		cache_count--;
		e->next = evicted;
		evicted = e;
	}
	pthread_mutex_unlock(&huge_lock);
	while (evicted != NULL) {
		struct huge *next = evicted->next;
		release(evicted);
		evicted = next;
	}
	if (cairn_conf.background_thread)
		background_kick();
	else
		huge_decay(now, false);
}

size_t huge_decay(uint64_t now, bool force)
{
	size_t released = 0;
	for (;;) {
		/* The oldest entry is the last. */
		struct huge *h = NULL, **link = &cache;
		pthread_mutex_lock(&huge_lock);
		while (*link != NULL && (*link)->next != NULL)
			link = &(*link)->next;
		h = *link;
		if (h != NULL &&
		    (force || (cairn_conf.dirty_decay_ms >= 0 &&
		               now - h->since >= (uint64_t)cairn_conf.dirty_decay_ms))) {
			*link = NULL;
			cache_bytes -= h->mapped;
			cache_count--;
		} else {
			h = NULL;
		}
		pthread_mutex_unlock(&huge_lock);
		if (h == NULL)
			return released;
		released += h->mapped;
		release(h);
	}
}

uint64_t huge_decay_deadline(void)
{
	uint64_t next = UINT64_MAX;
	pthread_mutex_lock(&huge_lock);
	if (cache != NULL && cairn_conf.dirty_decay_ms >= 0) {
		struct huge *h = cache;
		while (h->next != NULL)
			h = h->next;
		next = h->since + (uint64_t)cairn_conf.dirty_decay_ms;
	}
	pthread_mutex_unlock(&huge_lock);
	return next;
}

void *huge_realloc(struct huge *h, size_t size)
{
	size_t len = align_up(size, os_page_size());
	if (len < size)
		return NULL;
	/* Within the mapping there is nothing to map; a block that shrinks
	 * gives back the whole 2 MiB slots it left. */
	if ((len > h->mapped || len < h->size) && !remap(h, len, CHUNK_SIZE))
		return NULL;
	h->size = len;
	return (void *)h->addr;
}

void huge_prefork(void)
{
	pthread_mutex_lock(&huge_lock);
}

void huge_postfork_parent(void)
{
	pthread_mutex_unlock(&huge_lock);
}

void huge_postfork_child(void)
{
	pthread_mutex_init(&huge_lock, NULL);
}
