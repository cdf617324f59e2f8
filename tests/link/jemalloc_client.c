/* SPDX-License-Identifier: MIT */
/* jemalloc_client.c: a program written for jemalloc, as its users write
 * them: it includes <jemalloc/jemalloc.h> and links -ljemalloc, or, built
 * with -DUSE_CAIRN_HEADER, includes <cairn/jemalloc.h> and links -lcairn
 * (tests/link/jemalloc.sh builds and runs it both ways, and with cairn
 * preloaded into the -ljemalloc build).
 *
 *   jemalloc_client VERSION-PREFIX
 *
 * It mixes mallocx, rallocx, xallocx, sallocx, nallocx, sdallocx, dallocx,
 * malloc, free and malloc_usable_size over small, large and huge sizes,
 * with alignment and zeroing flags, checking every block's alignment, size,
 * zeroing and contents; then reads mallctl: "version" must start with
 * VERSION-PREFIX (so the run says whose mallctl answered), "epoch" and
 * "stats.allocated" must follow what the program holds, "opt.prof" is
 * false, "arenas.narenas" at least 1, and the errors are jemalloc's. Where
 * the process has cairn's own statistics calls (cairn linked or preloaded),
 * mallctl's stats.allocated must be the very number cairn_stats_read gives.
 *
 * A failure prints one line on stderr; a clean run prints only its summary
 * on stdout and exits 0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USE_CAIRN_HEADER
#include <cairn/jemalloc.h>
#else
#include <jemalloc/jemalloc.h>
#endif

static int failures;
static int checks;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "jemalloc_client:%d: %s: ", __LINE__, #cond);              \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* The program's own generator, so that the run is the same everywhere. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned char pattern(const void *block, size_t i)
{
	return (unsigned char)(((uintptr_t)block >> 4) * 31 + i * 7 + 1);
}

static void fill(unsigned char *p, size_t n, const void *tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(tag, i);
}

/* Whether p[0, n) still holds what fill(p, n, tag) wrote. */
static bool holds(const unsigned char *p, size_t n, const void *tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(tag, i))
			return false;
	return true;
}

static bool all_zero(const unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static const size_t sizes[] = {
    1,        24,
    100,      3000,
    20000, /* small */
    40000,    200000,
    700000,                        /* large */
    3u << 20, (10u << 20) + 12345, /* huge */
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static const int align_lg[] = {0, 6, 12, 16};
#define NALIGNS (sizeof(align_lg) / sizeof(align_lg[0]))

/* mallocx with every size, alignment and MALLOCX_ZERO; sallocx against
 * malloc_usable_size and nallocx; freed in turn by free, dallocx and
 * sdallocx with the size asked for. */
static void test_mallocx(void)
{
	unsigned turn = 0;
	for (size_t s = 0; s < NSIZES; s++) {
		for (size_t a = 0; a < NALIGNS; a++) {
			for (int zero = 0; zero < 2; zero++) {
				size_t size = sizes[s], align = (size_t)1 << align_lg[a];
				int flags = (a > 0 ? MALLOCX_LG_ALIGN(align_lg[a]) : 0) |
				            (zero ? MALLOCX_ZERO : 0);
				unsigned char *p = mallocx(size, flags);
				EXPECT(p != NULL, "mallocx(%zu, %#x)", size, flags);
				if (p == NULL)
					continue;
				EXPECT((uintptr_t)p % align == 0, "mallocx(%zu, align %zu) = %p",
				       size, align, (void *)p);
				size_t usable = sallocx(p, 0);
				EXPECT(usable >= size, "sallocx %zu < %zu", usable, size);
				EXPECT(usable == malloc_usable_size(p),
				       "sallocx %zu, malloc_usable_size %zu", usable,
				       malloc_usable_size(p));
				EXPECT(nallocx(size, flags) == usable,
				       "nallocx(%zu, %#x) = %zu, the block's usable size %zu", size,
				       flags, nallocx(size, flags), usable);
				if (zero)
					EXPECT(all_zero(p, 0, usable),
					       "mallocx(%zu, MALLOCX_ZERO) not zeroed", size);
				fill(p, usable, p);
				EXPECT(holds(p, usable, p), "block of %zu lost its contents", size);
				switch (turn++ % 3) {
				case 0:
					free(p);
					break;
				case 1:
					dallocx(p, flags);
					break;
				default:
					sdallocx(p, size, flags);
					break;
				}
			}
		}
	}
}

/* rallocx grows and shrinks blocks across the size ranges keeping their
 * contents; with MALLOCX_ZERO the bytes past the old usable size are zero. */
static void test_rallocx(void)
{
	for (size_t s = 0; s + 1 < NSIZES; s++) {
		size_t small = sizes[s], big = sizes[s + 1];
		unsigned char *p = mallocx(small, 0);
		EXPECT(p != NULL, "mallocx(%zu)", small);
		if (p == NULL)
			continue;
		fill(p, small, &sizes[s]);
		size_t old_usable = sallocx(p, 0);
		unsigned char *q = rallocx(p, big, MALLOCX_ZERO);
		EXPECT(q != NULL, "rallocx(%zu -> %zu)", small, big);
		if (q == NULL) {
			free(p);
			continue;
		}
		EXPECT(sallocx(q, 0) >= big, "rallocx to %zu: usable %zu", big, sallocx(q, 0));
		EXPECT(holds(q, small, &sizes[s]), "rallocx %zu -> %zu lost the contents", small,
		       big);
		EXPECT(all_zero(q, old_usable, big),
		       "rallocx %zu -> %zu with MALLOCX_ZERO: new bytes not zero", small, big);
		fill(q, big, &sizes[s + 1]);
		unsigned char *r = rallocx(q, small, MALLOCX_ALIGN(64));
		EXPECT(r != NULL, "rallocx(%zu -> %zu)", big, small);
		if (r == NULL) {
			free(q);
			continue;
		}
		EXPECT((uintptr_t)r % 64 == 0, "rallocx with MALLOCX_ALIGN(64): %p", (void *)r);
		EXPECT(holds(r, small, &sizes[s + 1]), "rallocx %zu -> %zu lost the contents", big,
		       small);
		EXPECT(sallocx(r, 0) == malloc_usable_size(r), "sallocx after rallocx");
		sdallocx(r, small, MALLOCX_ALIGN(64));
	}
}

/* xallocx resizes in place or not at all: the pointer stays, the answer
 * is the block's usable size, the contents stay. */
static void test_xallocx(void)
{
	for (size_t s = 0; s < NSIZES; s++) {
		size_t size = sizes[s];
		unsigned char *p = mallocx(size, 0);
		EXPECT(p != NULL, "mallocx(%zu)", size);
		if (p == NULL)
			continue;
		fill(p, size, p);
		size_t half = size / 2 + 1;
		size_t got = xallocx(p, half, 0, 0);
		EXPECT(got == sallocx(p, 0), "xallocx(%zu -> %zu) = %zu, usable %zu", size, half,
		       got, sallocx(p, 0));
		EXPECT(got >= half, "xallocx(%zu -> %zu) = %zu", size, half, got);
		EXPECT(holds(p, half, p), "xallocx shrink of %zu lost the contents", size);
		/* Grown or not, the answer never claims more than the block
		 * has; jemalloc 5.3 may answer a large block it did grow with its
		 * old size, so the answer is only a lower bound. */
		size_t grown = xallocx(p, size, size, 0), now = sallocx(p, 0);
		EXPECT(grown <= now && grown >= got, "xallocx grow: %zu, usable %zu (was %zu)",
		       grown, now, got);
		EXPECT(now == got || now >= size, "xallocx grow to %zu left %zu (was %zu)", size,
		       now, got);
		EXPECT(holds(p, half, p), "xallocx grow of %zu lost the contents", size);
		free(p);
	}
}

/* Blocks from either API freed by the other, in random order, with the
 * sizes and flags each free function wants. */
#define NLIVE 4096
static struct live {
	unsigned char *p;
	size_t size;
	int flags;
	bool plain; /* from malloc */
} live[NLIVE];

static void release(struct live *l)
{
	EXPECT(holds(l->p, l->size < 256 ? l->size : 256, l->p),
	       "a block of %zu changed while held", l->size);
	switch (next_random() % 4) {
	case 0:
		free(l->p);
		break;
	case 1:
		dallocx(l->p, l->flags);
		break;
	case 2:
		sdallocx(l->p, l->size, l->flags);
		break;
	default:
		if (l->plain)
			free(l->p);
		else
			sdallocx(l->p, l->size, l->flags);
		break;
	}
	l->p = NULL;
}

static void test_mixed(void)
{
	for (unsigned step = 0; step < 60000; step++) {
		struct live *l = &live[next_random() % NLIVE];
		if (l->p != NULL) {
			release(l);
			continue;
		}
		uint64_t r = next_random();
		/* Mostly small, some large, a few huge. */
		size_t size = r % 100 < 90   ? 1 + r % 2048
		              : r % 100 < 99 ? 32768 + r % 400000
		                             : (1u << 20) + r % (3u << 20);
		l->size = size;
		l->plain = (r >> 32) % 2 == 0;
		l->flags = l->plain ? 0 : MALLOCX_LG_ALIGN((r >> 40) % 8);
		l->p = l->plain ? malloc(size) : mallocx(size, l->flags);
		EXPECT(l->p != NULL, "allocation of %zu", size);
		if (l->p == NULL)
			break;
		fill(l->p, size < 256 ? size : 256, l->p);
	}
	for (size_t i = 0; i < NLIVE; i++)
		if (live[i].p != NULL)
			release(&live[i]);
}

static size_t read_allocated(void)
{
	uint64_t epoch = 1;
	size_t elen = sizeof epoch;
	EXPECT(mallctl("epoch", &epoch, &elen, &epoch, sizeof epoch) == 0, "write epoch");
	size_t allocated = 0, len = sizeof allocated;
	int rc = mallctl("stats.allocated", &allocated, &len, NULL, 0);
	EXPECT(rc == 0 && len == sizeof allocated, "stats.allocated: rc %d, len %zu", rc, len);
	return allocated;
}

/* The blocks test_mallctl holds: 16 MiB of small ones, 16 MiB of large
 * ones, then small ones of many classes. */
#define NBLOCKS 1536
static size_t held_size(size_t i)
{
	return i < 1024 ? 16384 : i < 1280 ? 64 * 1024 : 2048 + 3 * i;
}

static void test_mallctl(const char *want_version)
{
	const char *version = NULL;
	size_t len = sizeof version;
	int rc = mallctl("version", &version, &len, NULL, 0);
	EXPECT(rc == 0 && version != NULL, "mallctl version: rc %d", rc);
	if (rc == 0 && version != NULL)
		EXPECT(strncmp(version, want_version, strlen(want_version)) == 0,
		       "version \"%s\", expected one starting \"%s\"", version, want_version);

	/* epoch: reads give the current one, a write takes a new one. */
	uint64_t e0 = 0, e1 = 0, one = 1;
	len = sizeof e0;
	EXPECT(mallctl("epoch", &e0, &len, NULL, 0) == 0, "read epoch");
	len = sizeof e1;
	EXPECT(mallctl("epoch", &e1, &len, &one, sizeof one) == 0, "write epoch");
	EXPECT(e1 == e0 + 1, "epoch after a write: %llu (before %llu)", (unsigned long long)e1,
	       (unsigned long long)e0);

	/* stats.allocated follows about 57 MiB of blocks held, of each range. */
	size_t before = read_allocated();
	static void *blocks[NBLOCKS];
	size_t held = 0;
	for (size_t i = 0; i < NBLOCKS; i++) {
		size_t size = held_size(i);
		blocks[i] = mallocx(size, 0);
		EXPECT(blocks[i] != NULL, "mallocx(%zu)", size);
		if (blocks[i] == NULL)
			return;
		memset(blocks[i], 1, size);
		held += sallocx(blocks[i], 0);
	}
	void *huge = mallocx(24u << 20, 0);
	EXPECT(huge != NULL, "mallocx(24 MiB)");
	held += sallocx(huge, 0);
	size_t during = read_allocated();
	/* Within 5% and 1 MiB: what the allocator's own caches hold in
	 * blocks (counted as allocated by jemalloc and cairn alike) is far
	 * less than that. */
	EXPECT(during >= before + held - held / 20 - (1u << 20) &&
	           during <= before + held + held / 20 + (1u << 20),
	       "stats.allocated went from %zu to %zu holding %zu bytes more", before, during, held);
	for (size_t i = 0; i < NBLOCKS; i++)
		sdallocx(blocks[i], held_size(i), 0);
	dallocx(huge, 0);
	size_t after = read_allocated();
	EXPECT(after + held - held / 20 <= during,
	       "stats.allocated %zu after freeing %zu bytes (%zu before)", after, held, during);

	/* Where cairn answers, its own statistics call must agree exactly:
	 * both read the snapshot the last epoch write took. */
	uint64_t (*refresh)(void) = (uint64_t(*)(void))dlsym(RTLD_DEFAULT, "cairn_stats_refresh");
	int (*stats_read)(const char *, uint64_t *) =
	    (int (*)(const char *, uint64_t *))dlsym(RTLD_DEFAULT, "cairn_stats_read");
	bool cairn = strncmp(want_version, "5.", 2) != 0;
	EXPECT((refresh != NULL && stats_read != NULL) == cairn,
	       "cairn's statistics calls %s in the process", refresh ? "present" : "absent");
	if (stats_read != NULL) {
		uint64_t theirs = 0;
		size_t ours = read_allocated();
		EXPECT(stats_read("allocated", &theirs) == 0 && theirs == ours,
		       "mallctl stats.allocated %zu, cairn_stats_read %llu", ours,
		       (unsigned long long)theirs);
	}

	bool prof = true;
	len = sizeof prof;
	rc = mallctl("opt.prof", &prof, &len, NULL, 0);
	EXPECT(rc == 0 && !prof, "opt.prof: rc %d, value %d", rc, prof);

	unsigned narenas = 0;
	len = sizeof narenas;
	rc = mallctl("arenas.narenas", &narenas, &len, NULL, 0);
	EXPECT(rc == 0 && narenas >= 1, "arenas.narenas: rc %d, %u", rc, narenas);

	/* jemalloc's errors. */
	size_t v = 0;
	len = sizeof v;
	EXPECT(mallctl("no.such.name", &v, &len, NULL, 0) == ENOENT, "unknown name: ENOENT");
	EXPECT(mallctl("version", NULL, NULL, &version, sizeof version) == EPERM,
	       "writing version: EPERM");
	uint32_t narrow = 0;
	len = sizeof narrow;
	EXPECT(mallctl("stats.allocated", &narrow, &len, NULL, 0) == EINVAL,
	       "stats.allocated into 4 bytes: EINVAL");

	size_t mib[4], miblen = 4;
	rc = mallctlnametomib("stats.allocated", mib, &miblen);
	EXPECT(rc == 0 && miblen == 2, "mallctlnametomib(stats.allocated): rc %d, %zu", rc, miblen);
	if (rc == 0) {
		size_t by_name = read_allocated(), by_mib = 0;
		len = sizeof by_mib;
		EXPECT(mallctlbymib(mib, miblen, &by_mib, &len, NULL, 0) == 0 && by_mib == by_name,
		       "stats.allocated by MIB %zu, by name %zu", by_mib, by_name);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s VERSION-PREFIX\n", argv[0]);
		return 2;
	}
	test_mallocx();
	test_rallocx();
	test_xallocx();
	test_mixed();
	test_mallctl(argv[1]);
	printf("jemalloc_client: %d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
