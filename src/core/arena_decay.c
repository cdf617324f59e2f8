/* SPDX-License-Identifier: MIT */
/* Decay of an arena's free runs: the curve, the choice of victims, the
 * purging. When it runs is decay.c's to say (and, for a few due runs, the
 * page heap's while it holds the lock: arena_decay_locked).
 *
 * Free runs whose pages are still resident (dirty) or lazily freed (muzzy)
 * are on a list per state, oldest first, with the time they entered it
 * (arena_runs.h). Decay walks from the oldest: a dirty run older than
 * dirty_decay_ms becomes muzzy (MADV_FREE) or, with muzzy_decay_ms:0, is
 * released (MADV_DONTNEED, or unmapped when it is a whole chunk and retain
 * is off); a muzzy run older than muzzy_decay_ms is released. */
#include "core/arena_runs.h"
#include "core/decay_curve.h"
#include "core/params.h"
#include "os/os.h"

bool cairn_hugepage_chunks;

/* Purges run s, which the caller took off every list and marked busy,
 * with the arena unlocked. Returns the bytes given back to the kernel. A
 * whole chunk that is released is unmapped unless retain is on; s then no
 * longer exists. */
static size_t purge_run(struct arena *a, struct span *s, bool lazy, bool *unmapped)
{
	struct chunk *c = span_chunk(s);
	size_t bytes = span_bytes(s);
	*unmapped = false;
	if (!lazy && s->npages == DATA_PAGES && !cairn_core.retain && !a->created) {
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

/* How long run s has been in its state at time now: 0 when it entered it
 * after now was read (a pass whose clock was read before another thread
 * freed the run, or before it waited for the lock), not a wrapped-around
 * age that would make the run look long due. */
static inline uint64_t run_age(const struct span *s, uint64_t now)
{
	return now > s->decay_since ? now - s->decay_since : 0;
}

/* The pages of run s the decay curve (decay_curve.h) still allows to
 * wait. */
static double curve_allowed(const struct span *s, uint64_t now, int64_t decay_ms)
{
	return (double)s->npages * decay_curve_share(run_age(s, now), decay_ms);
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
	       (force || (decay_ms >= 0 && run_age(l->head, now) >= (uint64_t)decay_ms) ||
	        (curve && decay_ms > 0 && (double)*list_pages > allowed + 0.5))) {
		struct span *s = l->head;
		bool due = force || (decay_ms >= 0 && run_age(s, now) >= (uint64_t)decay_ms);
		if (!due && cairn_hugepage_chunks && (s = hugepage_victim(l)) == NULL)
			break;
		run_remove(a, s);
		s->flags = RUN_BUSY;
		(*budget)--;
		/* No lock held across the system call: the run is off every
		 * list, and busy runs are not merged with. */
		size_t npages = s->npages;
		/* Read before: an unmapped chunk's header is gone. */
		uint32_t header = header_pages_written(span_chunk(s)->slots_top);
		mutex_unlock(&a->lock);
		bool unmapped;
		size_t bytes = purge_run(a, s, to_muzzy, &unmapped);
		mutex_lock(&a->lock);
		if (l == &a->muzzy) {
			a->counters.muzzy_npurge++;
			a->counters.muzzy_nmadvise++;
			a->counters.muzzy_purged += npages;
		} else {
			a->counters.npurge++;
			a->counters.nmadvise++;
			a->counters.purged += npages;
		}
		/* Forked meanwhile (from a signal handler that interrupted
		 * this thread): the run stays busy, on no list. */
		if (unlikely(a->retired))
			return released;
		if (unmapped) {
			released += bytes;
			a->counters.mapped_pages -= DATA_PAGES;
			count_header_pages(a, -(int64_t)header);
			continue;
		}
		if (!to_muzzy)
			released += bytes;
		struct chunk *c = span_chunk(s);
		uint32_t first = span_page(s);
		size_t n = s->npages;
		unsigned flags = to_muzzy ? RUN_MUZZY : 0;
		s = merge_run(a, s, MERGE_SAME, &first, &n, &flags);
		run_insert(a, make_free_run(c, s, first, n, flags, now));
	}
	return released;
}

void arena_decay_locked(struct arena *a, uint64_t now, unsigned budget, bool force, bool curve)
{
	/* The common case on the page heap's paths: nothing is due. */
	if (!force && !curve && !arena_decay_due(a, now))
		return;
	int64_t dirty_ms = arena_dirty_decay_ms(a), muzzy_ms = arena_muzzy_decay_ms(a);
	bool lazy = muzzy_ms != 0 && !force;
	a->released_bytes +=
	    decay_list(a, &a->dirty, &a->dirty_pages, dirty_ms, lazy, now, &budget, force, curve);
	a->released_bytes +=
	    decay_list(a, &a->muzzy, &a->muzzy_pages, muzzy_ms, false, now, &budget, force, curve);
}

size_t arena_decay(struct arena *a, uint64_t now, bool force)
{
	a = arena_lock(a);
	size_t before = a->released_bytes;
	arena_decay_locked(a, now, ~0u, force, true);
	size_t released = a->released_bytes - before;
	mutex_unlock(&a->lock);
	return released;
}

void arena_decay_step(struct arena *a, uint64_t now)
{
	a = arena_lock(a);
	arena_decay_locked(a, now, DECAY_BUDGET, false, false);
	mutex_unlock(&a->lock);
}

uint64_t arena_decay_deadline(struct arena *a)
{
	uint64_t next = UINT64_MAX;
	a = arena_lock(a);
	int64_t dirty_ms = arena_dirty_decay_ms(a), muzzy_ms = arena_muzzy_decay_ms(a);
	if (a->dirty.head != NULL && dirty_ms >= 0)
		next = a->dirty.head->decay_since + (uint64_t)dirty_ms;
	if (a->muzzy.head != NULL && muzzy_ms >= 0) {
		uint64_t m = a->muzzy.head->decay_since + (uint64_t)muzzy_ms;
		if (m < next)
			next = m;
	}
	mutex_unlock(&a->lock);
	return next;
}
