/* SPDX-License-Identifier: MIT */
#include "core/tally.h"

#include "core/slab.h"

/* Counts the blocks bin cls served since its last refill into allocated,
 * those not counted yet. */
static void count_bin(struct heap *h, unsigned cls)
{
	unsigned left = 0;
	struct span *s = h->cur[cls];
	for (void *b = h->bin[cls]; b != LIST_END; b = block_next(b)) {
		/* A list written over could lead anywhere or round in a
		 * circle: the walk stops the program as the fast path would. */
		if (unlikely(s == NULL || !slab_block_ok(b, s) || ++left > sc_slab_blocks[cls]))
			cairn_freelist_corrupt(b);
	}
	uint32_t served = (uint32_t)(h->counters[cls].bin_given - left);
	h->tally.allocated += (uint64_t)sc_size[cls] * (served - h->tally.bin_seen[cls]);
	h->tally.bin_seen[cls] = served;
}

/* Bytes of every small block that came back to h's slabs from anyone, less
 * those other threads sent: the owner's frees of its own blocks, ever (see
 * tally.h). Modulo 2^64, as a difference. */
static uint64_t fast_frees(const struct heap *h)
{
	uint64_t bytes = 0;
	for (unsigned c = 0; c < SC_NSMALL; c++) {
		const struct heap_counters *k = &h->counters[c];
		uint64_t back = k->nmalloc - k->nflushed;
		struct span *lists[3] = {h->cur[c], h->partial[c].head, h->full[c].head};
		for (unsigned l = 0; l < 3; l++)
			for (struct span *s = lists[l]; s != NULL; s = l == 0 ? NULL : s->next)
				back -= s->used;
		bytes += back * sc_size[c];
	}
	return bytes - h->tally.remote_in;
}

static void sample_peak(struct heap *h)
{
	struct heap_tally *t = &h->tally;
	int64_t level = (int64_t)(t->allocated - t->deallocated) - t->peak_base;
	if (level > t->peak)
		t->peak = level;
}

void tally_update_locked(struct heap *h)
{
	for (unsigned c = 0; c < SC_NSMALL; c++)
		if (h->bin[c] != LIST_END || h->counters[c].bin_given != h->tally.bin_seen[c])
			count_bin(h, c);
	uint64_t f = fast_frees(h);
	h->tally.deallocated += f - h->tally.fast_seen;
	h->tally.fast_seen = f;
	sample_peak(h);
}

void tally_update(struct heap *h)
{
	if (h->kind != HEAP_THREAD)
		return;
	heap_lock(h);
	tally_update_locked(h);
	heap_unlock(h);
}

void tally_reset(struct heap *h)
{
	heap_lock(h);
	tally_update_locked(h);
	h->tally = (struct heap_tally){
	    .remote_in = h->tally.remote_in,
	    .fast_seen = h->tally.fast_seen,
	};
	for (unsigned c = 0; c < SC_NSMALL; c++)
		count_bin(h, c);
	h->tally.allocated = 0;
	heap_unlock(h);
}

void tally_peak_reset(struct heap *h)
{
	if (h->kind != HEAP_THREAD)
		return;
	tally_update(h);
	struct heap_tally *t = &h->tally;
	t->peak_on = true;
	t->peak_base = (int64_t)(t->allocated - t->deallocated);
	t->peak = 0;
}

uint64_t tally_peak(struct heap *h)
{
	if (h->kind != HEAP_THREAD)
		return 0;
	h->tally.peak_on = true;
	tally_update(h);
	return (uint64_t)h->tally.peak;
}
