/* SPDX-License-Identifier: MIT */
/* arenas.c: explicit arenas and caches through jemalloc's interface.
 * Runs with narenas:2. Cases:
 *   create    arenas.create numbers on from the automatic arenas and
 *             arenas.narenas counts them; hooks refused; initialized;
 *   place     small, large, huge and aligned blocks of MALLOCX_ARENA(i)
 *             are in arena i (arenas.lookup), malloc's never are;
 *             rallocx with the flag moves within it;
 *   free      blocks freed with free, dallocx, sdallocx and from another
 *             thread, then the arena reused;
 *   reset     reset and destroy give the chunks back (lookup of a block
 *             that was in it answers EINVAL); reset keeps the arena
 *             usable; destroy frees its number for the next create;
 *   cycles    many create/use/destroy cycles do not grow the mapped
 *             address space (/proc/self/statm);
 *   errors    reset/destroy of automatic, unknown and ALL arenas EFAULT;
 *             arena.<narenas>.purge means all; dss, extent_hooks,
 *             decay_ms, nhbins;
 *   tcache    tcache.create/flush/destroy with MALLOCX_TCACHE, ids not
 *             live EFAULT, MALLOCX_TCACHE_NONE;
 *   fork      a child forked after arenas were created allocates from
 *             and destroys them;
 *   stats     a created arena's blocks are in stats.allocated and in its
 *             own stats.arenas.<i>.* (small, large) and the merged ones;
 *             destroyed, its name is gone and the totals fall back; the
 *             purges of its dirty and of its muzzy pages count apart. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"

const char *malloc_conf = "narenas:2";

static unsigned narenas(void)
{
	unsigned n = 0;
	size_t len = sizeof n;
	CHECK(mallctl("arenas.narenas", &n, &len, NULL, 0) == 0, "arenas.narenas");
	return n;
}

static unsigned create(void)
{
	unsigned i = ~0u;
	size_t len = sizeof i;
	int rc = mallctl("arenas.create", &i, &len, NULL, 0);
	REQUIRE(rc == 0, "arenas.create: rc %d", rc);
	return i;
}

/* The arena holding p, or -errno. */
static long lookup(void *p)
{
	unsigned i = ~0u;
	size_t len = sizeof i;
	int rc = mallctl("arenas.lookup", &i, &len, &p, sizeof p);
	return rc == 0 ? (long)i : -rc;
}

static int arena_op(unsigned i, const char *op)
{
	char name[64];
	snprintf(name, sizeof name, "arena.%u.%s", i, op);
	return mallctl(name, NULL, NULL, NULL, 0);
}

static size_t vm_pages(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	size_t size = 0;
	if (f != NULL) {
		if (fscanf(f, "%zu", &size) != 1)
			size = 0;
		fclose(f);
	}
	return size;
}

static const size_t sizes[] = {8, 100, 4096, 30000, 100000, 900000, 3 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_create(void)
{
	unsigned before = narenas();
	CHECK(before == 2, "narenas:2 gives 2 automatic arenas, read %u", before);
	unsigned a = create(), b = create();
	CHECK(a == 2 && b == 3, "created arenas numbered on: %u, %u", a, b);
	CHECK(narenas() == 4, "arenas.narenas counts them: %u", narenas());
	void *hooks = (void *)&hooks;
	unsigned i;
	size_t len = sizeof i;
	CHECK(mallctl("arenas.create", &i, &len, &hooks, sizeof hooks) == EINVAL,
	      "arenas.create with extent hooks: EINVAL");
	hooks = NULL;
	CHECK(mallctl("arenas.create", &i, &len, &hooks, sizeof hooks) == 0 && i == 4,
	      "arenas.create with NULL hooks: %u", i);
	bool init = false;
	size_t blen = sizeof init;
	char name[64];
	snprintf(name, sizeof name, "arena.%u.initialized", b);
	CHECK(mallctl(name, &init, &blen, NULL, 0) == 0 && init, "%s", name);
	CHECK(arena_op(i, "destroy") == 0, "destroy %u", i);
	snprintf(name, sizeof name, "arena.%u.initialized", i);
	CHECK(mallctl(name, &init, &blen, NULL, 0) == 0 && !init, "destroyed: not initialized");
	CHECK(arena_op(a, "destroy") == 0 && arena_op(b, "destroy") == 0, "destroy both");
}

static void test_place(void)
{
	unsigned a = create();
	void *p[NSIZES], *q[NSIZES];
	for (size_t k = 0; k < NSIZES; k++) {
		p[k] = mallocx(sizes[k], MALLOCX_ARENA(a));
		q[k] = malloc(sizes[k]);
		REQUIRE(p[k] != NULL && q[k] != NULL, "size %zu", sizes[k]);
		memset(p[k], 1, sizes[k]);
		CHECK(lookup(p[k]) == a, "mallocx(%zu, ARENA(%u)) is in arena %ld", sizes[k], a,
		      lookup(p[k]));
		CHECK(lookup(q[k]) >= 0 && lookup(q[k]) < 2, "malloc(%zu) is in arena %ld",
		      sizes[k], lookup(q[k]));
	}
	for (size_t al = 64; al <= (4u << 20); al <<= 3) {
		void *r = mallocx(1000, MALLOCX_ARENA(a) | MALLOCX_ALIGN(al));
		REQUIRE(r != NULL, "aligned %zu", al);
		CHECK(((uintptr_t)r & (al - 1)) == 0 && lookup(r) == a, "aligned %zu in arena", al);
		CHECK(sallocx(r, 0) == nallocx(1000, MALLOCX_ARENA(a) | MALLOCX_ALIGN(al)),
		      "nallocx agrees for align %zu", al);
		dallocx(r, 0);
	}
	void *z = mallocx(5000, MALLOCX_ARENA(a) | MALLOCX_ZERO);
	CHECK(z != NULL && ((char *)z)[4999] == 0 && lookup(z) == a, "zeroed");
	z = rallocx(z, 200000, MALLOCX_ARENA(a));
	CHECK(z != NULL && lookup(z) == a, "rallocx moves within the arena");
	z = rallocx(z, 40, MALLOCX_ARENA(a));
	CHECK(z != NULL && lookup(z) == a, "rallocx shrinks within the arena");
	dallocx(z, 0);
	for (size_t k = 0; k < NSIZES; k++) {
		if (k % 2)
			free(p[k]);
		else
			sdallocx(p[k], sizes[k], 0);
		free(q[k]);
	}
	CHECK(arena_op(a, "destroy") == 0, "destroy");
}

struct job {
	void **blocks;
	size_t n;
};

static void *free_all(void *arg)
{
	struct job *j = arg;
	for (size_t k = 0; k < j->n; k++)
		free(j->blocks[k]);
	return NULL;
}

static void test_free_reset(void)
{
	unsigned a = create();
	enum { N = 3000 };
	static void *blocks[N];
	for (size_t k = 0; k < N; k++) {
		blocks[k] = mallocx(sizes[k % NSIZES], MALLOCX_ARENA(a));
		REQUIRE(blocks[k] != NULL, "block %zu", k);
	}
	struct job j = {blocks, N};
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, free_all, &j) == 0, "thread");
	pthread_join(t, NULL);
	/* Reused after the remote frees. */
	for (size_t k = 0; k < N; k++) {
		blocks[k] = mallocx(sizes[k % NSIZES], MALLOCX_ARENA(a));
		REQUIRE(blocks[k] != NULL, "again %zu", k);
		memset(blocks[k], 2, sizes[k % NSIZES] < 64 ? sizes[k % NSIZES] : 64);
	}
	void *small = blocks[0], *large = blocks[3], *huge = blocks[NSIZES - 1];
	CHECK(lookup(small) == a && lookup(large) == a && lookup(huge) == a, "in the arena");
	size_t vm = vm_pages();
	CHECK(arena_op(a, "reset") == 0, "reset");
	CHECK(vm_pages() < vm, "reset gives address space back: %zu -> %zu pages", vm, vm_pages());
	CHECK(lookup(small) == -EINVAL && lookup(large) == -EINVAL,
	      "blocks of a reset arena are gone: %ld %ld", lookup(small), lookup(large));
	CHECK(lookup(huge) != a, "the huge block left the arena: %ld", lookup(huge));
	void *p = mallocx(100, MALLOCX_ARENA(a));
	CHECK(p != NULL && lookup(p) == a, "usable after reset");
	CHECK(arena_op(a, "destroy") == 0, "destroy");
	CHECK(lookup(p) == -EINVAL, "destroyed: its block is gone");
	CHECK(arena_op(a, "reset") == EFAULT && arena_op(a, "destroy") == EFAULT,
	      "a destroyed arena: EFAULT");
	CHECK(create() == a, "destroy frees the number for the next create");
	CHECK(arena_op(a, "destroy") == 0, "destroy again");
}

static void test_cycles(void)
{
	size_t first = 0;
	for (int round = 0; round < 200; round++) {
		unsigned a = create();
		for (size_t k = 0; k < NSIZES; k++)
			for (int r = 0; r < 4; r++)
				REQUIRE(mallocx(sizes[k], MALLOCX_ARENA(a)) != NULL, "alloc");
		REQUIRE(arena_op(a, "destroy") == 0, "destroy");
		if (round == 10)
			first = vm_pages();
	}
	size_t last = vm_pages();
	CHECK(last <= first + 1024, "200 cycles: address space %zu -> %zu pages", first, last);
}

static void test_errors(void)
{
	CHECK(arena_op(0, "reset") == EFAULT && arena_op(1, "destroy") == EFAULT,
	      "automatic arenas: EFAULT");
	CHECK(arena_op(4096, "reset") == EFAULT, "ARENAS_ALL reset: EFAULT");
	CHECK(arena_op(narenas(), "destroy") == EFAULT, "one past the last: EFAULT");
	CHECK(arena_op(narenas() + 1, "reset") == ENOENT, "two past the last: ENOENT");
	CHECK(arena_op(narenas(), "purge") == 0 && arena_op(narenas(), "decay") == 0,
	      "arena.<narenas>.purge means all");
	unsigned a = create();
	CHECK(arena_op(a, "purge") == 0 && arena_op(a, "decay") == 0, "purge a created arena");
	unsigned v;
	size_t len = sizeof v;
	CHECK(mallctl("arena.0.reset", &v, &len, NULL, 0) == EPERM, "reset reads nothing");
	char name[64];
	const char *dss = NULL;
	len = sizeof dss;
	snprintf(name, sizeof name, "arena.%u.dss", a);
	CHECK(mallctl(name, &dss, &len, NULL, 0) == 0 && strcmp(dss, "disabled") == 0, "dss");
	const char *w = "disabled";
	CHECK(mallctl(name, NULL, NULL, &w, sizeof w) == 0, "dss: disabled writes");
	w = "primary";
	CHECK(mallctl(name, NULL, NULL, &w, sizeof w) == EFAULT, "dss: primary EFAULT");
	w = "bogus";
	CHECK(mallctl(name, NULL, NULL, &w, sizeof w) == EINVAL, "dss: bogus EINVAL");
	void *hooks = &hooks;
	len = sizeof hooks;
	snprintf(name, sizeof name, "arena.%u.extent_hooks", a);
	CHECK(mallctl(name, &hooks, &len, NULL, 0) == 0 && hooks == NULL, "extent_hooks NULL");
	hooks = &hooks;
	CHECK(mallctl(name, NULL, NULL, &hooks, sizeof hooks) == EINVAL, "hooks write EINVAL");
	ssize_t ms = 0, set = 1234;
	len = sizeof ms;
	snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", a);
	CHECK(mallctl(name, &ms, &len, &set, sizeof set) == 0, "dirty_decay_ms write");
	CHECK(mallctl(name, &ms, &len, NULL, 0) == 0 && ms == 1234, "reads back: %zd", ms);
	set = -2;
	CHECK(mallctl(name, NULL, NULL, &set, sizeof set) == EFAULT, "-2: EFAULT");
	set = 0;
	CHECK(mallctl("arenas.muzzy_decay_ms", NULL, NULL, &set, sizeof set) == 0,
	      "arenas.muzzy_decay_ms write");
	unsigned b = create();
	snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", b);
	CHECK(mallctl(name, &ms, &len, NULL, 0) == 0 && ms == 0, "new arena takes it: %zd", ms);
	unsigned nh = 0;
	len = sizeof nh;
	size_t tmax = 0, zl = sizeof tmax;
	mallctl("arenas.tcache_max", &tmax, &zl, NULL, 0);
	CHECK(mallctl("arenas.nhbins", &nh, &len, NULL, 0) == 0 && nh > 0, "nhbins %u", nh);
	size_t last = 0;
	snprintf(name, sizeof name, "arenas.bin.%u.size", nh - 1);
	zl = sizeof last;
	CHECK(mallctl(name, &last, &zl, NULL, 0) == 0 && last == tmax,
	      "the last cached class is tcache_max: %zu %zu", last, tmax);
	int x;
	void *stack = &x;
	len = sizeof v;
	CHECK(mallctl("arenas.lookup", &v, &len, &stack, sizeof stack) == EINVAL,
	      "lookup of a stack address: EINVAL");
	CHECK(arena_op(a, "destroy") == 0 && arena_op(b, "destroy") == 0, "destroy");
}

static void test_tcache(void)
{
	unsigned tc = ~0u;
	size_t len = sizeof tc;
	REQUIRE(mallctl("tcache.create", &tc, &len, NULL, 0) == 0, "tcache.create");
	void *p[64];
	for (int k = 0; k < 64; k++) {
		p[k] = mallocx(48, MALLOCX_TCACHE(tc));
		REQUIRE(p[k] != NULL, "tcache alloc");
		memset(p[k], 3, 48);
	}
	for (int k = 0; k < 32; k++)
		dallocx(p[k], MALLOCX_TCACHE(tc));
	/* The blocks freed into the cache come back from it. */
	static void *again[400];
	int reused = 0;
	for (int k = 0; k < 400; k++) {
		again[k] = mallocx(48, MALLOCX_TCACHE(tc));
		REQUIRE(again[k] != NULL, "tcache alloc again");
		for (int m = 0; m < 32; m++)
			reused += again[k] == p[m];
	}
	CHECK(reused == 32, "the cache reused %d of the 32 blocks freed into it", reused);
	for (int k = 32; k < 64; k++)
		free(p[k]); /* plain free of a cache's block */
	for (int k = 0; k < 400; k++)
		dallocx(again[k], k % 2 ? MALLOCX_TCACHE(tc) : 0);
	CHECK(mallctl("tcache.flush", NULL, NULL, &tc, sizeof tc) == 0, "tcache.flush");
	CHECK(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == 0, "tcache.destroy");
	CHECK(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == EFAULT,
	      "destroyed twice: EFAULT");
	CHECK(mallctl("tcache.flush", NULL, NULL, &tc, sizeof tc) == EFAULT,
	      "flush of a dead id: EFAULT");
	unsigned dead = 4000;
	CHECK(mallctl("tcache.flush", NULL, NULL, &dead, sizeof dead) == EFAULT,
	      "an id never made: EFAULT");
	CHECK(mallctl("tcache.flush", NULL, NULL, NULL, 0) == EFAULT, "no id: EFAULT");
	void *n = mallocx(100000, MALLOCX_TCACHE_NONE);
	void *s = mallocx(64, MALLOCX_TCACHE_NONE);
	CHECK(n != NULL && s != NULL && lookup(n) < 2 && lookup(s) < 2, "TCACHE_NONE");
	dallocx(n, MALLOCX_TCACHE_NONE);
	struct job j = {&s, 1};
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, free_all, &j) == 0, "thread");
	pthread_join(t, NULL);
}

static void test_fork(void)
{
	unsigned a = create();
	void *p = mallocx(300, MALLOCX_ARENA(a));
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		void *q = mallocx(300, MALLOCX_ARENA(a));
		int ok = q != NULL && lookup(q) == a && lookup(p) == a;
		free(p);
		free(q);
		ok = ok && arena_op(a, "destroy") == 0;
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child uses and destroys arena");
	CHECK(lookup(p) == a, "the parent's block stays");
	free(p);
	CHECK(arena_op(a, "destroy") == 0, "destroy");
}

static uint64_t stat_u64(const char *name)
{
	size_t v = 0, len = sizeof v;
	int rc = mallctl(name, &v, &len, NULL, 0);
	CHECK(rc == 0 && len == sizeof v, "%s: rc %d", name, rc);
	return v;
}

static void epoch(void)
{
	uint64_t e = 1;
	CHECK(mallctl("epoch", NULL, NULL, &e, sizeof e) == 0, "epoch");
}

static void test_stats(void)
{
	unsigned i = create();
	char name[96];
	epoch();
	uint64_t allocated0 = stat_u64("stats.allocated");
	uint64_t merged0 = stat_u64("stats.arenas.4096.small.allocated");
	enum { N = 100 };
	void *small[N];
	for (int k = 0; k < N; k++)
		small[k] = mallocx(100, MALLOCX_ARENA(i));
	void *large = mallocx(200000, MALLOCX_ARENA(i));
	size_t small_size = sallocx(small[0], 0), large_size = sallocx(large, 0);
	epoch();
	snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", i);
	/* The arena's shared heap counts the blocks in its bin as in use
	 * (as thread heaps do): at most one slab's more. */
	size_t slab = 0, size = 0, zlen = sizeof size;
	for (unsigned j = 0; size != small_size && j < 64; j++) {
		snprintf(name, sizeof name, "arenas.bin.%u.size", j);
		zlen = sizeof size;
		if (mallctl(name, &size, &zlen, NULL, 0) != 0)
			break;
		snprintf(name, sizeof name, "arenas.bin.%u.slab_size", j);
		zlen = sizeof slab;
		CHECK(mallctl(name, &slab, &zlen, NULL, 0) == 0, "%s", name);
	}
	CHECK(size == small_size && slab >= small_size, "the class of %zu found", small_size);
	snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", i);
	CHECK(stat_u64(name) >= N * small_size && stat_u64(name) <= N * small_size + 2 * slab,
	      "%s: %llu, blocks %zu", name, (unsigned long long)stat_u64(name), N * small_size);
	snprintf(name, sizeof name, "stats.arenas.%u.large.allocated", i);
	CHECK(stat_u64(name) == large_size, "%s: %llu", name, (unsigned long long)stat_u64(name));
	snprintf(name, sizeof name, "stats.arenas.%u.pactive", i);
	CHECK(stat_u64(name) > 0, "%s", name);
	CHECK(stat_u64("stats.arenas.4096.small.allocated") >= merged0 + N * small_size,
	      "the merged arena counts them");
	uint64_t grown = stat_u64("stats.allocated") - allocated0;
	CHECK(grown >= N * small_size + large_size, "stats.allocated grew by %llu",
	      (unsigned long long)grown);
	for (int k = 0; k < N; k++)
		dallocx(small[k], 0);
	dallocx(large, 0);
	CHECK(arena_op(i, "destroy") == 0, "destroy");

	/* Dirty pages made muzzy at once, muzzy ones kept until a purge. */
	unsigned m = create();
	ssize_t zero = 0, long_ms = 1000000;
	snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", m);
	CHECK(mallctl(name, NULL, NULL, &zero, sizeof zero) == 0, "%s", name);
	snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", m);
	CHECK(mallctl(name, NULL, NULL, &long_ms, sizeof long_ms) == 0, "%s", name);
	dallocx(mallocx(200000, MALLOCX_ARENA(m)), 0);
	CHECK(arena_op(m, "decay") == 0, "decay");
	epoch();
	char dn[96], mn[96];
	snprintf(dn, sizeof dn, "stats.arenas.%u.dirty_purged", m);
	snprintf(mn, sizeof mn, "stats.arenas.%u.muzzy_purged", m);
	uint64_t dirty_purged = stat_u64(dn), muzzy_purged = stat_u64(mn);
	CHECK(dirty_purged >= 200000 / 4096 && muzzy_purged == 0,
	      "decay made the run's pages muzzy: dirty_purged %llu, muzzy_purged %llu",
	      (unsigned long long)dirty_purged, (unsigned long long)muzzy_purged);
	CHECK(arena_op(m, "purge") == 0, "purge");
	epoch();
	CHECK(stat_u64(dn) == dirty_purged && stat_u64(mn) >= 200000 / 4096,
	      "purge gave the muzzy pages back: dirty_purged %llu, muzzy_purged %llu",
	      (unsigned long long)stat_u64(dn), (unsigned long long)stat_u64(mn));
	CHECK(arena_op(m, "destroy") == 0, "destroy");
	epoch();
	size_t v, len = sizeof v;
	snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", i);
	CHECK(mallctl(name, &v, &len, NULL, 0) == ENOENT, "%s of a destroyed arena: ENOENT", name);
	CHECK(stat_u64("stats.allocated") < allocated0 + N * small_size,
	      "stats.allocated fell back: %llu from %llu",
	      (unsigned long long)stat_u64("stats.allocated"), (unsigned long long)allocated0);
}

int main(void)
{
	TEST_CASE("create") test_create();
	TEST_CASE("place") test_place();
	TEST_CASE("free_reset") test_free_reset();
	TEST_CASE("cycles") test_cycles();
	TEST_CASE("errors") test_errors();
	TEST_CASE("tcache") test_tcache();
	TEST_CASE("fork") test_fork();
	TEST_CASE("stats") test_stats();
	return CHECK_DONE();
}
