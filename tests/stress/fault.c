/* SPDX-License-Identifier: MIT */
/* fault.c: every failure of the kernel's mapping calls becomes NULL with ENOMEM, or a purge
 * that is tried again later, never a crash, a lock left held or a damaged structure.
 *
 * The test runs itself again under several schedules, each child on the fault-injection build
 * of cairn (build/fault/libcairn.so.0, or the one in CAIRN_FAULT_DIR, found through
 * LD_LIBRARY_PATH ahead of the RUNPATH), where mmap, munmap, madvise and mremap fail as
 * CAIRN_FAULT says (see src/os/os_linux.c). The child runs a mixed workload on four threads:
 * malloc of small, large and huge sizes, calloc, realloc growing and shrinking, aligned
 * allocation, frees here and on other threads, malloc_trim and cairn_purge. It checks that
 * each failed request returned NULL (or ENOMEM from posix_memalign) with errno ENOMEM, that a
 * failed realloc left the block as it was, that every block it got holds what was written
 * into it, calloc's zeros included, and that free never changes errno. Where the schedule has
 * a limit the faults stop there, and the same workload must then run with no failure at all.
 * One thread forks now and then, and its child allocates.
 * Last, a fork whose child allocates, and four threads that allocate, must finish (a lock left
 * held would hang them: the child is killed after a time limit). The parent prints
 * each schedule with the faults injected, read from the line the library prints at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn.h"
#include "child.h"
#include "rng.h"

#define KiB      ((size_t)1 << 10)
#define MiB      ((size_t)1 << 20)
#define NTHREADS 4
#define SLOTS    48

struct block {
	unsigned char *p;
	size_t n;
	unsigned char tag; /* every byte is tag, or 0 for calloc's untouched blocks */
};

static uint64_t (*fault_count)(void);
static int rounds = 1000;
static int expect_no_failure; /* the faults have stopped: nothing may fail now */
static _Atomic int bad_fork, bad_errno, bad_content, bad_free_errno, unexpected_null, failures;
static struct block exchange[16]; /* blocks passed to another thread to free */
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int reports;

static void report(const char *what, size_t n)
{
	pthread_mutex_lock(&report_lock);
	if (reports++ < 20)
		fprintf(stderr, "  fault child: %s (size %zu)\n", what, n);
	pthread_mutex_unlock(&report_lock);
}

/* A request returned NULL (or posix_memalign an error): errno (or the error) must be ENOMEM,
 * and nothing may fail once the faults have stopped. */
static void failed(int err, size_t n)
{
	atomic_fetch_add(&failures, 1);
	if (err != ENOMEM) {
		atomic_fetch_add(&bad_errno, 1);
		report("failed without ENOMEM", n);
	}
	if (expect_no_failure) {
		atomic_fetch_add(&unexpected_null, 1);
		report("failed after the faults stopped", n);
	}
}

/* The bytes checked: all of a block up to 64 KiB, else its ends and one byte a page. */
static int verify(const unsigned char *p, size_t n, unsigned char tag)
{
	if (n <= 64 * KiB) {
		for (size_t i = 0; i < n; i++)
			if (p[i] != tag)
				return 0;
		return 1;
	}
	for (size_t i = 0; i < 4 * KiB; i++)
		if (p[i] != tag || p[n - 1 - i] != tag)
			return 0;
	for (size_t i = 0; i < n; i += 4 * KiB - 1)
		if (p[i] != tag)
			return 0;
	return 1;
}

static void fill(struct block *b, unsigned char tag)
{
	b->tag = tag;
	memset(b->p, tag, b->n);
}

static void checked_free(void *p, size_t n, unsigned char tag)
{
	if (p != NULL && !verify(p, n, tag)) {
		atomic_fetch_add(&bad_content, 1);
		report("a block lost its contents", n);
	}
	errno = 4321;
	free(p);
	if (errno != 4321) {
		atomic_fetch_add(&bad_free_errno, 1);
		report("free changed errno", n);
	}
}

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng);
	switch (r % 32) {
	case 0:
		return 2 * MiB + r % (6 * MiB); /* huge */
	case 1:
	case 2:
	case 3:
		return 64 * KiB + r % MiB; /* large */
	case 4:
	case 5:
	case 6:
	case 7:
		return 1025 + r % (63 * KiB);
	default:
		return r % 1025;
	}
}

static void one_op(struct block *b, uint64_t *rng, int self)
{
	uint64_t r = rng_next(rng);
	unsigned char tag = (unsigned char)(1 + r % 255);
	if (b->p != NULL && r % 8 < 3) {
		/* realloc, growing or shrinking */
		size_t n = r % 2 ? pick_size(rng) : b->n / 2;
		errno = 0;
		unsigned char *q = realloc(b->p, n);
		if (q == NULL && n != 0) {
			failed(errno, n);
			if (!verify(b->p, b->n, b->tag)) {
				atomic_fetch_add(&bad_content, 1);
				report("a failed realloc changed the block", n);
			}
			return;
		}
		size_t keep = n < b->n ? n : b->n;
		if (q != NULL && !verify(q, keep, b->tag)) {
			atomic_fetch_add(&bad_content, 1);
			report("realloc lost the contents", n);
		}
		b->p = q;
		b->n = n;
		if (q != NULL)
			fill(b, tag);
		return;
	}
	if (b->p != NULL) {
		if (r % 8 == 3) {
			/* Hand it to another thread to free; free what was there. */
			struct block *x = &exchange[(r >> 8) % 16], old;
			pthread_mutex_lock(&exchange_lock);
			old = *x;
			*x = *b;
			pthread_mutex_unlock(&exchange_lock);
			if (old.p != NULL)
				checked_free(old.p, old.n, old.tag);
		} else {
			checked_free(b->p, b->n, b->tag);
		}
		b->p = NULL;
		return;
	}
	size_t n = pick_size(rng);
	errno = 0;
	switch (r % 5) {
	case 0: {
		size_t count = 1 + r % 7;
		b->p = calloc(count, n / count + 1);
		if (b->p != NULL) {
			b->n = count * (n / count + 1);
			if (!verify(b->p, b->n, 0)) {
				atomic_fetch_add(&bad_content, 1);
				report("calloc's block is not zeroed", b->n);
			}
			fill(b, tag);
		}
		break;
	}
	case 1: {
		size_t align = (size_t)16 << (r >> 5) % 18; /* 16 B to 2 MiB */
		void *p = (void *)1;
		int err = posix_memalign(&p, align, n);
		if (err != 0) {
			failed(err, n);
			return;
		}
		b->p = p;
		if ((uintptr_t)p % align != 0) {
			atomic_fetch_add(&bad_content, 1);
			report("misaligned block", n);
		}
		break;
	}
	case 2:
		b->p = aligned_alloc(4096, n);
		break;
	default:
		b->p = malloc(n);
		break;
	}
	if (b->p == NULL) {
		failed(errno, n);
		return;
	}
	b->n = n;
	fill(b, tag);
	(void)self;
}

/* A fork while the other threads allocate and faults are injected: the child must be able to
 * allocate (NULL with ENOMEM allowed) and exit. */
static void fork_during(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 200; i++) {
			size_t n = (size_t)i * 101 % 3000 + (i % 50 == 0 ? 3 * MiB : 0);
			errno = 0;
			void *p = malloc(n);
			if (p == NULL && errno != ENOMEM)
				_exit(2);
			if (p != NULL)
				memset(p, 7, n);
			free(p);
		}
		_exit(0);
	}
	if (pid < 0)
		return; /* fork itself may fail for want of memory */
	int st = child_wait(pid, 0);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		atomic_fetch_add(&bad_fork, 1);
		report("a child forked under faults failed", (size_t)st);
	}
}

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint64_t rng = 0xfa017ull + (uint64_t)self;
	struct block blocks[SLOTS] = {{0}};
	for (int i = 0; i < rounds; i++) {
		one_op(&blocks[rng_next(&rng) % SLOTS], &rng, self);
		if (self == 0 && i % 200 == 199)
			malloc_trim(0);
		if (self == 1 && i % 300 == 299)
			cairn_purge(-1);
		if (self == 2 && i % 250 == 249)
			fork_during();
	}
	for (int i = 0; i < SLOTS; i++)
		if (blocks[i].p != NULL)
			checked_free(blocks[i].p, blocks[i].n, blocks[i].tag);
	return NULL;
}

/* pthread_create allocates (through cairn), and may fail while faults are injected. */
static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int rc;
	for (int tries = 0; (rc = pthread_create(t, NULL, fn, arg)) == EAGAIN && tries < 1000;
	     tries++)
		;
	REQUIRE(rc == 0, "pthread_create: error %d", rc);
}

static void run_workload(void)
{
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		start_thread(&t[i], worker, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 16; i++) {
		if (exchange[i].p != NULL)
			checked_free(exchange[i].p, exchange[i].n, exchange[i].tag);
		exchange[i].p = NULL;
	}
}

/* Small and large blocks from several threads, and a forked child that allocates: each
 * would wait forever on a lock that a failure left held. */
static void *liveness(void *arg)
{
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)(i * 37 % 5000) + (i % 100 == 0 ? 3 * MiB : 0);
		void *p = malloc(n);
		if (p != NULL)
			memset(p, 1, n);
		free(p);
	}
	return NULL;
}

static int child_main(const char *limit_arg)
{
	uint64_t limit = strtoull(limit_arg, NULL, 10);
	/* Under every:1 cairn cannot even start: each request fails, until one succeeds. */
	void *first = NULL;
	for (int i = 0; i < 1000 && first == NULL; i++) {
		errno = 0;
		if ((first = malloc(64)) == NULL)
			failed(errno, 64);
	}
	CHECK(first != NULL, "malloc never succeeded");
	free(first);
	run_workload();
	/* A schedule with a limit runs until the faults have stopped. */
	for (int extra = 0; limit != 0 && fault_count() < limit && extra < 20; extra++)
		run_workload();
	uint64_t during = fault_count();
	fprintf(stderr, "  fault child: %llu faults, %d requests failed with ENOMEM\n",
	        (unsigned long long)during, atomic_load(&failures));
	CHECK(during > 0, "no fault was injected");
	if (limit != 0) {
		CHECK(during == limit, "%llu faults, want the limit %llu",
		      (unsigned long long)during, (unsigned long long)limit);
		expect_no_failure = 1;
		run_workload();
		CHECK(fault_count() == during, "faults after the limit");
	}
	pid_t pid = fork();
	if (pid == 0) {
		liveness(NULL);
		_exit(0);
	}
	REQUIRE(pid > 0, "fork");
	int st = child_wait(pid, 0);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child: status %#x", st);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		start_thread(&t[i], liveness, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);

	CHECK(bad_errno == 0, "%d failures without ENOMEM", bad_errno);
	CHECK(bad_content == 0, "%d blocks with wrong contents", bad_content);
	CHECK(bad_free_errno == 0, "%d frees changed errno", bad_free_errno);
	CHECK(bad_fork == 0, "%d children forked under faults failed", bad_fork);
	CHECK(unexpected_null == 0, "%d failures after the faults stopped", unexpected_null);
	return CHECK_DONE();
}

struct schedule {
	const char *fault; /* CAIRN_FAULT */
	const char *limit; /* its limit, "0" for none */
	const char *conf;  /* MALLOC_CONF */
};

static const struct schedule schedules[] = {
    {"every:7:limit:300", "300", NULL},
    {"every:3:only:map:limit:200", "200", NULL},
    {"random:1:20", "0", NULL},
    {"random:7:50:only:purge", "0", "dirty_decay_ms:0,muzzy_decay_ms:0"},
    {"every:2:only:remap", "0", NULL},
    {"every:5:only:unmap+purge:limit:100", "100", "dirty_decay_ms:0"},
    {"every:1:limit:30", "30", NULL},
    {"random:3:10:only:map+unmap+purge+remap", "0", "tcache:false"},
    {"every:4:only:map+unmap+purge+remap", "0", NULL},
};

int main(int argc, char **argv)
{
	fault_count = (uint64_t(*)(void))dlsym(RTLD_DEFAULT, "cairn_fault_count");
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		REQUIRE(fault_count != NULL, "not running on the fault-injection build");
		return child_main(argv[2]);
	}
	char dir[PATH_MAX];
	const char *root = getenv("CAIRN_ROOT");
	if (getenv("CAIRN_FAULT_DIR") != NULL) {
		snprintf(dir, sizeof dir, "%s", getenv("CAIRN_FAULT_DIR"));
	} else if (root != NULL) {
		snprintf(dir, sizeof dir, "%s/build/fault", root);
	} else {
		/* build/tests/stress/fault -> build/fault */
		ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 16);
		REQUIRE(n > 0, "readlink /proc/self/exe");
		dir[n] = '\0';
		for (int i = 0; i < 3; i++)
			*strrchr(dir, '/') = '\0';
		strcat(dir, "/fault");
	}
	char lib[PATH_MAX + 32];
	snprintf(lib, sizeof lib, "%s/libcairn.so.0", dir);
	REQUIRE(access(lib, R_OK) == 0, "%s is missing (make fault)", lib);

	/* fault SCHEDULE [LIMIT [MALLOC_CONF]]: that schedule alone. */
	struct schedule given = {argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : "0",
	                         argc > 3 ? argv[3] : NULL};
	size_t count = argc > 1 ? 1 : sizeof schedules / sizeof schedules[0];
	static char out[1 << 16];
	for (size_t i = 0; i < count; i++)
		TEST_CASE(argc > 1 ? given.fault : schedules[i].fault)
		{
			const struct schedule *s = argc > 1 ? &given : &schedules[i];
			const char *env[] = {"LD_LIBRARY_PATH",    dir, "CAIRN_FAULT", s->fault,
			                     "CAIRN_FAULT_REPORT", "1", NULL};
			struct child_opts opts = {.name = "fault",
			                          .args = {"child", s->limit},
			                          .conf = s->conf,
			                          .env = env,
			                          .timeout = 120,
			                          .keep_tail = 1};
			fprintf(stderr, "CAIRN_FAULT=%s%s%s:\n", s->fault,
			        s->conf ? " MALLOC_CONF=" : "", s->conf ? s->conf : "");
			int st = child_run(&opts, out, sizeof out, NULL);
			const char *tally = child_fold_checks(out);
			CHECK_CHILD(st, tally, "CAIRN_FAULT=%s", s->fault);
			CHECK(strstr(out, "cairn: fault injection: ") != NULL,
			      "%s: no fault report", s->fault);
		}
	return CHECK_DONE();
}
