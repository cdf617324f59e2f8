/* SPDX-License-Identifier: MIT */
/* Backtraces from the .eh_frame tables that every Debian object carries
 * (-fasynchronous-unwind-tables is the default on x86-64 and arm64), not
 * from frame pointers, which Debian's packages are built without: a
 * frame-pointer walk through such code stops after a frame or two, or
 * follows a register used as data, and names the wrong callers. Checking
 * that the whole stack has frame pointers would take the same tables.
 *
 * libgcc's unwinder (_Unwind_Backtrace) reads them right but slowly:
 * callgrind, a 12-frame stack, about 15,800 instructions, 58% of them
 * interpreting each frame's CFA program, 24% finding its FDE, 11% updating
 * the context; bench/fastpath.c's pair4096, a sample every 128 pairs,
 * went from 82.4 instructions per pair to 214.3 with profiling on. Every
 * sample does that work again for the same return addresses. So on x86-64
 * the walk takes each frame's rule from a cache by return address (cfa.h),
 * read from the FDE the first time: the CFA at rsp or rbp plus a constant,
 * the return address below it, rbp saved or kept, which is all gcc and
 * clang emit for ordinary code. That costs about 1,500 instructions for
 * the same stack, and the pair 101.6. Any frame whose rule is another
 * (a signal frame, stack realignment through an expression) hands the
 * whole walk to libgcc, and so does a frame that would not lie above the
 * one before it: the stacks are libgcc's, frame for frame
 * (tests/unit/prof_unwind.c compares them in threads, after fork, through
 * dlopen'ed code, code without tables and signal handlers). Elsewhere
 * libgcc does every walk.
 *
 * libgcc is called directly, from libgcc_s, which the link of libcairn.so
 * names (gcc links it for the unwinder that -fexceptions code refers to),
 * never through glibc's backtrace(), whose first call dlopens libgcc_s and
 * allocates. Neither walk allocates: FDEs are found through
 * _dl_find_object or dl_iterate_phdr. Both stop after the first frame
 * without an unwind table, or whose return address is undefined or 0 (the
 * outermost frame of a thread), and neither waits for a lock of cairn's
 * but the rule cache's, never held while an FDE is looked up. */
#define _GNU_SOURCE
#include "prof/unwind.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unwind.h>

#include "core/util.h"
#include "prof/cfa.h"
#include "prof/objects.h"

/* cairn's own code, whose frames are left out: the executable segment of
 * the shared object holding this file. When cairn is linked into the
 * program itself (the static library) the range would cover the program
 * too, so nothing is left out then but this file's frame. */
static _Atomic uintptr_t own_lo, own_hi;
static _Atomic int own_known;

struct own_query {
	uintptr_t me;
	unsigned index;
};

static int find_own(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct own_query *q = arg;
	bool program = q->index++ == 0;
	const ElfW(Phdr) *ph = object_segment_of(info, q->me, true);
	if (ph == NULL)
		return 0;
	/* The program comes first (glibc names it "", musl by its path). */
	if (!program) {
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		atomic_store_explicit(&own_lo, lo, memory_order_relaxed);
		atomic_store_explicit(&own_hi, lo + ph->p_memsz, memory_order_relaxed);
	}
	return 1;
}

static void know_own(void)
{
	if (atomic_load_explicit(&own_known, memory_order_acquire))
		return;
	struct own_query q = {.me = (uintptr_t)&prof_backtrace};
	dl_iterate_phdr(find_own, &q);
	atomic_store_explicit(&own_known, 1, memory_order_release);
}

#ifdef CAIRN_NO_DL_FIND_OBJECT
/* libgcc's unwinder, built against glibc 2.35 or later (Debian's gcc, which
 * musl-gcc uses too), finds a frame's unwind table only through glibc's
 * _dl_find_object, with no fallback; a C library without it (musl: the
 * port build's probe defines CAIRN_NO_DL_FIND_OBJECT) gets it here, with
 * glibc's layout on LP64 targets, from the loader's list of objects. Weak
 * and not hidden, so that the static archive's copy satisfies libgcc_eh in
 * the program's link, and a C library's own would win. */
struct glibc_dl_find_object {
	unsigned long long dlfo_flags;
	void *dlfo_map_start;
	void *dlfo_map_end;
	void *dlfo_link_map;
	void *dlfo_eh_frame;
	unsigned long long reserved[7];
};

struct eh_query {
	uintptr_t pc;
	struct glibc_dl_find_object *out;
};

static int find_eh(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct eh_query *q = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	bool inside = false;
	void *eh = NULL;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_GNU_EH_FRAME)
			eh = (void *)start;
		if (ph->p_type != PT_LOAD)
			continue;
		lo = start < lo ? start : lo;
		hi = start + ph->p_memsz > hi ? start + ph->p_memsz : hi;
		inside |= q->pc >= start && q->pc - start < ph->p_memsz;
	}
	if (!inside)
		return 0;
	*q->out = (struct glibc_dl_find_object){
	    .dlfo_map_start = (void *)lo, .dlfo_map_end = (void *)hi, .dlfo_eh_frame = eh};
	return 1;
}

__attribute__((weak, visibility("default"))) int _dl_find_object(void *pc,
                                                                 struct glibc_dl_find_object *out)
{
	struct eh_query q = {.pc = (uintptr_t)pc, .out = out};
	return dl_iterate_phdr(find_eh, &q) ? 0 : -1;
}

/* libgcc's unwinder, believing threads are there (it tests for a name
 * musl has too), calls pthread_once through a weak reference, which a
 * static program that never calls it leaves at address 0: this reference
 * links it in. */
__attribute__((used)) static int (*const link_pthread_once)(pthread_once_t *,
                                                            void (*)(void)) = pthread_once;

/* gcc links a static program without --eh-frame-hdr, so without the table
 * the lookup above reads, and libgcc aborts when it cannot find the FDE of
 * its own first frame: there, samples get no frames instead. */
static bool unwind_tables(void)
{
	struct glibc_dl_find_object d;
	return _dl_find_object((void *)(uintptr_t)&prof_backtrace, &d) == 0 &&
	       d.dlfo_eh_frame != NULL;
}
#else
static bool unwind_tables(void)
{
	return true;
}
#endif

/* Whether the unwinder may run: set by a constructor. In a statically
 * linked program the C library allocates during its own start-up, before
 * the unwinder's tables are usable (_Unwind_Backtrace aborts there); a
 * sample taken before cairn's constructors ran gets no frames (an empty
 * stack in the profile) rather than a crash, as does every sample where
 * the tables cannot be found (unwind_tables). */
static _Atomic bool ready;

__attribute__((constructor)) static void unwind_ready(void)
{
	atomic_store_explicit(&ready, unwind_tables(), memory_order_release);
}

struct walk {
	uintptr_t *pcs;
	unsigned n, max;
	uintptr_t lo, hi;
	/* Where lo is 0: the frames left out are the first skip, or, with
	 * above set, those whose stack pointer at their call (libgcc's CFA
	 * of a frame is its callee's) is at or below it: the frames inside
	 * the one that took the registers a walk starts from, and that one. */
	uintptr_t above;
	unsigned skip;
	bool started; /* past cairn's own frames */
	/* The memo of the way the walk followed to the stack's end, if it
	 * did (prof_backtrace_memo). */
	void **memo;
};

/* Whether the frame at pc, which called with its stack pointer at sp
 * (libgcc's walk), is one to leave out. */
static bool own_frame(struct walk *w, uintptr_t pc, uintptr_t sp)
{
	if (w->lo != 0)
		return pc >= w->lo && pc < w->hi;
	if (w->above == 0)
		return w->n++ < w->skip;
	return sp <= w->above;
}

/* Takes frame pc into w; false when w is full. */
static bool keep(struct walk *w, uintptr_t pc, uintptr_t sp)
{
	if (!w->started) {
		if (own_frame(w, pc, sp))
			return true;
		w->started = true;
		w->n = 0;
	}
	w->pcs[w->n++] = pc;
	return w->n < w->max;
}

static _Unwind_Reason_Code step(struct _Unwind_Context *ctx, void *arg)
{
	uintptr_t pc = _Unwind_GetIP(ctx);
	if (pc == 0)
		return _URC_END_OF_STACK;
	return keep(arg, pc, _Unwind_GetCFA(ctx)) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* The walk by libgcc, from its own frame: without above, skip is 2 for
 * its own and its caller's. */
static NOINLINE unsigned libgcc_walk(struct walk *w)
{
	_Unwind_Backtrace(step, w);
	return w->started ? w->n : 0;
}

static struct walk walk_init(uintptr_t *pcs, unsigned max, uintptr_t above, unsigned skip)
{
	know_own();
	return (struct walk){
	    .pcs = pcs,
	    .max = max,
	    .lo = atomic_load_explicit(&own_lo, memory_order_relaxed),
	    .hi = atomic_load_explicit(&own_hi, memory_order_relaxed),
	    .above = above,
	    .skip = skip,
	};
}

static _Atomic unsigned long fallbacks;

#if defined(__x86_64__)
/* In assembly, so that no instrumentation (ThreadSanitizer's calls on
 * entry) and no register allocation can change rbp first. */
__asm__(".text\n"
        ".globl cairn_prof_capture\n"
        ".hidden cairn_prof_capture\n"
        ".type cairn_prof_capture, @function\n"
        "cairn_prof_capture:\n"
        ".cfi_startproc\n"
        "\tmov (%rsp), %rax\n"
        "\tmov %rax, 0(%rdi)\n"
        "\tlea 8(%rsp), %rax\n"
        "\tmov %rax, 8(%rdi)\n"
        "\tmov %rbp, 16(%rdi)\n"
        "\tret\n"
        ".cfi_endproc\n"
        ".size cairn_prof_capture, .-cairn_prof_capture\n");

enum step { STEP_UP, STEP_END, STEP_OTHER };

/* r one frame up by its rule: STEP_END where the stack ends after it (no
 * FDE covers it, its return address is undefined), STEP_OTHER where the
 * rule is one for libgcc or the frame would not lie above the one before
 * it, which no rule that is right makes. The loader is asked whether
 * objects were unloaded (cfa.c) before the walk's first rule that is not
 * trusted; most walks never ask. */
/* What a step read besides the return address, for chain_note_step: where
 * the caller's rbp came from (0: kept), and whether the CFA was rbp's. */
struct step_seen {
	uintptr_t bp_slot;
	bool on_rbp;
	bool trusted; /* the rule's code is never unloaded (cfa.h) */
};

static ALWAYS_INLINE enum step step_up(struct prof_regs *r, bool *asked, struct step_seen *seen)
{
	struct cfa_rule rule = cfa_rule_of(r->pc);
	if (unlikely(!rule.trusted) && !*asked) {
		*asked = true;
		if (cfa_check_objects())
			rule = cfa_rule_of(r->pc);
	}
	if (unlikely(rule.kind != CFA_RULE))
		return rule.kind == CFA_OTHER ? STEP_OTHER : STEP_END;
	uintptr_t cfa = (rule.on_rbp ? r->bp : r->sp) + (uintptr_t)(intptr_t)rule.off;
	if (unlikely(cfa <= r->sp || cfa - r->sp > (1u << 30)))
		return STEP_OTHER;
	uintptr_t bp_slot = cfa + (uintptr_t)(intptr_t)rule.rbp_off;
	if (rule.rbp_saved)
		r->bp = *(const uintptr_t *)bp_slot;
	if (seen != NULL)
		*seen = (struct step_seen){.bp_slot = rule.rbp_saved ? bp_slot : 0,
		                           .on_rbp = rule.on_rbp,
		                           .trusted = rule.trusted};
	r->pc = *(const uintptr_t *)(cfa - 8);
	r->sp = cfa;
	return STEP_UP;
}

/* The ways walks went, kept: the steps a walk took, with the return
 * address each found and where it found it, from the stack pointer of the
 * frame it started at. A walk from the same pc reads the return addresses
 * where the last one found them, a load and a compare each, as long as
 * they are the ones found before: a frame at the same pc is the same point
 * of the same function, whose rule puts the next return address at the
 * same distance (the rules kept are at rsp plus a constant, of code never
 * unloaded; cairn keeps no frame pointer for this, see arena_unattached).
 * At the first that differs the walk goes on step by step from there. Two
 * tables of them:
 *   - cairn's own frames, per pc where the registers were taken (every
 *     sample starts inside cairn and goes through two to four of its
 *     frames, about 45 instructions and a rule-cache line each, before
 *     the program's): the route from malloc to the sampler, taken whole
 *     or not at all;
 *   - the program's frames, per pc of the first (the call site of malloc,
 *     or of whatever allocated), up to CHAIN_STEPS of them, and whether
 *     the stack ended after them.
 * A pc may have a way in each of CHAIN_WINDOW slots from its hash (cairn
 * reached by another route, a call site reached from another caller),
 * told apart by their first return address. Slots are written once and
 * read with no lock; a walk that finds no way and no free slot goes step
 * by step. */
#define OWN_WAYS     32
#define CHAINS       256
#define CHAIN_WINDOW 4
#define CHAIN_STEPS  16
#define CHAIN_SPAN   (1u << 20) /* bytes of stack a way may cover */
_Static_assert((OWN_WAYS & (OWN_WAYS - 1)) == 0 && (CHAINS & (CHAINS - 1)) == 0,
               "the ways' tables are indexed by a mask");

/* A step of a way: the return address it found and where, and where rbp
 * was to be found as of it (the slot of the last step that restored it;
 * NO_BP where none did), both from the first frame's stack pointer. Each
 * step's fields side by side, 16 bytes, so that a way's header and its
 * first two steps share one cache line: samples come hundreds of
 * allocations apart, by when the program has evicted these tables, and
 * with each field in an array of its own a way of four steps cost five
 * misses to read. */
struct chain_step {
	uintptr_t ra;
	int32_t ra_at;
	int32_t bp_at;
};

#define NO_BP INT32_MIN

struct chain {
	_Atomic uintptr_t pc; /* 0: free, 1: being written */
	uint8_t n;            /* steps kept */
	bool ends;            /* the stack ended after them */
	/* The caller's word for the frames of a walk this way took to the
	 * end (prof_backtrace_memo): NULL until it writes it. */
	void *memo;
	struct chain_step step[CHAIN_STEPS];
} __attribute__((aligned(64)));

static struct chain own_ways[OWN_WAYS];
static struct chain chains[CHAINS];

/* Whether way c's first n return addresses are those on the stack above
 * sp. */
static bool chain_matches(const struct chain *c, unsigned n, uintptr_t sp)
{
	for (unsigned i = 0; i < n; i++)
		if (*(const uintptr_t *)(sp + (uintptr_t)(intptr_t)c->step[i].ra_at) !=
		    c->step[i].ra)
			return false;
	return true;
}

/* The way kept in table t (of size slots) for pc whose return addresses
 * are those on the stack above sp: the first (a chain, taken as far as
 * they match), or all but the last (cairn's own, taken whole); or NULL,
 * and then *free_slot is a slot a walk from pc may keep its way in (NULL
 * if none). The ways of a pc all find their first return address at the
 * same place, the first frame's rule being the same. */
static struct chain *chain_find(struct chain *t, unsigned size, uintptr_t pc, uintptr_t sp,
                                bool whole, struct chain **free_slot)
{
	/* size is a power of two: a mask, not a division (two of them,
	 * some 40 cycles each, at every sample). */
	unsigned at = (unsigned)((pc * 0x9e3779b97f4a7c15ull) >> 32);
	*free_slot = NULL;
	for (unsigned k = 0; k < CHAIN_WINDOW; k++) {
		struct chain *c = &t[(at + k) & (size - 1)];
		uintptr_t held = atomic_load_explicit(&c->pc, memory_order_acquire);
		if (held == 0 && *free_slot == NULL)
			*free_slot = c;
		if (held == pc && chain_matches(c, whole ? c->n - 1u : 1u, sp))
			return c;
	}
	return NULL;
}

/* Notes kept while a walk steps, for chain_keep. */
struct chain_note {
	uintptr_t sp0;
	unsigned n;
	bool open;       /* still noting */
	int32_t bp_last; /* the bp_at of the steps noted so far */
	/* Not a struct chain, whose alignment would make the walk realign
	 * its stack frame. */
	struct chain_step step[CHAIN_STEPS];
};

static void chain_note_start(struct chain_note *note, uintptr_t sp, bool open)
{
	note->sp0 = sp;
	note->n = 0;
	note->open = open;
	note->bp_last = NO_BP;
}

static void chain_note_step(struct chain_note *note, const struct prof_regs *r,
                            const struct step_seen *seen)
{
	uintptr_t off = r->sp - note->sp0;
	unsigned i = note->n;
	if (!note->open || !seen->trusted || seen->on_rbp || i == CHAIN_STEPS || off > CHAIN_SPAN ||
	    (seen->bp_slot != 0 &&
	     (seen->bp_slot < note->sp0 || seen->bp_slot - note->sp0 > CHAIN_SPAN))) {
		note->open = false;
		return;
	}
	if (seen->bp_slot != 0)
		note->bp_last = (int32_t)(seen->bp_slot - note->sp0);
	note->step[i] =
	    (struct chain_step){.ra = r->pc, .ra_at = (int32_t)(off - 8), .bp_at = note->bp_last};
	note->n++;
}

/* Keeps what was noted from pc into slot c if it is still free; ends: the
 * walk ended right after the last step noted. */
static void chain_keep(struct chain *c, uintptr_t pc, struct chain_note *note, bool ends)
{
	uintptr_t free_slot = 0;
	if (note->n == 0 || !atomic_compare_exchange_strong_explicit(
	                        &c->pc, &free_slot, 1, memory_order_relaxed, memory_order_relaxed))
		return;
	unsigned n = note->n;
	c->n = (uint8_t)n;
	/* The end is known only where every step to it was noted. */
	c->ends = ends && note->open;
	c->memo = NULL;
	for (unsigned i = 0; i < n; i++)
		c->step[i] = note->step[i];
	atomic_store_explicit(&c->pc, pc, memory_order_release);
}

/* r moved to the frame after step i of way c, from sp0, with return
 * address ra. */
static void chain_move(const struct chain *c, unsigned i, uintptr_t sp0, uintptr_t ra,
                       struct prof_regs *r)
{
	int32_t bp_at = c->step[i].bp_at;
	if (bp_at != NO_BP)
		r->bp = *(const uintptr_t *)(sp0 + (uintptr_t)(intptr_t)bp_at);
	r->pc = ra;
	r->sp = sp0 + (uintptr_t)(intptr_t)c->step[i].ra_at + 8;
}

/* r moved out of cairn's frames by way c, found whole for r's pc. */
static void own_way_take(const struct chain *c, struct prof_regs *r)
{
	uintptr_t sp0 = r->sp;
	unsigned last = c->n - 1u;
	chain_move(c, last, sp0,
	           *(const uintptr_t *)(sp0 + (uintptr_t)(intptr_t)c->step[last].ra_at), r);
}

/* The walk from r (the first frame of the program's, already in
 * pcs[0..*n)) by chain c, kept for r's pc: the frames it finds in pcs, r
 * moved to the last. True when the walk is over (the stack ended as the
 * chain did, or pcs is full); false when it goes on step by step from r.
 * Where the stack ended as the chain did, with every return address the
 * one kept, the frames are the chain's own, and w->memo its memo. */
static bool chain_take(struct chain *c, struct walk *w, struct prof_regs *r, unsigned *n)
{
	uintptr_t sp0 = r->sp;
	unsigned i = 0, k = *n;
	uintptr_t ra = 0;
	for (; i < c->n; i++) {
		ra = *(const uintptr_t *)(sp0 + (uintptr_t)(intptr_t)c->step[i].ra_at);
		if (ra == 0) {
			*n = k;
			return true;
		}
		w->pcs[k++] = ra;
		if (k == w->max || ra != c->step[i].ra) {
			i++;
			break;
		}
	}
	*n = k;
	if (k == w->max)
		return true;
	if (i == c->n && ra == c->step[i - 1].ra && c->ends) {
		w->memo = &c->memo;
		return true;
	}
	chain_move(c, i - 1, sp0, ra, r);
	return false;
}

/* The way kept for pc in table t (of size slots) whose return addresses,
 * all of them or all but the last, are those on the stack above sp; NULL
 * if none. chain_find without the free slot, for memo_walk. */
static ALWAYS_INLINE const struct chain *way_of(const struct chain *t, unsigned size, uintptr_t pc,
                                                uintptr_t sp, bool all)
{
	unsigned at = (unsigned)((pc * 0x9e3779b97f4a7c15ull) >> 32);
	for (unsigned k = 0; k < CHAIN_WINDOW; k++) {
		const struct chain *c = &t[(at + k) & (size - 1)];
		if (atomic_load_explicit(&c->pc, memory_order_acquire) == pc &&
		    chain_matches(c, c->n - (all ? 0u : 1u), sp))
			return c;
	}
	return NULL;
}

/* The walk nearly every sample takes once its call site was sampled
 * before: cairn's frames by a way kept whole, then the program's by a chain
 * kept to the stack's end, each return address compared with the one kept
 * (what cfa_walk does for such a stack, without its general steps and
 * notes, which took a backtrace of the 2-thread server's 342 instructions
 * a sample where this takes 208).
 * The frames taken into w and true, with w->memo the chain's; false where
 * any part differs (a new route or call site, a frame that differs, a
 * stack as deep as w holds), and cfa_walk then walks from the start. */
static bool memo_walk(struct walk *w, const struct prof_regs *r)
{
	if (w->lo == 0)
		return false;
	const struct chain *own = way_of(own_ways, OWN_WAYS, r->pc, r->sp, false);
	if (own == NULL)
		return false;
	/* The program's first frame: past the last of cairn's. */
	int32_t at = own->step[own->n - 1].ra_at;
	uintptr_t pc = *(const uintptr_t *)(r->sp + (uintptr_t)(intptr_t)at);
	uintptr_t sp = r->sp + (uintptr_t)(intptr_t)at + 8;
	if (pc == 0 || own_frame(w, pc, 0))
		return false;
	struct chain *c = (struct chain *)way_of(chains, CHAINS, pc, sp, true);
	if (c == NULL || !c->ends || c->n + 1u >= w->max)
		return false;
	/* A chain's last return address may be 0, the stack's end, which
	 * is no frame: cfa_walk keeps no memo for it. */
	if (c->step[c->n - 1].ra == 0)
		return false;
	w->pcs[0] = pc;
	for (unsigned i = 0; i < c->n; i++)
		w->pcs[i + 1] = c->step[i].ra;
	w->n = c->n + 1u;
	w->memo = &c->memo;
	return true;
}

/* The walk by cached rules (cfa.h), from r: the frames kept, or -1 where
 * a frame's rule is one for libgcc. Stops where libgcc does: after a frame
 * no FDE covers or whose return address is undefined, at a return address
 * of 0. cairn's own frames first, which are unwound and left out, then
 * the program's. */
static int cfa_walk(struct walk *w, struct prof_regs r)
{
	bool asked = false;
	/* cairn's frames: by the way kept for r's pc, where cairn is a
	 * library of its own (a range of code to tell its frames by), then
	 * step by step for any left; or noting the steps for a way. */
	uintptr_t start = r.pc;
	struct chain *slot = NULL;
	struct chain *way =
	    w->lo != 0 ? chain_find(own_ways, OWN_WAYS, start, r.sp, true, &slot) : NULL;
	struct chain_note cn;
	chain_note_start(&cn, r.sp, way == NULL && slot != NULL);
	bool noting = cn.open;
	if (way != NULL)
		own_way_take(way, &r);
	for (;;) {
		if (r.pc == 0)
			return 0;
		if (!own_frame(w, r.pc, 0))
			break;
		struct step_seen seen;
		enum step s = step_up(&r, &asked, &seen);
		if (s != STEP_UP)
			return s == STEP_OTHER ? -1 : 0;
		if (noting)
			chain_note_step(&cn, &r, &seen);
	}
	if (noting)
		chain_keep(slot, start, &cn, false);
	/* The program's frames: by the chain kept for the first one's pc,
	 * then step by step; or noting the steps for a chain. */
	unsigned n = 0;
	w->pcs[n++] = r.pc;
	if (n == w->max)
		return (int)n;
	uintptr_t first = r.pc;
	struct chain *c = chain_find(chains, CHAINS, first, r.sp, false, &slot);
	if (c != NULL && chain_take(c, w, &r, &n))
		return (int)n;
	/* Noting for a chain only where none was taken and a slot is free:
	 * the steps up to the first that cannot be kept (chain_note_step). */
	chain_note_start(&cn, r.sp, c == NULL && slot != NULL);
	noting = cn.open;
	for (;;) {
		struct step_seen seen;
		enum step s = step_up(&r, &asked, &seen);
		if (s != STEP_UP) {
			if (s == STEP_OTHER)
				return -1;
			break;
		}
		if (noting)
			chain_note_step(&cn, &r, &seen);
		if (r.pc == 0)
			break;
		w->pcs[n++] = r.pc;
		if (n == w->max) {
			/* Not the stack's end: a chain kept from here says
			 * nothing of where it ends. */
			cn.open = false;
			break;
		}
	}
	if (noting)
		chain_keep(slot, first, &cn, true);
	return (int)n;
}
#else
/* The return address and the stack pointer, the latter all that the
 * libgcc walk needs: it leaves out the frames up to the caller's. */
NOINLINE void cairn_prof_capture(struct prof_regs *r)
{
	*r = (struct prof_regs){.pc = (uintptr_t)__builtin_return_address(0),
	                        .sp = (uintptr_t)__builtin_dwarf_cfa()};
}
#endif

unsigned prof_backtrace_memo(const struct prof_regs *r, uintptr_t *pcs, unsigned max, void ***memo)
{
	*memo = NULL;
	if (max == 0 || !atomic_load_explicit(&ready, memory_order_acquire))
		return 0;
#if defined(__x86_64__)
	/* The frame at r is the first. */
	struct walk w = walk_init(pcs, max, 0, 1);
	if (memo_walk(&w, r)) {
		*memo = w.memo;
		return w.n;
	}
	int n = cfa_walk(&w, *r);
	if (n >= 0) {
		*memo = w.memo;
		return (unsigned)n;
	}
	atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
#endif
	struct walk lw = walk_init(pcs, max, r->sp, 0);
	return libgcc_walk(&lw);
}

unsigned prof_backtrace_from(const struct prof_regs *r, uintptr_t *pcs, unsigned max)
{
	void **memo;
	return prof_backtrace_memo(r, pcs, max, &memo);
}

unsigned prof_backtrace(uintptr_t *pcs, unsigned max)
{
	struct prof_regs r;
	cairn_prof_capture(&r);
	unsigned n = prof_backtrace_from(&r, pcs, max);
	/* Not a tail call: the walk starts in this frame. */
	__asm__ volatile("" : "+r"(n));
	return n;
}

unsigned prof_backtrace_libgcc(uintptr_t *pcs, unsigned max)
{
	if (max == 0 || !atomic_load_explicit(&ready, memory_order_acquire))
		return 0;
	struct walk w = walk_init(pcs, max, 0, 2);
	unsigned n = libgcc_walk(&w);
	__asm__ volatile("" : "+r"(n));
	return n;
}

unsigned long prof_unwind_fallbacks(void)
{
	return atomic_load_explicit(&fallbacks, memory_order_relaxed);
}
