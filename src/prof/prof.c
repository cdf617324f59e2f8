/* SPDX-License-Identifier: MIT */
/* The heap profiler: the sampling draw, the table of stacks and their
 * counts, the sampled blocks' records, the switches and the dump triggers
 * (profiler.h says what each costs in memory). One lock, prof_lock,
 * guards both tables: it is taken once per sample and once per free of a
 * sampled block, so about once per 2^lg_prof_sample bytes allocated. */
#include "prof/profiler.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/huge.h"
#include "core/lock.h"
#include "core/meta.h"
#include "prof/dump.h"
#include "prof/leak.h"
#include "prof/unwind.h"

struct heap *prof_small_heap;

/* The deepest stack kept, whatever prof_bt_max says: the frames live on
 * the sampling thread's stack while it unwinds. */
#define BT_LIMIT 256

struct prof_stack {
	struct prof_stack *next; /* in its hash chain */
	uint64_t hash;
	struct prof_counts counts;
	uint32_t depth;
	uintptr_t pcs[];
};

/* A sampled block: its address and its stack. Empty slots have addr 0. */
struct sampled {
	uintptr_t addr;
	struct prof_stack *stack;
};

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prof_stack **stacks; /* Guarded by prof_lock. */
static size_t nbuckets, nstacks;   /* Guarded by prof_lock. */
static struct sampled *blocks;     /* Guarded by prof_lock. */
static size_t nslots, nblocks;     /* Guarded by prof_lock. */
static struct prof_counts totals;  /* Guarded by prof_lock. */

static _Atomic bool active;
static _Atomic bool thread_active_init;
static _Atomic bool gdump;
static _Atomic unsigned lg_sample;

/* ------------------------------------------------------------ the draw */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: a full-period sequence whatever the seed. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ln(x) for x in (0, 1], without libm: x = m 2^e with m in [1, 2), and
 * ln(m) = 2 atanh(t), t = (m - 1) / (m + 1) <= 1/3, whose series to t^9
 * is within 1e-6 of it. */
static double ln_unit(double x)
{
	union {
		double d;
		uint64_t u;
	} v = {.d = x};
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ((1ull << 52) - 1)) | (1023ull << 52);
	double t = (v.d - 1) / (v.d + 1), t2 = t * t;
	double s = t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
	return e * 0.69314718055994530942 + 2 * s;
}

/* Bytes to the next sample: exponentially distributed with mean 2^lg, so
 * that every byte allocated is equally likely to be the one sampled,
 * whatever the sizes of the requests around it. */
int64_t prof_draw(uint64_t *rng, unsigned lg)
{
	/* u in (0, 1]: 53 random bits, plus one so that ln(u) is finite. */
	double u = (double)((rng_next(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double gap = -ln_unit(u) * (double)(1ull << lg);
	if (gap >= (double)(INT64_MAX / 2))
		return INT64_MAX / 2;
	/* Rounded, not truncated, which would take half a byte off the
	 * mean. */
	return gap < 1 ? 1 : (int64_t)(gap + 0.5);
}

static void rearm(struct heap *h)
{
	heap_event_sync(h);
	h->sample_left =
	    prof_draw(&h->prof_rng, atomic_load_explicit(&lg_sample, memory_order_relaxed));
	heap_event_arm(h);
}

void prof_thread_start(struct heap *h)
{
	if (!cairn_prof.on)
		return;
	h->prof_active = atomic_load_explicit(&thread_active_init, memory_order_relaxed);
	h->prof_busy = false;
	h->prof_name[0] = '\0';
	if (h->prof_rng == 0)
		h->prof_rng = (uintptr_t)h ^ ((uint64_t)time(NULL) << 32);
	rearm(h);
}

/* ------------------------------------------------------------ the stacks */

static uint64_t hash_pcs(const uintptr_t *pcs, unsigned n)
{
	uint64_t x = 0x84222325cbf29ce4ull ^ n;
	for (unsigned i = 0; i < n; i++)
		x = (x ^ pcs[i]) * 0x100000001b3ull + (x >> 29);
	return x ^ (x >> 32);
}

/* Doubles the buckets: the new array is whole before it is used, so a
 * fork child whose parent was in here finds the old one intact. */
static void stacks_grow(void)
{
	size_t n = nbuckets * 2;
	struct prof_stack **b = meta_alloc(n * sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < nbuckets; i++) {
		for (struct prof_stack *s = stacks[i], *next; s != NULL; s = next) {
			next = s->next;
			s->next = b[s->hash & (n - 1)];
			b[s->hash & (n - 1)] = s;
		}
	}
	stacks = b; /* the old array is metadata memory: not given back */
	nbuckets = n;
}

/* The entry of stack pcs[0..n), made if new; NULL when out of memory.
 * Called with prof_lock held. */
static struct prof_stack *stack_find(const uintptr_t *pcs, unsigned n)
{
	uint64_t hash = hash_pcs(pcs, n);
	struct prof_stack **at = &stacks[hash & (nbuckets - 1)];
	for (struct prof_stack *s = *at; s != NULL; s = s->next)
		if (s->hash == hash && s->depth == n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0)
			return s;
	struct prof_stack *s = meta_alloc(sizeof(*s) + n * sizeof(*pcs));
	if (s == NULL)
		return NULL;
	s->hash = hash;
	s->depth = n;
	memcpy(s->pcs, pcs, n * sizeof(*pcs));
	s->next = *at;
	*at = s;
	if (++nstacks > nbuckets)
		stacks_grow();
	return s;
}

/* ------------------------------------------------------------ the blocks */

static size_t slot_of(uintptr_t a, size_t mask)
{
	return (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull >> 20) & mask;
}

static void blocks_put(struct sampled *t, size_t n, uintptr_t a, struct prof_stack *s)
{
	size_t i = slot_of(a, n - 1);
	while (t[i].addr != 0)
		i = (i + 1) & (n - 1);
	t[i].stack = s;
	t[i].addr = a;
}

/* Room for one more block: false when out of memory. */
static bool blocks_room(void)
{
	if (2 * (nblocks + 1) <= nslots)
		return true;
	size_t n = nslots * 2;
	struct sampled *t = meta_alloc(n * sizeof(*t));
	if (t == NULL)
		return false;
	for (size_t i = 0; i < nslots; i++)
		if (blocks[i].addr != 0)
			blocks_put(t, n, blocks[i].addr, blocks[i].stack);
	blocks = t;
	nslots = n;
	return true;
}

/* Takes a's record out of the table (linear probing, the entries after it
 * shifted back so that no probe sequence is cut); its stack, or NULL if
 * it has none (sampled before a prof.reset). */
static struct prof_stack *blocks_take(uintptr_t a)
{
	size_t mask = nslots - 1, i = slot_of(a, mask);
	while (blocks[i].addr != a) {
		if (blocks[i].addr == 0)
			return NULL;
		i = (i + 1) & mask;
	}
	struct prof_stack *s = blocks[i].stack;
	nblocks--;
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (blocks[j].addr == 0)
			break;
		size_t home = slot_of(blocks[j].addr, mask);
		/* Entry j may move to the hole at i if its home is not in
		 * (i, j], cyclically. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			blocks[i] = blocks[j];
			i = j;
		}
	}
	blocks[i].addr = 0;
	blocks[i].stack = NULL;
	return s;
}

/* ------------------------------------------------------------ samples */

static void peak_check(void);
static void interval_check(void);

/* Records p (usable bytes) under the calling thread's stack; false when
 * it is not recorded (out of memory). Called with no lock held. */
static bool record(void *p, size_t usable)
{
	uintptr_t pcs[BT_LIMIT];
	unsigned max = cairn_prof.bt_max < BT_LIMIT ? cairn_prof.bt_max : BT_LIMIT;
	unsigned n = prof_backtrace(pcs, max);
	mutex_lock(&prof_lock);
	struct prof_stack *s = stack_find(pcs, n);
	bool ok = s != NULL && blocks_room();
	if (ok) {
		blocks_put(blocks, nslots, (uintptr_t)p, s);
		nblocks++;
		s->counts.curobjs++;
		s->counts.curbytes += usable;
		s->counts.accumobjs++;
		s->counts.accumbytes += usable;
		totals.curobjs++;
		totals.curbytes += usable;
		totals.accumobjs++;
		totals.accumbytes += usable;
		peak_check();
	}
	mutex_unlock(&prof_lock);
	return ok;
}

static bool thread_samples(struct heap *h)
{
	return !h->prof_busy && h->prof_active &&
	       atomic_load_explicit(&active, memory_order_relaxed);
}

void *prof_sample_small(struct heap *h, unsigned cls)
{
	rearm(h);
	if (!thread_samples(h))
		return NULL;
	/* What the unwinder or the slabs allocate is not sampled. */
	h->prof_busy = true;
	void *p = shared_heap_alloc(prof_small_heap, cls);
	if (p != NULL) {
		record(p, sc_size[cls]);
		h->tally.allocated += sc_size[cls];
	}
	h->prof_busy = false;
	interval_check();
	return p;
}

void prof_sample_big(struct heap *h, void *p, size_t usable, uintptr_t entry)
{
	rearm(h);
	if (!thread_samples(h))
		return;
	h->prof_busy = true;
	if (record(p, usable)) {
		if (entry & MAP_HUGE)
			huge_of(entry)->sampled = true;
		else
			chunk_span_of((struct chunk *)(entry - MAP_CHUNK), (uintptr_t)p)->flags |=
			    LARGE_SAMPLED;
	}
	h->prof_busy = false;
	interval_check();
}

void prof_unsample(void *p, size_t usable)
{
	mutex_lock(&prof_lock);
	struct prof_stack *s = blocks_take((uintptr_t)p);
	if (s != NULL) {
		s->counts.curobjs--;
		s->counts.curbytes -= usable;
		totals.curobjs--;
		totals.curbytes -= usable;
	}
	mutex_unlock(&prof_lock);
}

/* A visit's copy of the counts, taken under prof_lock, so that what the
 * visitor does with them (a dump's write(2)s: about 0.1 s for 100k
 * stacks) runs with the lock released and never stops a thread that
 * samples or frees a sampled block. A stack's frames never change once it
 * is made, nor is it freed, so the copy keeps only its address. The copy's
 * memory is metadata, never given back: it is replaced by one twice the
 * size when the stacks outgrow it. Guarded by visit_lock, which ranks
 * above prof_lock. */
struct visit_entry {
	const struct prof_stack *stack;
	struct prof_counts counts;
};
static pthread_mutex_t visit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct visit_entry *visit_copy;
static size_t visit_room;

static bool shown(const struct prof_stack *s)
{
	return s->counts.curobjs != 0 || (cairn_prof.accum && s->counts.accumobjs != 0);
}

void prof_visit(void (*fn)(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                           void *arg),
                void *arg, struct prof_counts *total)
{
	mutex_lock(&visit_lock);
	mutex_lock(&prof_lock);
	if (fn != NULL && nstacks > visit_room) {
		struct visit_entry *b = meta_alloc(nstacks * 2 * sizeof(*b));
		if (b != NULL) {
			visit_copy = b;
			visit_room = nstacks * 2;
		}
	}
	/* Out of metadata memory for the copy: the visit is made under the
	 * lock, as it must be without one. */
	bool copy = fn != NULL && nstacks <= visit_room;
	size_t n = 0;
	for (size_t i = 0; fn != NULL && i < nbuckets; i++) {
		for (struct prof_stack *s = stacks[i]; s != NULL; s = s->next) {
			if (!shown(s))
				continue;
			if (copy)
				visit_copy[n++] = (struct visit_entry){s, s->counts};
			else
				fn(s->pcs, s->depth, &s->counts, arg);
		}
	}
	if (total != NULL) {
		*total = totals;
		if (!cairn_prof.accum)
			total->accumobjs = total->accumbytes = 0;
	}
	mutex_unlock(&prof_lock);
	for (size_t k = 0; k < n; k++)
		fn(visit_copy[k].stack->pcs, visit_copy[k].stack->depth, &visit_copy[k].counts,
		   arg);
	mutex_unlock(&visit_lock);
}

uint64_t prof_sample_interval(void)
{
	return 1ull << atomic_load_explicit(&lg_sample, memory_order_relaxed);
}

/* ------------------------------------------------------------ switches */

bool prof_active_get(void)
{
	return atomic_load(&active);
}

void prof_active_set(bool on)
{
	atomic_store(&active, on);
}

bool prof_thread_active_init_get(void)
{
	return atomic_load(&thread_active_init);
}

void prof_thread_active_init_set(bool on)
{
	atomic_store(&thread_active_init, on);
}

bool prof_gdump_get(void)
{
	return atomic_load(&gdump);
}

void prof_gdump_set(bool on)
{
	atomic_store(&gdump, on);
}

unsigned prof_lg_sample(void)
{
	return atomic_load(&lg_sample);
}

/* The peak the last 'u' dump recorded; what has been dumped since
 * prof.reset. Guarded by prof_lock. */
static uint64_t peak_dumped;
static uint64_t peak_when_ns;

void prof_reset(unsigned lg)
{
	mutex_lock(&prof_lock);
	atomic_store(&lg_sample, lg);
	for (size_t i = 0; i < nbuckets; i++)
		for (struct prof_stack *s = stacks[i]; s != NULL; s = s->next)
			memset(&s->counts, 0, sizeof(s->counts));
	memset(&totals, 0, sizeof(totals));
	memset(blocks, 0, nslots * sizeof(*blocks));
	nblocks = 0;
	peak_dumped = 0;
	mutex_unlock(&prof_lock);
}

/* ------------------------------------------------------------ triggers
 *
 * Each trigger calls prof_dump_due with no lock held: it counts the dump
 * (for the tests) and has the writer make it (prof_dump_auto), on the
 * thread that found it due. A dump that cannot be written is said in one
 * line on stderr, since nothing else would tell. */

static _Atomic uint64_t dumps_due[3];

static int kind_index(char kind)
{
	return kind == 'f' ? 0 : kind == 'i' ? 1 : kind == 'u' ? 2 : -1;
}

void prof_dump_due(char kind)
{
	int i = kind_index(kind);
	if (i >= 0)
		atomic_fetch_add(&dumps_due[i], 1);
	int err = prof_dump_auto(NULL, kind);
	if (err != 0) {
		char what[2] = {kind, '\0'}, num[24];
		num[fmt_u64(num, (uint64_t)err)] = '\0';
		cairn_message("heap profile (", what, ") not written under prefix ",
		              cairn_prof.prefix != NULL ? cairn_prof.prefix : "jeprof", ": errno ",
		              num, NULL);
	}
}

uint64_t prof_dumps_due(char kind)
{
	int i = kind_index(kind);
	return i >= 0 ? atomic_load(&dumps_due[i]) : 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A new peak of the sampled live bytes, with prof_gdump: a dump when they
 * grew by an eighth over the last peak dumped, at most one a second, so
 * that a service that grows for hours leaves a few profiles of its
 * largest heap rather than one per sample. Called with prof_lock held;
 * the dump itself is made with it released (pending_peak). */
static bool pending_peak;

static void peak_check(void)
{
	if (!atomic_load_explicit(&gdump, memory_order_relaxed))
		return;
	if (totals.curbytes <= peak_dumped + peak_dumped / 8)
		return;
	uint64_t t = now_ns();
	if (peak_dumped != 0 && t - peak_when_ns < 1000000000u)
		return;
	peak_dumped = totals.curbytes;
	peak_when_ns = t;
	pending_peak = true;
}

/* Every 2^lg_prof_interval bytes the thread heaps allocated (counted at
 * their rare events, EVENT_INTERVAL at a time, so the interval is kept to
 * within a MiB), looked at after each sample. Also runs a peak dump
 * found due. */
static _Atomic uint64_t interval_next;

static void interval_check(void)
{
	mutex_lock(&prof_lock);
	bool peak = pending_peak;
	pending_peak = false;
	mutex_unlock(&prof_lock);
	if (peak)
		prof_dump_due('u');
	if (cairn_prof.lg_interval < 0)
		return;
	uint64_t step = 1ull << cairn_prof.lg_interval;
	uint64_t bytes = atomic_load_explicit(&cairn_event_bytes, memory_order_relaxed);
	uint64_t next = atomic_load_explicit(&interval_next, memory_order_relaxed);
	if (bytes < next)
		return;
	/* One thread wins each crossing. */
	uint64_t after = bytes - bytes % step + step;
	if (atomic_compare_exchange_strong(&interval_next, &next, after))
		prof_dump_due('i');
}

/* The final dump first: prof_leak_error ends the process after the leak
 * report with _exit(1), as jemalloc does, since a destructor cannot change
 * the status exit() was given. What exit() had left to do after cairn's
 * destructor (later destructors, flushing stdio buffers) is then not done:
 * prof_leak_error is for test runs, whose output goes to stderr. */
void prof_exit(void)
{
	if (!cairn_prof.on)
		return;
	if (cairn_prof.final)
		prof_dump_due('f');
	if (!cairn_prof.leak && !cairn_prof.leak_error)
		return;
	if (prof_leak_report() && cairn_prof.leak_error) {
		cairn_message("exiting with status 1: memory still allocated at exit "
		              "(prof_leak_error)",
		              NULL);
		_exit(1);
	}
}

/* ------------------------------------------------------------ set-up, fork */

bool prof_boot(void)
{
	atomic_store(&active, cairn_prof.active);
	atomic_store(&thread_active_init, cairn_prof.thread_active_init);
	atomic_store(&gdump, cairn_prof.gdump);
	atomic_store(&lg_sample, cairn_prof.lg_sample);
	if (cairn_prof.lg_interval >= 0)
		atomic_store(&interval_next, 1ull << cairn_prof.lg_interval);
	if (!cairn_prof.on)
		return true;
	nbuckets = 1024;
	nslots = 1024;
	stacks = meta_alloc(nbuckets * sizeof(*stacks));
	blocks = meta_alloc(nslots * sizeof(*blocks));
	prof_small_heap = shared_heap_create(&cairn_arenas[0]);
	if (stacks == NULL || blocks == NULL || prof_small_heap == NULL) {
		prof_small_heap = NULL;
		cairn_prof.on = false;
		return false;
	}
	shared_heap_on_free(prof_small_heap, prof_unsample);
	return true;
}

void prof_postfork_child(void)
{
	if (!cairn_prof.on)
		return;
	shared_heap_postfork_child(prof_small_heap);
	/* A visit the parent was making is not the child's: its copy is
	 * only read under the lock, which the child may take afresh. */
	mutex_reset_was_held(&visit_lock);
	/* A change of the blocks' table may have been half made: the
	 * samples of that moment are forgotten (their blocks free without
	 * touching counts); the stacks' chains change by one store. */
	if (mutex_reset_was_held(&prof_lock)) {
		memset(blocks, 0, nslots * sizeof(*blocks));
		nblocks = 0;
	}
}
