/* SPDX-License-Identifier: MIT */
/* What the three files of huge blocks share and no other module sees:
 * huge_map.c (mappings, pieces, live bytes) < huge_cache.c (the cache,
 * the spare descriptors) < huge.c (blocks handed out, freed, resized). */
#ifndef CAIRN_HUGE_INTERNAL_H
#define CAIRN_HUGE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/chunk.h"
#include "core/huge.h"

/* huge_map.c */

/* The size of every live huge block, the most that has been, how many. */
extern _Atomic size_t huge_live_bytes HIDDEN;
extern _Atomic size_t huge_live_peak HIDDEN;
extern _Atomic size_t huge_live_blocks HIDDEN;
void huge_count_live(ssize_t bytes, int blocks) HIDDEN;

/* Sets the page map slots of [addr, addr + size) to value. */
void huge_map_slots(uintptr_t addr, size_t size, uintptr_t value) HIDDEN;
/* A fresh mapping of len bytes aligned to align, its page map slots
 * reserved and its THP advice given; NULL if none. */
void *huge_map_fresh(size_t len, size_t align) HIDDEN;
/* A new VMA id (see "Pieces" in huge_map.c). */
uint64_t huge_new_vma(void) HIDDEN;
unsigned huge_pieces_in(const struct huge *h, size_t n) HIDDEN;
void huge_piece_append(struct huge *h, size_t end, uint64_t vma) HIDDEN;
unsigned huge_pieces_with(const struct huge *h, const struct huge *e, size_t n) HIDDEN;
void huge_drop_head(struct huge *h, size_t n) HIDDEN;
void huge_keep_head(struct huge *h, size_t n) HIDDEN;
bool huge_move_head(struct huge *src, size_t n, size_t grow, struct huge *dst, size_t off) HIDDEN;

/* huge_cache.c */

struct huge *huge_desc_get(void) HIDDEN;
void huge_desc_put(struct huge *h) HIDDEN;
/* Unmaps what is left of a cached or failed mapping and recycles its
 * descriptor. */
void huge_release(struct huge *h) HIDDEN;
/* A mapping from the cache for a block of len bytes, or NULL (see
 * huge_cache.c). */
struct huge *huge_cache_take(size_t len, size_t align, bool only_close) HIDDEN;
void huge_cache_put(struct huge *h) HIDDEN;
/* Takes into h's mapping the cached mappings that follow it in the
 * address space, as far as len bytes. */
void huge_absorb_following(struct huge *h, size_t len) HIDDEN;
size_t huge_cached_bytes(void) HIDDEN;

#endif
