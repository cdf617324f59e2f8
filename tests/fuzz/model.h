/* SPDX-License-Identifier: MIT */
/* The model the fuzzers check cairn against, shared by the seeded random driver
 * (tests/stress/fuzz.c) and the coverage-guided operation fuzzer (tests/fuzz/ops.c).
 *
 * A step draws an operation and its arguments from a source of choices: a seeded PRNG, or the
 * bytes of a libFuzzer input. The operations are every allocation function (malloc, calloc,
 * realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc), every way to
 * free (free, free_sized, free_aligned_sized, realloc(p, 0), reallocarray(p, 0, n)),
 * malloc_usable_size, requests that must fail (with the errno they must give), malloc_trim and
 * cairn_purge, and handing a block to another thread through a shared pool. Sizes go from 0 to
 * max_size (tens of MiB), alignments from 1 to 1 GiB, both mostly small.
 *
 * For each live block the model keeps its size, the alignment asked for, its usable size and
 * the seed of a pattern it wrote into it, and checks:
 * - a request that can be met is met (not NULL), one that cannot fails with the right errno
 *   and leaves a block it was given intact;
 * - the block is aligned as asked (and to 16 bytes at least);
 * - malloc_usable_size is at least the size, and the same each time it is asked;
 * - the contents: the pattern is intact before the block is freed or reallocated, and realloc
 *   keeps the prefix; calloc (and with zero:true every allocation, and what realloc adds) is
 *   zero; with junk:true or junk:alloc, new blocks hold 0xa5;
 * - no two live blocks overlap: [p, p + usable) of every live block is kept in one sorted
 *   array, shared by all threads under a lock, and each new block must fit between its
 *   neighbours there. A block is taken out before it is freed and put in after it is returned.
 * Blocks up to FULL_MAX bytes are patterned and checked in full; bigger ones at 64 bytes at
 * the start of every 8 KiB (64 KiB above 1 MiB, 512 KiB above 8 MiB) and at their last 64
 * bytes.
 *
 * The model's own storage is mapped with mmap, outside the allocator under test. Nothing here
 * depends on how cairn lays out its blocks or free lists. */
#ifndef CAIRN_TESTS_FUZZ_MODEL_H
#define CAIRN_TESTS_FUZZ_MODEL_H

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cairn.h>

#include "rng.h"

/* The requests that must fail are meant to be too big. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#endif
/* A failed check prints the address a block had before realloc. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#define M_KiB ((size_t)1 << 10)
#define M_MiB ((size_t)1 << 20)
#define M_GiB ((size_t)1 << 30)

#define FULL_MAX   (64 * M_KiB) /* blocks up to this are patterned in full */
#define MARK_LEN   64
#define POOL_CAP   256 /* blocks waiting in the pool between threads */
#define JUNK_ALLOC 0xa5

/* Every operation a step may run; the names are what the drivers print. */
#define M_OPS(X)                                                                                   \
	X(MALLOC, "malloc")                                                                        \
	X(CALLOC, "calloc")                                                                        \
	X(REALLOC_NULL, "realloc(NULL)")                                                           \
	X(REALLOCARRAY_NULL, "reallocarray(NULL)")                                                 \
	X(POSIX_MEMALIGN, "posix_memalign")                                                        \
	X(ALIGNED_ALLOC, "aligned_alloc")                                                          \
	X(MEMALIGN, "memalign")                                                                    \
	X(VALLOC, "valloc")                                                                        \
	X(PVALLOC, "pvalloc")                                                                      \
	X(FREE, "free")                                                                            \
	X(FREE_SIZED, "free_sized")                                                                \
	X(FREE_ALIGNED_SIZED, "free_aligned_sized")                                                \
	X(REALLOC_ZERO, "realloc(p,0)")                                                            \
	X(REALLOCARRAY_ZERO, "reallocarray(p,0)")                                                  \
	X(REALLOC, "realloc")                                                                      \
	X(REALLOC_NEAR, "realloc(near)")                                                           \
	X(REALLOCARRAY, "reallocarray")                                                            \
	X(USABLE, "malloc_usable_size")                                                            \
	X(GIVE, "give")                                                                            \
	X(TAKE, "take")                                                                            \
	X(FAIL, "failing")                                                                         \
	X(TRIM, "trim")                                                                            \
	X(FREE_MANY, "free-half")

enum m_op {
#define M_ENUM(e, s) OP_##e,
	M_OPS(M_ENUM)
#undef M_ENUM
	    OP_COUNT
};

static const char *const m_op_name[] = {
#define M_NAME(e, s) s,
    M_OPS(M_NAME)
#undef M_NAME
};

/* One live block. */
struct mblock {
	char *p;
	size_t size;    /* what the program may use: the request (pvalloc: rounded to a page) */
	size_t usable;  /* malloc_usable_size when it was returned */
	size_t align;   /* asked for; 0: none */
	size_t written; /* bytes [0, written) may hold the pattern (or a former one) */
	uint64_t seed;  /* of the pattern */
	bool aligned;   /* from aligned_alloc: free_aligned_sized(p, align, size) applies */
};

struct minterval {
	uintptr_t lo, hi;
};

/* What the threads share: the overlap index and the pool of blocks in transit. */
struct mshared {
	pthread_mutex_t lock;
	struct minterval *ivl;
	size_t nivl, ivl_cap;
	struct mblock pool[POOL_CAP];
	size_t npool;
	_Atomic size_t live_bytes;
	size_t page;
	/* Settings: */
	size_t max_size;    /* largest request */
	size_t live_max;    /* above this many live bytes, requests stay small */
	unsigned max_shift; /* largest alignment: 1 << max_shift */
	bool zero;          /* MALLOC_CONF zero:true: every allocation is zeroed */
	bool junk_alloc;    /* junk:alloc or junk:true (and not zero): new blocks hold 0xa5 */
	bool trim;          /* malloc_trim and cairn_purge may run */
	bool handoff;       /* give and take run (several threads) */
	void (*fail)(void); /* called after a failed check is reported; must not return */
};

/* One thread's view: its source of choices, its live blocks, its counts. */
struct mthread {
	struct mshared *sh;
	unsigned id;
	/* The source: a PRNG, or the bytes of an input (data != NULL). */
	uint64_t rng;
	const uint8_t *data;
	size_t len, pos;
	bool exhausted;
	/* Live blocks. */
	struct mblock *blocks;
	size_t n, cap;
	/* Counts. */
	uint64_t ops, checks, failed;
	uint64_t count[OP_COUNT];
	enum m_op cur;
};

/* ---------------------------------------------------------------- storage and choices */

static void *m_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("model: mmap");
		abort();
	}
	return p;
}

/* A choice in [0, n), n > 0. From an input, it takes as many bytes as n needs; once the
 * input is used up every choice is 0 and the step loop ends. */
static inline uint64_t m_range(struct mthread *t, uint64_t n)
{
	if (n <= 1)
		return 0;
	if (t->data == NULL)
		return rng_next(&t->rng) % n;
	uint64_t v = 0;
	for (uint64_t span = n - 1; span != 0; span >>= 8) {
		if (t->pos >= t->len) {
			t->exhausted = true;
			break;
		}
		v = v << 8 | t->data[t->pos++];
	}
	return v % n;
}

/* ---------------------------------------------------------------- checks */

#define M_CHECK(t, cond, ...)                                                                      \
	do {                                                                                       \
		(t)->checks++;                                                                     \
		if (!(cond))                                                                       \
			m_failed((t), __FILE__, __LINE__, #cond, __VA_ARGS__);                     \
	} while (0)

__attribute__((format(printf, 5, 6))) static void
m_failed(struct mthread *t, const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	t->failed++;
	fprintf(stderr, "%s:%d: check failed: %s: thread %u, operation %llu (%s): ", file, line,
	        cond, t->id, (unsigned long long)t->ops, m_op_name[t->cur]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (t->sh->fail != NULL)
		t->sh->fail();
	abort();
}

/* ---------------------------------------------------------------- patterns */

/* The pattern's 8 bytes at offset 8k of a block with the given seed (little-endian: byte i
 * of the block is byte i % 8 of word i / 8). */
static inline uint64_t m_word(uint64_t seed, size_t k)
{
	uint64_t z = seed ^ ((uint64_t)k * 0x9e3779b97f4a7c15ull);
	return z ^ (z >> 29);
}

enum m_fill { FILL_PATTERN, CHECK_PATTERN, CHECK_ZERO, CHECK_JUNK };

/* Writes or checks bytes [lo, hi) of block p. Returns the offset of the first byte that
 * differs, or SIZE_MAX. */
static size_t m_range_op(char *p, size_t lo, size_t hi, uint64_t seed, enum m_fill what)
{
	size_t i = lo;
	while (i < hi && (i & 7) != 0) {
		uint8_t want = what == FILL_PATTERN || what == CHECK_PATTERN
		                   ? (uint8_t)(m_word(seed, i >> 3) >> (8 * (i & 7)))
		               : what == CHECK_ZERO ? 0
		                                    : JUNK_ALLOC;
		if (what == FILL_PATTERN)
			p[i] = (char)want;
		else if ((uint8_t)p[i] != want)
			return i;
		i++;
	}
	for (; i + 8 <= hi; i += 8) {
		uint64_t want = what == FILL_PATTERN || what == CHECK_PATTERN ? m_word(seed, i >> 3)
		                : what == CHECK_ZERO                          ? 0
		                                     : 0x0101010101010101ull * JUNK_ALLOC;
		uint64_t *w = (uint64_t *)(void *)(p + i);
		if (what == FILL_PATTERN)
			*w = want;
		else if (*w != want)
			for (size_t j = 0; j < 8; j++)
				if ((uint8_t)p[i + j] != (uint8_t)(want >> (8 * j)))
					return i + j;
	}
	for (; i < hi; i++) {
		uint8_t want = what == FILL_PATTERN || what == CHECK_PATTERN
		                   ? (uint8_t)(m_word(seed, i >> 3) >> (8 * (i & 7)))
		               : what == CHECK_ZERO ? 0
		                                    : JUNK_ALLOC;
		if (what == FILL_PATTERN)
			p[i] = (char)want;
		else if ((uint8_t)p[i] != want)
			return i;
	}
	return SIZE_MAX;
}

/* Applies `what` to the marked bytes of a block of `size` bytes that lie in [lo, hi). */
static size_t m_marks(char *p, size_t size, size_t lo, size_t hi, uint64_t seed, enum m_fill what)
{
	if (hi > size)
		hi = size;
	if (lo >= hi)
		return SIZE_MAX;
	if (size <= FULL_MAX)
		return m_range_op(p, lo, hi, seed, what);
	size_t stride = size <= M_MiB ? 8 * M_KiB : size <= 8 * M_MiB ? 64 * M_KiB : 512 * M_KiB;
	size_t r;
	for (size_t o = lo / stride * stride; o < hi; o += stride) {
		size_t a = o < lo ? lo : o, b = o + MARK_LEN < hi ? o + MARK_LEN : hi;
		if (a < b && (r = m_range_op(p, a, b, seed, what)) != SIZE_MAX)
			return r;
	}
	size_t a = size - MARK_LEN < lo ? lo : size - MARK_LEN;
	return m_range_op(p, a, hi, seed, what);
}

static void m_check_contents(struct mthread *t, const struct mblock *b, size_t lo, size_t hi,
                             const char *when)
{
	size_t bad = m_marks(b->p, b->size, lo, hi, b->seed, CHECK_PATTERN);
	M_CHECK(t, bad == SIZE_MAX,
	        "%s: block %p of %zu bytes (align %zu, usable %zu): byte %zu is 0x%02x, not the "
	        "pattern's",
	        when, (void *)b->p, b->size, b->align, b->usable, bad,
	        bad == SIZE_MAX ? 0 : (uint8_t)b->p[bad]);
}

/* ---------------------------------------------------------------- the overlap index */

static size_t m_ivl_find(struct mshared *sh, uintptr_t lo)
{
	size_t a = 0, b = sh->nivl;
	while (a < b) {
		size_t m = (a + b) / 2;
		if (sh->ivl[m].lo < lo)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/* Records a block just returned; fails if it overlaps a live one. */
static void m_ivl_add(struct mthread *t, const struct mblock *b)
{
	struct mshared *sh = t->sh;
	uintptr_t lo = (uintptr_t)b->p, hi = lo + (b->usable ? b->usable : 1);
	pthread_mutex_lock(&sh->lock);
	size_t i = m_ivl_find(sh, lo);
	struct minterval prev = i > 0 ? sh->ivl[i - 1] : (struct minterval){0, 0};
	struct minterval next = i < sh->nivl ? sh->ivl[i] : (struct minterval){UINTPTR_MAX, 0};
	bool ok = prev.hi <= lo && hi <= next.lo && sh->nivl < sh->ivl_cap;
	if (ok) {
		memmove(&sh->ivl[i + 1], &sh->ivl[i], (sh->nivl - i) * sizeof(sh->ivl[0]));
		sh->ivl[i] = (struct minterval){lo, hi};
		sh->nivl++;
	}
	pthread_mutex_unlock(&sh->lock);
	M_CHECK(t, ok,
	        "block [%p, %p) (size %zu, align %zu) overlaps live block [%p, %p) or [%p, %p)",
	        (void *)lo, (void *)hi, b->size, b->align, (void *)prev.lo, (void *)prev.hi,
	        (void *)next.lo, (void *)next.hi);
}

/* Takes a block out of the index before it is freed or reallocated. */
static void m_ivl_remove(struct mthread *t, const struct mblock *b)
{
	struct mshared *sh = t->sh;
	uintptr_t lo = (uintptr_t)b->p;
	pthread_mutex_lock(&sh->lock);
	size_t i = m_ivl_find(sh, lo);
	bool ok = i < sh->nivl && sh->ivl[i].lo == lo;
	if (ok) {
		memmove(&sh->ivl[i], &sh->ivl[i + 1], (sh->nivl - i - 1) * sizeof(sh->ivl[0]));
		sh->nivl--;
	}
	pthread_mutex_unlock(&sh->lock);
	M_CHECK(t, ok, "model: block %p is not in the index", (void *)b->p);
}

/* ---------------------------------------------------------------- set-up */

/* Reads zero and junk from a MALLOC_CONF string (the last item of each name wins). */
static void m_read_conf(struct mshared *sh, const char *conf)
{
	bool zero = false, junk = false;
	for (const char *s = conf; s != NULL && *s != '\0';) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len == 9 && memcmp(s, "zero:true", 9) == 0)
			zero = true;
		else if (len == 6 && memcmp(s, "zero:1", 6) == 0)
			zero = true;
		else if (len > 5 && memcmp(s, "zero:", 5) == 0)
			zero = false;
		else if (len > 5 && memcmp(s, "junk:", 5) == 0)
			junk = (len == 9 && memcmp(s + 5, "true", 4) == 0) ||
			       (len == 10 && memcmp(s + 5, "alloc", 5) == 0);
		s = end ? end + 1 : NULL;
	}
	sh->zero = zero;
	sh->junk_alloc = junk && !zero;
}

/* A shared state for `threads` threads of `cap` live blocks each. */
static struct mshared *m_shared_new(size_t threads, size_t cap)
{
	struct mshared *sh = m_map(sizeof(*sh));
	pthread_mutex_init(&sh->lock, NULL);
	sh->ivl_cap = threads * cap + POOL_CAP + 16;
	sh->ivl = m_map(sh->ivl_cap * sizeof(sh->ivl[0]));
	sh->page = (size_t)sysconf(_SC_PAGESIZE);
	sh->max_size = 32 * M_MiB;
	sh->live_max = 256 * M_MiB;
	sh->max_shift = 30;
	sh->trim = true;
	sh->handoff = threads > 1;
	m_read_conf(sh, getenv("MALLOC_CONF"));
	return sh;
}

static void m_thread_init(struct mthread *t, struct mshared *sh, unsigned id, size_t cap,
                          uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->sh = sh;
	t->id = id;
	t->cap = cap;
	t->blocks = m_map(cap * sizeof(t->blocks[0]));
	t->rng = seed;
}

/* ---------------------------------------------------------------- choices */

static size_t m_pick_size(struct mthread *t)
{
	struct mshared *sh = t->sh;
	size_t max = sh->max_size;
	if (atomic_load_explicit(&sh->live_bytes, memory_order_relaxed) > sh->live_max)
		max = max < FULL_MAX ? max : FULL_MAX;
	uint64_t r = m_range(t, 1000);
	size_t lo, hi;
	if (r < 50) {
		/* Around a power of two: class, range and page edges. */
		unsigned k = (unsigned)m_range(t, 26);
		size_t n = ((size_t)1 << k) + (size_t)m_range(t, 33) - 16;
		return n > max ? max : n;
	}
	if (r < 60)
		return 0;
	if (r < 480)
		lo = 1, hi = 128;
	else if (r < 720)
		lo = 129, hi = 4096;
	else if (r < 850)
		lo = 4097, hi = 32 * M_KiB;
	else if (r < 965)
		lo = 32 * M_KiB + 1, hi = M_MiB;
	else if (r < 993)
		lo = M_MiB + 1, hi = 4 * M_MiB;
	else if (r < 998)
		lo = 4 * M_MiB + 1, hi = 16 * M_MiB;
	else
		lo = 16 * M_MiB + 1, hi = 32 * M_MiB;
	if (hi > max)
		hi = max;
	if (lo > hi)
		lo = hi / 2;
	return lo + (size_t)m_range(t, hi - lo + 1);
}

/* A power of two from 1 to 1 << max_shift, mostly small; at least `min`. */
static size_t m_pick_align(struct mthread *t, size_t min)
{
	uint64_t r = m_range(t, 1000);
	unsigned s = r < 800   ? (unsigned)m_range(t, 13)
	             : r < 970 ? 13 + (unsigned)m_range(t, 9)
	             : r < 998 ? 22 + (unsigned)m_range(t, 8)
	                       : 30;
	if (s > t->sh->max_shift)
		s = t->sh->max_shift;
	size_t a = (size_t)1 << s;
	return a < min ? min : a;
}

/* ---------------------------------------------------------------- operations */

/* Checks a block just returned and records it (the index, the pattern, the table). `fresh`:
 * what its first bytes must hold (CHECK_ZERO, CHECK_JUNK), or FILL_PATTERN for no check. */
static void m_adopt(struct mthread *t, char *p, size_t size, size_t align, bool aligned,
                    enum m_fill fresh, const char *fn)
{
	struct mshared *sh = t->sh;
	M_CHECK(t, p != NULL, "%s(%zu, align %zu) returned NULL (errno %d)", fn, size, align,
	        errno);
	size_t want = align > 16 ? align : 16;
	M_CHECK(t, ((uintptr_t)p & (want - 1)) == 0, "%s(%zu): %p is not aligned to %zu", fn, size,
	        (void *)p, want);
	struct mblock b = {p, size, malloc_usable_size(p), align, size, rng_next(&t->rng), aligned};
	M_CHECK(t, b.usable >= size, "%s(%zu, align %zu): usable size %zu", fn, size, align,
	        b.usable);
	m_ivl_add(t, &b);
	if (fresh != FILL_PATTERN) {
		size_t bad = m_marks(p, size, 0, size, 0, fresh);
		M_CHECK(t, bad == SIZE_MAX, "%s(%zu, align %zu) = %p: byte %zu is 0x%02x, not %s",
		        fn, size, align, (void *)p, bad, bad == SIZE_MAX ? 0 : (uint8_t)p[bad],
		        fresh == CHECK_ZERO ? "zero" : "junk 0xa5");
	}
	m_marks(p, size, 0, size, b.seed, FILL_PATTERN);
	t->blocks[t->n++] = b;
	atomic_fetch_add_explicit(&sh->live_bytes, size, memory_order_relaxed);
}

static void m_alloc(struct mthread *t, enum m_op op)
{
	struct mshared *sh = t->sh;
	size_t size = m_pick_size(t), align = 0, model_size = size;
	enum m_fill fresh = sh->zero ? CHECK_ZERO : sh->junk_alloc ? CHECK_JUNK : FILL_PATTERN;
	void *p = NULL;
	bool aligned = false;
	t->cur = op;
	switch (op) {
	case OP_MALLOC:
		p = malloc(size);
		break;
	case OP_CALLOC: {
		size_t nmemb = 1, each = size;
		uint64_t how = m_range(t, 3);
		if (how == 1)
			nmemb = size, each = 1;
		else if (how == 2 && size % 16 == 0)
			nmemb = size / 16, each = 16;
		p = calloc(nmemb, each);
		fresh = CHECK_ZERO;
		break;
	}
	case OP_REALLOC_NULL:
		p = realloc(NULL, size);
		break;
	case OP_REALLOCARRAY_NULL:
		p = reallocarray(NULL, size, 1);
		break;
	case OP_POSIX_MEMALIGN: {
		align = m_pick_align(t, sizeof(void *));
		int rc = posix_memalign(&p, align, size);
		M_CHECK(t, rc == 0, "posix_memalign(%zu, %zu) = %d", align, size, rc);
		break;
	}
	case OP_ALIGNED_ALLOC:
		align = m_pick_align(t, 1);
		p = aligned_alloc(align, size);
		aligned = true;
		break;
	case OP_MEMALIGN:
		align = m_pick_align(t, 1);
		p = memalign(align, size);
		break;
	case OP_VALLOC:
		align = sh->page;
		p = valloc(size);
		break;
	case OP_PVALLOC:
		align = sh->page;
		model_size = size ? (size + sh->page - 1) / sh->page * sh->page : sh->page;
		p = pvalloc(size);
		break;
	default:
		abort();
	}
	m_adopt(t, p, model_size, align, aligned, fresh, m_op_name[op]);
}

/* Takes block i out of the table (it is being freed or given away). */
static struct mblock m_take_out(struct mthread *t, size_t i)
{
	struct mblock b = t->blocks[i];
	t->blocks[i] = t->blocks[--t->n];
	return b;
}

static void m_free(struct mthread *t, enum m_op op, size_t i)
{
	struct mblock b = m_take_out(t, i);
	t->cur = op;
	m_check_contents(t, &b, 0, b.size, "before free");
	size_t usable = malloc_usable_size(b.p);
	M_CHECK(t, usable == b.usable, "malloc_usable_size(%p) was %zu, is %zu", (void *)b.p,
	        b.usable, usable);
	m_ivl_remove(t, &b);
	atomic_fetch_sub_explicit(&t->sh->live_bytes, b.size, memory_order_relaxed);
	uintptr_t addr = (uintptr_t)b.p;
	void *r;
	switch (op) {
	case OP_FREE:
		free(b.p);
		break;
	case OP_FREE_SIZED:
		if (b.aligned)
			free_aligned_sized(b.p, b.align, b.size);
		else
			free_sized(b.p, b.size);
		break;
	case OP_FREE_ALIGNED_SIZED:
		if (b.aligned)
			free_aligned_sized(b.p, b.align, b.size);
		else
			free(b.p);
		break;
	case OP_REALLOC_ZERO:
		r = realloc(b.p, 0);
		M_CHECK(t, r == NULL, "realloc(%p, 0) = %p, not NULL", (void *)addr, r);
		break;
	case OP_REALLOCARRAY_ZERO:
		r = reallocarray(b.p, 0, 1 + (size_t)m_range(t, 100));
		M_CHECK(t, r == NULL, "reallocarray(%p, 0, n) = %p, not NULL", (void *)addr, r);
		break;
	default:
		abort();
	}
}

static void m_realloc(struct mthread *t, enum m_op op, size_t i)
{
	struct mshared *sh = t->sh;
	struct mblock *b = &t->blocks[i];
	size_t n;
	t->cur = op;
	if (op == OP_REALLOC_NEAR) {
		/* Small steps, which stay in place most often. */
		uint64_t how = m_range(t, 4);
		size_t d = 1 + (size_t)m_range(t, b->size / 4 + 64);
		n = how == 0   ? b->size + d
		    : how == 1 ? b->size * 2
		    : how == 2 ? b->size / 2
		               : b->size - (d < b->size ? d : 0);
		if (n > sh->max_size)
			n = sh->max_size;
	} else {
		n = m_pick_size(t);
	}
	if (n == 0)
		n = 1;
	/* Before: the bytes realloc may drop. */
	m_check_contents(t, b, n, b->size, "before realloc");
	m_ivl_remove(t, b);
	uintptr_t old = (uintptr_t)b->p;
	void *q;
	if (op == OP_REALLOCARRAY && n % 8 == 0)
		q = reallocarray(b->p, n / 8, 8);
	else if (op == OP_REALLOCARRAY)
		q = reallocarray(b->p, 1, n);
	else
		q = realloc(b->p, n);
	M_CHECK(t, q != NULL, "%s(%p, %zu) returned NULL (errno %d)", m_op_name[op], (void *)old, n,
	        errno);
	M_CHECK(t, ((uintptr_t)q & 15) == 0, "%s(%zu) = %p: not aligned to 16", m_op_name[op], n,
	        q);
	struct mblock nb = *b;
	nb.p = q;
	nb.size = n;
	nb.align = 0;
	nb.aligned = false;
	nb.usable = malloc_usable_size(q);
	M_CHECK(t, nb.usable >= n, "%s(%zu) = %p: usable size %zu", m_op_name[op], n, q, nb.usable);
	m_ivl_add(t, &nb);
	/* The prefix is kept, at the marks of the old size. */
	size_t keep = n < b->size ? n : b->size;
	struct mblock moved = *b;
	moved.p = q;
	m_check_contents(t, &moved, 0, keep, "after realloc");
	if (nb.written > nb.usable)
		nb.written = nb.usable;
	if (sh->zero && n > b->size) {
		size_t from = nb.written > b->size ? nb.written : b->size;
		size_t bad = m_marks(q, n, from, n, 0, CHECK_ZERO);
		M_CHECK(t, bad == SIZE_MAX,
		        "zero:true: %s(%p of %zu, %zu) = %p: byte %zu of the new part is 0x%02x",
		        m_op_name[op], (void *)old, b->size, n, q, bad,
		        bad == SIZE_MAX ? 0 : (uint8_t)((char *)q)[bad]);
	}
	if (n <= FULL_MAX && b->size <= FULL_MAX)
		m_marks(q, n, keep, n, nb.seed, FILL_PATTERN);
	else
		m_marks(q, n, 0, n, nb.seed, FILL_PATTERN);
	if (nb.written < n)
		nb.written = n;
	atomic_fetch_add_explicit(&sh->live_bytes, n - b->size, memory_order_relaxed);
	*b = nb;
}

static void m_usable(struct mthread *t, size_t i)
{
	struct mblock *b = &t->blocks[i];
	t->cur = OP_USABLE;
	size_t usable = malloc_usable_size(b->p);
	M_CHECK(t, usable == b->usable, "malloc_usable_size(%p) was %zu, is %zu", (void *)b->p,
	        b->usable, usable);
	m_check_contents(t, b, 0, b->size, "live");
}

static void m_give(struct mthread *t, size_t i)
{
	struct mshared *sh = t->sh;
	t->cur = OP_GIVE;
	pthread_mutex_lock(&sh->lock);
	if (sh->npool < POOL_CAP)
		sh->pool[sh->npool++] = m_take_out(t, i);
	pthread_mutex_unlock(&sh->lock);
}

static void m_take(struct mthread *t)
{
	struct mshared *sh = t->sh;
	t->cur = OP_TAKE;
	uint64_t r = m_range(t, POOL_CAP);
	pthread_mutex_lock(&sh->lock);
	bool got = sh->npool > 0 && t->n < t->cap;
	if (got) {
		size_t j = r % sh->npool;
		t->blocks[t->n++] = sh->pool[j];
		sh->pool[j] = sh->pool[--sh->npool];
	}
	pthread_mutex_unlock(&sh->lock);
	if (got)
		m_check_contents(t, &t->blocks[t->n - 1], 0, t->blocks[t->n - 1].size,
		                 "taken from another thread");
}

/* Requests that must fail, and what they must leave alone. */
static void m_fail(struct mthread *t)
{
	struct mblock *b = t->n > 0 ? &t->blocks[m_range(t, t->n)] : NULL;
	void *p, *q = (void *)&q;
	int rc;
	t->cur = OP_FAIL;
	switch (m_range(t, 12)) {
	case 0:
		errno = 0;
		p = malloc(SIZE_MAX - (size_t)m_range(t, 4096));
		M_CHECK(t, p == NULL && errno == ENOMEM, "malloc(~SIZE_MAX) = %p, errno %d", p,
		        errno);
		break;
	case 1:
		errno = 0;
		p = malloc((size_t)PTRDIFF_MAX + 1 + (size_t)m_range(t, 1 << 20));
		M_CHECK(t, p == NULL && errno == ENOMEM, "malloc(> PTRDIFF_MAX) = %p, errno %d", p,
		        errno);
		break;
	case 2:
		errno = 0;
		p = calloc(SIZE_MAX / 2, 3 + (size_t)m_range(t, 100));
		M_CHECK(t, p == NULL && errno == ENOMEM, "calloc overflow = %p, errno %d", p,
		        errno);
		break;
	case 3:
		errno = 0;
		rc = posix_memalign(&q, 24 + 16 * (size_t)m_range(t, 2), 16);
		M_CHECK(t, rc == EINVAL && q == (void *)&q && errno == 0,
		        "posix_memalign(bad alignment) = %d, errno %d", rc, errno);
		break;
	case 4:
		errno = 0;
		rc = posix_memalign(&q, 64, SIZE_MAX / 2);
		M_CHECK(t, rc == ENOMEM && q == (void *)&q && errno == 0,
		        "posix_memalign(64, SIZE_MAX / 2) = %d, errno %d", rc, errno);
		break;
	case 5:
		errno = 0;
		p = aligned_alloc(48 + 32 * (size_t)m_range(t, 2), 64);
		M_CHECK(t, p == NULL && errno == EINVAL,
		        "aligned_alloc(48 or 80, 64) = %p, errno %d", p, errno);
		break;
	case 6:
		errno = 0;
		p = pvalloc(SIZE_MAX - (size_t)m_range(t, 100));
		M_CHECK(t, p == NULL && errno == ENOMEM, "pvalloc(~SIZE_MAX) = %p, errno %d", p,
		        errno);
		break;
	case 7:
		errno = 0;
		p = memalign(64, SIZE_MAX / 2);
		M_CHECK(t, p == NULL && errno == ENOMEM,
		        "memalign(64, SIZE_MAX / 2) = %p, errno %d", p, errno);
		break;
	case 8:
	case 9:
		if (b == NULL)
			break;
		errno = 0;
		p = realloc(b->p, (size_t)PTRDIFF_MAX + 1 + (size_t)m_range(t, 4096));
		M_CHECK(t, p == NULL && errno == ENOMEM, "realloc(p, > PTRDIFF_MAX) = %p, errno %d",
		        p, errno);
		m_check_contents(t, b, 0, b->size, "after a failed realloc");
		break;
	default:
		if (b == NULL)
			break;
		errno = 0;
		p = reallocarray(b->p, SIZE_MAX / 4, 5 + (size_t)m_range(t, 100));
		M_CHECK(t, p == NULL && errno == ENOMEM, "reallocarray overflow = %p, errno %d", p,
		        errno);
		m_check_contents(t, b, 0, b->size, "after a failed reallocarray");
		break;
	}
}

static void m_trim(struct mthread *t)
{
	t->cur = OP_TRIM;
	if (!t->sh->trim)
		return;
	if (m_range(t, 2))
		malloc_trim(0);
	else
		cairn_purge((int)m_range(t, 3) - 1);
}

static void m_free_many(struct mthread *t)
{
	for (size_t k = t->n / 2; k > 0 && t->n > 0; k--)
		m_free(t, OP_FREE, (size_t)m_range(t, t->n));
	t->cur = OP_FREE_MANY;
}

/* One operation. Returns false once an input is used up. */
static bool m_step(struct mthread *t)
{
	struct mshared *sh = t->sh;
	if (t->exhausted)
		return false;
	t->ops++;
	/* Allocations get rarer as the table fills: it stays about two thirds full. */
	if (t->n == 0 || (t->n < t->cap && m_range(t, t->cap) >= t->n)) {
		static const struct {
			enum m_op op;
			unsigned weight;
		} allocs[] = {
		    {OP_MALLOC, 40},           {OP_CALLOC, 10},        {OP_REALLOC_NULL, 5},
		    {OP_REALLOCARRAY_NULL, 3}, {OP_POSIX_MEMALIGN, 8}, {OP_ALIGNED_ALLOC, 8},
		    {OP_MEMALIGN, 6},          {OP_VALLOC, 3},         {OP_PVALLOC, 3},
		};
		uint64_t r = m_range(t, 86);
		size_t k = 0;
		while (r >= allocs[k].weight)
			r -= allocs[k++].weight;
		if (t->exhausted)
			return false;
		t->count[allocs[k].op]++;
		m_alloc(t, allocs[k].op);
		return true;
	}
	uint64_t r = m_range(t, 10000);
	size_t i = (size_t)m_range(t, t->n);
	if (t->exhausted)
		return false;
	enum m_op op = r < 3000   ? OP_FREE
	               : r < 3800 ? OP_FREE_SIZED
	               : r < 4200 ? OP_FREE_ALIGNED_SIZED
	               : r < 4450 ? OP_REALLOC_ZERO
	               : r < 4550 ? OP_REALLOCARRAY_ZERO
	               : r < 6550 ? OP_REALLOC
	               : r < 7750 ? OP_REALLOC_NEAR
	               : r < 8150 ? OP_REALLOCARRAY
	               : r < 8900 ? OP_USABLE
	               : r < 9400 ? OP_GIVE
	               : r < 9900 ? OP_TAKE
	               : r < 9985 ? OP_FAIL
	               : r < 9992 ? OP_TRIM
	                          : OP_FREE_MANY;
	if ((op == OP_GIVE || op == OP_TAKE) && !sh->handoff)
		op = OP_USABLE;
	t->count[op]++;
	switch (op) {
	case OP_FREE:
	case OP_FREE_SIZED:
	case OP_FREE_ALIGNED_SIZED:
	case OP_REALLOC_ZERO:
	case OP_REALLOCARRAY_ZERO:
		m_free(t, op, i);
		break;
	case OP_REALLOC:
	case OP_REALLOC_NEAR:
	case OP_REALLOCARRAY:
		m_realloc(t, op, i);
		break;
	case OP_USABLE:
		m_usable(t, i);
		break;
	case OP_GIVE:
		m_give(t, i);
		break;
	case OP_TAKE:
		m_take(t);
		break;
	case OP_FAIL:
		m_fail(t);
		break;
	case OP_TRIM:
		m_trim(t);
		break;
	default:
		m_free_many(t);
		break;
	}
	return true;
}

/* Frees every block the thread holds, checking each; with `pool`, the pool's too. */
static void m_free_all(struct mthread *t, bool pool)
{
	struct mshared *sh = t->sh;
	while (t->n > 0)
		m_free(t, OP_FREE, t->n - 1);
	while (pool) {
		pthread_mutex_lock(&sh->lock);
		bool got = sh->npool > 0;
		if (got)
			t->blocks[t->n++] = sh->pool[--sh->npool];
		pthread_mutex_unlock(&sh->lock);
		if (!got)
			break;
		m_free(t, OP_FREE, 0);
	}
}

#endif
