/* SPDX-License-Identifier: MIT */
/* The profiler's tables: the distinct stacks with their counts, and the
 * sampled blocks' records (address to stack), both in metadata memory,
 * both guarded by prof_lock; and the visit that dumps make of the stacks
 * (profiler.h says what each costs in memory). */
#include "prof/stacks.h"

#include <string.h>

#include "core/lock.h"
#include "core/meta.h"
#include "prof/profiler.h"
#include "prof/unwind.h"

/* The deepest stack kept, whatever prof_bt_max says: the frames live on
 * the sampling thread's stack while it unwinds. */
#define BT_LIMIT 256

struct prof_stack {
	struct prof_stack *next; /* in its hash chain */
	/* The stack made before it: the list a visit walks, which, unlike
	 * the chains, no growth of the hash table reorders. */
	struct prof_stack *older;
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

/* The tables, guarded by prof_lock. What every sample and every free of
 * a sampled block writes (the lock, the blocks' count, the totals) lies
 * on one cache line, and what they only read on another: where threads on
 * several cores sample, each written line moves between their caches at
 * every sample (some hundred cycles each), and each line read beside one
 * written moves with it. */
static struct {
	cairn_mutex lock; /* prof_lock, as the comments name it */
	size_t nblocks;
	struct prof_counts totals;
} hot __attribute__((aligned(64))) = {.lock = CAIRN_MUTEX_INIT};

static struct {
	struct prof_stack **stacks;
	size_t nbuckets;
	struct sampled *blocks;
	size_t nslots;
	/* Written only with a new stack. */
	struct prof_stack *newest;
	size_t nstacks;
} tables __attribute__((aligned(64)));

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
	size_t n = tables.nbuckets * 2;
	struct prof_stack **b = meta_alloc(n * sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < tables.nbuckets; i++) {
		for (struct prof_stack *s = tables.stacks[i], *next; s != NULL; s = next) {
			next = s->next;
			s->next = b[s->hash & (n - 1)];
			b[s->hash & (n - 1)] = s;
		}
	}
	tables.stacks = b; /* the old array is metadata memory: not given back */
	tables.nbuckets = n;
}

/* The entry of stack pcs[0..n), made if new; NULL when out of memory.
 * Called with prof_lock held. */
static struct prof_stack *stack_find(const uintptr_t *pcs, unsigned n)
{
	uint64_t hash = hash_pcs(pcs, n);
	struct prof_stack **at = &tables.stacks[hash & (tables.nbuckets - 1)];
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
	s->older = tables.newest;
	*at = s;
	tables.newest = s;
	if (++tables.nstacks > tables.nbuckets)
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
	if (2 * (hot.nblocks + 1) <= tables.nslots)
		return true;
	size_t n = tables.nslots * 2;
	struct sampled *t = meta_alloc(n * sizeof(*t));
	if (t == NULL)
		return false;
	for (size_t i = 0; i < tables.nslots; i++)
		if (tables.blocks[i].addr != 0)
			blocks_put(t, n, tables.blocks[i].addr, tables.blocks[i].stack);
	tables.blocks = t;
	tables.nslots = n;
	return true;
}

/* Takes a's record out of the table (linear probing, the entries after it
 * shifted back so that no probe sequence is cut); its stack, or NULL if
 * it has none (sampled before a prof.reset). */
static struct prof_stack *blocks_take(uintptr_t a)
{
	size_t mask = tables.nslots - 1, i = slot_of(a, mask);
	while (tables.blocks[i].addr != a) {
		if (tables.blocks[i].addr == 0)
			return NULL;
		i = (i + 1) & mask;
	}
	struct prof_stack *s = tables.blocks[i].stack;
	hot.nblocks--;
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (tables.blocks[j].addr == 0)
			break;
		size_t home = slot_of(tables.blocks[j].addr, mask);
		/* Entry j may move to the hole at i if its home is not in
		 * (i, j], cyclically. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			tables.blocks[i] = tables.blocks[j];
			i = j;
		}
	}
	tables.blocks[i].addr = 0;
	tables.blocks[i].stack = NULL;
	return s;
}

/* ------------------------------------------------------------ samples */

bool stacks_record(void *p, size_t usable, const struct prof_regs *from)
{
	uintptr_t pcs[BT_LIMIT];
	unsigned max = cairn_prof.bt_max < BT_LIMIT ? cairn_prof.bt_max : BT_LIMIT;
	void **memo;
	unsigned n = prof_backtrace_memo(from, pcs, max, &memo);
	mutex_lock(&hot.lock);
	/* The same frames as a sample's before by the same way: its stack,
	 * without hashing and comparing them again (about 100 instructions
	 * and two cache misses, the bucket and the stack's frames). Stacks
	 * are never freed, so the memo stays good. */
	struct prof_stack *s = memo != NULL ? *memo : NULL;
	if (s == NULL) {
		s = stack_find(pcs, n);
		if (memo != NULL)
			*memo = s;
	}
	bool ok = s != NULL && blocks_room();
	if (ok) {
		blocks_put(tables.blocks, tables.nslots, (uintptr_t)p, s);
		hot.nblocks++;
		s->counts.curobjs++;
		s->counts.curbytes += usable;
		s->counts.accumobjs++;
		s->counts.accumbytes += usable;
		hot.totals.curobjs++;
		hot.totals.curbytes += usable;
		hot.totals.accumobjs++;
		hot.totals.accumbytes += usable;
		prof_peak_check(hot.totals.curbytes);
	}
	mutex_unlock(&hot.lock);
	return ok;
}

void prof_unsample(void *p, size_t usable)
{
	mutex_lock(&hot.lock);
	struct prof_stack *s = blocks_take((uintptr_t)p);
	if (s != NULL) {
		s->counts.curobjs--;
		s->counts.curbytes -= usable;
		hot.totals.curobjs--;
		hot.totals.curbytes -= usable;
	}
	mutex_unlock(&hot.lock);
}

/* ------------------------------------------------------------ the visit
 *
 * A visit copies the counts and calls the visitor on the copy with
 * prof_lock released, so that what the visitor does (a dump's write(2)s)
 * stops no thread that samples or frees a sampled block. The copy itself
 * is made VISIT_SLICE stacks at a time, the lock dropped between slices:
 * holding it for a whole table of 100k stacks (cache misses all the way)
 * stopped sampling threads for milliseconds (tests/api/prof_stall.c). The
 * walk follows the list of stacks newest first, which only grows at its
 * head and whose entries are never freed, so a cursor into it stays good
 * while the lock is dropped; stacks made meanwhile are newer than the
 * visit and not in it. The copy is thus not of one moment: each stack's
 * counts are those of the moment its slice was copied.
 *
 * The copy's memory is metadata, never given back, allocated with no lock
 * held: it is replaced by one twice the size when the stacks outgrow it.
 * Guarded by visit_lock, which ranks above prof_lock. */
#define VISIT_SLICE 1024

struct visit_entry {
	const struct prof_stack *stack;
	struct prof_counts counts;
};
static cairn_mutex visit_lock = CAIRN_MUTEX_INIT;
static struct visit_entry *visit_copy;
static size_t visit_room;

static bool shown(const struct prof_stack *s)
{
	return s->counts.curobjs != 0 || (cairn_prof.accum && s->counts.accumobjs != 0);
}

/* With no room to copy (out of metadata memory), the visitor is called
 * under the lock, as it must be without one. */
static void
visit_locked(void (*fn)(const uintptr_t *, unsigned, const struct prof_counts *, void *), void *arg)
{
	mutex_lock(&hot.lock);
	for (struct prof_stack *s = tables.newest; s != NULL; s = s->older)
		if (shown(s))
			fn(s->pcs, s->depth, &s->counts, arg);
	mutex_unlock(&hot.lock);
}

void prof_visit(void (*fn)(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                           void *arg),
                void *arg, struct prof_counts *total)
{
	if (total != NULL) {
		mutex_lock(&hot.lock);
		*total = hot.totals;
		mutex_unlock(&hot.lock);
		if (!cairn_prof.accum)
			total->accumobjs = total->accumbytes = 0;
	}
	if (fn == NULL)
		return;
	mutex_lock(&visit_lock);
	mutex_lock(&hot.lock);
	size_t want = tables.nstacks;
	const struct prof_stack *cursor = tables.newest;
	mutex_unlock(&hot.lock);
	/* Stacks made from here on are not visited: want is enough. */
	if (want > visit_room) {
		struct visit_entry *b = meta_alloc(want * 2 * sizeof(*b));
		if (b != NULL) {
			visit_copy = b;
			visit_room = want * 2;
		}
	}
	if (want > visit_room) {
		visit_locked(fn, arg);
		mutex_unlock(&visit_lock);
		return;
	}
	size_t n = 0;
	while (cursor != NULL) {
		mutex_lock(&hot.lock);
		for (unsigned k = 0; k < VISIT_SLICE && cursor != NULL; k++, cursor = cursor->older)
			if (shown(cursor))
				visit_copy[n++] = (struct visit_entry){cursor, cursor->counts};
		mutex_unlock(&hot.lock);
	}
	for (size_t k = 0; k < n; k++)
		fn(visit_copy[k].stack->pcs, visit_copy[k].stack->depth, &visit_copy[k].counts,
		   arg);
	mutex_unlock(&visit_lock);
}

/* ------------------------------------------------------------ upkeep */

void stacks_reset_locked(void)
{
	for (struct prof_stack *s = tables.newest; s != NULL; s = s->older)
		memset(&s->counts, 0, sizeof(s->counts));
	memset(&hot.totals, 0, sizeof(hot.totals));
	memset(tables.blocks, 0, tables.nslots * sizeof(*tables.blocks));
	hot.nblocks = 0;
}

bool stacks_boot(void)
{
	tables.nbuckets = 1024;
	tables.nslots = 1024;
	tables.stacks = meta_alloc(tables.nbuckets * sizeof(*tables.stacks));
	tables.blocks = meta_alloc(tables.nslots * sizeof(*tables.blocks));
	return tables.stacks != NULL && tables.blocks != NULL;
}

void stacks_lock(void)
{
	mutex_lock(&hot.lock);
}

void stacks_unlock(void)
{
	mutex_unlock(&hot.lock);
}

void stacks_postfork_child(void)
{
	bool lock_was_held = mutex_reset_was_held(&hot.lock);
	/* A visit the parent was making is not the child's: its copy is
	 * only read under visit_lock, which the child may take afresh. */
	mutex_reset_was_held(&visit_lock);
	/* A change of the blocks' table may have been half made: the
	 * samples of that moment are forgotten (their blocks free without
	 * touching counts); the stacks' chains and list change by one store
	 * each. */
	if (lock_was_held) {
		memset(tables.blocks, 0, tables.nslots * sizeof(*tables.blocks));
		hot.nblocks = 0;
	}
}
