/* SPDX-License-Identifier: MIT */
#include "core/meta.h"

#include "core/params.h"
#include "core/counters.h"
#include "core/lock.h"
#include "core/sizeclass_params.h"
#include "core/util.h"
#include "os/os.h"

/* The mapping metadata is cut from, and its lock. A fork child whose parent
 * held the lock retires the region (its cursor may be half moved) and starts
 * a new one; the retired region's memory stays unused. */
struct meta_region {
	cairn_mutex lock;
	char *cursor;  /* Guarded by lock. */
	char *end;     /* Guarded by lock. */
	unsigned maps; /* Guarded by lock. */
	bool retired;  /* set in a fork child only */
};

static struct meta_region meta_first = {.lock = CAIRN_MUTEX_INIT};
static struct meta_region *_Atomic meta_cur = &meta_first;

/* Metadata grows in whole huge pages when metadata_thp asks for huge
 * pages, else in smaller steps. */
#define META_GRANULE (256u << 10)

static struct meta_region *region_lock(void)
{
	for (;;) {
		struct meta_region *r = atomic_load_explicit(&meta_cur, memory_order_acquire);
		mutex_lock(&r->lock);
		if (likely(!r->retired))
			return r;
		mutex_unlock(&r->lock);
	}
}

void *meta_alloc(size_t size)
{
	size = align_up(size, 64);
	struct meta_region *m = region_lock();
	if ((size_t)(m->end - m->cursor) < size) {
		/* metadata_thp:auto turns huge pages on once metadata outgrows
		 * its first mapping. */
		bool thp = cairn_core.metadata_thp == CORE_METADATA_THP_ALWAYS ||
		           (cairn_core.metadata_thp == CORE_METADATA_THP_AUTO && m->maps > 0);
		size_t granule = thp ? CHUNK_SIZE : META_GRANULE;
		size_t len =
		    align_up(size > granule ? size : granule, thp ? CHUNK_SIZE : os_page_size());
		char *p = os_map_aligned(len, thp ? CHUNK_SIZE : os_page_size());
		if (p == NULL) {
			mutex_unlock(&m->lock);
			return NULL;
		}
		if (thp)
			os_hugepage_advise(p, len);
		m->maps++;
		counter_add(metadata, len);
		m->cursor = p;
		m->end = p + len;
	}
	void *r = m->cursor;
	m->cursor += size;
	mutex_unlock(&m->lock);
	return r;
}

void meta_postfork_child(void)
{
	struct meta_region *old = atomic_load(&meta_cur);
	if (!mutex_reset_was_held(&old->lock))
		return;
	/* The new region's descriptor sits at the start of its first
	 * mapping. */
	struct meta_region *r = os_map_aligned(META_GRANULE, os_page_size());
	if (r == NULL)
		return; /* nothing else to do: the old region goes on */
	mutex_init(&r->lock);
	counter_add(metadata, META_GRANULE);
	r->cursor = (char *)r + align_up(sizeof(*r), 64);
	r->end = (char *)r + META_GRANULE;
	r->maps = old->maps;
	old->retired = true;
	atomic_store(&meta_cur, r);
}
