/* SPDX-License-Identifier: MIT */
/* Slabs and thread heaps: blocks of one slab, the used counter, the free
 * mark, local frees, remote frees batched back to the owner, empty slabs
 * kept by the heap and returned to the arena when it is purged, when its
 * class goes idle and when its thread exits, heaps of exited threads
 * reused; every heap's copy of the class table and its empty bins. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/pool.h"
#include "core/block.h"
#include "core/slab.h"

static struct span *span_of(void *p)
{
	return pagemap_span((uintptr_t)p);
}

static int list_length(void *l)
{
	int n = 0;
	for (void *b = l; b != LIST_END; b = block_next(b))
		n++;
	return n;
}

#define CLS 2 /* 48-byte blocks */
#define NB  4096

static void *blocks[NB];
static struct heap *other_heap;

static void *alloc_remote(void *arg)
{
	for (int i = 0; i < 100; i++)
		blocks[i] = malloc(48);
	other_heap = heap_self();
	return NULL;
}

/* A thread that allocates blocks for the "ahead" case and stays alive
 * (its heap live, so that frees to it wait in the freeing thread's outbox)
 * until told to go. */
#define AHEAD_N 12
static void *ahead48[AHEAD_N], *ahead16[AHEAD_N], *kept16[AHEAD_N];
static pthread_mutex_t ahead_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ahead_cv = PTHREAD_COND_INITIALIZER;
static int ahead_stage;
static struct heap *ahead_heap;

static void *alloc_and_wait(void *arg)
{
	for (int i = 0; i < AHEAD_N; i++) {
		ahead48[i] = malloc(48);
		ahead16[i] = malloc(16);
		kept16[i] = malloc(16);
		memset(kept16[i], 0x3c, 16);
	}
	pthread_mutex_lock(&ahead_mu);
	ahead_heap = heap_self();
	ahead_stage = 1;
	pthread_cond_broadcast(&ahead_cv);
	while (ahead_stage != 2)
		pthread_cond_wait(&ahead_cv, &ahead_mu);
	pthread_mutex_unlock(&ahead_mu);
	for (int i = 0; i < AHEAD_N; i++)
		free(kept16[i]);
	return NULL;
}

/* The empty slabs at the tail of h's partial list of class CLS. */
static int empty_slabs(struct heap *h)
{
	int n = 0;
	for (struct span *s = h->partial[CLS].tail; s != NULL && s->used == 0; s = s->prev)
		n++;
	return n;
}

/* Fills four slabs of class CLS and frees every block: three empty slabs
 * besides the current one. */
static void *many[4 * 1536];

static void fill_and_free(void)
{
	int n = 4 * (int)sc_slab_blocks[CLS];
	REQUIRE(n <= (int)(sizeof many / sizeof many[0]), "four slabs fit in many[]");
	for (int i = 0; i < n; i++)
		many[i] = malloc(48);
	for (int i = 0; i < n; i++)
		free(many[i]);
}

struct exit_report {
	int empty;
	struct heap *heap;
};

static void *empty_on_exit(void *arg)
{
	struct exit_report *r = arg;
	fill_and_free();
	r->empty = empty_slabs(heap_self());
	r->heap = heap_self();
	return NULL;
}

static void *report_heap(void *arg)
{
	free(malloc(16));
	*(struct heap **)arg = heap_self();
	return NULL;
}

int main(void)
{
	REQUIRE(sc_size[CLS] == 48, "class %d is 48 bytes", CLS);
	struct heap *h = heap_self();
	free(malloc(48));
	h = heap_self();
	REQUIRE(h->kind == HEAP_THREAD, "main thread has a heap");

	TEST_CASE("heap_fields")
	{
		/* malloc reads the class off the heap and takes LIST_END for an
		 * empty bin: a heap made, the thread's and the two stand-ins
		 * must all hold the table and no NULL bin. */
		static struct heap made;
		heap_init(&made, h->arena, HEAP_THREAD);
		const struct heap *heaps[] = {&made, h, &cairn_heap_empty, &cairn_heap_dead};
		for (unsigned i = 0; i < 4; i++) {
			CHECK(memcmp(heaps[i]->class_of, sc_lookup1, sizeof sc_lookup1) == 0,
			      "heap %u: its class table is sc_lookup1", i);
			unsigned null_bins = 0;
			for (unsigned c = 0; c < SC_NSMALL; c++)
				null_bins += heaps[i]->bin[c] == NULL;
			CHECK(null_bins == 0, "heap %u: %u bins are NULL", i, null_bins);
		}
		CHECK(made.bin[0] == LIST_END && cairn_heap_empty.bin[SC_NSMALL - 1] == LIST_END,
		      "an empty bin is LIST_END");
	}

	TEST_CASE("one_slab")
	{
		/* Fill one whole slab. */
		void *first = malloc(48);
		struct span *s = span_of(first);
		CHECK(s->state == SPAN_SMALL && s->cls == CLS && s->owner == h, "slab of class 48");
		CHECK(s->fast_owner == h->owner_id && h->owner_id != 0,
		      "owner may free without a lock");
		uint32_t cap = sc_slab_blocks[CLS];
		int same = 0, n = 0;
		blocks[n++] = first;
		while (n < NB) {
			void *p = malloc(48);
			blocks[n++] = p;
			if (span_of(p) == s)
				same++;
			((uintptr_t *)p)[0] = 0x1111;
			((uintptr_t *)p)[1] = 0x2222;
		}
		CHECK(s->used == cap, "used %u == capacity while every block is out", s->used);
		CHECK(same >= (int)cap - 2, "blocks come from the current slab first (%d)", same);

		/* Free every block of s but one: used counts down, the blocks land on
		 * the slab's local list, each carrying the free mark. */
		void *keep = NULL;
		int freed = 0;
		for (int i = 0; i < NB; i++) {
			if (span_of(blocks[i]) != s)
				continue;
			if (keep == NULL) {
				keep = blocks[i];
				continue;
			}
			free(blocks[i]);
			CHECK(block_is_free(blocks[i], s), "free mark on block %d", i);
			blocks[i] = NULL;
			freed++;
		}
		CHECK(s->used == cap - (uint32_t)freed && s->used == 1, "used %u after frees",
		      s->used);
		CHECK(list_length(s->local_free) == freed, "local_free holds %d", freed);
		/* The last block leaves the slab empty: a live heap keeps it for
		 * its class, at the tail of the partial list. */
		int current = h->cur[CLS] == s;
		free(keep);
		if (!current)
			CHECK(s->state == SPAN_SMALL && s->used == 0 && (s->flags & SPAN_PARTIAL) &&
			          h->partial[CLS].tail == s,
			      "an empty slab stays with the heap, last on its partial list");
		else
			CHECK(s->used == 0 && s->state == SPAN_SMALL, "the current slab stays");
		for (int i = 0; i < NB; i++)
			if (blocks[i] != NULL && blocks[i] != keep)
				free(blocks[i]);
		heap_flush(h);
	}

	TEST_CASE("remote_frees")
	{
		/* Remote frees: another thread's blocks freed here travel through this
		 * thread's outbox to the owner's remote list. */
		pthread_t t;
		pthread_create(&t, NULL, alloc_remote, NULL);
		pthread_join(t, NULL);
		/* The thread exited: its heap is parked, its slab keeps 100 blocks. */
		struct span *rs = span_of(blocks[0]);
		CHECK(rs->owner == other_heap && other_heap->state == HEAP_ABANDONED,
		      "parked heap");
		uint32_t before = rs->used;
		for (int i = 0; i < 100; i++)
			free(blocks[i]);
		/* Sent in batches: whatever was not yet sent is still counted as used. */
		CHECK(rs->used >= before - 100 && rs->used < before,
		      "batches sent so far (used %u)", rs->used);
		heap_flush(h); /* sends the outbox */
		/* A parked heap has no thread to take its frees in: the sender does it
		 * at once, so the slab empties and goes back to the arena. */
		CHECK(atomic_load(&other_heap->remote) == NULL,
		      "nothing left waiting on a parked heap");
		CHECK(rs->state == SPAN_FREE || rs->used == 0, "slab emptied (used %u)", rs->used);

		/* A new thread reuses the parked heap. */
		struct heap *reused = NULL;
		pthread_create(&t, NULL, report_heap, &reused);
		pthread_join(t, NULL);
		CHECK(reused == other_heap, "the exited thread's heap is reused");
	}
	TEST_CASE("ahead")
	{
		/* Blocks freed for another thread's heap wait in this thread's
		 * outbox as a chain, newest first; each of 24 bytes or more
		 * names in its third word the block OUTBOX_AHEAD places on (NULL
		 * for the last ones), which the owner prefetches while it takes
		 * the chain in; a 16-byte block has no third word, and its
		 * neighbour is left alone. */
		pthread_t t;
		pthread_create(&t, NULL, alloc_and_wait, NULL);
		pthread_mutex_lock(&ahead_mu);
		while (ahead_stage != 1)
			pthread_cond_wait(&ahead_cv, &ahead_mu);
		pthread_mutex_unlock(&ahead_mu);
		heap_flush(h);
		for (int i = 0; i < AHEAD_N; i++) {
			free(ahead48[i]);
			free(ahead16[i]);
		}
		struct outbox *o = &h->out[((uintptr_t)ahead_heap >> 6) % OUTBOX_SLOTS];
		REQUIRE(o->to == ahead_heap && o->count == 2 * AHEAD_N,
		        "the %d frees wait in the outbox (%u)", 2 * AHEAD_N, o->count);
		void *chain[2 * AHEAD_N];
		int n = 0;
		for (void *b = o->head; b != NULL && n < 2 * AHEAD_N; b = block_next(b))
			chain[n++] = b;
		CHECK(n == 2 * AHEAD_N && chain[n - 1] == o->tail, "the chain holds them all (%d)",
		      n);
		int named = 0, wrong = 0;
		for (int i = 0; i < n; i++) {
			if (span_of(chain[i])->cls == 0)
				continue;
			void *want = i + OUTBOX_AHEAD < n ? chain[i + OUTBOX_AHEAD] : NULL;
			if (block_ahead(chain[i]) == want)
				named++;
			else
				wrong++;
		}
		CHECK(named == AHEAD_N && wrong == 0,
		      "each 48-byte block names the block %d places on: %d right, %d wrong",
		      OUTBOX_AHEAD, named, wrong);
		int adjacent = 0, touched = 0;
		for (int i = 0; i < AHEAD_N; i++) {
			if ((char *)ahead16[i] + 16 != (char *)kept16[i])
				continue;
			adjacent++;
			for (int k = 0; k < 16; k++)
				touched += ((unsigned char *)kept16[i])[k] != 0x3c;
		}
		CHECK(adjacent > 0 && touched == 0,
		      "16-byte blocks leave the next block alone (%d adjacent, %d bytes changed)",
		      adjacent, touched);
		heap_flush(h); /* sends the outbox */
		CHECK(o->count == 0 && o->recent[0] == NULL && o->recent[OUTBOX_AHEAD - 1] == NULL,
		      "a sent outbox names no block for the next chain");
		pthread_mutex_lock(&ahead_mu);
		ahead_stage = 2;
		pthread_cond_broadcast(&ahead_cv);
		pthread_mutex_unlock(&ahead_mu);
		pthread_join(t, NULL);
	}
	TEST_CASE("scan_full")
	{
		/* The owner's fast path frees into a full slab without moving
		 * it: a refill's bounded look at the full list may miss such a
		 * slab, the look before answering out of memory may not. */
		heap_flush(h);
		heap_purge_self();
		size_t n = 11 * (size_t)sc_slab_blocks[CLS];
		void **b = malloc(n * sizeof(void *));
		REQUIRE(b != NULL, "room for %zu pointers", n);
		for (size_t i = 0; i < n; i++)
			b[i] = malloc(48);
		int nfull = 0;
		for (struct span *f = h->full[CLS].head; f != NULL; f = f->next)
			nfull++;
		/* Enough that the slab at the head stays out of reach of a
		 * second bounded look: the first puts the four it looked at in
		 * front of it. */
		CHECK(nfull > 2 * (int)SLAB_SCAN_FULL, "%d full slabs", nfull);
		CHECK(h->partial[CLS].head == NULL, "no partly used slab");
		struct span *head = h->full[CLS].head;
		void *one = NULL;
		for (size_t i = 0; i < n && one == NULL; i++) {
			if (span_of(b[i]) == head) {
				one = b[i];
				b[i] = NULL;
			}
		}
		free(one);
		CHECK((head->flags & SPAN_FULL) && head->local_free == one,
		      "a free into a full slab leaves it on the full list");
		heap_lock(h);
		slab_scan_full(h, CLS, SLAB_SCAN_FULL);
		struct span *bounded = h->partial[CLS].head;
		slab_scan_full(h, CLS, SLAB_SCAN_ALL);
		struct span *all = h->partial[CLS].head;
		heap_unlock(h);
		CHECK(bounded == NULL, "the bounded look passes over the slab at the list's head");
		CHECK(all == head && (head->flags & SPAN_PARTIAL),
		      "the look at every slab moves it to the partial list");
		for (size_t i = 0; i < n; i++)
			free(b[i]);
		free(b);
		heap_flush(h);
	}

	TEST_CASE("empty_slabs")
	{
		heap_flush(h);
		heap_purge_self();
		CHECK(empty_slabs(h) == 0, "a purged heap keeps no empty slab (%d)",
		      empty_slabs(h));
		fill_and_free();
		int kept = empty_slabs(h);
		CHECK(kept >= 3, "the slabs that emptied stay with the heap (%d)", kept);
		heap_purge_self();
		CHECK(empty_slabs(h) == 0, "purging gives them back (%d)", empty_slabs(h));

		/* Trims: half of the empty slabs no refill took since the last
		 * trim go back at each; those a refill took stay. The trims are
		 * this test's alone (the rare event's are put off). */
		h->trim_at = UINT64_MAX;
		fill_and_free();
		kept = empty_slabs(h);
		heap_lock(h);
		slab_trim_kept(h);
		heap_unlock(h);
		CHECK(empty_slabs(h) == kept,
		      "a trim keeps the slabs that emptied since the last (%d of %d)",
		      empty_slabs(h), kept);
		fill_and_free(); /* takes every kept slab and empties it again */
		int taken = empty_slabs(h);
		heap_lock(h);
		slab_trim_kept(h);
		heap_unlock(h);
		CHECK(taken >= kept && empty_slabs(h) == taken,
		      "slabs a refill took are kept at the next trim (%d of %d)", empty_slabs(h),
		      taken);
		heap_lock(h);
		slab_trim_kept(h);
		heap_unlock(h);
		CHECK(empty_slabs(h) == taken - (taken + 1) / 2,
		      "half of those unused for a period go back (%d of %d)", empty_slabs(h),
		      taken);
		for (int i = 0; i < 8; i++) {
			heap_lock(h);
			slab_trim_kept(h);
			heap_unlock(h);
		}
		CHECK(empty_slabs(h) == 0, "a slab unused for trim after trim goes back (%d)",
		      empty_slabs(h));
		h->trim_at = 0;

		/* A thread that exits leaves no empty slab in its parked heap. */
		struct exit_report r = {0, NULL};
		pthread_t t;
		pthread_create(&t, NULL, empty_on_exit, &r);
		pthread_join(t, NULL);
		CHECK(r.empty >= 3, "the thread kept its empty slabs (%d)", r.empty);
		CHECK(atomic_load(&r.heap->state) == HEAP_ABANDONED && empty_slabs(r.heap) == 0,
		      "its parked heap has none left");

		/* A shared heap of an automatic arena (the heap profiler's, an
		 * arena's own) keeps its empty slabs too; the decay passes trim
		 * them on the same schedule, and give them all back with force. */
		struct heap *sh = shared_heap_create(&cairn_arenas[0]);
		REQUIRE(sh != NULL, "shared_heap_create");
		int n = 4 * (int)sc_slab_blocks[CLS];
		for (int i = 0; i < n; i++)
			many[i] = shared_heap_alloc(sh, CLS);
		CHECK(many[n - 1] != NULL && sh->partial[CLS].head == NULL &&
		          sh->full[CLS].head != NULL,
		      "four slabs' blocks from a shared heap");
		for (int i = 0; i < n; i++)
			free(many[i]);
		CHECK(empty_slabs(sh) == 3 && sh->full[CLS].head == NULL,
		      "freed, the shared heap keeps its three empty slabs besides its current "
		      "one (%d)",
		      empty_slabs(sh));
		uint64_t now = os_now_ms(), next = UINT64_MAX;
		sh->trim_at = now;
		shared_heaps_decay(now, false, &next);
		CHECK(empty_slabs(sh) == 3 && next == sh->trim_at && next > now,
		      "a first pass marks them (%d kept), due again at %llu (now %llu)",
		      empty_slabs(sh), (unsigned long long)next, (unsigned long long)now);
		shared_heaps_decay(next - 1, false, &next);
		CHECK(empty_slabs(sh) == 3, "a pass before the period ends leaves them (%d)",
		      empty_slabs(sh));
		now = next;
		next = UINT64_MAX;
		shared_heaps_decay(now, false, &next);
		CHECK(empty_slabs(sh) == 1 && next == sh->trim_at,
		      "a pass a period later gives back two of three (%d kept)", empty_slabs(sh));
		shared_heaps_decay(now, true, &next);
		CHECK(empty_slabs(sh) == 0, "with force, every one (%d kept)", empty_slabs(sh));

		/* A created arena's shared heap, which no decay pass visits,
		 * gives its slabs back as they empty. */
		static struct arena created;
		arena_init_created(&created, 1000);
		struct heap *ch = shared_heap_create(&created);
		REQUIRE(ch != NULL, "a created arena's shared heap");
		for (int i = 0; i < n; i++)
			many[i] = shared_heap_alloc(ch, CLS);
		for (int i = 0; i < n; i++)
			free(many[i]);
		CHECK(empty_slabs(ch) == 0 && ch->full[CLS].head == NULL,
		      "freed, it keeps no empty slab but its current one (%d)", empty_slabs(ch));
	}
	return CHECK_DONE();
}
