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

enum cfa_kind {
	CFA_NONE,  /* no FDE covers the address: the stack ends here */
	CFA_END,   /* the outermost frame (return address undefined) */
	CFA_RULE,  /* the rule below */
	CFA_OTHER, /* a rule this code does not take: ask libgcc */
};

struct cfa_rule {
	uint8_t kind;    /* enum cfa_kind */
	bool on_rbp;     /* CFA = rbp + off, else rsp + off */
	bool rbp_saved;  /* the caller's rbp is at CFA + rbp_off */
	int32_t off;     /* CFA offset */
	int32_t rbp_off; /* where the caller's rbp is saved */
};

/* The rule of the frame whose return address (or, for the innermost,
 * current address) is pc: from the cache, or read from the FDE, which
 * takes libgcc's lookup of it (_Unwind_Find_FDE) and no lock of cairn's. */
struct cfa_rule cfa_rule_of(uintptr_t pc);

/* Objects were loaded or unloaded since the cache was filled: it is
 * emptied (dl_iterate_phdr's counts of additions and removals). Called
 * with no lock held, before a walk. */
void cfa_check_objects(void);

/* fork: the child's cache lock is new, the cache emptied if the parent
 * forked while it was held. */
void cfa_postfork_child(void);

#endif
