/* SPDX-License-Identifier: MIT */
/* Frames' unwinding rules read from .eh_frame, cached by address (cfa.h).
 * libgcc's unwinder spends most of a backtrace finding each frame's FDE
 * and interpreting its CFA program, again for every sample (unwind.c has
 * the figures); the rule of one return address never changes while its
 * object is loaded, so it is read once and kept. The FDE is read from the
 * object's file where it can be (fde.c), which maps none of its pages. */
#define _GNU_SOURCE
#include "prof/cfa.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "core/lock.h"
#include "os/file.h"
#include "prof/dwarf.h"
#include "prof/fde.h"
#include "prof/objects.h"

#if defined(__x86_64__)

/* libgcc's lookup of the FDE covering pc (exported by libgcc_s and
 * libgcc_eh, though no header declares it): the FDE, or NULL, and in
 * bases->func the start of the code it covers. */
struct dwarf_eh_bases {
	void *tbase;
	void *dbase;
	void *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

/* x86-64's DWARF register numbers. */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA  16

/* ------------------------------------------------------------ rules */

/* The registers the rule follows: the CFA, rbp, the return address. */
struct state {
	uint8_t cfa_reg;
	int64_t cfa_off;
	uint8_t rbp; /* 0 kept, 1 saved at CFA + rbp_off, 2 anything else */
	int64_t rbp_off;
	uint8_t ra; /* 0 at CFA + ra_off, 1 undefined, 2 anything else */
	int64_t ra_off;
};

struct cie {
	const uint8_t *insns, *end;
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	bool signal; /* 'S': a signal frame, whose rules are libgcc's */
	bool aug_z;
};

static bool read_cie(const uint8_t *c, struct cie *out)
{
	uint32_t len;
	memcpy(&len, c, 4);
	if (len == 0 || len == 0xffffffffu)
		return false;
	struct reader r = {c + 4, c + 4 + len, false};
	if (fixed(&r, 4) != 0) /* a CIE's id */
		return false;
	uint8_t version = (uint8_t)fixed(&r, 1);
	const char *aug = (const char *)r.p;
	size_t alen = strnlen(aug, (size_t)(r.end - r.p));
	r.p += alen + 1;
	if (strchr(aug, 'e') != NULL) /* "eh": an old pointer field */
		return false;
	*out = (struct cie){.fde_enc = 0};
	out->code_align = uleb(&r);
	out->data_align = sleb(&r);
	uint64_t ra = version == 1 ? fixed(&r, 1) : uleb(&r);
	if (ra != REG_RA)
		return false;
	const uint8_t *after_aug = NULL;
	bool done = false;
	for (const char *a = aug; *a != '\0' && !done && !r.bad; a++) {
		switch (*a) {
		case 'z': {
			out->aug_z = true;
			uint64_t n = uleb(&r);
			after_aug = r.p + n;
			break;
		}
		case 'R':
			out->fde_enc = (uint8_t)fixed(&r, 1);
			break;
		case 'L':
			fixed(&r, 1);
			break;
		case 'P': {
			uint8_t enc = (uint8_t)fixed(&r, 1);
			unsigned n = enc_size(enc);
			if (n == 0)
				return false;
			fixed(&r, n);
			break;
		}
		case 'S':
			out->signal = true;
			break;
		default:
			/* An augmentation not known: with 'z' its data can be
			 * skipped, and only the instructions matter. */
			if (after_aug == NULL)
				return false;
			done = true;
			break;
		}
	}
	if (after_aug != NULL)
		r.p = after_aug;
	if (r.bad || r.p > r.end || enc_size(out->fde_enc) == 0)
		return false;
	out->insns = r.p;
	out->end = r.end;
	return true;
}

/* Runs CFA instructions [r) on s from address *loc, until the code address
 * passes target; false for an instruction this code does not take. */
static bool run(struct reader *r, const struct cie *c, struct state *s, const struct state *initial,
                uintptr_t *loc, uintptr_t target)
{
	struct state saved[8];
	unsigned nsaved = 0;
	while (r->p < r->end && !r->bad) {
		uint8_t op = *r->p++;
		uint64_t reg = 0;
		int64_t off = 0;
		uint64_t delta = 0;
		switch (op >> 6) {
		case 1: /* advance_loc */
			delta = (op & 0x3f) * c->code_align;
			goto advance;
		case 2: /* offset */
			reg = op & 0x3f;
			off = (int64_t)uleb(r) * c->data_align;
			goto saved_at;
		case 3: /* restore */
			reg = op & 0x3f;
			goto restore;
		}
		switch (op) {
		case 0x00: /* nop */
			continue;
		case 0x02: /* advance_loc1 */
			delta = fixed(r, 1) * c->code_align;
			goto advance;
		case 0x03: /* advance_loc2 */
			delta = fixed(r, 2) * c->code_align;
			goto advance;
		case 0x04: /* advance_loc4 */
			delta = fixed(r, 4) * c->code_align;
			goto advance;
		case 0x05: /* offset_extended */
			reg = uleb(r);
			off = (int64_t)uleb(r) * c->data_align;
			goto saved_at;
		case 0x11: /* offset_extended_sf */
			reg = uleb(r);
			off = sleb(r) * c->data_align;
			goto saved_at;
		case 0x06: /* restore_extended */
			reg = uleb(r);
			goto restore;
		case 0x07: /* undefined */
			reg = uleb(r);
			if (reg == REG_RA)
				s->ra = 1;
			else if (reg == REG_RBP)
				s->rbp = 2;
			continue;
		case 0x08: /* same_value */
			reg = uleb(r);
			if (reg == REG_RBP)
				s->rbp = 0;
			else if (reg == REG_RA)
				s->ra = 2;
			continue;
		case 0x09: /* register */
			reg = uleb(r);
			uleb(r);
			if (reg == REG_RBP)
				s->rbp = 2;
			else if (reg == REG_RA)
				s->ra = 2;
			continue;
		case 0x0a: /* remember_state */
			if (nsaved == 8)
				return false;
			saved[nsaved++] = *s;
			continue;
		case 0x0b: /* restore_state */
			if (nsaved == 0)
				return false;
			*s = saved[--nsaved];
			continue;
		case 0x0c: /* def_cfa */
			s->cfa_reg = (uint8_t)uleb(r);
			s->cfa_off = (int64_t)uleb(r);
			continue;
		case 0x12: /* def_cfa_sf */
			s->cfa_reg = (uint8_t)uleb(r);
			s->cfa_off = sleb(r) * c->data_align;
			continue;
		case 0x0d: /* def_cfa_register */
			s->cfa_reg = (uint8_t)uleb(r);
			continue;
		case 0x0e: /* def_cfa_offset */
			s->cfa_off = (int64_t)uleb(r);
			continue;
		case 0x13: /* def_cfa_offset_sf */
			s->cfa_off = sleb(r) * c->data_align;
			continue;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = uleb(r);
			r->p += uleb(r);
			if (reg == REG_RBP)
				s->rbp = 2;
			else if (reg == REG_RA)
				s->ra = 2;
			continue;
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
			reg = uleb(r);
			if (op == 0x14)
				uleb(r);
			else
				sleb(r);
			if (reg == REG_RBP)
				s->rbp = 2;
			else if (reg == REG_RA)
				s->ra = 2;
			continue;
		case 0x2e: /* GNU_args_size */
			uleb(r);
			continue;
		default: /* def_cfa_expression, set_loc, vendor ones */
			return false;
		}
	advance:
		*loc += delta;
		if (*loc > target)
			return true;
		continue;
	saved_at:
		if (reg == REG_RBP) {
			s->rbp = 1;
			s->rbp_off = off;
		} else if (reg == REG_RA) {
			s->ra = 0;
			s->ra_off = off;
		}
		continue;
	restore:
		if (initial == NULL)
			return false;
		if (reg == REG_RBP) {
			s->rbp = initial->rbp;
			s->rbp_off = initial->rbp_off;
		} else if (reg == REG_RA) {
			s->ra = initial->ra;
			s->ra_off = initial->ra_off;
		}
		continue;
	}
	return !r->bad;
}

/* The rule at return address pc from FDE f, whose CIE is cie, covering
 * code from func: CFA_NONE when f does not cover pc - 1. */
static struct cfa_rule rule_of(const uint8_t *f, const uint8_t *cie, uintptr_t func, uintptr_t pc)
{
	struct cfa_rule other = {.kind = CFA_OTHER};
	uint32_t len;
	memcpy(&len, f, 4);
	struct cie c;
	if (!read_cie(cie, &c) || c.signal)
		return other;
	struct reader r = {f + 8, f + 4 + len, false};
	unsigned n = enc_size(c.fde_enc);
	fixed(&r, n); /* where the code starts: func has it */
	/* The code's length, unsigned whatever the encoding's sign. */
	uint64_t range = fixed(&r, n);
	/* A return address is the instruction after the call: the rule in
	 * force at the call is the one at pc - 1. */
	uintptr_t target = pc - 1, loc = func;
	if (r.bad || target - func >= range)
		return (struct cfa_rule){.kind = CFA_NONE};
	if (c.aug_z)
		r.p += uleb(&r);
	struct state s = {.cfa_reg = REG_RSP, .ra = 2};
	struct reader ri = {c.insns, c.end, false};
	if (!run(&ri, &c, &s, NULL, &loc, UINTPTR_MAX))
		return other;
	struct state initial = s;
	loc = func;
	if (r.bad || !run(&r, &c, &s, &initial, &loc, target))
		return other;
	if (s.ra == 1)
		return (struct cfa_rule){.kind = CFA_END};
	if (s.ra != 0 || s.ra_off != -8 || s.rbp == 2 ||
	    (s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) || s.cfa_off <= 0 ||
	    s.cfa_off > INT32_MAX || s.rbp_off < INT32_MIN || s.rbp_off > INT32_MAX)
		return other;
	return (struct cfa_rule){
	    .kind = CFA_RULE,
	    .on_rbp = s.cfa_reg == REG_RBP,
	    .rbp_saved = s.rbp == 1,
	    .off = (int32_t)s.cfa_off,
	    .rbp_off = (int32_t)s.rbp_off,
	};
}

/* The FDE from the object's file first (fde.c: no page of .eh_frame
 * mapped), else through the mapping, by libgcc's lookup. */
static struct cfa_rule rule_from_fde(uintptr_t pc)
{
	struct fde_copy copy;
	if (fde_from_file(pc - 1, &copy)) {
		struct cfa_rule r = rule_of(copy.fde, copy.cie, copy.func, pc);
		if (r.kind != CFA_NONE)
			return r;
	}
	fde_count_mapping_read();
	struct dwarf_eh_bases bases;
	const uint8_t *f = _Unwind_Find_FDE((void *)(pc - 1), &bases);
	if (f == NULL)
		return (struct cfa_rule){.kind = CFA_NONE};
	uint32_t len;
	int32_t cie_off;
	memcpy(&len, f, 4);
	memcpy(&cie_off, f + 4, 4);
	if (len == 0xffffffffu || cie_off <= 0)
		return (struct cfa_rule){.kind = CFA_OTHER};
	struct cfa_rule r = rule_of(f, f + 4 - cie_off, (uintptr_t)bases.func, pc);
	/* libgcc's lookup found f covering pc - 1. */
	return r.kind == CFA_NONE ? (struct cfa_rule){.kind = CFA_OTHER} : r;
}

/* ------------------------------------------------------------ the cache
 *
 * Direct mapped, CACHE_SLOTS entries (16 bytes each, 16 KiB, in .bss: only
 * the slots used are touched): the return address and its rule packed in
 * a word. Read with no lock, as a sequence lock's readers do: the address,
 * the rule, the address again; a writer clears the address before it
 * stores a new rule, so a reader that sees its address twice read that
 * address's rule (a rule depends on its address alone, so one written again
 * in between is the same). A lock per frame cost a sample of 12 frames
 * about 500 of its 2,000 instructions. Writers (a miss, a change of the
 * loaded objects) take cache_lock, never while an FDE is read, so that
 * libgcc's lookup, which may take the dynamic loader's lock, never runs
 * under it. */
#define CACHE_SLOTS CFA_CACHE_SLOTS

static cairn_mutex cache_lock = CAIRN_MUTEX_INIT;
struct cfa_slot cairn_cfa_cache[CACHE_SLOTS];
/* adds + subs. Written under cache_lock; read without it first, since it
 * rarely changes and every sample looks. */
static unsigned long long objects_seen;

#define RBP_OFF_MAX ((1 << (CFA_RBP_OFF_BITS - 1)) - 1)

static bool packable(struct cfa_rule r)
{
	return r.rbp_off >= -RBP_OFF_MAX && r.rbp_off <= RBP_OFF_MAX;
}

/* As cfa.h's cfa_unpack_rule reads it. */
static uint64_t pack_rule(struct cfa_rule r)
{
	return (uint64_t)r.kind | (r.trusted ? CFA_PACK_TRUSTED : 0) |
	       (r.on_rbp ? CFA_PACK_ON_RBP : 0) | (r.rbp_saved ? CFA_PACK_RBP_SAVED : 0) |
	       (uint64_t)((uint32_t)r.rbp_off << 5) | (uint64_t)(uint32_t)r.off << 32;
}

/* Under cache_lock. The rule's store releases the cleared address: a
 * reader whose acquiring load of the rule sees the new one sees the address
 * cleared, or the new one, when it looks again. (No fence: ThreadSanitizer
 * does not follow them.) */
static void slot_store(struct cfa_slot *s, uint64_t pc, uint64_t rule)
{
	__atomic_store_n(&s->pc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->rule, rule, __ATOMIC_RELEASE);
	__atomic_store_n(&s->pc, pc, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ lasting code
 *
 * Asking the loader whether objects were unloaded (cfa_check_objects)
 * costs a sample about 170 instructions: dl_iterate_phdr takes the
 * loader's lock and looks for its caller's namespace. A rule cached for
 * code that is never unloaded needs no such question: the code at its
 * address stays the same. That is the code of the program, of the C
 * library, of the dynamic loader and of cairn itself: objects loaded at
 * start-up, which glibc's dlclose never unloads (only objects dlopen
 * loaded are), and musl's dlclose unloads nothing. Most samples' frames are
 * all in them; a rule for any other object is used only after the
 * question. Their executable segments, found once. */
#define LASTING_MAX 8

struct code_range {
	uintptr_t lo, hi;
};

static struct code_range lasting_code[LASTING_MAX];
static unsigned lasting_n;
/* 0 not found yet, 1 being found, 2 found: lasting_code is then read
 * only. */
static _Atomic int lasting_state;

struct lasting_query {
	uintptr_t loader, own;
	unsigned index;
};

/* glibc's C library, by its file's name: by the address of one of its
 * functions, a sanitizer's interceptor or the program's own definition
 * would be found instead. (musl's is its dynamic loader.) */
static bool is_libc(const char *path)
{
	if (path == NULL)
		return false;
	const char *base = strrchr(path, '/');
	return strncmp(base != NULL ? base + 1 : path, "libc.so.", 8) == 0;
}

static int find_lasting(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lasting_query *q = arg;
	/* The program comes first. */
	bool lasts = q->index++ == 0 || (q->loader != 0 && info->dlpi_addr == q->loader) ||
	             is_libc(info->dlpi_name) || object_segment_of(info, q->own, false) != NULL;
	for (unsigned i = 0; lasts && i < info->dlpi_phnum && lasting_n < LASTING_MAX; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		lasting_code[lasting_n++] = (struct code_range){lo, lo + ph->p_memsz};
	}
	return 0;
}

/* With no lock of cairn's held: dl_iterate_phdr takes the loader's, which
 * a thread in dlopen holds while it allocates. A thread that finds another
 * finding the ranges takes pc as not lasting. */
static bool lasts(uintptr_t pc)
{
	int state = atomic_load_explicit(&lasting_state, memory_order_acquire);
	if (state == 0 &&
	    atomic_compare_exchange_strong_explicit(&lasting_state, &state, 1, memory_order_relaxed,
	                                            memory_order_relaxed)) {
		struct lasting_query q = {
		    .loader = os_loader_base(),
		    .own = (uintptr_t)&cfa_rule_missed,
		};
		dl_iterate_phdr(find_lasting, &q);
		atomic_store_explicit(&lasting_state, 2, memory_order_release);
		state = 2;
	}
	if (state != 2)
		return false;
	for (unsigned i = 0; i < lasting_n; i++)
		if (pc - lasting_code[i].lo < lasting_code[i].hi - lasting_code[i].lo)
			return true;
	return false;
}

struct cfa_rule cfa_rule_missed(uintptr_t pc)
{
	struct cfa_slot *s = &cairn_cfa_cache[cfa_slot_of(pc)];
	struct cfa_rule r = rule_from_fde(pc);
	r.trusted = true; /* read just now */
	/* No FDE may mean code loaded later (a JIT's, dlopen's): not kept. */
	if (r.kind == CFA_NONE || pc == 0 || !packable(r))
		return r;
	struct cfa_rule kept = r;
	kept.trusted = lasts(pc);
	mutex_lock(&cache_lock);
	slot_store(s, pc, pack_rule(kept));
	mutex_unlock(&cache_lock);
	return r;
}

static int count_objects(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
	return 1;
}

static _Atomic unsigned long asked;

unsigned long cfa_objects_asked(void)
{
	return atomic_load_explicit(&asked, memory_order_relaxed);
}

bool cfa_check_objects(void)
{
	atomic_fetch_add_explicit(&asked, 1, memory_order_relaxed);
	unsigned long long n = 0;
	dl_iterate_phdr(count_objects, &n);
	if (n == __atomic_load_n(&objects_seen, __ATOMIC_RELAXED))
		return false;
	mutex_lock(&cache_lock);
	if (n != objects_seen) {
		/* Slot by slot, as a writer: readers may be looking. */
		for (unsigned i = 0; i < CACHE_SLOTS; i++)
			if (cairn_cfa_cache[i].pc != 0)
				__atomic_store_n(&cairn_cfa_cache[i].pc, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&objects_seen, n, __ATOMIC_RELAXED);
	}
	mutex_unlock(&cache_lock);
	return true;
}

void cfa_postfork_child(void)
{
	/* The parent's thread that was finding the lasting code is not
	 * here to finish. */
	if (atomic_load_explicit(&lasting_state, memory_order_relaxed) == 1) {
		lasting_n = 0;
		atomic_store_explicit(&lasting_state, 0, memory_order_relaxed);
	}
	/* A slot may have been half written. */
	if (mutex_reset_was_held(&cache_lock))
		memset(cairn_cfa_cache, 0, sizeof(cairn_cfa_cache));
	fde_postfork_child();
}

#else

struct cfa_rule cfa_rule_missed(uintptr_t pc)
{
	return (struct cfa_rule){.kind = CFA_OTHER};
}

bool cfa_check_objects(void)
{
	return false;
}

unsigned long cfa_objects_asked(void)
{
	return 0;
}

void cfa_postfork_child(void)
{
}

#endif
