/* SPDX-License-Identifier: MIT */
/* What the Linux files of the os layer share, and no other layer sees. */
#ifndef CAIRN_OS_LINUX_H
#define CAIRN_OS_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "os/os.h"

/* Reads a small file into buf (NUL-terminated) with raw system calls;
 * errno is left as it was. */
bool os_read_file(const char *path, char *buf, size_t cap) __attribute__((visibility("hidden")));

/* The kinds of mapping call fault injection can fail (fault_linux.c). */
enum { F_MAP, F_UNMAP, F_PURGE, F_REMAP, F_KINDS };

#ifdef CAIRN_FAULT_INJECTION
/* Reads CAIRN_FAULT (once, from os_init). */
void os_fault_init(void) __attribute__((visibility("hidden")));
/* Whether this call of the given kind is to fail. */
bool os_fault_now(int kind) __attribute__((visibility("hidden")));
#define FAULT(kind) __builtin_expect(os_fault_now(F_##kind), 0)
#else
#define FAULT(kind) false
static inline void os_fault_init(void)
{
}
#endif

#endif
