/* SPDX-License-Identifier: MIT */
/* Decay of an arena's free runs (arena_decay.c), driven with explicit
 * times: a freed run is dirty; once dirty_decay_ms has passed it becomes
 * muzzy (muzzy_decay_ms > 0) and is released muzzy_decay_ms later, or is
 * released at once (muzzy_decay_ms 0); a pass or a free whose clock was
 * read before a run entered its state finds it not due; the smoothstep
 * curve keeps nearly every page just after the free, about half
 * halfway through and none at the end, purging the oldest runs first; with
 * chunks on huge pages the curve takes a whole free chunk, then a run in a
 * chunk at most half in use, before a run in a fuller chunk, which waits
 * until due; decay_ms -1 never purges but with force; retain keeps a
 * released chunk mapped; arena_decay_deadline follows the oldest dirty and
 * muzzy runs. Every case uses a private arena of its own; no purging
 * thread. dirty_decay_ms is long enough that the decay arena_free_run and
 * arena_alloc_run do with the real clock never finds anything due. */
#include <string.h>

#include "check.h"
#include "core/arena.h"
#include "core/chunk.h"
#include "core/params.h"
#include "os/os.h"

#define D 10000 /* dirty_decay_ms */
#define M 5000  /* muzzy_decay_ms where there is a muzzy stage */

static struct arena arenas[16];
static unsigned narenas_used;

static struct arena *fresh_arena(void)
{
	REQUIRE(narenas_used < sizeof(arenas) / sizeof(arenas[0]), "arenas to spare");
	struct arena *a = &arenas[narenas_used++];
	mutex_init(&a->lock);
	return a;
}

/* A run of n pages with a one-page run after it, so that freeing it never
 * merges it with a free neighbour. */
static struct span *run_apart(struct arena *a, size_t n)
{
	struct span *s = arena_alloc_run(a, n, 1);
	struct span *gap = arena_alloc_run(a, 1, 1);
	REQUIRE(s != NULL && gap != NULL, "run of %zu pages", n);
	return s;
}

static int reads_zero(uintptr_t p, size_t len)
{
	for (size_t i = 0; i < len; i += sizeof(long))
		if (*(long *)(p + i) != 0)
			return 0;
	return 1;
}

/* The OS pages wholly inside a released run read as zeros: the kernel
 * drops whole pages only, so with OS pages larger than cairn's the run's
 * edges, which share an OS page with its neighbours, keep their bytes. */
static int released_reads_zero(const struct span *s)
{
	uintptr_t page = os_page_size();
	uintptr_t lo = (s->start + page - 1) & ~(page - 1);
	uintptr_t hi = (s->start + span_bytes(s)) & ~(page - 1);
	return hi <= lo || reads_zero(lo, hi - lo);
}

static void params(int64_t dirty_ms, int64_t muzzy_ms)
{
	cairn_core.dirty_decay_ms = dirty_ms;
	cairn_core.muzzy_decay_ms = muzzy_ms;
}

/* Dirty, then muzzy after dirty_decay_ms, then released after
 * muzzy_decay_ms; arena_decay_step has no curve, so nothing moves before it
 * is due. */
static void life_cycle(void)
{
	params(D, M);
	struct arena *a = fresh_arena();
	struct span *s = run_apart(a, 16);
	memset((void *)s->start, 0x5a, span_bytes(s));
	uint64_t before = os_now_ms();
	arena_free_run(a, s);
	uint64_t after = os_now_ms();
	uint64_t t0 = s->decay_since;
	CHECK(s->state == SPAN_FREE && s->flags == RUN_DIRTY, "a freed run is dirty");
	CHECK(a->dirty.head == s && a->dirty.tail == s && a->dirty_pages == 16 &&
	          a->muzzy_pages == 0,
	      "on the dirty list alone (%zu dirty pages)", a->dirty_pages);
	CHECK(t0 >= before && t0 <= after, "dirty since the free (%llu in [%llu, %llu])",
	      (unsigned long long)t0, (unsigned long long)before, (unsigned long long)after);
	CHECK(arena_decay_deadline(a) == t0 + D, "deadline: dirty_decay_ms after the free");

	/* A pass whose clock was read before the free (the purging thread's,
	 * begun earlier, or another thread's that waited for the lock) finds
	 * the run just freed, not due. */
	arena_decay(a, t0 - 1, false);
	CHECK(s->flags == RUN_DIRTY && a->dirty_pages == 16,
	      "a pass with an earlier clock leaves the run dirty (flags %u)", s->flags);
	arena_decay_step(a, t0 + D - 1);
	CHECK(s->flags == RUN_DIRTY && a->dirty_pages == 16, "1 ms before it is due: still dirty");
	arena_decay_step(a, t0 + D);
	CHECK(s->state == SPAN_FREE && s->flags == RUN_MUZZY, "due: muzzy (flags %u)", s->flags);
	CHECK(a->dirty_pages == 0 && a->dirty.head == NULL, "off the dirty list");
	CHECK(a->muzzy_pages == 16 && a->muzzy.head == s, "on the muzzy list (%zu pages)",
	      a->muzzy_pages);
	CHECK(s->decay_since == t0 + D, "muzzy since the pass");
	CHECK(a->released_bytes == 0, "a lazy purge releases nothing yet");
	CHECK(arena_decay_deadline(a) == t0 + D + M, "deadline: muzzy_decay_ms later");

	arena_decay_step(a, t0 + D + M - 1);
	CHECK(s->flags == RUN_MUZZY && a->muzzy_pages == 16, "1 ms before: still muzzy");
	arena_decay_step(a, t0 + D + M);
	CHECK(s->state == SPAN_FREE && s->flags == 0, "due: released (flags %u)", s->flags);
	CHECK(a->muzzy_pages == 0 && a->muzzy.head == NULL && a->dirty.head == NULL,
	      "on no decay list");
	CHECK(a->released_bytes == 16 * PAGE_SIZE, "released %zu bytes", a->released_bytes);
	CHECK(released_reads_zero(s), "released pages read as zeros");
	CHECK(arena_decay_deadline(a) == UINT64_MAX, "nothing left to wait for");
}

/* muzzy_decay_ms 0: a due dirty run is released at once. */
static void no_muzzy(void)
{
	params(D, 0);
	struct arena *a = fresh_arena();
	struct span *s = run_apart(a, 12);
	memset((void *)s->start, 0x5a, span_bytes(s));
	arena_free_run(a, s);
	uint64_t t0 = s->decay_since;
	arena_decay_step(a, t0 + D - 1);
	CHECK(s->flags == RUN_DIRTY && a->dirty_pages == 12, "1 ms before it is due: still dirty");
	size_t got = arena_decay(a, t0 + D, false);
	CHECK(s->flags == 0 && a->dirty_pages == 0 && a->muzzy_pages == 0,
	      "muzzy_decay_ms 0: released, never muzzy (flags %u, %zu muzzy)", s->flags,
	      a->muzzy_pages);
	CHECK(got == 12 * PAGE_SIZE && a->released_bytes == 12 * PAGE_SIZE,
	      "arena_decay returns what it released (%zu bytes)", got);
	CHECK(released_reads_zero(s), "released pages read as zeros");
}

/* The curve: 8 runs of 20 pages freed together, one pass at fraction x of
 * dirty_decay_ms after the newest free. A pass may keep
 * 160 * (1 - smoothstep(x)) pages and purges the oldest runs until the list
 * holds no more, 20 pages at a time: it keeps the most multiple of 20 up to
 * that allowance (the runs freed a few ms before the newest have slightly
 * less: a page of slack below). Each pass on a fresh arena: the allowance
 * is summed over the list a pass finds, so passes compound. */
static size_t curve_pass(double x)
{
	params(D, 0);
	cairn_hugepage_chunks = false;
	struct arena *a = fresh_arena();
	struct span *r[8];
	for (int i = 0; i < 8; i++)
		r[i] = run_apart(a, 20);
	for (int i = 0; i < 8; i++)
		arena_free_run(a, r[i]);
	REQUIRE(a->dirty_pages == 160, "160 pages dirty (%zu)", a->dirty_pages);
	REQUIRE(a->dirty.head == r[0] && a->dirty.tail == r[7], "the list is oldest first");
	uint64_t t0 = a->dirty.tail->decay_since; /* the newest */
	size_t got = arena_decay(a, t0 + (uint64_t)(x * D), false);
	size_t kept = a->dirty_pages;
	double allowed = x >= 1.0 ? 0.0 : 160.0 * (1.0 - x * x * (3.0 - 2.0 * x));
	CHECK((double)kept <= allowed + 0.5 && (double)kept + 20.0 > allowed - 1.0,
	      "at %.2f of dirty_decay_ms the curve allows %.1f pages: %zu kept", x, allowed, kept);
	CHECK(got == (160 - kept) * PAGE_SIZE, "at %.2f: returns the bytes purged (%zu)", x, got);
	/* The oldest go first: the runs still dirty come after every purged
	 * one in the order of the frees. */
	int seen_dirty = 0, prefix = 1;
	for (int i = 0; i < 8; i++) {
		if (r[i]->flags == RUN_DIRTY)
			seen_dirty = 1;
		else if (seen_dirty)
			prefix = 0;
	}
	CHECK(prefix, "at %.2f: the oldest runs are purged first", x);
	return kept;
}

static void curve(void)
{
	CHECK(curve_pass(0.0) == 160, "just after the free the curve keeps all");
	size_t early = curve_pass(0.1);
	CHECK(early >= 120 && early < 160, "a tenth of the way: most kept (%zu of 160)", early);
	size_t mid = curve_pass(0.5);
	CHECK(mid >= 48 && mid <= 112, "halfway: between 30%% and 70%% kept (%zu of 160)", mid);
	size_t late = curve_pass(0.75);
	CHECK(late <= 32, "three quarters: at most a fifth kept (%zu of 160)", late);
	CHECK(curve_pass(1.0) == 0, "at dirty_decay_ms none kept");
}

/* Three free runs, oldest first: 20 pages in a full chunk (A), 20 pages in
 * a chunk about a quarter in use (B), a whole chunk (C). */
struct victims {
	struct arena *a;
	struct span *a_run, *b_run, *c_whole;
	uintptr_t c_addr;
	uint64_t t0;
};

static struct victims victims_setup(void)
{
	struct victims v;
	v.a = fresh_arena();
	struct span *a_used = arena_alloc_run(v.a, DATA_PAGES - 20, 1);
	v.a_run = arena_alloc_run(v.a, 20, 1);
	v.c_whole = arena_alloc_run(v.a, DATA_PAGES, 1);
	struct span *b_used = arena_alloc_run(v.a, 100, 1);
	v.b_run = arena_alloc_run(v.a, 20, 1);
	struct span *b_gap = arena_alloc_run(v.a, 1, 1);
	REQUIRE(a_used && v.a_run && v.c_whole && b_used && v.b_run && b_gap, "victim runs");
	REQUIRE(span_chunk(a_used) == span_chunk(v.a_run) && span_chunk(a_used)->free_pages == 0,
	        "A is full");
	REQUIRE(span_chunk(b_used) == span_chunk(v.b_run) &&
	            span_chunk(b_gap) == span_chunk(b_used),
	        "B holds its runs");
	REQUIRE(span_chunk(v.c_whole) != span_chunk(a_used) &&
	            span_chunk(v.c_whole) != span_chunk(b_used),
	        "C is a chunk of its own");
	v.c_addr = (uintptr_t)span_chunk(v.c_whole);
	arena_free_run(v.a, v.a_run);
	arena_free_run(v.a, v.b_run);
	arena_free_run(v.a, v.c_whole);
	REQUIRE(v.a->dirty_pages == 40 + DATA_PAGES, "all three dirty (%zu)", v.a->dirty_pages);
	REQUIRE(span_chunk(v.a_run)->free_pages * 2 < DATA_PAGES &&
	            span_chunk(v.b_run)->free_pages * 2 >= DATA_PAGES,
	        "A is more than half in use, B at most half");
	v.t0 = v.a->dirty.tail->decay_since;
	return v;
}

static void hugepage_victims(void)
{
	params(D, 0);
	cairn_core.retain = false;

	/* 4 KiB pages: halfway, the curve purges from the oldest on; the
	 * run in the full chunk goes first. */
	cairn_hugepage_chunks = false;
	struct victims v = victims_setup();
	arena_decay(v.a, v.t0 + D / 2, false);
	CHECK(v.a_run->flags == 0, "4 KiB pages: the oldest run (full chunk A) is purged");
	CHECK(pagemap_get(v.c_addr) == 0 && v.a->dirty_pages == 0,
	      "and the rest with it (%zu dirty)", v.a->dirty_pages);

	/* Huge pages: the whole chunk first, though the newest. */
	cairn_hugepage_chunks = true;
	v = victims_setup();
	arena_decay(v.a, v.t0 + D / 2, false);
	CHECK(pagemap_get(v.c_addr) == 0, "huge pages: the whole free chunk goes first (unmapped)");
	CHECK(v.a_run->flags == RUN_DIRTY && v.b_run->flags == RUN_DIRTY && v.a->dirty_pages == 40,
	      "the older runs wait (%zu dirty)", v.a->dirty_pages);
	/* Then the run in the chunk at most half in use, though younger than
	 * the one in the full chunk. */
	arena_decay(v.a, v.t0 + D / 2, false);
	CHECK(v.b_run->flags == 0, "the run in half-empty chunk B goes next");
	CHECK(v.a_run->flags == RUN_DIRTY && v.a->dirty_pages == 20,
	      "the run in full chunk A waits (%zu dirty)", v.a->dirty_pages);
	/* The curve alone never splits A's huge page: nearly due, it waits. */
	arena_decay(v.a, v.t0 + 9 * D / 10, false);
	CHECK(v.a_run->flags == RUN_DIRTY && v.a->dirty_pages == 20,
	      "at 90%% the run in the full chunk still waits (%zu dirty)", v.a->dirty_pages);
	arena_decay(v.a, v.t0 + D, false);
	CHECK(v.a_run->flags == 0 && v.a->dirty_pages == 0, "once due it is purged (%zu dirty)",
	      v.a->dirty_pages);
	cairn_hugepage_chunks = false;
}

/* decay_ms -1, force, retain and the deadline's two lists. */
static void never_force_deadline(void)
{
	struct arena *a = fresh_arena();
	CHECK(arena_decay_deadline(a) == UINT64_MAX, "an empty arena has no deadline");
	params(D, M);
	struct span *m = run_apart(a, 8);
	struct span *d = run_apart(a, 8);
	arena_free_run(a, m);
	uint64_t tm = m->decay_since;
	arena_decay_step(a, tm + D);
	REQUIRE(m->flags == RUN_MUZZY, "a muzzy run");
	/* Freed with the real clock, earlier than m's muzzy time: the decay
	 * arena_free_run does must leave m alone. */
	arena_free_run(a, d);
	CHECK(m->flags == RUN_MUZZY && a->muzzy_pages == 8,
	      "a free with an earlier clock leaves the muzzy run (flags %u)", m->flags);
	uint64_t td = d->decay_since;
	REQUIRE(d->flags == RUN_DIRTY, "a dirty run");
	/* tm + D + M is later than td + D: the dirty run is due first. */
	CHECK(arena_decay_deadline(a) == td + D, "the nearer of the two: the dirty run's");
	params(3 * D, 100);
	CHECK(arena_decay_deadline(a) == tm + D + 100,
	      "with a longer dirty_decay_ms, the nearer is the muzzy run's");
	params(-1, M);
	CHECK(arena_decay_deadline(a) == tm + D + M, "dirty_decay_ms -1: only the muzzy run's");
	params(D, -1);
	CHECK(arena_decay_deadline(a) == td + D, "muzzy_decay_ms -1: only the dirty run's");

	/* Never: no pass purges, however late. */
	params(-1, -1);
	CHECK(arena_decay_deadline(a) == UINT64_MAX, "decay off: no deadline");
	size_t got = arena_decay(a, td + 1000 * (uint64_t)D, false);
	CHECK(got == 0 && d->flags == RUN_DIRTY && m->flags == RUN_MUZZY,
	      "decay off: nothing purged (%zu bytes)", got);

	/* Force: everything released, not made muzzy, even with a muzzy
	 * stage. */
	params(D, M);
	got = arena_decay(a, td, true);
	CHECK(d->flags == 0 && m->flags == 0 && a->dirty_pages == 0 && a->muzzy_pages == 0,
	      "force releases dirty and muzzy runs (flags %u, %u)", d->flags, m->flags);
	CHECK(got == 16 * PAGE_SIZE, "and says so (%zu bytes)", got);
	CHECK(arena_decay_deadline(a) == UINT64_MAX, "nothing left to wait for");

	/* retain: a whole chunk released stays mapped, as released pages. */
	params(D, 0);
	cairn_core.retain = true;
	struct arena *r = fresh_arena();
	struct span *whole = arena_alloc_run(r, DATA_PAGES, 1);
	REQUIRE(whole != NULL, "a whole chunk");
	uintptr_t c = (uintptr_t)span_chunk(whole);
	arena_free_run(r, whole);
	got = arena_decay(r, whole->decay_since + D, false);
	CHECK(pagemap_get(c) == (c | MAP_CHUNK), "retain: the chunk stays mapped");
	CHECK(whole->state == SPAN_FREE && whole->flags == 0 && r->dirty_pages == 0,
	      "its pages released (flags %u)", whole->flags);
	CHECK(got == DATA_PAGES * PAGE_SIZE, "the data pages released (%zu bytes)", got);
	cairn_core.retain = false;
	got = arena_decay(r, whole->decay_since, true);
	CHECK(got == 0 && pagemap_get(c) != 0, "released pages are not purged again");
}

int main(void)
{
	/* The OS page size, as cairn's initialisation reads it: nothing here
	 * allocates before the arenas purge. */
	os_init();
	cairn_core.max_background_threads = 1;
	cairn_core.background_thread = false;
	cairn_core.retain = false;
	TEST_CASE("life_cycle") life_cycle();
	TEST_CASE("no_muzzy") no_muzzy();
	TEST_CASE("curve") curve();
	TEST_CASE("hugepage_victims") hugepage_victims();
	TEST_CASE("never_force_deadline") never_force_deadline();
	return CHECK_DONE();
}
