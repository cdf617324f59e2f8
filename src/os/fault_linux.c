/* SPDX-License-Identifier: MIT */
/* Fault injection into the mapping calls, for test builds only. */
#define _GNU_SOURCE
#include "os/linux.h"

#ifdef CAIRN_FAULT_INJECTION
#include <stdlib.h>
#include <string.h>

/* Test builds only (make fault): the mapping calls fail on a schedule given
 * in CAIRN_FAULT, read once by os_init:
 *   every:N[:OPTION...]               every Nth call of the kinds chosen
 *   random:SEED:PERCENT[:OPTION...]   each call with that chance, reproducibly
 * with the options limit:L (no more faults after L of them) and
 * only:KIND[+KIND...], the kinds of call being map (mmap), unmap (munmap),
 * purge (madvise DONTNEED or FREE) and remap (mremap); the default is
 * map+purge+remap. A call that fails here is not made, and fails as the
 * kernel's would: no mapping, pages left as they were. With
 * CAIRN_FAULT_REPORT set, a line at exit counts the calls and the faults;
 * cairn_fault_count() gives the faults so far. */
static const char *const fault_kind_name[F_KINDS] = {"map", "unmap", "purge", "remap"};
static struct {
	unsigned mask;
	uint64_t every, seed, percent, limit;
	bool random, report;
	_Atomic uint64_t calls, faults, kind_calls[F_KINDS], kind_faults[F_KINDS];
} fault;

__attribute__((visibility("default"))) uint64_t cairn_fault_count(void)
{
	return atomic_load(&fault.faults);
}

/* Reads a decimal number at *s; false when there is none. */
static bool fault_number(const char **s, uint64_t *v)
{
	const char *p = *s;
	*v = 0;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	*s = p;
	return true;
}

static bool fault_word(const char **s, const char *w)
{
	size_t n = strlen(w);
	if (strncmp(*s, w, n) != 0)
		return false;
	*s += n;
	return true;
}

void os_fault_init(void)
{
	const char *s = secure_getenv("CAIRN_FAULT");
	fault.report = secure_getenv("CAIRN_FAULT_REPORT") != NULL;
	if (s == NULL)
		return;
	unsigned mask = 1u << F_MAP | 1u << F_PURGE | 1u << F_REMAP;
	bool ok;
	if (fault_word(&s, "every:"))
		ok = fault_number(&s, &fault.every) && fault.every > 0;
	else if (fault_word(&s, "random:"))
		ok = fault.random = fault_number(&s, &fault.seed) && fault_word(&s, ":") &&
		                    fault_number(&s, &fault.percent);
	else
		ok = false;
	while (ok && *s == ':') {
		s++;
		if (fault_word(&s, "limit:")) {
			ok = fault_number(&s, &fault.limit);
			continue;
		}
		ok = fault_word(&s, "only:");
		for (mask = 0; ok;) {
			int k = 0;
			while (k < F_KINDS && !fault_word(&s, fault_kind_name[k]))
				k++;
			ok = k < F_KINDS;
			mask |= ok ? 1u << k : 0;
			if (*s != '+')
				break;
			s++;
		}
	}
	if (!ok || *s != '\0') {
		static const char msg[] = "cairn: CAIRN_FAULT: not understood; no faults\n";
		os_write_stderr(msg, sizeof msg - 1);
		fault.every = 0;
		fault.random = false;
		return;
	}
	fault.mask = mask;
}

/* Whether this call of the given kind is to fail. */
bool os_fault_now(int kind)
{
	atomic_fetch_add(&fault.kind_calls[kind], 1);
	if (!(fault.mask & 1u << kind))
		return false;
	uint64_t i = atomic_fetch_add(&fault.calls, 1) + 1;
	bool fail;
	if (fault.random) {
		uint64_t z = fault.seed + i * 0x9e3779b97f4a7c15ull; /* splitmix64 */
		z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ z >> 27) * 0x94d049bb133111ebull;
		fail = (z ^ z >> 31) % 100 < fault.percent;
	} else {
		fail = fault.every != 0 && i % fault.every == 0;
	}
	if (!fail)
		return false;
	if (fault.limit != 0) {
		uint64_t f = atomic_load(&fault.faults);
		do
			if (f >= fault.limit)
				return false;
		while (!atomic_compare_exchange_weak(&fault.faults, &f, f + 1));
	} else {
		atomic_fetch_add(&fault.faults, 1);
	}
	atomic_fetch_add(&fault.kind_faults[kind], 1);
	return true;
}

static char *fault_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *fault_u64(char *p, uint64_t v)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/* "cairn: fault injection: F faults; f of c map, f of c unmap, ..." */
__attribute__((destructor)) static void fault_report(void)
{
	if (!fault.report)
		return;
	char buf[512], *p = buf;
	p = fault_str(p, "cairn: fault injection: ");
	p = fault_str(fault_u64(p, atomic_load(&fault.faults)), " faults");
	for (int k = 0; k < F_KINDS; k++) {
		p = fault_str(p, k ? ", " : "; ");
		p = fault_str(fault_u64(p, atomic_load(&fault.kind_faults[k])), " of ");
		p = fault_str(fault_u64(p, atomic_load(&fault.kind_calls[k])), " ");
		p = fault_str(p, fault_kind_name[k]);
	}
	*p++ = '\n';
	os_write_stderr(buf, (size_t)(p - buf));
}
#endif
