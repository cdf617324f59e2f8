/* SPDX-License-Identifier: MIT */
/* Slabs and thread heaps: blocks of one slab, the used counter, the free
 * mark, local frees, remote frees batched back to the owner, empty slabs
 * returned to the arena, heaps of exited threads reused. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/pool.h"
#include "core/block.h"

static struct span *span_of(void *p)
{
	uintptr_t e = pagemap_get((uintptr_t)p);
	return chunk_span_of((struct chunk *)(e - MAP_CHUNK), (uintptr_t)p);
}

static int list_length(void *l)
{
	int n = 0;
	for (void *b = l; b; b = block_next(b))
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

	TEST_CASE("one_slab")
	{
		/* Fill one whole slab. */
		void *first = malloc(48);
		struct span *s = span_of(first);
		CHECK(s->state == SPAN_SMALL && s->cls == CLS && s->owner == h, "slab of class 48");
		CHECK(s->fast_owner == h, "owner may free without a lock");
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
		/* The last block frees the slab back to the arena unless it is the
		 * bin's current slab. */
		int current = h->cur[CLS] == s;
		free(keep);
		if (!current)
			CHECK(s->state == SPAN_FREE, "an empty slab goes back to the arena");
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
	return CHECK_DONE();
}
