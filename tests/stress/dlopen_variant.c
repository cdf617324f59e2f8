/* SPDX-License-Identifier: MIT */
/* dlopen_variant.c: lib/libcairn-dlopen.so, the build of cairn that is safe to dlopen.
 *
 * libcairn.so.0 uses initial-exec TLS, which a library can only have if it is loaded at start-up
 * (its DT_FLAGS carries STATIC_TLS); libcairn-dlopen.so must not, so that dlopen never fails for
 * lack of static TLS space. This test checks that with readelf, then dlopens the variant with
 * RTLD_LOCAL | RTLD_NOW next to the process allocator (libcairn.so.0, which this program is
 * linked with), takes its malloc, calloc, realloc, free and malloc_usable_size through dlsym on
 * the handle, and uses them from four threads: two that existed before the dlopen and two
 * started after it. The threads allocate, write, reallocate, check and free blocks of every
 * range, and hand one block in eight to another thread to free. A last thread uses the variant
 * after the first four have exited (their heaps torn down). The two allocators share nothing,
 * so the process allocator must keep working throughout. The library stays loaded. */
#define _GNU_SOURCE
#include "check.h"
#include "rng.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 4
#define SLOTS    256
#define OPS      100000
#define QCAP     1024
#define SEED     0xd1e0d1e0abcdef01ull
#define KiB      ((size_t)1024)

typedef uint64_t __attribute__((may_alias)) word_t;

/* The variant's entry points. */
static void *(*v_malloc)(size_t);
static void *(*v_calloc)(size_t, size_t);
static void *(*v_realloc)(void *, size_t);
static void (*v_free)(void *);
static size_t (*v_usable)(void *);

struct block {
	unsigned char *p;
	size_t size;
};

struct queue {
	pthread_mutex_t lock;
	size_t count;
	struct block items[QCAP];
};
static struct queue queues[NTHREADS];

static pthread_barrier_t loaded, finished;
static atomic_long errors, remote_frees, variant_bytes;

static void fail(const char *what, const void *p, size_t size)
{
	if (atomic_fetch_add(&errors, 1) < 20)
		fprintf(stderr, "dlopen_variant: %s (block %p, %zu bytes)\n", what, p, size);
}

static inline uint64_t pattern(uintptr_t key, size_t off)
{
	uint64_t x = (key + off) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

/* The pattern: whole words over the first 16 KiB, and the last byte when it lies past them. */
static size_t words_end(size_t size)
{
	return size < 16 * KiB ? size & ~(size_t)7 : 16 * KiB;
}

static void fill(struct block b)
{
	size_t end = words_end(b.size);
	for (size_t off = 0; off < end; off += 8)
		*(word_t *)(b.p + off) = pattern((uintptr_t)b.p, off);
	if (b.size > end)
		b.p[b.size - 1] = (unsigned char)(uintptr_t)b.p;
}

/* Checks the pattern written at key for a block of b.size bytes, over its first limit bytes. */
static int intact(struct block b, uintptr_t key, size_t limit)
{
	size_t end = words_end(b.size);
	for (size_t off = 0; off < end && off + 8 <= limit; off += 8)
		if (*(word_t *)(b.p + off) != pattern(key, off))
			return 0;
	return b.size == end || limit < b.size || b.p[b.size - 1] == (unsigned char)key;
}

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	if (r < 900)
		return 1 + x % 2048;
	if (r < 990)
		return 2049 + x % (30 * KiB);
	if (r < 998)
		return 40 * KiB + x % (900 * KiB);
	return 1100 * KiB + x % (2048 * KiB);
}

static struct block v_new(uint64_t *rng)
{
	struct block b = {NULL, pick_size(rng)};
	int zeroed = rng_next(rng) % 8 == 0;
	b.p = zeroed ? v_calloc(1, b.size) : v_malloc(b.size);
	if (b.p == NULL || (uintptr_t)b.p % 16 != 0 || v_usable(b.p) < b.size) {
		fail("bad block from the variant", b.p, b.size);
		if (b.p == NULL)
			exit(1);
	}
	if (zeroed)
		for (size_t off = 0; off < b.size; off += 251)
			if (b.p[off] != 0) {
				fail("calloc memory not zeroed", b.p, b.size);
				break;
			}
	fill(b);
	atomic_fetch_add_explicit(&variant_bytes, (long)b.size, memory_order_relaxed);
	return b;
}

static void v_drop(struct block b, const char *when)
{
	if (!intact(b, (uintptr_t)b.p, b.size))
		fail(when, b.p, b.size);
	v_free(b.p);
}

static void drain(int self)
{
	struct queue *q = &queues[self];
	pthread_mutex_lock(&q->lock);
	size_t n = q->count;
	for (size_t i = 0; i < n; i++)
		v_drop(q->items[i], "corrupted block freed by another thread");
	q->count = 0;
	pthread_mutex_unlock(&q->lock);
	atomic_fetch_add(&remote_frees, (long)n);
}

static void use_variant(int self, long ops)
{
	uint64_t rng = SEED + 31 * (uint64_t)self;
	struct block live[SLOTS] = {{NULL, 0}};
	for (long op = 0; op < ops; op++) {
		struct block *s = &live[rng_next(&rng) % SLOTS];
		uint64_t what = rng_next(&rng) % 8;
		if (s->p != NULL && what == 0) {
			struct queue *q = &queues[(self + 1) % NTHREADS];
			pthread_mutex_lock(&q->lock);
			int handed = q->count < QCAP;
			if (handed)
				q->items[q->count++] = *s;
			pthread_mutex_unlock(&q->lock);
			if (!handed)
				v_drop(*s, "corrupted block");
		} else if (s->p != NULL && what < 3) {
			size_t new_size = pick_size(&rng);
			uintptr_t key = (uintptr_t)s->p;
			unsigned char *p = v_realloc(s->p, new_size);
			if (p == NULL) {
				fail("realloc failed", s->p, new_size);
				continue;
			}
			struct block moved = {p, s->size};
			if (!intact(moved, key, new_size))
				fail("realloc lost data", p, new_size);
			*s = (struct block){p, new_size};
			fill(*s);
			continue;
		} else if (s->p != NULL) {
			v_drop(*s, "corrupted block");
		}
		*s = v_new(&rng);
		if (op % 32 == 0)
			drain(self);
		if (op % 1024 == 0) {
			/* The process allocator, alongside. */
			void *m = malloc(100 + (size_t)op % 5000);
			if (m == NULL)
				fail("process malloc failed", NULL, 0);
			free(m);
		}
	}
	for (int i = 0; i < SLOTS; i++)
		if (live[i].p != NULL)
			v_drop(live[i], "corrupted block at the end");
}

/* Started before the dlopen: waits for it, then uses the variant. */
static void *old_thread(void *arg)
{
	void *mine = malloc(1000); /* this thread has a process heap already */
	pthread_barrier_wait(&loaded);
	use_variant((int)(intptr_t)arg, OPS);
	pthread_barrier_wait(&finished);
	drain((int)(intptr_t)arg);
	free(mine);
	return NULL;
}

static void *new_thread(void *arg)
{
	use_variant((int)(intptr_t)arg, OPS);
	pthread_barrier_wait(&finished);
	drain((int)(intptr_t)arg);
	return NULL;
}

static void *late_thread(void *arg)
{
	use_variant(0, OPS / 4);
	for (int i = 0; i < NTHREADS; i++)
		drain(i);
	return NULL;
}

/* The FLAGS line of `readelf -d`, or "" when there is none; -1 if readelf did not run. */
static int readelf_flags(const char *path, char *out, size_t len)
{
	char cmd[PATH_MAX + 64], line[512];
	snprintf(cmd, sizeof cmd, "readelf -d '%s' 2>/dev/null", path);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	int lines = 0;
	out[0] = '\0';
	while (fgets(line, sizeof line, f) != NULL) {
		lines++;
		if (strstr(line, "(FLAGS)") != NULL)
			snprintf(out, len, "%s", line);
	}
	int st = pclose(f);
	return st == 0 && lines > 0 ? 0 : -1;
}

/* Counts relocations of the initial-exec model (R_X86_64_TPOFF*) in `readelf -rW`. */
static int count_tpoff_relocs(const char *path)
{
	char cmd[PATH_MAX + 64], line[512];
	snprintf(cmd, sizeof cmd, "readelf -rW '%s' 2>/dev/null", path);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	int n = 0;
	while (fgets(line, sizeof line, f) != NULL)
		n += strstr(line, "TPOFF") != NULL;
	return pclose(f) == 0 ? n : -1;
}

int main(void)
{
	char lib[PATH_MAX + 64], variant[PATH_MAX + 64], flags[512];
	if (getenv("CAIRN_LIB") != NULL) {
		snprintf(lib, sizeof lib, "%s", getenv("CAIRN_LIB"));
	} else {
		/* build/tests/stress/dlopen_variant -> lib/libcairn.so.0 */
		ssize_t n = readlink("/proc/self/exe", lib, PATH_MAX);
		REQUIRE(n > 0, "readlink /proc/self/exe");
		lib[n] = '\0';
		for (int i = 0; i < 4; i++)
			*strrchr(lib, '/') = '\0';
		strcat(lib, "/lib/libcairn.so.0");
	}
	snprintf(variant, sizeof variant, "%s", lib);
	*strrchr(variant, '/') = '\0';
	strcat(variant, "/libcairn-dlopen.so");
	REQUIRE(access(variant, R_OK) == 0, "%s is missing", variant);

	/* The ELF flags. */
	REQUIRE(readelf_flags(variant, flags, sizeof flags) == 0, "readelf -d %s failed", variant);
	CHECK(strstr(flags, "STATIC_TLS") == NULL, "libcairn-dlopen.so needs static TLS: %s",
	      flags);
	int tpoff = count_tpoff_relocs(variant);
	CHECK(tpoff == 0, "libcairn-dlopen.so has %d initial-exec TLS relocations", tpoff);
	if (readelf_flags(lib, flags, sizeof flags) == 0)
		fprintf(stderr, "dlopen_variant: libcairn.so.0 %s",
		        flags[0] ? flags : "has no FLAGS\n");

	pthread_barrier_init(&loaded, NULL, 3);
	pthread_barrier_init(&finished, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++)
		pthread_mutex_init(&queues[i].lock, NULL);
	pthread_t tids[NTHREADS];
	for (int i = 0; i < 2; i++) {
		int rc = pthread_create(&tids[i], NULL, old_thread, (void *)(intptr_t)i);
		REQUIRE(rc == 0, "pthread_create: error %d", rc);
	}

	void *h = dlopen(variant, RTLD_LOCAL | RTLD_NOW);
	REQUIRE(h != NULL, "dlopen %s: %s", variant, dlerror());
	v_malloc = (void *(*)(size_t))dlsym(h, "malloc");
	v_calloc = (void *(*)(size_t, size_t))dlsym(h, "calloc");
	v_realloc = (void *(*)(void *, size_t))dlsym(h, "realloc");
	v_free = (void (*)(void *))dlsym(h, "free");
	v_usable = (size_t(*)(void *))dlsym(h, "malloc_usable_size");
	const char *(*v_version)(void) = (const char *(*)(void))dlsym(h, "cairn_version");
	REQUIRE(v_malloc && v_calloc && v_realloc && v_free && v_usable && v_version,
	        "dlsym on the handle failed");

	Dl_info info;
	CHECK(dladdr((void *)v_malloc, &info) != 0 && strstr(info.dli_fname, "libcairn-dlopen"),
	      "the variant's malloc is not in libcairn-dlopen.so");
	CHECK((void *)v_malloc != dlsym(RTLD_DEFAULT, "malloc"),
	      "the variant's malloc is the process malloc");
	CHECK(v_version() != NULL && strcmp(v_version(), "0.1.0") == 0, "cairn_version: %s",
	      v_version() ? v_version() : "(null)");

	pthread_barrier_wait(&loaded);
	for (int i = 2; i < NTHREADS; i++) {
		int rc = pthread_create(&tids[i], NULL, new_thread, (void *)(intptr_t)i);
		REQUIRE(rc == 0, "pthread_create: error %d", rc);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(tids[i], NULL);

	pthread_t late;
	int rc = pthread_create(&late, NULL, late_thread, NULL);
	REQUIRE(rc == 0, "pthread_create: error %d", rc);
	pthread_join(late, NULL);

	/* The variant from main too, and the process allocator after all this. */
	void *a = v_malloc(12345), *b = malloc(12345);
	CHECK(a != NULL && b != NULL, "malloc from main failed");
	v_free(a);
	free(b);

	fprintf(stderr, "dlopen_variant: %ld MiB through the variant, %ld remote frees\n",
	        atomic_load(&variant_bytes) >> 20, atomic_load(&remote_frees));
	CHECK(atomic_load(&errors) == 0, "%ld errors", atomic_load(&errors));
	CHECK(atomic_load(&remote_frees) > 1000, "only %ld remote frees",
	      atomic_load(&remote_frees));
	for (int i = 0; i < NTHREADS; i++)
		CHECK(queues[i].count == 0, "queue %d still holds %zu blocks", i, queues[i].count);
	return CHECK_DONE();
}
