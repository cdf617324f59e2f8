/* SPDX-License-Identifier: MIT */
/* glibc's statistics calls, mallinfo2, mallinfo and malloc_stats, answered
 * from a fresh snapshot of cairn's statistics (README, "Statistics"): a
 * program that prints them, or watches its own memory with them, sees
 * cairn's numbers rather than the zeros of a glibc heap that holds
 * nothing. The arena fields are the arenas' chunks, the mmap fields the
 * huge blocks; the fields glibc's bins alone have (fastbins, free chunks)
 * are 0. */
#define _GNU_SOURCE
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "api/init.h"
#include "control/stats.h"
#include "core/util.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

static uint64_t stat_of(const char *name)
{
	uint64_t v = 0;
	stats_read(name, &v);
	return v;
}

/* glibc's totals, in glibc's field names, whatever the C library declares. */
struct totals {
	uint64_t arena, hblks, hblkhd, uordblks, fordblks, keepcost;
};

static struct totals read_totals(void)
{
	struct totals t = {0};
	stats_refresh();
	uint64_t huge = stat_of("huge_allocated");
	uint64_t huge_mapped = huge + stat_of("huge_cached");
	uint64_t mapped = stat_of("mapped");
	uint64_t arena = mapped > huge_mapped ? mapped - huge_mapped : 0;
	uint64_t in_arena = stat_of("allocated") - huge;
	t.arena = arena;
	t.hblks = stat_of("huge_curblocks");
	t.hblkhd = huge;
	t.uordblks = stat_of("allocated");
	t.fordblks = arena > in_arena ? arena - in_arena : 0;
	/* What malloc_trim would give back now. */
	t.keepcost = stat_of("dirty") + stat_of("muzzy") + stat_of("huge_cached");
	return t;
}

/* A C library without glibc's struct mallinfo2 (musl: the Makefile's probe
 * defines CAIRN_NO_MALLINFO) has no program that could call these. */
#ifndef CAIRN_NO_MALLINFO
EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof mi);
	if (!ensure_init())
		return mi;
	struct totals t = read_totals();
	mi.arena = t.arena;
	mi.hblks = t.hblks;
	mi.hblkhd = t.hblkhd;
	mi.uordblks = t.uordblks;
	mi.fordblks = t.fordblks;
	mi.keepcost = t.keepcost;
	return mi;
}

static int clamp(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m = mallinfo2();
	struct mallinfo mi = {
	    .arena = clamp(m.arena),
	    .ordblks = clamp(m.ordblks),
	    .smblks = clamp(m.smblks),
	    .hblks = clamp(m.hblks),
	    .hblkhd = clamp(m.hblkhd),
	    .usmblks = clamp(m.usmblks),
	    .fsmblks = clamp(m.fsmblks),
	    .uordblks = clamp(m.uordblks),
	    .fordblks = clamp(m.fordblks),
	    .keepcost = clamp(m.keepcost),
	};
	return mi;
}
#endif

static void line(const char *label, uint64_t v)
{
	char buf[96];
	size_t n = strlen(label);
	memcpy(buf, label, n);
	n += fmt_u64(buf + n, v);
	buf[n++] = '\n';
	os_write_stderr(buf, n);
}

/* glibc's layout for its totals (the mmap lines are the huge blocks now,
 * not a maximum), from cairn's statistics; written with
 * write(2), so that no stdio buffer is allocated. */
EXPORT void malloc_stats(void)
{
	if (!ensure_init())
		return;
	struct totals m = read_totals();
	static const char head[] = "Total (incl. mmap):\n";
	os_write_stderr(head, sizeof head - 1);
	line("system bytes     = ", m.arena + m.hblkhd);
	line("in use bytes     = ", m.uordblks);
	line("mmap regions     = ", m.hblks);
	line("mmap bytes       = ", m.hblkhd);
}
