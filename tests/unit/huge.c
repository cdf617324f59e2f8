/* SPDX-License-Identifier: MIT */
/* Huge blocks and their cache (huge.c): a block starts on a 2 MiB boundary
 * (or the alignment asked), its size is the request rounded to the OS page
 * size, and every 2 MiB slot it covers names its descriptor in the page map;
 * a freed block stays in the page map, not live, and the next request that
 * fits closely gets the same pages back (its data still there: no new
 * mapping), zeroed when asked; a longer cached mapping is split, the head
 * taken where it lies and the rest cached in the same VMA; several cached
 * mappings are assembled into one block by moving their pages, the last
 * piece growing into fresh zero pages, and a freed assembled block is cached
 * as its pieces; realloc grows within the mapping, takes in the cached
 * mapping that follows, grows past it into fresh pages, and a shrink keeps
 * the head and gives back the whole 2 MiB slots past it; huge_alloc_cached;
 * the cache holds at most 16 mappings; huge_decay releases everything with
 * force, without it what has been cached dirty_decay_ms, and with the curve
 * the oldest bytes past what the decay curve lets wait (a long mapping's
 * tail first), and huge_decay_deadline says when the oldest is due. The cache is the process's own:
 * every section starts and ends with it empty. Nothing else here allocates huge blocks, and no
 * purging thread runs. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/chunk.h"
#include "core/huge.h"
#include "core/params.h"
#include "os/os.h"

#define D   10000 /* dirty_decay_ms */
#define MiB (1ul << 20)

/* The live or cached block whose descriptor the page map names at p. */
static struct huge *desc(const void *p)
{
	uintptr_t e = pagemap_get((uintptr_t)p);
	return (e & MAP_TAGS) == MAP_HUGE ? huge_of(e) : NULL;
}

/* Every 2 MiB slot that [p, p + len) touches names h. */
static int slots_name(const void *p, size_t len, const struct huge *h)
{
	uintptr_t want = (uintptr_t)h | MAP_HUGE;
	for (size_t off = 0; off < len; off += CHUNK_SIZE)
		if (pagemap_get((uintptr_t)p + off) != want)
			return 0;
	return pagemap_get((uintptr_t)p + len - 1) == want;
}

/* Every byte of [p, p + len) is b (checked a word at a time). */
static int all(const void *p, size_t len, unsigned char b)
{
	uint64_t w;
	memset(&w, b, sizeof(w));
	for (size_t i = 0; i < len; i += sizeof(w))
		if (*(const uint64_t *)((const char *)p + i) != w)
			return 0;
	return 1;
}

static void empty_cache(void)
{
	huge_decay(0, true, false);
	REQUIRE(huge_decay_deadline() == UINT64_MAX, "the cache is empty");
}

static size_t page_up(size_t n)
{
	return align_up(n, os_page_size());
}

/* A fresh block: alignment, size, descriptor, page map, zeros. */
static void fresh(void)
{
	size_t sz = 5 * CHUNK_SIZE + 12345;
	char *p = huge_alloc(sz, 0, false);
	REQUIRE(p != NULL, "a huge block");
	struct huge *h = desc(p);
	CHECK(((uintptr_t)p & (CHUNK_SIZE - 1)) == 0, "on a 2 MiB boundary");
	REQUIRE(h != NULL, "the page map names a descriptor");
	CHECK(h->addr == (uintptr_t)p && h->live, "the descriptor is the block's, live");
	CHECK(h->size == page_up(sz) && h->mapped == h->size,
	      "size rounded to the OS page size (%zu), mapping as long (%zu)", h->size, h->mapped);
	CHECK(h->pieces == 1 && h->piece_end[0] == h->mapped, "one piece");
	CHECK(slots_name(p, h->size, h), "every 2 MiB slot names it");
	CHECK(pagemap_get((uintptr_t)p + align_up(h->size, CHUNK_SIZE)) !=
	          ((uintptr_t)h | MAP_HUGE),
	      "the slot after it does not");
	CHECK(all(p, h->size, 0), "fresh pages read as zeros");
	huge_free(h);

	char *q = huge_alloc(3 * CHUNK_SIZE, 8 * CHUNK_SIZE, false);
	REQUIRE(q != NULL, "an aligned huge block");
	CHECK(((uintptr_t)q & (8 * CHUNK_SIZE - 1)) == 0, "aligned to 16 MiB: %p", (void *)q);
	huge_free(desc(q));
	CHECK(huge_alloc(SIZE_MAX - 100, 0, false) == NULL, "a size that cannot be rounded");
	empty_cache();
}

/* Reuse of a cached block: same pages, data kept or zeroed; then realloc
 * within the mapping and a shrink. */
static void reuse_realloc(void)
{
	size_t sz = 5 * CHUNK_SIZE + 12345;
	char *p = huge_alloc(sz, 0, false);
	REQUIRE(p != NULL, "a huge block");
	struct huge *h = desc(p);
	memset(p, 0x11, h->size);
	uint64_t before = os_now_ms();
	huge_free(h);
	uint64_t after = os_now_ms();
	CHECK(!h->live && desc(p) == h, "cached: the page map still names it, not live");
	CHECK(h->since >= before && h->since <= after, "cached since the free");
	CHECK(huge_decay_deadline() == h->since + D, "due dirty_decay_ms after the free");

	char *p2 = huge_alloc(sz, 0, false);
	CHECK(p2 == p && desc(p2) == h && h->live, "the same request gets the same block");
	CHECK(all(p2, h->size, 0x11), "its pages are the cached ones: the data is still there");
	CHECK(huge_decay_deadline() == UINT64_MAX, "nothing cached while it lives");
	huge_free(h);
	char *p3 = huge_alloc(sz, 0, true);
	CHECK(p3 == p && all(p3, h->size, 0), "zero: a reused block reads as zeros");

	/* A request 2 MiB shorter fits closely: the whole mapping, longer
	 * than the block. */
	memset(p3, 0x22, h->size);
	huge_free(h);
	size_t mapped = h->mapped;
	size_t shorter = sz - CHUNK_SIZE;
	char *p4 = huge_alloc(shorter, 0, false);
	CHECK(p4 == p && h->size == page_up(shorter) && h->mapped == mapped,
	      "a closely fitting request takes the mapping whole (size %zu, mapped %zu)", h->size,
	      h->mapped);
	CHECK(slots_name(p4, h->mapped, h), "every slot of the mapping names the block");

	/* Grows within the mapping: no new pages, the old ones kept. */
	size_t fresh_from = 0;
	char *g = huge_realloc(h, mapped, &fresh_from);
	CHECK(g == p && h->size == mapped && h->mapped == mapped,
	      "grown in place within its mapping (size %zu, mapped %zu)", h->size, h->mapped);
	CHECK(fresh_from == mapped, "no fresh pages (%zu)", fresh_from);
	CHECK(all(g, mapped, 0x22), "the bytes past the old size are the mapping's own");

	/* Shrinks keep the head and give back the whole slots past it. */
	size_t small = 3 * CHUNK_SIZE + 100;
	char *s = huge_realloc(h, small, &fresh_from);
	CHECK(s == p && h->size == page_up(small), "shrunk in place (size %zu)", h->size);
	CHECK(h->mapped == 4 * CHUNK_SIZE && h->piece_end[h->pieces - 1] == h->mapped,
	      "the mapping keeps the slots the block touches (%zu)", h->mapped);
	CHECK(slots_name(s, h->mapped, h), "they name the block");
	CHECK(pagemap_get((uintptr_t)s + 4 * CHUNK_SIZE) == 0 &&
	          pagemap_get((uintptr_t)s + mapped - 1) == 0,
	      "the slots past it are given back");
	CHECK(all(s, h->size, 0x22), "the head keeps its data");
	huge_free(h);
	empty_cache();
	CHECK(desc(p) == NULL, "a released block leaves the page map");
}

/* A cached mapping longer than the request: the head is taken where it
 * lies; realloc then takes in the rest and grows past it. */
static void split_absorb(void)
{
	char *big = huge_alloc(16 * MiB, 0, false);
	REQUIRE(big != NULL, "a 16 MiB block");
	memset(big, 0x33, 16 * MiB);
	struct huge *hb = desc(big);
	uint64_t vma = hb->piece_vma[0];
	huge_free(hb);

	char *head = huge_alloc(5 * MiB, 0, false);
	struct huge *hh = desc(head);
	CHECK(head == big, "the head of the cached mapping, where it lies");
	REQUIRE(hh != NULL && hh->live, "a live descriptor");
	CHECK(hh->size == 5 * MiB && hh->mapped == 6 * MiB,
	      "the head is cut after the block's last 2 MiB slot (mapped %zu)", hh->mapped);
	CHECK(all(head, 5 * MiB, 0x33), "its pages are the cached ones");
	struct huge *rest = desc(big + 6 * MiB);
	REQUIRE(rest != NULL && rest != hh, "the rest has a descriptor of its own");
	CHECK(!rest->live && rest->addr == (uintptr_t)big + 6 * MiB && rest->mapped == 10 * MiB,
	      "the rest stays cached where it lies (%zu bytes)", rest->mapped);
	CHECK(rest->pieces == 1 && rest->piece_vma[0] == vma && hh->piece_vma[0] == vma,
	      "in the same VMA");
	CHECK(slots_name(big, 6 * MiB, hh) && slots_name(big + 6 * MiB, 10 * MiB, rest),
	      "the slots name head and rest");

	/* Growing into the cached mapping that follows: no move, its pages
	 * (and their old data) become the block's. */
	size_t fresh_from = 0;
	char *g = huge_realloc(hh, 12 * MiB, &fresh_from);
	CHECK(g == big && hh->mapped == 12 * MiB && hh->size == 12 * MiB,
	      "grown in place into the following cached mapping (mapped %zu)", hh->mapped);
	CHECK(hh->pieces == 1, "still one VMA (%u pieces)", hh->pieces);
	CHECK(fresh_from == 12 * MiB && all(g, 12 * MiB, 0x33),
	      "no fresh pages: the ones taken in hold what they held (%zu)", fresh_from);
	CHECK(slots_name(g, 12 * MiB, hh), "the slots taken in name the block");
	CHECK(desc(big + 12 * MiB) == rest && rest->addr == (uintptr_t)big + 12 * MiB &&
	          rest->mapped == 4 * MiB,
	      "the rest of the cached mapping stays cached");

	/* Past the cached mapping: the rest is taken in, then fresh pages. */
	g = huge_realloc(hh, 20 * MiB, &fresh_from);
	REQUIRE(g != NULL, "grown to 20 MiB");
	CHECK(hh->addr == (uintptr_t)g && hh->size == 20 * MiB && hh->mapped >= 20 * MiB,
	      "size %zu, mapped %zu", hh->size, hh->mapped);
	CHECK(fresh_from == 16 * MiB, "fresh from the end of what was cached (%zu)", fresh_from);
	CHECK(all(g, 16 * MiB, 0x33), "the old pages keep their data");
	CHECK(all(g + 16 * MiB, 4 * MiB, 0), "the new pages read as zeros");
	CHECK(slots_name(g, 20 * MiB, hh), "every slot names the block");
	CHECK(huge_decay_deadline() == UINT64_MAX, "nothing left in the cache");
	huge_free(hh);
	empty_cache();
}

/* Three 4 MiB cached mappings, none long enough for 10 MiB: the longest
 * are moved into one fresh range (the newest first among equals). */
static void assemble(void)
{
	char *a = huge_alloc(4 * MiB, 0, false);
	char *b = huge_alloc(4 * MiB, 0, false);
	char *c = huge_alloc(4 * MiB, 0, false);
	REQUIRE(a && b && c, "three 4 MiB blocks");
	memset(a, 0xa1, 4 * MiB);
	memset(b, 0xb2, 4 * MiB);
	memset(c, 0xc3, 4 * MiB);
	huge_free(desc(a));
	huge_free(desc(b));
	huge_free(desc(c));

	char *x = huge_alloc(10 * MiB, 0, false);
	REQUIRE(x != NULL, "a 10 MiB block from the cache");
	struct huge *hx = desc(x);
	CHECK(x != a && x != b && x != c && ((uintptr_t)x & (CHUNK_SIZE - 1)) == 0,
	      "a fresh 2 MiB-aligned range");
	CHECK(hx->size == 10 * MiB && hx->mapped == 10 * MiB, "10 MiB, mapped %zu", hx->mapped);
	CHECK(hx->pieces == 3, "three pieces (%u)", hx->pieces);
	CHECK(hx->piece_end[0] == 4 * MiB && hx->piece_end[1] == 8 * MiB &&
	          hx->piece_end[2] == 10 * MiB,
	      "ending at 4, 8 and 10 MiB");
	CHECK(hx->piece_vma[0] != hx->piece_vma[1] && hx->piece_vma[1] != hx->piece_vma[2] &&
	          hx->piece_vma[0] != hx->piece_vma[2],
	      "each its own VMA");
	CHECK(all(x, 4 * MiB, 0xc3) && all(x + 4 * MiB, 4 * MiB, 0xb2) &&
	          all(x + 8 * MiB, 2 * MiB, 0xa1),
	      "the cached pages moved, data and all");
	CHECK(slots_name(x, 10 * MiB, hx), "every slot names the block");
	CHECK(desc(c) == NULL && desc(b) == NULL && desc(a) == NULL,
	      "the moved pages' old slots are cleared");
	struct huge *ha = desc(a + 2 * MiB);
	CHECK(ha != NULL && !ha->live && ha->addr == (uintptr_t)a + 2 * MiB &&
	          ha->mapped == 2 * MiB,
	      "what was not needed of the last one stays cached");

	/* Freed, the block is cached as its pieces. */
	huge_free(hx);
	struct huge *p0 = desc(x), *p1 = desc(x + 4 * MiB), *p2 = desc(x + 8 * MiB);
	CHECK(p0 && p1 && p2 && p0 != p1 && p1 != p2 && p0 != p2, "one descriptor a piece");
	CHECK(p0 && p1 && p2 && p0->mapped == 4 * MiB && p1->mapped == 4 * MiB &&
	          p2->mapped == 2 * MiB && p0->pieces == 1 && p1->pieces == 1 && p2->pieces == 1,
	      "each one piece long");
	CHECK(p0 && p1 && p2 && !p0->live && !p1->live && !p2->live, "none live");

	/* 16 MiB from 12 cached: every piece moved, the last growing into
	 * 4 MiB of fresh pages. */
	char *y = huge_alloc(16 * MiB, 0, false);
	REQUIRE(y != NULL, "a 16 MiB block");
	struct huge *hy = desc(y);
	CHECK(hy->mapped == 16 * MiB && hy->pieces == 4 && hy->piece_end[3] == 16 * MiB,
	      "four pieces, the last ending at 16 MiB (%u pieces)", hy->pieces);
	/* Longest first: the two 4 MiB pieces (in either order), then the
	 * two 2 MiB ones (both a's). */
	CHECK(((all(y, 4 * MiB, 0xc3) && all(y + 4 * MiB, 4 * MiB, 0xb2)) ||
	       (all(y, 4 * MiB, 0xb2) && all(y + 4 * MiB, 4 * MiB, 0xc3))) &&
	          all(y + 8 * MiB, 4 * MiB, 0xa1),
	      "the cached pages, longest first");
	CHECK(all(y + 12 * MiB, 4 * MiB, 0), "the growth reads as zeros");
	CHECK(huge_decay_deadline() == UINT64_MAX, "the cache was used up");
	huge_free(hy);
	CHECK(huge_decay(0, true, false) == 16 * MiB, "force releases the four pieces, 16 MiB");
	CHECK(desc(y) == NULL && desc(y + 12 * MiB) == NULL, "and their slots");
}

/* A block under 2 MiB from the cache alone. */
static void cached_small(void)
{
	char *p = huge_alloc(2 * MiB, 0, false);
	REQUIRE(p != NULL, "a 2 MiB block");
	huge_free(desc(p));
	CHECK(huge_alloc_cached(512 * 1024, false) == NULL,
	      "512 KiB: a 2 MiB mapping is more than twice it, with no slot to spare");
	CHECK(huge_alloc_cached(3 * MiB, false) == NULL, "3 MiB: not under 2 MiB");
	char *q = huge_alloc_cached(1536 * 1024, false);
	CHECK(q == p && desc(q)->size == 1536 * 1024 && desc(q)->mapped == 2 * MiB,
	      "1.5 MiB: the 2 MiB mapping, whole");
	huge_free(desc(q));
	empty_cache();

	char *big = huge_alloc(8 * MiB, 0, false);
	REQUIRE(big != NULL, "an 8 MiB block");
	memset(big, 0x44, 8 * MiB);
	huge_free(desc(big));
	char *s = huge_alloc_cached(512 * 1024, false);
	CHECK(s == big, "512 KiB: the head of a longer mapping");
	REQUIRE(s != NULL, "a block");
	CHECK(desc(s)->mapped == 2 * MiB && desc(s + 2 * MiB) != desc(s),
	      "one 2 MiB slot taken, the rest cached");
	CHECK(all(s, 1 * MiB, 0x44), "twice the block stays resident");
	CHECK(all(s + 1 * MiB, 1 * MiB, 0), "the slot's pages past that are given back");
	huge_free(desc(s));
	empty_cache();
}

/* At most HUGE_CACHE_MAX_COUNT mappings: the newest are kept. */
#define NMANY (HUGE_CACHE_MAX_COUNT + 2)
static void bounded(void)
{
	char *p[NMANY];
	for (int i = 0; i < NMANY; i++) {
		p[i] = huge_alloc(2 * MiB, 0, false);
		REQUIRE(p[i] != NULL, "block %d", i);
	}
	for (int i = 0; i < NMANY; i++)
		huge_free(desc(p[i]));
	int cached = 0;
	for (int i = 0; i < NMANY; i++)
		if (desc(p[i]) != NULL)
			cached++;
	CHECK(cached == HUGE_CACHE_MAX_COUNT, "%d mappings cached of %d (%d)", HUGE_CACHE_MAX_COUNT,
	      NMANY, cached);
	CHECK(desc(p[NMANY - 1]) != NULL, "the newest among them");
	CHECK(huge_decay(0, true, false) == (size_t)HUGE_CACHE_MAX_COUNT * 2 * MiB,
	      "force releases them all");
	cached = 0;
	for (int i = 0; i < NMANY; i++)
		if (desc(p[i]) != NULL)
			cached++;
	CHECK(cached == 0, "none left (%d)", cached);
}

/* Decay by time, with explicit clocks. */
static void decay(void)
{
	char *p = huge_alloc(4 * MiB, 0, false);
	char *q = huge_alloc(6 * MiB, 0, false);
	REQUIRE(p && q, "two blocks");
	struct huge *hp = desc(p), *hq = desc(q);
	huge_free(hp);
	huge_free(hq);
	CHECK(huge_decay_deadline() == hp->since + D, "the deadline is the oldest's");
	CHECK(huge_decay(hp->since - 1, false, false) == 0 && desc(p) == hp && desc(q) == hq,
	      "a pass with a clock read before the frees releases nothing");
	CHECK(huge_decay(hp->since + D - 1, false, false) == 0 && desc(p) == hp,
	      "1 ms before due: nothing released");
	/* As if q had been freed 5 s later than p. */
	hq->since = hp->since + 5000;
	CHECK(huge_decay_deadline() == hp->since + D, "still p's deadline");
	CHECK(huge_decay(hp->since + D, false, false) == 4 * MiB, "due: p released, 4 MiB");
	CHECK(desc(p) == NULL && desc(q) == hq && !hq->live, "p left the page map, q is cached");
	CHECK(huge_decay_deadline() == hq->since + D, "then q's deadline");
	CHECK(huge_decay(hq->since + D - 1, false, false) == 0 && desc(q) == hq, "q not due yet");
	CHECK(huge_decay(hq->since + D, false, false) == 6 * MiB && desc(q) == NULL, "q released");
	CHECK(huge_decay_deadline() == UINT64_MAX, "nothing cached");

	/* dirty_decay_ms -1: kept until forced. */
	cairn_core.dirty_decay_ms = -1;
	p = huge_alloc(4 * MiB, 0, false);
	REQUIRE(p != NULL, "a block");
	huge_free(desc(p));
	CHECK(huge_decay_deadline() == UINT64_MAX, "decay off: no deadline");
	CHECK(huge_decay(UINT64_MAX - 1, false, false) == 0 && desc(p) != NULL, "decay off: kept");
	CHECK(huge_decay(0, true, false) == 4 * MiB && desc(p) == NULL, "force releases it");

	/* dirty_decay_ms 0: nothing is cached at all. */
	cairn_core.dirty_decay_ms = 0;
	p = huge_alloc(4 * MiB, 0, false);
	REQUIRE(p != NULL, "a block");
	huge_free(desc(p));
	CHECK(desc(p) == NULL && huge_decay_deadline() == UINT64_MAX,
	      "decay 0: a freed block is released at once");
	cairn_core.dirty_decay_ms = D;
}

static size_t cached_bytes(void)
{
	size_t live, blocks, cached;
	huge_stats(&live, &blocks, &cached);
	return cached;
}

/* The curve the cache follows (core/decay_curve.h), for one mapping cached
 * at time 0 and a pass at time t. */
static double curve_bytes(size_t bytes, uint64_t t)
{
	double x = (double)t / D;
	return x >= 1.0 ? 0.0 : (double)bytes * (1.0 - x * x * (3.0 - 2.0 * x));
}

/* Decay along the curve: the cached bytes fall in steps of 2 MiB slots as
 * the curve says, one long mapping included (its tail goes first), not all
 * at dirty_decay_ms; two mappings cached at different times share it. */
static void decay_curve(void)
{
	char *p = huge_alloc(64 * MiB, 0, false);
	REQUIRE(p != NULL, "a 64 MiB block");
	struct huge *h = desc(p);
	huge_free(h);
	uint64_t t0 = h->since;
	REQUIRE(cached_bytes() == 64 * MiB, "cached whole (%zu)", cached_bytes());
	size_t prev = 64 * MiB;
	int falls = 0, off_curve = 0;
	for (uint64_t k = 1; k <= 20; k++) {
		uint64_t t = k * D / 20;
		huge_decay(t0 + t, false, true);
		size_t now = cached_bytes();
		double want = curve_bytes(64 * MiB, t);
		if ((double)now > want + MiB || (double)now + 2 * MiB < want)
			off_curve++;
		if (now < prev)
			falls++;
		CHECK(now <= prev, "never grows back: %zu after %zu", now, prev);
		prev = now;
	}
	CHECK(off_curve == 0, "within one 2 MiB slot of the curve at every pass (%d off)",
	      off_curve);
	CHECK(falls >= 10, "released in %d steps, not one", falls);
	CHECK(prev == 0 && desc(p) == NULL, "all of it released at dirty_decay_ms");

	/* Passes without the curve (a slow path's tick) release only what is
	 * due. */
	p = huge_alloc(8 * MiB, 0, false);
	REQUIRE(p != NULL, "an 8 MiB block");
	h = desc(p);
	huge_free(h);
	CHECK(huge_decay(h->since + D / 2, false, false) == 0 && cached_bytes() == 8 * MiB,
	      "no curve: nothing released half-way");
	CHECK(huge_decay(h->since + D / 2, false, true) > 0, "with the curve: some released");
	CHECK(huge_decay(h->since + D, false, false) > 0 && cached_bytes() == 0,
	      "due: the rest released");

	/* Two mappings cached 5 s apart: the older one goes first. */
	char *a = huge_alloc(16 * MiB, 0, false), *b = huge_alloc(16 * MiB, 0, false);
	REQUIRE(a && b, "two blocks");
	struct huge *ha = desc(a), *hb = desc(b);
	huge_free(ha);
	huge_free(hb);
	hb->since = ha->since + 5000;
	double want = curve_bytes(16 * MiB, 6000) + curve_bytes(16 * MiB, 1000);
	huge_decay(ha->since + 6000, false, true);
	size_t left = cached_bytes();
	CHECK((double)left <= want + MiB && (double)left + 2 * MiB >= want,
	      "both on the curve: %zu cached, %.0f allowed", left, want);
	CHECK(desc(b) == hb && hb->mapped == 16 * MiB, "the younger one untouched");
	empty_cache();
}

int main(void)
{
	os_init();
	cairn_core.dirty_decay_ms = D;
	cairn_core.muzzy_decay_ms = 0;
	cairn_core.max_background_threads = 1;
	cairn_core.background_thread = false;
	cairn_core.thp = CORE_THP_DEFAULT;
	REQUIRE(os_page_size() <= CHUNK_SIZE, "OS page size %zu", os_page_size());
	TEST_CASE("fresh") fresh();
	TEST_CASE("reuse_realloc") reuse_realloc();
	TEST_CASE("split_absorb") split_absorb();
	TEST_CASE("assemble") assemble();
	TEST_CASE("cached_small") cached_small();
	TEST_CASE("bounded") bounded();
	TEST_CASE("decay") decay();
	TEST_CASE("decay_curve") decay_curve();
	return CHECK_DONE();
}
