/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every layer: branch hints, cold paths, the fatal
 * error reporter (which never allocates). */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define COLD          __attribute__((cold, noinline))
#define NOINLINE      __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define HIDDEN        __attribute__((visibility("hidden")))

static inline uintptr_t align_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static inline bool is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Formats "cairn: <fn>(): <what> 0x<ptr><tail>\n" on the stack, writes it
 * with write(2) and aborts. Used for every misuse the allocator detects. */
__attribute__((noreturn, cold)) void cairn_fatal_ptr(const char *fn, const char *what,
                                                     const void *ptr, const char *tail);

/* Writes "cairn: " followed by the pieces (NULL-terminated list) and a newline. */
void cairn_message(const char *first, ...) __attribute__((sentinel));

/* Decimal and hexadecimal formatting into a caller buffer; return the
 * number of characters written (no terminating NUL counted). */
size_t fmt_u64(char *buf, uint64_t v);
size_t fmt_hex(char *buf, uint64_t v);

/* Reports a free-list block whose mark or place is wrong (core/block.h),
 * and aborts. */
__attribute__((noreturn, cold)) void cairn_freelist_corrupt(const void *b) HIDDEN;

#endif
