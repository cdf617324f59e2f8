/* SPDX-License-Identifier: MIT */
/* A thread heap's countdown (core/heap.h) with a big block's bytes on it:
 * heap_count_big counts event_weight(bytes) toward the rare event and every
 * byte toward the profiler's next sample, keeps the bytes the event's count
 * left out for stats_interval, and counts nothing (false) where either
 * would come due; heap_event_count then counts them the same way and runs
 * the event. Cases:
 *   weight    not sampling: 1 MiB of event, 256 KiB blocks, 16 of them
 *             counted (to zero, as the small fast path counts) before the
 *             17th is refused; small blocks in full;
 *   sampling  a sample 1 MiB away and the event 1 MiB away: the sample
 *             comes due first, after 4 blocks; its bytes all counted;
 *   slow      heap_event_count of a block that brings the event due runs
 *             it (event_left set again, the bytes left out passed on to
 *             cairn_event_bytes) and leaves the sample's count exact. */
#include "check.h"
#include "core/arena.h"
#include "core/heap.h"

static struct arena arena;
static struct heap heap;

#define KiB ((int64_t)1024)
#define MiB (1024 * KiB)

static void fresh(void)
{
	heap_init(&heap, &arena, HEAP_THREAD);
}

/* The sample's bytes left, as of now. */
static int64_t sample_now(void)
{
	return heap.sample_left - (heap.event_set - heap.event_bytes);
}

static void weight(void)
{
	fresh();
	CHECK(event_weight(256 * KiB) == EVENT_WEIGHT_MAX && event_weight(4096) == 4096 &&
	          event_weight(EVENT_WEIGHT_MAX) == EVENT_WEIGHT_MAX,
	      "a big block weighs EVENT_WEIGHT_MAX, a small one its bytes");
	int n = 0;
	while (n < 100 && heap_count_big(&heap, 256 * KiB))
		n++;
	CHECK(n == EVENT_INTERVAL / EVENT_WEIGHT_MAX,
	      "%d blocks of 256 KiB before the event; want %d", n,
	      (int)(EVENT_INTERVAL / EVENT_WEIGHT_MAX));
	CHECK(heap.event_bytes == 0 && heap.event_uncounted == (uint64_t)n * (192 * KiB),
	      "countdown %lld, %llu bytes left out", (long long)heap.event_bytes,
	      (unsigned long long)heap.event_uncounted);
	CHECK(heap.sample_left == INT64_MAX, "not sampling: sample_left stays INT64_MAX");
	fresh();
	CHECK(heap_count_big(&heap, 4096) && heap.event_bytes == EVENT_INTERVAL - 4096 &&
	          heap.event_uncounted == 0,
	      "a small block counts in full");
}

static void sampling(void)
{
	fresh();
	heap_event_sync(&heap);
	heap.sample_left = MiB;
	heap_event_arm(&heap);
	int n = 0;
	while (n < 100 && heap_count_big(&heap, 256 * KiB))
		n++;
	CHECK(n == 4, "the sample 1 MiB away comes due at the 5th 256 KiB block, not the %dth",
	      n + 1);
	CHECK(sample_now() == 0 && heap.event_left - (heap.event_set - heap.event_bytes) ==
	                               EVENT_INTERVAL - 4 * EVENT_WEIGHT_MAX,
	      "sample %lld left, event %lld", (long long)sample_now(),
	      (long long)(heap.event_left - (heap.event_set - heap.event_bytes)));
	CHECK(!heap_count_big(&heap, 1) && sample_now() == 0, "a byte more is refused, uncounted");
}

static void slow(void)
{
	fresh();
	heap_event_sync(&heap);
	heap.sample_left = 10 * MiB;
	heap_event_arm(&heap);
	for (int i = 0; i < 16; i++)
		REQUIRE(heap_count_big(&heap, 512 * KiB), "block %d", i);
	uint64_t before = atomic_load(&cairn_event_bytes);
	uint64_t left_out = heap.event_uncounted + 448 * KiB;
	CHECK(!heap_count_big(&heap, 512 * KiB), "the 17th 512 KiB block is one for the event");
	heap_event_count(&heap, 512 * KiB);
	CHECK(heap.event_left == EVENT_INTERVAL && heap.event_uncounted == 0,
	      "the event ran: event_left %lld, %llu left out", (long long)heap.event_left,
	      (unsigned long long)heap.event_uncounted);
	CHECK(atomic_load(&cairn_event_bytes) - before == EVENT_INTERVAL + left_out,
	      "cairn_event_bytes gained %llu; want %llu",
	      (unsigned long long)(atomic_load(&cairn_event_bytes) - before),
	      (unsigned long long)(EVENT_INTERVAL + left_out));
	CHECK(sample_now() == 10 * MiB - 17 * 512 * KiB, "sample %lld left; want %lld",
	      (long long)sample_now(), (long long)(10 * MiB - 17 * 512 * KiB));
}

int main(void)
{
	mutex_init(&arena.lock);
	TEST_CASE("weight")
	{
		weight();
	}
	TEST_CASE("sampling")
	{
		sampling();
	}
	TEST_CASE("slow")
	{
		slow();
	}
	return CHECK_DONE();
}
