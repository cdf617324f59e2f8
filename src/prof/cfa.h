/* SPDX-License-Identifier: MIT */
/* A frame's unwinding rule on x86-64, read from its FDE in .eh_frame and
 * kept in a cache by return address (cfa.c): the unwinder's fast path
 * (unwind.c). Only the rules gcc and clang emit for ordinary code are
 * taken: the canonical frame address (CFA) at rsp or rbp plus a constant,
 * the return address just below it, rbp saved at a constant offset from it
 * or kept. Anything else (signal frames, stack realignment through an
 * expression, a return address elsewhere) is CFA_OTHER, for libgcc. */
#ifndef CAIRN_PROF_CFA_H
#define CAIRN_PROF_CFA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

enum cfa_kind {
	CFA_NONE,  /* no FDE covers the address: the stack ends here */
	CFA_END,   /* the outermost frame (return address undefined) */
	CFA_RULE,  /* the rule below */
	CFA_OTHER, /* a rule this code does not take: ask libgcc */
};

struct cfa_rule {
	uint8_t kind; /* enum cfa_kind */
	/* True where the rule may be used without first asking whether
	 * objects were unloaded (cfa_check_objects): read from its FDE just
	 * now, or cached for code the loader never unloads. */
	bool trusted;
	bool on_rbp;     /* CFA = rbp + off, else rsp + off */
	bool rbp_saved;  /* the caller's rbp is at CFA + rbp_off */
	int32_t off;     /* CFA offset */
	int32_t rbp_off; /* where the caller's rbp is saved */
};

/* The rule of pc read from its FDE, kept in the cache (cfa_rule_of's
 * miss). */
struct cfa_rule cfa_rule_missed(uintptr_t pc);

#if defined(__x86_64__)
/* The cache of rules by return address (see cfa.c): its hit is the walk's
 * work for each frame, so it is inline in the walk. */
struct cfa_slot {
	uint64_t pc;   /* 0: empty */
	uint64_t rule; /* a rule packed (cfa.c, pack_rule) */
};

#define CFA_CACHE_SLOTS 1024
extern struct cfa_slot cairn_cfa_cache[CFA_CACHE_SLOTS] HIDDEN;

static inline unsigned cfa_slot_of(uintptr_t pc)
{
	return (unsigned)((pc * 0x9e3779b97f4a7c15ull) >> 54) & (CFA_CACHE_SLOTS - 1);
}

/* A rule packed in a word: the walk reads it with a shift or a mask per
 * field, and tests the common case (a rule, trusted) with one compare.
 * Bits 0-1 the kind, 2 trusted, 3 on_rbp, 4 rbp_saved; 5-31 rbp_off, 27
 * bits with their sign (any real frame's); 32-63 off. */
#define CFA_PACK_TRUSTED   (1u << 2)
#define CFA_PACK_ON_RBP    (1u << 3)
#define CFA_PACK_RBP_SAVED (1u << 4)
#define CFA_RBP_OFF_BITS   27

static inline struct cfa_rule cfa_unpack_rule(uint64_t w)
{
	return (struct cfa_rule){
	    .kind = (uint8_t)(w & 3),
	    .trusted = (w & CFA_PACK_TRUSTED) != 0,
	    .on_rbp = (w & CFA_PACK_ON_RBP) != 0,
	    .rbp_saved = (w & CFA_PACK_RBP_SAVED) != 0,
	    .off = (int32_t)((int64_t)w >> 32),
	    .rbp_off = (int32_t)(uint32_t)w >> 5,
	};
}

/* The rule of the frame whose return address (or, for the innermost,
 * current address) is pc: from the cache, read with no lock (the address,
 * the rule, the address again: see cfa.c), or read from the FDE, which
 * takes libgcc's lookup of it (_Unwind_Find_FDE) and no lock of cairn's. */
static inline struct cfa_rule cfa_rule_of(uintptr_t pc)
{
	struct cfa_slot *s = &cairn_cfa_cache[cfa_slot_of(pc)];
	if (likely(__atomic_load_n(&s->pc, __ATOMIC_ACQUIRE) == pc)) {
		uint64_t w = __atomic_load_n(&s->rule, __ATOMIC_ACQUIRE);
		if (likely(__atomic_load_n(&s->pc, __ATOMIC_RELAXED) == pc))
			return cfa_unpack_rule(w);
	}
	return cfa_rule_missed(pc);
}
#else
static inline struct cfa_rule cfa_rule_of(uintptr_t pc)
{
	return cfa_rule_missed(pc);
}
#endif

/* Objects were loaded or unloaded since the cache was filled: it is
 * emptied (dl_iterate_phdr's counts of additions and removals), and the
 * answer is true. Called with no lock held, by a walk before it takes a
 * rule that is not trusted. */
bool cfa_check_objects(void);

/* How many times a walk asked (cfa_check_objects), for tests. */
unsigned long cfa_objects_asked(void);

/* fork: the child's cache lock is new, the cache emptied if the parent
 * forked while it was held. */
void cfa_postfork_child(void);

#endif
