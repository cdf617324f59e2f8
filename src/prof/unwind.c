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
 * that are right. Where its time goes (callgrind, a 12-frame stack: about
 * 15,800 instructions): 58% interpreting each frame's CFA program, 24%
 * finding its FDE, 11% updating the context. A cache from return address
 * to CFA rule, for the common rsp+N and rbp+N rules with libgcc behind it
 * for the rest, would save most of both for frames seen before: the way to
 * make backtraces cheaper without giving up right stacks.
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <unwind.h>

/* cairn's own code, whose frames are left out: the executable segment of
 * the shared object holding this file. When cairn is linked into the
 * program itself (the static library) the range would cover the program
 * too, so nothing is left out then but this file's frame. */
static _Atomic uintptr_t own_lo, own_hi;
static _Atomic int own_known;

static int find_own(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (me < lo || me >= lo + ph->p_memsz)
			continue;
		/* The program itself has no name here. */
		if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
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
	dl_iterate_phdr(find_own, (void *)(uintptr_t)&prof_backtrace);
	atomic_store_explicit(&own_known, 1, memory_order_release);
}

/* Whether the unwinder may run: set by a constructor. In a statically
 * linked program the C library allocates during its own start-up, before
 * the unwinder's tables are usable (_Unwind_Backtrace aborts there); a
 * sample taken before cairn's constructors ran gets no frames (an empty
 * stack in the profile) rather than a crash. */
static _Atomic bool ready;

__attribute__((constructor)) static void unwind_ready(void)
{
	atomic_store_explicit(&ready, true, memory_order_release);
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
