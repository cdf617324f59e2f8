/* SPDX-License-Identifier: MIT */
/* Huge mappings: their page-map slots, the pieces (VMAs) a mapping spans,
 * moving pieces with mremap, and the count of live huge bytes. */
#include "core/huge_internal.h"

#include <stdatomic.h>

#include "core/params.h"
#include "os/os.h"

/* Assembled blocks spread over several VMAs; past this many live huge
 * blocks new ones take a single piece, and realloc no longer moves blocks
 * under LARGE_MAX into cached mappings, so that huge blocks never use
 * more than a quarter of the default vm.max_map_count (65530). */
#define MANY_BLOCKS 2048

_Atomic size_t huge_live_bytes;  /* the size of every live huge block */
_Atomic size_t huge_live_peak;   /* the most huge_live_bytes has been */
_Atomic size_t huge_live_blocks; /* how many there are */
static _Atomic uint64_t vma_ids;

/* Advice covers whole mappings: advising part of one would split it into
 * two VMAs, and mremap refuses to move a range that spans two. */
static void thp_advice(void *p, size_t len)
{
	if (cairn_core.thp == CORE_THP_ALWAYS)
		os_hugepage_advise(p, len);
	else if (cairn_core.thp == CORE_THP_NEVER)
		os_hugepage_forbid(p, len);
}

void huge_map_slots(uintptr_t addr, size_t size, uintptr_t value)
{
	if (size != 0)
		pagemap_set_range(addr, size, value);
}

uint64_t huge_new_vma(void)
{
	return atomic_fetch_add_explicit(&vma_ids, 1, memory_order_relaxed) + 1;
}

void *huge_map_fresh(size_t len, size_t align)
{
	void *p = os_map_aligned(len, align);
	if (p == NULL)
		return NULL;
	if (!pagemap_reserve((uintptr_t)p, len)) {
		os_unmap(p, len);
		return NULL;
	}
	thp_advice(p, len);
	return p;
}

/* Pieces.
 *
 * Every piece lies within one VMA, and pieces meet on 2 MiB boundaries
 * (only a mapping's end may fall between two), so every cached piece
 * starts on one and has page map slots of its own. Two neighbouring pieces
 * with the same VMA id are one VMA: an id is given when a range is mapped
 * or moved, and parts of it keep their places until a move gives them a
 * new one. */

/* How many of h's pieces the first n bytes of its mapping touch. */
unsigned huge_pieces_in(const struct huge *h, size_t n)
{
	unsigned i = 0;
	while (h->piece_end[i] < n)
		i++;
	return i + 1;
}

/* Adds a piece of VMA vma that ends at offset end of h's mapping. */
void huge_piece_append(struct huge *h, size_t end, uint64_t vma)
{
	if (h->pieces != 0 && h->piece_vma[h->pieces - 1] == vma) {
		h->piece_end[h->pieces - 1] = end;
		return;
	}
	h->piece_end[h->pieces] = end;
	h->piece_vma[h->pieces] = vma;
	h->pieces++;
}

/* How many pieces h would have with the first n bytes of e's mapping
 * appended. */
unsigned huge_pieces_with(const struct huge *h, const struct huge *e, size_t n)
{
	unsigned k = h->pieces + huge_pieces_in(e, n);
	return e->piece_vma[0] == h->piece_vma[h->pieces - 1] ? k - 1 : k;
}

/* The first n bytes of h's mapping have gone: what remains starts n bytes
 * further on. */
void huge_drop_head(struct huge *h, size_t n)
{
	unsigned k = 0;
	for (unsigned i = 0; i < h->pieces; i++) {
		if (h->piece_end[i] > n) {
			h->piece_end[k] = h->piece_end[i] - n;
			h->piece_vma[k] = h->piece_vma[i];
			k++;
		}
	}
	h->pieces = (unsigned char)k;
	h->addr += n;
	h->mapped -= n;
}

/* h keeps only the first n bytes of its mapping. */
void huge_keep_head(struct huge *h, size_t n)
{
	h->pieces = (unsigned char)huge_pieces_in(h, n);
	h->piece_end[h->pieces - 1] = n;
	h->mapped = n;
}

/* Moves the first n bytes of src's mapping to offset off of dst's, one
 * mremap per piece, the last growing by grow bytes of fresh pages, and
 * appends them to dst's pieces. src's page map slots must be cleared
 * already. False if a move failed: src then holds what did not move. */
bool huge_move_head(struct huge *src, size_t n, size_t grow, struct huge *dst, size_t off)
{
	for (size_t moved = 0; moved < n;) {
		size_t len = src->piece_end[0] < n - moved ? src->piece_end[0] : n - moved;
		size_t extra = moved + len == n ? grow : 0;
		void *to = (void *)(dst->addr + off + moved);
		if (!os_remap_to((void *)src->addr, len, to, len + extra))
			return false;
		huge_drop_head(src, len);
		moved += len;
		huge_piece_append(dst, off + moved + extra, huge_new_vma());
	}
	return true;
}

bool huge_room(void)
{
	return atomic_load_explicit(&huge_live_blocks, memory_order_relaxed) < MANY_BLOCKS;
}

void huge_count_live(ssize_t bytes, int blocks)
{
	size_t live =
	    atomic_fetch_add_explicit(&huge_live_bytes, (size_t)bytes, memory_order_relaxed) +
	    (size_t)bytes;
	atomic_fetch_add_explicit(&huge_live_blocks, (size_t)blocks, memory_order_relaxed);
	if (live > atomic_load_explicit(&huge_live_peak, memory_order_relaxed))
		atomic_store_explicit(&huge_live_peak, live, memory_order_relaxed);
}
