/* SPDX-License-Identifier: MIT */
/* The heap profiler, white box: the sampling draw, the stack table (one
 * entry per call site, counts moving with the allocations and frees of
 * sampled blocks of each size kind, from any thread; one per route of
 * callers to a call site), prof.reset, and a
 * visit (what a dump makes) that stops no sampling thread while its
 * visitor works. Every allocation is sampled here (lg_prof_sample:0). */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/heap.h"
#include "prof/profiler.h"

/* No purging thread: the fork case's child would start one, which
 * ThreadSanitizer does not allow after a fork from a threaded process. */
const char *malloc_conf =
    "prof:true,lg_prof_sample:0,prof_gdump:false,prof_final:false,background_thread:false";

/* The totals of the stacks that pass through fn (a return address within
 * its first 512 bytes). */
struct site {
	uintptr_t lo, hi;
	unsigned stacks;
	struct prof_counts c;
};

static void add_site(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c, void *arg)
{
	struct site *s = arg;
	for (unsigned i = 0; i < depth; i++) {
		if (pcs[i] >= s->lo && pcs[i] < s->hi) {
			s->stacks++;
			s->c.curobjs += c->curobjs;
			s->c.curbytes += c->curbytes;
			s->c.accumobjs += c->accumobjs;
			s->c.accumbytes += c->accumbytes;
			return;
		}
	}
}

static struct site site_of(void *fn)
{
	struct site s = {.lo = (uintptr_t)fn, .hi = (uintptr_t)fn + 512};
	prof_visit(add_site, &s, NULL);
	return s;
}

#define N 64
static void *blocks[N];

/* Each a call site of its own; one call of malloc each, in a loop. */
static __attribute__((noinline)) void site_a(size_t size)
{
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(size);
		__asm__ volatile("" ::: "memory");
	}
}

static __attribute__((noinline)) void *site_b(size_t size)
{
	void *p = malloc(size);
	__asm__ volatile("" ::: "memory");
	return p;
}

/* One call site of malloc reached by different callers, and a caller
 * reached from different outer functions. Each 1 KiB apart, so that
 * site_of's 512 bytes of one hold no other's code. */
#define APART __attribute__((noinline, noclone, aligned(1024)))
static void *kept_c[40];
static APART void *site_c(size_t size)
{
	void *p = malloc(size);
	__asm__ volatile("" ::: "memory");
	return p;
}

static APART void caller_x(int i)
{
	kept_c[i] = site_c(48);
	__asm__ volatile("" ::: "memory");
}

static APART void caller_y(int i)
{
	kept_c[i] = site_c(48);
	__asm__ volatile("" ::: "memory");
}

static APART void outer_1(int i)
{
	caller_x(i);
	__asm__ volatile("" ::: "memory");
}

static APART void outer_2(int i)
{
	caller_x(i);
	__asm__ volatile("" ::: "memory");
}

static void *free_all(void *arg)
{
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	return NULL;
}

static void *sample_and_free(void *arg)
{
	free(site_b(100));
	return arg;
}

/* A visitor that waits for another thread to sample and free a block: it
 * finishes only if the visit does not hold the table's lock meanwhile. */
static void wait_for_sampler(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                             void *arg)
{
	int *state = arg;
	if (*state != 0)
		return;
	pthread_t t;
	*state = pthread_create(&t, NULL, sample_and_free, NULL) == 0 ? 1 : 3;
	if (*state != 1)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		*state = 2;
	/* Else the thread stays blocked: the check fails, and the process
	 * ends with it. */
}

int main(void)
{
	free(malloc(1)); /* initialised, the thread's heap taken */
	REQUIRE(cairn_prof.on && prof_small_heap != NULL, "the profiler is on");

	TEST_CASE("draw_mean")
	{
		uint64_t rng = 12345;
		for (unsigned lg = 4; lg <= 19; lg += 5) {
			double sum = 0, sq = 0;
			int n = 200000, above[4] = {0};
			for (int i = 0; i < n; i++) {
				double x = (double)prof_draw(&rng, lg);
				sum += x;
				sq += x * x;
				for (int q = 0; q < 4; q++)
					above[q] += x > (q + 0.5) * (double)(1u << lg);
			}
			/* The shape: P(gap > t mean) = e^-t, within 0.005 (about
			 * five standard deviations of the fraction), where gaps
			 * rounded to whole bytes do not change it (lg 4's do). */
			static const double tail[4] = {0.6065306597, 0.2231301601, 0.0820849986,
			                               0.0301973834}; /* e^-0.5 ... e^-3.5 */
			for (int q = 0; q < 4 && lg >= 9; q++) {
				double got = (double)above[q] / n, want = tail[q];
				CHECK(got > want - 0.005 && got < want + 0.005,
				      "lg %u: %.4f of the gaps above %.1f means, want %.4f", lg,
				      got, q + 0.5, want);
			}
			double mean = sum / n, want = (double)(1u << lg);
			CHECK(mean > want * 0.98 && mean < want * 1.02,
			      "lg %u: mean %.1f, want %.0f", lg, mean, want);
			/* An exponential's standard deviation is its mean. */
			double var = sq / n - mean * mean;
			CHECK(var > want * want * 0.9 && var < want * want * 1.1,
			      "lg %u: variance %.1f", lg, var);
		}
	}

	size_t sizes[] = {24, 3000, 100000, 3u << 20}; /* small, small, large, huge */
	for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t size = sizes[k];
		char name[32];
		snprintf(name, sizeof name, "counts_%zu", size);
		TEST_CASE(name)
		{
			struct site before = site_of((void *)site_a);
			site_a(size);
			struct site s = site_of((void *)site_a);
			size_t usable = malloc_usable_size(blocks[0]);
			CHECK(s.stacks == before.stacks || (before.stacks == 0 && s.stacks == 1),
			      "one stack for the site: %u", s.stacks);
			CHECK(s.c.curobjs - before.c.curobjs == N, "%zu: %llu objects", size,
			      (unsigned long long)(s.c.curobjs - before.c.curobjs));
			CHECK(s.c.curbytes - before.c.curbytes == N * usable, "%zu: %llu bytes",
			      size, (unsigned long long)(s.c.curbytes - before.c.curbytes));
			for (int i = 0; i < N; i++)
				memset(blocks[i], i, size);
			/* Sampled blocks behave as any: realloc in place and
			 * moved, freed from another thread. */
			blocks[0] = realloc(blocks[0], size + 1);
			CHECK(blocks[0] != NULL && ((unsigned char *)blocks[0])[size - 1] == 0,
			      "realloc keeps the data");
			blocks[1] = realloc(blocks[1], 8 * size);
			CHECK(blocks[1] != NULL && ((unsigned char *)blocks[1])[size - 1] == 1,
			      "realloc keeps the data");
			pthread_t t;
			pthread_create(&t, NULL, free_all, NULL);
			pthread_join(t, NULL);
			struct site after = site_of((void *)site_a);
			CHECK(after.c.curobjs == before.c.curobjs &&
			          after.c.curbytes == before.c.curbytes,
			      "%zu: freed: %llu objects, %llu bytes left", size,
			      (unsigned long long)after.c.curobjs,
			      (unsigned long long)after.c.curbytes);
		}
	}

	TEST_CASE("dedup")
	{
		void *p[10];
		struct site before = site_of((void *)site_b);
		for (int i = 0; i < 10; i++)
			p[i] = site_b(40);
		struct site s = site_of((void *)site_b);
		CHECK(s.stacks == 1, "ten calls from one site, one stack: %u", s.stacks);
		CHECK(s.c.curobjs - before.c.curobjs == 10, "%llu objects",
		      (unsigned long long)s.c.curobjs);
		for (int i = 0; i < 10; i++)
			free(p[i]);
		s = site_of((void *)site_b);
		CHECK(s.stacks == 0, "no live sample: not visited (%u)", s.stacks);
	}

	/* A sample whose frames are those of one before, found by the same
	 * way out of cairn and up from the call site, takes that one's
	 * stack without comparing the frames again (src/prof/unwind.c,
	 * prof_backtrace_memo): what differs above the call site, the first
	 * caller or one further up, must still make a stack of its own. */
	TEST_CASE("callers")
	{
		struct site c0 = site_of((void *)site_c), x0 = site_of((void *)caller_x),
		            y0 = site_of((void *)caller_y), o10 = site_of((void *)outer_1),
		            o20 = site_of((void *)outer_2);
		for (int i = 0; i < 40; i++) {
			if (i < 20)
				(i % 2 ? caller_x : caller_y)(i);
			else
				(i % 2 ? outer_1 : outer_2)(i);
		}
		struct site c = site_of((void *)site_c), x = site_of((void *)caller_x),
		            y = site_of((void *)caller_y), o1 = site_of((void *)outer_1),
		            o2 = site_of((void *)outer_2);
		CHECK(c.c.curobjs - c0.c.curobjs == 40, "the call site: %llu objects",
		      (unsigned long long)(c.c.curobjs - c0.c.curobjs));
		CHECK(c.stacks == 4,
		      "four stacks through the call site (x and y from here, x from outer_1 and "
		      "outer_2): %u",
		      c.stacks);
		CHECK(x.c.curobjs - x0.c.curobjs == 30 && y.c.curobjs - y0.c.curobjs == 10,
		      "by the first caller: %llu and %llu objects, want 30 and 10",
		      (unsigned long long)(x.c.curobjs - x0.c.curobjs),
		      (unsigned long long)(y.c.curobjs - y0.c.curobjs));
		CHECK(o1.c.curobjs - o10.c.curobjs == 10 && o2.c.curobjs - o20.c.curobjs == 10,
		      "by the caller's caller: %llu and %llu objects, want 10 and 10",
		      (unsigned long long)(o1.c.curobjs - o10.c.curobjs),
		      (unsigned long long)(o2.c.curobjs - o20.c.curobjs));
		CHECK(c.c.curbytes - c0.c.curbytes == 40 * malloc_usable_size(kept_c[0]),
		      "the call site: %llu bytes",
		      (unsigned long long)(c.c.curbytes - c0.c.curbytes));
		for (int i = 0; i < 40; i++)
			free(kept_c[i]);
		c = site_of((void *)site_c);
		CHECK(c.c.curobjs == c0.c.curobjs && c.c.curbytes == c0.c.curbytes,
		      "freed: %llu objects left", (unsigned long long)c.c.curobjs);
	}

	TEST_CASE("reset")
	{
		site_a(200);
		struct prof_counts t;
		prof_visit(NULL, NULL, &t);
		CHECK(t.curobjs >= N, "live samples: %llu", (unsigned long long)t.curobjs);
		prof_reset(0);
		prof_visit(NULL, NULL, &t);
		CHECK(t.curobjs == 0 && t.curbytes == 0, "reset: %llu left",
		      (unsigned long long)t.curobjs);
		free_all(NULL); /* blocks sampled before: no count to take down */
		prof_visit(NULL, NULL, &t);
		CHECK(t.curobjs == 0 && t.curbytes == 0, "after the frees: %llu",
		      (unsigned long long)t.curobjs);
	}

	TEST_CASE("fork")
	{
		site_a(64);
		pid_t pid = fork();
		if (pid == 0) {
			struct site s = site_of((void *)site_a);
			int bad = s.c.curobjs < N;
			free_all(NULL);
			site_a(5000);
			s = site_of((void *)site_a);
			bad |= s.c.curobjs != N;
			free_all(NULL);
			_exit(bad);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child keeps and takes samples");
		free_all(NULL);
	}

	TEST_CASE("visit_unlocked")
	{
		void *p = site_b(100);
		int state = 0;
		prof_visit(wait_for_sampler, &state, NULL);
		CHECK(state == 2, "another thread sampled and freed while the visitor ran (%d)",
		      state);
		free(p);
	}

	TEST_CASE("inactive")
	{
		prof_active_set(false);
		struct site before = site_of((void *)site_b);
		void *p = site_b(100);
		struct site s = site_of((void *)site_b);
		CHECK(s.c.curobjs == before.c.curobjs, "prof.active false: not sampled");
		free(p);
		prof_active_set(true);
	}
	return CHECK_DONE();
}
