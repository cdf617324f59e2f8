/* SPDX-License-Identifier: MIT */
/* A thread heap's bin refilled from its slabs (core/refill.c): the bin
 * takes no more blocks than the event countdown covers and is charged for
 * them as it takes them, so that malloc's fast path counts nothing and the
 * rare event and the profiler's samples still come due at the right
 * allocation. Cases:
 *   event    a countdown of ten blocks: ten mallocs leave it at exactly
 *            zero, with no rare event; the eleventh runs it. A bin cut
 *            short leaves the rest of its slab's free blocks on the slab's
 *            list, with the slab's count of blocks in use still right;
 *   flush    a flush gives back the count of the blocks left in the bin;
 *   sample   a sample five blocks away lands on the sixth malloc, whose
 *            block comes from the profiler's slabs, and on no other;
 *   cut      a bin cut short walks its slab's list: a link written over
 *            with an address outside the slab (a use after free) is
 *            reported, SIGABRT after one line, not followed (the cut
 *            would write into the block it leads to). */
#define _GNU_SOURCE /* child.h's sched_setaffinity */
#include <stdlib.h>
#include <sys/wait.h>

#include <cairn/jemalloc.h>

#include "check.h"
#include "death.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/sizeclass.h"
#include "core/slab.h"
#include "prof/profiler.h"

/* Profiling on, with samples too rare to come by themselves (1 GiB apart
 * on average): the sample case sets its own. */
const char *malloc_conf = "prof:true,lg_prof_sample:30";

static struct span *span_of(void *p)
{
	return pagemap_span((uintptr_t)p);
}

static unsigned list_length(void *l)
{
	unsigned n = 0;
	for (void *b = l; b != LIST_END; b = block_next(b))
		n++;
	return n;
}

/* Bytes counted down since the countdown was last set. */
static int64_t spent(const struct heap *h)
{
	return h->event_set - h->event_bytes;
}

/* Empties every bin of the thread's heap, and sets its countdown to the
 * rare event `event` bytes away and to the next sample `sample` bytes away
 * (INT64_MAX: as drawn). */
static struct heap *countdown(int64_t event, int64_t sample)
{
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
	struct heap *h = heap_self();
	REQUIRE(h->kind == HEAP_THREAD, "the thread has a heap of its own");
	heap_event_sync(h);
	h->event_left = event;
	if (sample != INT64_MAX)
		h->sample_left = sample;
	heap_event_arm(h);
	return h;
}

#define EVENT_BLOCKS 10

static void event(void)
{
	/* 2560 bytes: 32 blocks a slab, cut 4 at a time, so that the
	 * countdown cuts a batch short (the fourth refill has room for 2). */
	const size_t size = 2560;
	unsigned cls = size_class(size);
	REQUIRE(sc_size[cls] == size, "a class of 2560 bytes");
	struct heap *h = countdown(EVENT_BLOCKS * (int64_t)size, INT64_MAX);
	uint64_t events = h->events;
	void *b[EVENT_BLOCKS + 1];
	for (int i = 0; i < EVENT_BLOCKS; i++) {
		b[i] = malloc(size);
		REQUIRE(b[i] != NULL, "malloc %d", i);
		struct span *s = span_of(b[i]);
		/* Blocks in use (the program's and the bin's) and those on
		 * the slab's list make up every block cut that is no hole. */
		CHECK(s->used + list_length(s->local_free) ==
		          (unsigned)(s->carved - *span_holes(s)),
		      "after malloc %d: %u in use, %u listed, %u cut", i, s->used,
		      list_length(s->local_free), s->carved);
		CHECK(spent(h) == (int64_t)size * (i + 1 + list_length(h->bin[cls])),
		      "after malloc %d: %lld bytes counted, %u blocks in the bin", i,
		      (long long)spent(h), list_length(h->bin[cls]));
	}
	CHECK(h->events == events, "no rare event within the countdown (%llu ran)",
	      (unsigned long long)(h->events - events));
	CHECK(h->event_bytes == 0 && h->bin[cls] == LIST_END,
	      "ten blocks counted the countdown to %lld, %u blocks left in the bin",
	      (long long)h->event_bytes, list_length(h->bin[cls]));
	b[EVENT_BLOCKS] = malloc(size);
	CHECK(h->events == events + 1, "the eleventh malloc ran the rare event (%llu ran)",
	      (unsigned long long)(h->events - events));
	for (int i = 0; i <= EVENT_BLOCKS; i++)
		free(b[i]);
}

static void flush(void)
{
	const size_t size = 96;
	unsigned cls = size_class(size);
	struct heap *h = countdown(EVENT_INTERVAL, INT64_MAX);
	void *p = malloc(size);
	REQUIRE(p != NULL, "malloc");
	unsigned in_bin = list_length(h->bin[cls]);
	CHECK(in_bin > 0 && spent(h) == (int64_t)size * (1 + in_bin),
	      "the bin took %u blocks, %lld bytes counted", in_bin, (long long)spent(h));
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
	/* The flush synced the countdown, or not: event_left holds what it
	 * moved there. */
	CHECK(h->event_left - spent(h) == EVENT_INTERVAL - (int64_t)size,
	      "after the flush %lld bytes to the event; want %lld",
	      (long long)(h->event_left - spent(h)), (long long)(EVENT_INTERVAL - (int64_t)size));
	free(p);
}

#define SAMPLE_AFTER 5

static void sample(void)
{
	const size_t size = 1536;
	unsigned cls = size_class(size);
	REQUIRE(prof_small_heap != NULL, "profiling is on");
	struct heap *h = countdown(EVENT_INTERVAL, SAMPLE_AFTER * (int64_t)size);
	void *b[SAMPLE_AFTER + 2];
	for (int i = 0; i < SAMPLE_AFTER + 2; i++) {
		b[i] = malloc(size);
		REQUIRE(b[i] != NULL, "malloc %d", i);
		struct heap *owner = span_of(b[i])->owner;
		if (i == SAMPLE_AFTER)
			CHECK(owner == prof_small_heap, "malloc %d was sampled", i);
		else
			CHECK(owner == h, "malloc %d came from the thread's heap (%s)", i,
			      owner == prof_small_heap ? "sampled" : "another heap");
	}
	CHECK(sc_size[cls] == size, "a class of 1536 bytes");
	for (int i = 0; i < SAMPLE_AFTER + 2; i++)
		free(b[i]);
}

/* What a use after free would have the cut write into. */
static void *cut_target[8];

/* In a child: a freed block's link pointed at cut_target, then a refill
 * whose countdown leaves room for 3 blocks of a longer list. */
static void cut_child(void *arg)
{
	const size_t size = 2560;
	void *b[6];
	struct heap *h = countdown(EVENT_INTERVAL, INT64_MAX);
	for (int i = 0; i < 6; i++)
		b[i] = malloc(size);
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush");
	for (int i = 0; i < 6; i++)
		free(b[i]);
	/* The last freed heads its slab's list: its link (word 1). */
	((void **)launder(b[5]))[1] = cut_target;
	h = countdown(3 * (int64_t)size, INT64_MAX);
	(void)h;
	void *p = malloc(size);
	fprintf(stderr, "malloc returned %p\n", p);
	_exit(3);
}

static void cut(void)
{
	char out[4096];
	int status = death_run(cut_child, NULL, out, sizeof out);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	      "the cut reported the link: status %d, said: %s", status, out);
	/* One line of cairn's; under qemu-user, the emulator's own about the
	 * signal follows it. */
	const char *nl = strchr(out, '\n'), *what = strstr(out, "corrupted free list");
	CHECK(strncmp(out, "cairn: ", 7) == 0 && nl != NULL && what != NULL && what < nl &&
	          strstr(nl, "cairn: ") == NULL,
	      "one cairn line naming the corruption: %s", out);
}

int main(void)
{
	free(malloc(1)); /* the thread's heap */
	TEST_CASE("event")
	{
		event();
	}
	TEST_CASE("flush")
	{
		flush();
	}
	TEST_CASE("sample")
	{
		sample();
	}
	TEST_CASE("cut")
	{
		cut();
	}
	return CHECK_DONE();
}
