/* SPDX-License-Identifier: MIT */
/* Backtraces with the libgcc unwinder (_Unwind_Backtrace), which reads the
 * .eh_frame tables that every Debian object carries (-fasynchronous-unwind-
 * tables is the default on x86-64 and arm64), rather than walking frame
 * pointers, which Debian's packages are built without: a frame-pointer
 * walk through such code stops after a frame or two, or follows a
 * register used as data, and names the wrong callers. It costs more:
 * measured on x86-64 (glibc 2.36, gcc 12, -O2), 2.6 µs for a 10-frame
 * stack and 7.6 µs for 35 frames, against 0.03 and 0.1 µs for a
 * frame-pointer walk of the same stacks built with frame pointers. At the
 * default rate (one sample per 512 KiB allocated) a program allocating
 * 1 GB/s takes 2000 samples a second: 5 ms, 0.5% of one CPU, for stacks
 * that are right.
 *
 * It is called directly, from libgcc_s, which the link of libcairn.so
 * names (gcc links it for the unwinder that -fexceptions code refers to),
 * never through glibc's backtrace(), whose first call dlopens libgcc_s and
 * allocates. The unwinder itself allocates nothing: it finds each frame's
 * FDE through _dl_find_object or dl_iterate_phdr. It stops at the first
 * frame it has no unwind table for, or whose return address is 0 (the
 * outermost frame of a thread), and never at cairn's locks: none is held
 * while it runs. */
#define _GNU_SOURCE
#include "prof/unwind.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unwind.h>

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
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (q->me < lo || q->me >= lo + ph->p_memsz)
			continue;
		/* The program comes first (glibc names it "", musl by its
		 * path). */
		if (!program) {
			atomic_store_explicit(&own_lo, lo, memory_order_relaxed);
			atomic_store_explicit(&own_hi, lo + ph->p_memsz, memory_order_relaxed);
		}
		return 1;
	}
	return 0;
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
	bool started; /* past cairn's own frames */
};

static _Unwind_Reason_Code step(struct _Unwind_Context *ctx, void *arg)
{
	struct walk *w = arg;
	uintptr_t pc = _Unwind_GetIP(ctx);
	if (pc == 0)
		return _URC_END_OF_STACK;
	if (!w->started) {
		/* The first frame is prof_backtrace's own. */
		if (w->lo == 0 ? w->n++ == 0 : (pc >= w->lo && pc < w->hi))
			return _URC_NO_REASON;
		w->started = true;
		w->n = 0;
	}
	w->pcs[w->n++] = pc;
	return w->n < w->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

unsigned prof_backtrace(uintptr_t *pcs, unsigned max)
{
	if (max == 0 || !atomic_load_explicit(&ready, memory_order_acquire))
		return 0;
	know_own();
	struct walk w = {
	    .pcs = pcs,
	    .max = max,
	    .lo = atomic_load_explicit(&own_lo, memory_order_relaxed),
	    .hi = atomic_load_explicit(&own_hi, memory_order_relaxed),
	};
	_Unwind_Backtrace(step, &w);
	return w.started ? w.n : 0;
}
