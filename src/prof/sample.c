/* SPDX-License-Identifier: MIT */
/* Sampling: the draw of the bytes to the next sample, each thread's
 * countdown to it (on its heap's event countdown), the process's countdown
 * for threads with no heap of their own, and the sampled blocks taken:
 * small ones from the profiler's own slabs, large and huge ones marked
 * where they are. */
#include <stdatomic.h>
#include <time.h>

#include "core/arena.h"
#include "core/huge.h"
#include "prof/profiler.h"
#include "prof/stacks.h"

struct heap *prof_small_heap;

/* ------------------------------------------------------------ the draw */

/* splitmix64's output function: a full-period sequence from any counter
 * stepped by the golden ratio. */
static uint64_t rng_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define RNG_STEP 0x9e3779b97f4a7c15ull

/* The draw's constants in one cache line of their own. A sample comes
 * every few hundred allocations at the default rate, by when a program
 * that touches much memory has evicted them, and compiled as literals they
 * lay on five lines of .rodata: four cache misses more per sample. */
static const struct draw_constants {
	double one, half, ln2, cap;
	double c3, c5, c7, c9; /* atanh's series: 1/3, 1/5, 1/7, 1/9 */
} draw_k __attribute__((aligned(64))) = {
    .one = 1.0,
    .half = 0.5,
    .ln2 = 0.69314718055994530942,
    .cap = (double)(INT64_MAX / 2),
    .c3 = 1.0 / 3,
    .c5 = 1.0 / 5,
    .c7 = 1.0 / 7,
    .c9 = 1.0 / 9,
};

/* The gap for random bits r: exponentially distributed with mean 2^lg, so
 * that every byte allocated is equally likely to be the one sampled,
 * whatever the sizes of the requests around it: -ln(u) 2^lg for u = m
 * 2^-53 in (0, 1], m = 1 + 53 of r's bits, without libm. (double)m = f
 * 2^e with f in [1, 2), so ln(u) = (e - 53) ln 2 + ln(f), and ln(f) =
 * 2 atanh(t), t = (f - 1) / (f + 1) <= 1/3, whose series to t^9 is within
 * 1e-6 of it. */
static int64_t gap_of(uint64_t r, unsigned lg)
{
	/* The constants read through a pointer the compiler cannot see
	 * through, so that it does not fold them back into literals. */
	const struct draw_constants *k = &draw_k;
	__asm__("" : "+r"(k));
	union {
		double d;
		uint64_t u;
	} v = {.d = (double)(int64_t)((r >> 11) + 1)};
	int e = (int)((v.u >> 52) & 0x7ff) - 1023 - 53;
	v.u = (v.u & ((1ull << 52) - 1)) | (1023ull << 52);
	double t = (v.d - k->one) / (v.d + k->one), t2 = t * t;
	double s = t * (k->one + t2 * (k->c3 + t2 * (k->c5 + t2 * (k->c7 + t2 * k->c9))));
	/* -(2^lg), exact for every lg up to 63, as an integer: negating
	 * the double would take a sign mask from .rodata. */
	double gap = (e * k->ln2 + 2 * s) * (double)(INT64_MIN >> (63 - lg));
	if (gap >= k->cap)
		return INT64_MAX / 2;
	/* Rounded, not truncated, which would take half a byte off the
	 * mean. */
	return gap < k->one ? 1 : (int64_t)(gap + k->half);
}

int64_t prof_draw(uint64_t *rng, unsigned lg)
{
	return gap_of(rng_mix(*rng += RNG_STEP), lg);
}

/* ------------------------------------------------------------ threads */

static void rearm(struct heap *h)
{
	heap_event_sync(h);
	h->sample_left = prof_draw(&h->prof_rng, prof_lg_sample());
	heap_event_arm(h);
}

void prof_thread_start(struct heap *h)
{
	if (!cairn_prof.on)
		return;
	h->prof_active = prof_thread_active_init_get();
	h->prof_busy = false;
	h->prof_name[0] = '\0';
	if (h->prof_rng == 0)
		h->prof_rng = (uintptr_t)h ^ ((uint64_t)time(NULL) << 32);
	rearm(h);
}

/* ------------------------------------------------------------ no heap
 *
 * A thread with no heap of its own (tcache:false, junk or zero filling, a
 * thread past its exit destructor) has no countdown: its bytes count down
 * the process's, shared_left, which every such thread takes from with one
 * atomic subtraction. Those allocations take an arena's lock anyway. The
 * thread whose bytes cross zero samples and sets the next point; what
 * other threads allocate between its crossing and its new draw counts
 * toward the next gap, as if it came just after. Exponential gaps have no
 * memory, so which thread's bytes come next does not matter. */
static _Atomic int64_t shared_left = INT64_MAX;
static _Atomic uint64_t shared_rng;

static int64_t shared_draw(void)
{
	uint64_t r = atomic_fetch_add_explicit(&shared_rng, RNG_STEP, memory_order_relaxed);
	return gap_of(rng_mix(r + RNG_STEP), prof_lg_sample());
}

void prof_shared_rearm(void)
{
	if (atomic_load_explicit(&shared_rng, memory_order_relaxed) == 0)
		atomic_store(&shared_rng, (uint64_t)time(NULL) << 32 | 1);
	atomic_store(&shared_left, shared_draw());
}

bool prof_shared_due(size_t usable)
{
	int64_t n = usable > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)usable;
	int64_t before = atomic_fetch_sub_explicit(&shared_left, n, memory_order_relaxed);
	if (before <= 0 || before - n > 0)
		return false;
	/* This allocation crossed: the next gap starts after it. */
	atomic_fetch_add_explicit(&shared_left, shared_draw() - (before - n), memory_order_relaxed);
	return true;
}

/* ------------------------------------------------------------ samples */

/* Whether the thread heap h (or a thread with none) samples now. What the
 * unwinder or the profiler's slabs allocate on a sampling thread is never
 * sampled (prof_busy); a thread without a heap has no such guard, and needs
 * none: nothing the sampling does allocates with malloc (libgcc's unwinder
 * finds its tables without it). */
static bool thread_samples(struct heap *h)
{
	if (!prof_active_get())
		return false;
	if (h->kind != HEAP_THREAD)
		return prof_thread_active_init_get();
	return !h->prof_busy && h->prof_active;
}

static void busy(struct heap *h, bool on)
{
	if (h->kind == HEAP_THREAD)
		h->prof_busy = on;
}

void *prof_sample_small(struct heap *h, unsigned cls)
{
	if (h->kind == HEAP_THREAD)
		rearm(h);
	if (!thread_samples(h))
		return NULL;
	busy(h, true);
	void *p = shared_heap_alloc(prof_small_heap, cls);
	if (p != NULL) {
		struct prof_regs r;
		cairn_prof_capture(&r);
		stacks_record(p, sc_size[cls], &r);
		if (h->kind == HEAP_THREAD)
			h->tally.allocated += sc_size[cls];
	}
	busy(h, false);
	prof_after_sample();
	return p;
}

void prof_sample_big(struct heap *h, void *p, size_t usable, uintptr_t entry)
{
	if (h->kind == HEAP_THREAD)
		rearm(h);
	if (!thread_samples(h))
		return;
	busy(h, true);
	struct prof_regs r;
	cairn_prof_capture(&r);
	if (stacks_record(p, usable, &r)) {
		if (entry & MAP_HUGE)
			huge_of(entry)->sampled = true;
		else
			chunk_span_of((struct chunk *)(entry - MAP_CHUNK), (uintptr_t)p)->flags |=
			    LARGE_SAMPLED;
	}
	busy(h, false);
	prof_after_sample();
}
