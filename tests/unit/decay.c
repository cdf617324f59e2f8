/* SPDX-License-Identifier: MIT */
/* Decay's owner (decay.c), driven with explicit times on two arenas of the
 * test's own (arenas_init after cairn_core is filled in): decay_pass
 * returns UINT64_MAX when nothing waits; with a dirty run freed at t0 it
 * returns no later than t0 + dirty_decay_ms, and a twentieth of
 * dirty_decay_ms on while pages wait (at most a second for thread 0); a
 * deadline nearer than that step is the next; it purges what is due and
 * then has nothing to wait for; each purging thread looks after its own
 * share of the arenas, and thread 0 after the huge cache as well;
 * purge_all(false) leaves what is not due, purge_all(true) releases every
 * dirty and muzzy page and the huge cache and says how much; purge_arena
 * purges one arena. Whether there is a cgroup memory limit is the test's
 * to say (with one, an idle thread 0 passes once a second), and no pass
 * reads the limit itself (a pass does so at most once a second): the
 * machine's cgroup is not the test's. No heap is made and no purging
 * thread runs. */
#include <stdint.h>

#include "check.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/decay.h"
#include "core/heap.h"
#include "core/huge.h"
#include "core/params.h"
#include "os/os.h"

#define D 10000 /* dirty_decay_ms */

static struct decay_cursor c0; /* thread 0 of 1: every arena, the huge cache */
static struct decay_cursor c1; /* thread 1 of 2: arena 1 only */

/* A pass of thread 0 that does not look at the cgroup limit. */
static uint64_t pass0(uint64_t now)
{
	c0.last_cgroup_check = now;
	return decay_pass(&c0, now);
}

/* A run of n pages in arena a, freed, with a one-page run after it so
 * that it does not merge with the free pages after it. */
static struct span *freed_run(struct arena *a, size_t n)
{
	struct span *s = arena_alloc_run(a, n, 1);
	struct span *gap = arena_alloc_run(a, 1, 1);
	REQUIRE(s != NULL && gap != NULL, "run of %zu pages", n);
	arena_free_run(a, s);
	REQUIRE(s->flags == RUN_DIRTY, "a freed run is dirty");
	return s;
}

static int cached_huge(const void *p)
{
	uintptr_t e = pagemap_get((uintptr_t)p);
	return (e & MAP_TAGS) == MAP_HUGE && !huge_of(e)->live;
}

int main(void)
{
	os_init();
	cairn_core.dirty_decay_ms = D;
	cairn_core.muzzy_decay_ms = 0;
	cairn_core.retain = false;
	cairn_core.max_background_threads = 2;
	cairn_core.background_thread = false;
	cairn_core.thp = CORE_THP_DEFAULT;
	REQUIRE(arenas_init(2), "two arenas");
	REQUIRE(shared_heaps_init(), "their shared heaps");
	REQUIRE(cairn_narenas == 2 && cairn_arenas != NULL, "the core sees them");
	/* Set from the kernel's THP mode: pinned, so that which runs the
	 * curve purges does not depend on the machine. */
	cairn_hugepage_chunks = false;
	struct arena *a0 = &cairn_arenas[0], *a1 = &cairn_arenas[1];
	decay_cursor_init(&c0, 0, 1);
	decay_cursor_init(&c1, 1, 2);
	c0.has_cgroup_limit = false;

	/* Nothing waits. */
	uint64_t t = os_now_ms();
	CHECK(pass0(t) == UINT64_MAX, "thread 0, nothing waits: UINT64_MAX");
	CHECK(decay_pass(&c1, t) == UINT64_MAX, "thread 1, nothing waits: UINT64_MAX");
	c0.has_cgroup_limit = true;
	CHECK(pass0(t) == t + 1000, "under a cgroup limit thread 0 looks again in a second");
	c0.has_cgroup_limit = false;

	/* A dirty run in arena 0. */
	struct span *s = freed_run(a0, 20);
	uint64_t t0 = s->decay_since;
	uint64_t next = pass0(t0);
	CHECK(next <= t0 + D, "a run freed at t0: next no later than t0 + %d (%llu)", D,
	      (unsigned long long)(next - t0));
	CHECK(next == t0 + D / 20, "pages wait: the next pass a twentieth on (+%llu)",
	      (unsigned long long)(next - t0));
	CHECK(s->flags == RUN_DIRTY && a0->dirty_pages == 20, "nothing purged just after the free");
	CHECK(decay_pass(&c1, t0) == UINT64_MAX, "arena 0 is not thread 1's share");
	/* At that next pass the curve keeps the run (a 20-page run goes once
	 * the curve lets it keep less than 19.5 pages, about a tenth of the
	 * way): another twentieth on. */
	next = pass0(t0 + D / 20);
	CHECK(s->flags == RUN_DIRTY, "a twentieth of the way: still dirty");
	CHECK(next == t0 + 2 * (D / 20), "then another twentieth on (+%llu)",
	      (unsigned long long)(next - t0));
	cairn_core.dirty_decay_ms = 4 * D;
	CHECK(pass0(t0) == t0 + 1000,
	      "with a twentieth over a second, thread 0 passes each second");
	cairn_core.dirty_decay_ms = D;
	next = pass0(t0 + D);
	CHECK(s->flags == 0 && a0->dirty_pages == 0 && a0->muzzy_pages == 0,
	      "due: released (flags %u)", s->flags);
	CHECK(next == UINT64_MAX, "then nothing waits");

	/* Thread 1's share, with a muzzy stage shorter than the step: the
	 * muzzy run's deadline comes first. */
	cairn_core.muzzy_decay_ms = 200;
	struct span *s1 = freed_run(a1, 12);
	uint64_t t1 = s1->decay_since;
	next = decay_pass(&c1, t1);
	CHECK(next == t1 + D / 20, "thread 1: a twentieth on (+%llu)",
	      (unsigned long long)(next - t1));
	cairn_core.dirty_decay_ms = 4 * D;
	CHECK(decay_pass(&c1, t1) == t1 + 4 * D / 20,
	      "thread 1 is not held to a second: a twentieth of %d ms", 4 * D);
	cairn_core.dirty_decay_ms = D;
	next = decay_pass(&c1, t1 + D);
	CHECK(s1->flags == RUN_MUZZY && a1->muzzy_pages == 12 && a1->dirty_pages == 0,
	      "due: muzzy (flags %u)", s1->flags);
	CHECK(next == t1 + D + 200, "the muzzy deadline, nearer than the step (+%llu)",
	      (unsigned long long)(next - t1 - D));
	next = decay_pass(&c1, t1 + D + 200);
	CHECK(s1->flags == 0 && a1->muzzy_pages == 0, "muzzy due: released (flags %u)", s1->flags);
	CHECK(next == UINT64_MAX, "then nothing waits");
	cairn_core.muzzy_decay_ms = 0;

	/* The huge cache is thread 0's. */
	char *hp = huge_alloc(4 << 20, 0, false);
	REQUIRE(hp != NULL, "a huge block");
	struct huge *h = huge_of(pagemap_get((uintptr_t)hp));
	huge_free(h);
	uint64_t th = h->since;
	CHECK(decay_pass(&c1, th + D) == UINT64_MAX && cached_huge(hp),
	      "thread 1 leaves the huge cache alone");
	CHECK(pass0(th) == th + D / 20, "a cached huge block waits: a twentieth on");
	CHECK(cached_huge(hp), "not due: still cached");
	CHECK(pass0(th + D) == UINT64_MAX, "due: released, nothing waits");
	CHECK(pagemap_get((uintptr_t)hp) == 0, "the huge block left the page map");

	/* purge_all, with the real clock: dirty_decay_ms of an hour, so that
	 * nothing is due or purged by the curve while the test runs. */
	cairn_core.dirty_decay_ms = 3600000;
	cairn_core.muzzy_decay_ms = 5000;
	struct span *p0 = freed_run(a0, 16);
	struct span *p1 = freed_run(a1, 8);
	hp = huge_alloc(4 << 20, 0, false);
	REQUIRE(hp != NULL, "a huge block");
	huge_free(huge_of(pagemap_get((uintptr_t)hp)));
	size_t dirty = a0->dirty_pages + a1->dirty_pages;
	REQUIRE(dirty >= 16 + 8, "the runs are dirty (%zu pages)", dirty);
	size_t got = purge_all(false);
	CHECK(got == 0, "purge_all(false): nothing due, nothing released (%zu)", got);
	CHECK(a0->dirty_pages + a1->dirty_pages == dirty && p0->flags == RUN_DIRTY &&
	          p1->flags == RUN_DIRTY && cached_huge(hp),
	      "everything still waits");
	got = purge_all(true);
	CHECK(a0->dirty_pages == 0 && a1->dirty_pages == 0, "purge_all(true): no dirty page left");
	CHECK(a0->muzzy_pages == 0 && a1->muzzy_pages == 0 && p0->flags == 0 && p1->flags == 0,
	      "released, not made muzzy");
	CHECK(pagemap_get((uintptr_t)hp) == 0, "the huge cache released");
	CHECK(got == dirty * PAGE_SIZE + (4 << 20), "and says how much (%zu bytes)", got);
	CHECK(pass0(os_now_ms()) == UINT64_MAX, "nothing waits after purge_all(true)");

	/* purge_arena: one arena's pages now. */
	struct span *q0 = freed_run(a0, 10);
	struct span *q1 = freed_run(a1, 10);
	size_t dirty0 = a0->dirty_pages, dirty1 = a1->dirty_pages;
	got = purge_arena(a0);
	CHECK(got == dirty0 * PAGE_SIZE && q0->flags == 0 && a0->dirty_pages == 0,
	      "purge_arena: its %zu dirty pages released (%zu bytes)", dirty0, got);
	CHECK(q1->flags == RUN_DIRTY && a1->dirty_pages == dirty1 && dirty1 >= 10,
	      "the other arena's wait");
	purge_all(true);
	return CHECK_DONE();
}
