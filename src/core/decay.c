/* SPDX-License-Identifier: MIT */
#include "core/decay.h"

#include <stdatomic.h>

#include "core/arena.h"
#include "core/counters.h"
#include "core/explicit.h"
#include "core/heap.h"
#include "core/huge.h"
#include "core/params.h"
#include "core/pool.h"
#include "os/os.h"

/* How often thread 0 looks at the cgroup memory limit while it has work. */
#define CGROUP_CHECK_MS 1000

void decay_cursor_init(struct decay_cursor *c, unsigned k, unsigned n)
{
	uint64_t limit, current;
	c->k = k;
	c->n = n;
	c->has_cgroup_limit = k == 0 && os_cgroup_memory(&limit, &current);
	c->last_cgroup_check = 0;
}

static bool near_cgroup_limit(void)
{
	uint64_t limit, current;
	return os_cgroup_memory(&limit, &current) && current >= limit - limit / 10;
}

/* What decay_pass and purge_all do to each created arena. */
struct decay_visit {
	uint64_t now;
	bool force;
	uint64_t next;   /* the earliest deadline seen */
	size_t released; /* bytes given back */
};

static void decay_created(struct arena *a, void *arg)
{
	struct decay_visit *v = arg;
	v->released += arena_decay(a, v->now, v->force);
	uint64_t d = arena_decay_deadline(a);
	if (d < v->next)
		v->next = d;
}

uint64_t decay_pass(struct decay_cursor *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	bool force = false;
	counter_add(background_runs, 1);
	if (c->k == 0 && now - c->last_cgroup_check >= CGROUP_CHECK_MS) {
		c->last_cgroup_check = now;
		force = near_cgroup_limit();
	}
	for (unsigned i = c->k; i < cairn_narenas; i += c->n) {
		arena_decay(&cairn_arenas[i], now, force);
		uint64_t d = arena_decay_deadline(&cairn_arenas[i]);
		if (d < next)
			next = d;
	}
	if (c->k == 0) {
		struct decay_visit v = {now, force, next, 0};
		created_arenas_visit(decay_created, &v);
		next = v.next;
		huge_decay(now, force, true);
		uint64_t d = huge_decay_deadline();
		if (d < next)
			next = d;
		heaps_decay(now, force, &next);
		shared_heaps_decay(now, force, &next);
	}
	/* While pages wait, pass every 1/20 of the decay time so that
	 * purging follows the decay curve. */
	if (next != UINT64_MAX && cairn_core.dirty_decay_ms > 0) {
		uint64_t step = (uint64_t)cairn_core.dirty_decay_ms / 20;
		if (now + step < next)
			next = now + step;
	}
	/* Under a cgroup memory limit thread 0 keeps looking at it, idle or
	 * not, so a limit approached while nothing decays still gets
	 * everything purged. After the step above, which is for pages that
	 * wait: an idle thread looks once a second, not every 1/20 of the
	 * decay time. */
	if (c->k == 0 && (next != UINT64_MAX || c->has_cgroup_limit) &&
	    now + CGROUP_CHECK_MS < next)
		next = now + CGROUP_CHECK_MS;
	return next;
}

void decay_tick(struct arena *a)
{
	static _Atomic uint64_t last_heaps;
	uint64_t now = os_now_ms();
	arena_decay_step(a, now);
	huge_decay(now, false, false);
	/* Parked heaps at most once a millisecond: it takes a global lock. */
	if (atomic_exchange_explicit(&last_heaps, now, memory_order_relaxed) != now) {
		uint64_t ignored = UINT64_MAX;
		heaps_decay(now, false, &ignored);
		shared_heaps_decay(now, false, &ignored);
	}
}

size_t purge_all(bool force)
{
	uint64_t now = os_now_ms();
	/* The caller's own heap first: its cached large runs go back to
	 * their arenas, to be purged with the rest. */
	size_t released = force ? heap_purge_self() : 0;
	/* Then the other heaps, whose idle ones (all, with force) give
	 * their cached large runs back too, before the arenas purge. */
	uint64_t ignored = UINT64_MAX;
	released += heaps_decay(now, force, &ignored);
	/* The shared heaps' kept slabs go to their arenas before those
	 * purge. */
	shared_heaps_decay(now, force, &ignored);
	for (unsigned i = 0; i < cairn_narenas; i++)
		released += arena_decay(&cairn_arenas[i], now, force);
	struct decay_visit v = {now, force, UINT64_MAX, 0};
	created_arenas_visit(decay_created, &v);
	released += v.released;
	released += huge_decay(now, force, true);
	return released;
}

size_t purge_arena(struct arena *a)
{
	heap_large_flush_self();
	return arena_decay(a, os_now_ms(), true);
}

size_t reclaim_for_retry(void)
{
	/* Nothing below allocates, so this never runs inside itself. */
	/* The caller's bins go back to their slabs first: slabs that empty go
	 * back to their arenas, and chunks that empty can then be unmapped. */
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD)
		heap_flush(h);
	/* Every heap's cached large runs and idle slab pages, the arenas'
	 * dirty and muzzy pages (whole free chunks unmapped unless retain is
	 * on) and the huge cache. */
	size_t released = purge_all(true);
	/* Then every wholly free chunk, retain or not. */
	for (unsigned i = 0; i < cairn_narenas; i++)
		released += arena_release_empty(&cairn_arenas[i]);
	return released;
}
