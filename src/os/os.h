/* SPDX-License-Identifier: MIT */
/* The kernel contract: the only interface through which cairn talks to the
 * operating system. Everything above this header is OS-independent.
 *
 * Preconditions, stated once: addresses and lengths passed to the mapping
 * functions are multiples of os_page_size() unless said otherwise; none of
 * these functions allocates memory through malloc; every function that may
 * fail reports failure through its return value and leaves errno as it found
 * it (the allocator's free paths must preserve errno). */
#ifndef CAIRN_OS_H
#define CAIRN_OS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read once at start-up; the OS page size is never assumed at build time. */
void os_init(void);
size_t os_page_size(void);

/* Maps size bytes of fresh, zeroed, read-write memory whose start is a
 * multiple of align (a power of two, at least the page size). NULL on failure. */
void *os_map_aligned(size_t size, size_t align);
/* Returns false when the kernel refused (the memory stays mapped). */
bool os_unmap(void *addr, size_t size);
/* Drops the backing of a range; it reads as zeros afterwards. Ranges that
 * are not whole OS pages are rounded inward. */
bool os_purge(void *addr, size_t size);
/* Lets the kernel take the pages of a range when it needs memory
 * (MADV_FREE); their contents are undefined afterwards. Falls back to
 * os_purge where the kernel lacks MADV_FREE. */
bool os_purge_lazy(void *addr, size_t size);
/* Resizes a mapping in place; false when the address space after it is taken. */
bool os_remap_inplace(void *addr, size_t old_size, size_t new_size);
/* Moves a mapping onto [to, to + new_size), which the caller reserved. */
bool os_remap_to(void *addr, size_t old_size, void *to, size_t new_size);
/* Advises the kernel to back a range with transparent huge pages. */
void os_hugepage_advise(void *addr, size_t size);
/* Asks the kernel never to back a range with transparent huge pages. */
void os_hugepage_forbid(void *addr, size_t size);
/* Whether the kernel backs every anonymous mapping with transparent huge
 * pages where it can (/sys/kernel/mm/transparent_hugepage/enabled is
 * "always"). */
bool os_thp_always(void);

/* Sleeps while *word still holds expected (it may also return early); a
 * futex wait, for locks that spin on nothing and sleep when taken. */
void os_wait_on(_Atomic int *word, int expected);
/* Wakes one thread sleeping in os_wait_on(word, ...). */
void os_wake_one(_Atomic int *word);

/* Monotonic time in milliseconds, cheap enough for slow paths. */
uint64_t os_now_ms(void);

/* The cgroup v2 limits of the process, read from its cgroup directory and
 * the directories above it. The root of the cgroup file system is found in
 * /proc/self/mountinfo, or taken from CAIRN_CGROUP_ROOT when set (tests
 * point it at a fake tree; the process's cgroup is then that root). Each
 * returns 0 when there is no limit or no cgroup v2. */
unsigned os_cgroup_cpus(void);
/* Fills the memory limit in force (the lower of memory.high and memory.max)
 * and memory.current; false when there is no limit. */
bool os_cgroup_memory(uint64_t *limit, uint64_t *current);

/* CPUs this process may run on (its affinity mask), at least 1. */
unsigned os_ncpus(void);
/* The value of an environment variable, ignored for set-user-ID programs. */
const char *os_getenv(const char *name);
/* Writes all of buf to standard error with write(2), no stdio. */
void os_write_stderr(const char *buf, size_t len);
/* Threads of this process that have not exited (a leader that called
 * pthread_exit is not counted while the others run); 0 if unknown. */
unsigned os_live_threads(void);
/* The calling thread's kernel id, and the process's (the id of the thread
 * that leads it). */
unsigned os_thread_id(void);
unsigned os_process_id(void);
/* Names thread t for debuggers and ps (at most 15 bytes); a hint that may
 * do nothing. */
void os_thread_name(pthread_t t, const char *name);
/* Random bits from the kernel or, failing that, from addresses and time. */
uint64_t os_random(void);

#endif
