/* SPDX-License-Identifier: MIT */
/* stats_true.c: the statistics are true, each against a measure taken
 * without asking cairn.
 *
 *   allocated  the usable sizes (malloc_usable_size) of the blocks the test
 *              holds: about 96 MiB in small, large and huge blocks of mixed
 *              sizes; the delta must match, and fall back when they are freed.
 *   active     at least allocated, and its delta at least allocated's.
 *   mapped     against /proc/self/smaps: the sum of Size over the process's
 *   resident   anonymous private mappings (no file, no [heap], [stack] ...),
 *              and of Rss. What is anonymous and not cairn's (the zero-filled
 *              tails of the libraries' data, the loader's own pages) does not
 *              change while the test runs: it is single-threaded, makes no
 *              mapping of its own, and runs with no purging thread (whose stack
 *              would be one). So every change in those sums is cairn's, and
 *              each delta of the statistics must match it; and the part that is
 *              not cairn's, the sums less cairn's figures, must be small at the
 *              start, where it is all the libraries' and the loader's.
 *   metadata   more than zero; at least a page of chunk header for every chunk
 *              the blocks lie in that was not mapped at the start (a header
 *              holds each page's entry and the descriptors of the chunk's
 *              spans); and no more than 64 KiB per chunk mapped plus 1 MiB (a
 *              header over 3% of a chunk would be a miscount). The headers
 *              written (base) are at most 0.5% of the arenas' chunks.
 *
 * Nothing is purged but by the calls under test: the blocks are written whole
 * (so that their pages are resident, as the statistics assume of pages in
 * use), decay is off and there is no purging thread (malloc_conf below).
 * After the frees, resident may exceed what smaps shows by the never-used
 * pages that freed runs merged with (counted dirty: see the case "freed");
 * cairn_purge(-1) must then give back what the blocks held, and mapped,
 * metadata and resident must fall as smaps does. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "check.h"
#include "proc.h"
#include "rng.h"

/* thp:never: with transparent huge pages the kernel makes a whole 2 MiB
 * resident at the first write into it, and Rss would no longer count the
 * pages written, which is what resident counts. */
const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,background_thread:false,thp:never";

#define KIB   ((uint64_t)1 << 10)
#define MIB   ((uint64_t)1 << 20)
#define CHUNK (2 * MIB)

struct figures {
	uint64_t allocated, active, resident, mapped, metadata;
	uint64_t anon_size, anon_rss; /* from smaps */
};

/* smaps can be long: a VMA takes about a kilobyte of text. Static: reading
 * must not allocate. */
static char smaps[8 << 20];

extern char __bss_start, _end; /* the executable's zeroed data, from the linker */

static uint64_t field_kib(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncmp(line, name, n) == 0 ? strtoull(line + n, NULL, 10) * KIB : UINT64_MAX;
}

/* The sums of Size and Rss over anonymous private mappings: no path, inode 0
 * (the pseudo-files [heap], [stack], [vdso], [vvar] have a name, and cairn
 * never uses brk). */
static int read_anon(uint64_t *size, uint64_t *rss)
{
	ssize_t len = read_proc("/proc/self/smaps", smaps, sizeof smaps);
	if (len <= 0 || (size_t)len >= sizeof smaps - 1)
		return -1;
	*size = *rss = 0;
	int anon = 0;
	for (char *line = smaps; *line != '\0';) {
		char *end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		unsigned long lo, hi, inode;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &lo, &hi, perms, &inode, &name_at) ==
		    4) {
			/* The test's own zeroed data (smaps[], blocks[]) is not cairn's. */
			anon = inode == 0 && perms[3] == 'p' && line[name_at] == '\0' &&
			       !(lo < (uintptr_t)&_end && hi > (uintptr_t)&__bss_start);
		} else if (anon) {
			uint64_t v;
			if ((v = field_kib(line, "Size:")) != UINT64_MAX)
				*size += v;
			else if ((v = field_kib(line, "Rss:")) != UINT64_MAX)
				*rss += v;
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	return 0;
}

static uint64_t get(const char *name)
{
	uint64_t v = 0;
	int rc = cairn_stats_read(name, &v);
	CHECK(rc == 0, "%s: rc %d", name, rc);
	return v;
}

static struct figures measure(const char *when)
{
	struct figures f = {0};
	cairn_stats_refresh();
	f.allocated = get("allocated");
	f.active = get("active");
	f.resident = get("resident");
	f.mapped = get("mapped");
	f.metadata = get("metadata");
	CHECK(read_anon(&f.anon_size, &f.anon_rss) == 0, "%s: /proc/self/smaps read whole", when);
	fprintf(stderr,
	        "%-14s allocated %10" PRIu64 " active %10" PRIu64 " resident %10" PRIu64
	        " mapped %10" PRIu64 " metadata %8" PRIu64 " | smaps anon Size %10" PRIu64
	        " Rss %10" PRIu64 "\n",
	        when, f.allocated, f.active, f.resident, f.mapped, f.metadata, f.anon_size,
	        f.anon_rss);
	return f;
}

static int64_t diff(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b);
}

static uint64_t dist(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

#define NBLOCKS 120000
static void *blocks[NBLOCKS];
static size_t nblocks;

/* Distinct chunks (2 MiB aligned) holding blocks; huge blocks are their own
 * mappings and need no header. */
static uint64_t chunks_holding(size_t from, size_t to)
{
	static uintptr_t seen[4096];
	size_t n = 0;
	for (size_t i = from; i < to; i++) {
		if (malloc_usable_size(blocks[i]) > MIB)
			continue;
		uintptr_t c = (uintptr_t)blocks[i] & ~(uintptr_t)(CHUNK - 1);
		size_t j = 0;
		while (j < n && seen[j] != c)
			j++;
		if (j == n && n < sizeof seen / sizeof seen[0])
			seen[n++] = c;
	}
	return n;
}

int main(void)
{
	uint64_t rng = 42;
	struct figures start = measure("start");
	/* What is anonymous and not cairn's: the libraries' zeroed data and
	 * the loader's pages; a few hundred KiB. */
	int64_t other_size = diff(start.anon_size, start.mapped + start.metadata);
	/* A sanitizer's runtime (the UBSan build of cairn runs this test too)
	 * maps megabytes of its own: there the deltas below are the measure. */
	bool sanitizer = read_proc("/proc/self/maps", smaps, sizeof smaps) > 0 &&
	                 strstr(smaps, "libubsan") != NULL;
	if (!sanitizer)
		CHECK(other_size > -(int64_t)(256 * KIB) && other_size < (int64_t)(2 * MIB),
		      "at the start, anonymous mappings %" PRIu64
		      " against cairn's mapped + metadata %" PRIu64,
		      start.anon_size, start.mapped + start.metadata);
	/* cairn's resident counts its metadata whole, written or not. */
	CHECK(start.anon_rss <= start.resident + MIB,
	      "at the start, anonymous Rss %" PRIu64 ", cairn's resident %" PRIu64, start.anon_rss,
	      start.resident);

	/* About 96 MiB: 32 MiB of small blocks of every size up to 32 KiB,
	 * 32 MiB of large ones, 32 MiB of huge ones. */
	uint64_t held = 0, small = 0, large = 0, huge = 0;
	while (small < 32 * MIB && nblocks < NBLOCKS) {
		size_t n = 1 + rng_next(&rng) % (rng_next(&rng) % 8 == 0 ? 32768 : 1024);
		void *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu)", n);
		memset(p, 0x11, malloc_usable_size(p));
		blocks[nblocks++] = p;
		small += malloc_usable_size(p);
	}
	while (large < 32 * MIB && nblocks < NBLOCKS) {
		size_t n = 32 * KIB + 1 + rng_next(&rng) % (MIB - 32 * KIB);
		void *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu)", n);
		memset(p, 0x22, malloc_usable_size(p));
		blocks[nblocks++] = p;
		large += malloc_usable_size(p);
	}
	while (huge < 32 * MIB && nblocks < NBLOCKS) {
		size_t n = MIB + 1 + rng_next(&rng) % (7 * MIB);
		void *p = malloc(n);
		REQUIRE(p != NULL, "malloc(%zu)", n);
		memset(p, 0x33, malloc_usable_size(p));
		blocks[nblocks++] = p;
		huge += malloc_usable_size(p);
	}
	held = small + large + huge;
	fprintf(stderr,
	        "held: %zu blocks, %" PRIu64 " bytes (small %" PRIu64 ", large %" PRIu64
	        ", huge %" PRIu64 ")\n",
	        nblocks, held, small, large, huge);
	struct figures full = measure("held");
	uint64_t chunks = chunks_holding(0, nblocks);

	TEST_CASE("allocated")
	{
		/* The thread's bins hold blocks counted as allocated: at most a
		 * slab's worth for each of the 44 classes, besides the blocks. */
		CHECK(dist(full.allocated - start.allocated, held) <= held / 50,
		      "allocated grew by %" PRId64 " holding %" PRIu64 " bytes more",
		      diff(full.allocated, start.allocated), held);
	}
	TEST_CASE("active")
	{
		CHECK(full.active >= full.allocated, "active %" PRIu64 " < allocated %" PRIu64,
		      full.active, full.allocated);
		CHECK(full.active - start.active >= held - held / 50,
		      "active grew by %" PRId64 ", the blocks hold %" PRIu64,
		      diff(full.active, start.active), held);
	}
	TEST_CASE("mapped")
	{
		/* Every anonymous byte added is cairn's: chunks and huge blocks
		 * (mapped), and its own metadata. Chunk headers count in both
		 * mapped and metadata; up to 64 KiB a chunk is allowed for that,
		 * and 64 KiB for the page map, which neither counts. */
		int64_t grew = diff(full.anon_size, start.anon_size);
		int64_t said = diff(full.mapped + full.metadata, start.mapped + start.metadata);
		CHECK((uint64_t)llabs(grew - said) <= (chunks + 1) * 64 * KIB,
		      "anonymous mappings grew by %" PRId64 ", mapped + metadata by %" PRId64
		      " (%" PRIu64 " chunks)",
		      grew, said, chunks);
	}
	TEST_CASE("resident")
	{
		/* resident counts metadata as resident whole, of which only the
		 * pages written are: up to the metadata's growth more. */
		int64_t grew = diff(full.anon_rss, start.anon_rss);
		int64_t said = diff(full.resident, start.resident);
		int64_t meta = diff(full.metadata, start.metadata);
		CHECK(said >= grew - (int64_t)(held / 100) &&
		          said <= grew + meta + (int64_t)(held / 100),
		      "Rss of anonymous mappings grew by %" PRId64 ", resident by %" PRId64
		      " (metadata by %" PRId64 ")",
		      grew, said, meta);
	}
	TEST_CASE("metadata")
	{
		uint64_t meta = full.metadata - start.metadata;
		uint64_t new_chunks = chunks - start.mapped / CHUNK;
		CHECK(full.metadata > 0, "metadata 0");
		CHECK(meta >= new_chunks * 4 * KIB,
		      "metadata grew by %" PRIu64 " for %" PRIu64 " new chunks", meta, new_chunks);
		uint64_t base = get("arenas.4096.base"), arenas_mapped = get("arenas.4096.mapped");
		CHECK(base > 0 && base * 200 <= arenas_mapped,
		      "chunk headers written: %" PRIu64 " bytes of %" PRIu64 " mapped", base,
		      arenas_mapped);
		CHECK(full.metadata <= (full.mapped / CHUNK) * 64 * KIB + MIB,
		      "metadata %" PRIu64 " for %" PRIu64 " bytes mapped", full.metadata,
		      full.mapped);
	}

	for (size_t i = 0; i < nblocks; i++)
		free(blocks[i]);
	struct figures freed = measure("freed");
	TEST_CASE("freed")
	{
		CHECK(dist(freed.allocated, start.allocated) <= held / 50,
		      "allocated %" PRIu64 " after freeing, %" PRIu64 " before the blocks",
		      freed.allocated, start.allocated);
		/* Freed pages stay (decay is off): Rss holds still, and so must
		 * resident, but for one known over-count: a freed run that
		 * merges with never-used free pages next to it makes them all
		 * dirty (src/core/arena_runs.h, merge_run), so resident may
		 * rise by up to the mapped pages that were not resident, which
		 * smaps gives (Size less Rss, added since the start). */
		int64_t rss_moved = diff(freed.anon_rss, full.anon_rss);
		int64_t res_moved = diff(freed.resident, full.resident);
		int64_t untouched =
		    diff(full.anon_size - full.anon_rss, start.anon_size - start.anon_rss);
		CHECK(res_moved >= rss_moved - (int64_t)(held / 50) &&
		          res_moved <= rss_moved + untouched + (int64_t)(held / 50),
		      "after freeing, Rss moved by %" PRId64 ", resident by %" PRId64 " (%" PRId64
		      " bytes mapped, not resident)",
		      rss_moved, res_moved, untouched);
	}

	uint64_t released = cairn_purge(-1);
	struct figures purged = measure("purged");
	TEST_CASE("purged")
	{
		int64_t rss_fell = diff(freed.anon_rss, purged.anon_rss);
		int64_t res_fell = diff(freed.resident, purged.resident);
		CHECK(rss_fell >= (int64_t)(held - held / 10),
		      "cairn_purge gave back %" PRIu64 ", Rss fell by %" PRId64, released,
		      rss_fell);
		CHECK(dist((uint64_t)rss_fell, (uint64_t)res_fell) <= held / 50,
		      "after cairn_purge, Rss fell by %" PRId64 ", resident by %" PRId64, rss_fell,
		      res_fell);
		int64_t size_fell = diff(freed.anon_size, purged.anon_size);
		int64_t said = diff(freed.mapped + freed.metadata, purged.mapped + purged.metadata);
		CHECK((uint64_t)llabs(size_fell - said) <= (chunks + 1) * 64 * KIB,
		      "after cairn_purge, anonymous mappings fell by %" PRId64
		      ", mapped + metadata by %" PRId64,
		      size_fell, said);
	}
	return CHECK_DONE();
}
