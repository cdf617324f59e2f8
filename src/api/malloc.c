/* SPDX-License-Identifier: MIT */
/* The exported C functions: thin wrappers over the fast paths (entry.h) and
 * the allocation core (alloc.h), and glibc's internal names for them.
 *
 * Built with CAIRN_PREFIXED (libcairn-prefixed), the library replaces
 * nothing: malloc's family is defined under the cairn_ names alone
 * (cairn.h), the jemalloc names with the cairn_ prefix (cairn/jemalloc.h),
 * and the rest of the standard and glibc names not at all. Otherwise the
 * standard names are the functions and the cairn_ names aliases of them.
 * NAMED(plain, prefixed) is the name a function has in this build. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "api/alloc.h"
#include "api/entry.h"
#include "api/init.h"
#include "cairn.h"
#include <cairn/jemalloc.h>
#include "control/ctl.h"
#include "control/stats.h"
#include "core/decay.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

#ifdef CAIRN_PREFIXED
#define NAMED(plain, prefixed) prefixed
#else
#define NAMED(plain, prefixed) plain
#endif
#define NAME_STRING_OF(name) #name
#define NAME_STRING(name)    NAME_STRING_OF(name)
/* The name a misuse report gives: the function the program called. */
#define NAMED_STRING(plain, prefixed) NAME_STRING(NAMED(plain, prefixed))

EXPORT void *NAMED(malloc, cairn_malloc)(size_t n)
{
	return cairn_alloc(n);
}

EXPORT void NAMED(free, cairn_free)(void *p)
{
	cairn_dealloc(p, NAMED_STRING(free, cairn_free));
}

EXPORT void *NAMED(calloc, cairn_calloc)(size_t nmemb, size_t size)
{
	size_t n;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &n)))
		return cairn_out_of_memory();
	/* A mapping of its own is zero already when fresh: only reused pages
	 * are cleared. */
	if (n > LARGE_MAX)
		return cairn_alloc_big(n, 1, true);
	void *p = cairn_alloc(n);
	if (likely(p != NULL))
		memset(p, 0, n);
	return p;
}

EXPORT void *NAMED(realloc, cairn_realloc)(void *p, size_t n)
{
	return cairn_resize(p, n, NAMED_STRING(realloc, cairn_realloc));
}

#ifndef CAIRN_PREFIXED
EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &n)))
		return cairn_out_of_memory();
	return cairn_resize(p, n, "reallocarray");
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t n)
{
	if (align < sizeof(void *) || !is_pow2(align))
		return EINVAL;
	int saved = errno;
	void *p = cairn_alloc_aligned(align, n);
	errno = saved;
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}
#endif

EXPORT void *NAMED(aligned_alloc, cairn_aligned_alloc)(size_t align, size_t n)
{
	if (!is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return cairn_alloc_aligned(align, n);
}

#ifndef CAIRN_PREFIXED
EXPORT void *memalign(size_t align, size_t n)
{
	/* glibc rounds an alignment that is not a power of two up to one. */
	if (align > ((size_t)PTRDIFF_MAX >> 1) + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_pow2(align))
		align = align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzl(align - 1));
	return cairn_alloc_aligned(align, n);
}

EXPORT void *valloc(size_t n)
{
	if (!ensure_init())
		return cairn_out_of_memory();
	return cairn_alloc_aligned(os_page_size(), n);
}

EXPORT void *pvalloc(size_t n)
{
	if (!ensure_init())
		return cairn_out_of_memory();
	size_t page = os_page_size();
	size_t rounded = align_up(n ? n : 1, page);
	if (rounded < n)
		return cairn_out_of_memory();
	return cairn_alloc_aligned(page, rounded);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	return cairn_block_lookup(p, pagemap_get((uintptr_t)p), "malloc_usable_size").usable;
}
#endif

EXPORT size_t cairn_usable_size(const void *p)
{
	if (p == NULL)
		return 0;
	return cairn_block_lookup((void *)p, pagemap_get((uintptr_t)p), "cairn_usable_size").usable;
}

EXPORT void NAMED(free_sized, cairn_free_sized)(void *p, size_t size)
{
	cairn_dealloc(p, NAMED_STRING(free, cairn_free_sized));
}

#ifndef CAIRN_PREFIXED
EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	cairn_dealloc(p, "free");
}

/* Gives every free page back to the kernel now; pad is ignored (cairn
 * keeps no heap top to pad). Returns 1 if memory was released, as glibc. */
EXPORT int malloc_trim(size_t pad)
{
	if (!ensure_init())
		return 0;
	return purge_all(true) > 0;
}
#endif

EXPORT size_t cairn_purge(int arena)
{
	if (!ensure_init())
		return 0;
	if (arena < 0)
		return purge_all(true);
	if ((unsigned)arena >= cairn_narenas)
		return 0;
	return purge_arena(&cairn_arenas[arena]);
}

EXPORT uint64_t cairn_stats_refresh(void)
{
	if (!ensure_init())
		return 0;
	return stats_refresh();
}

EXPORT int cairn_stats_read(const char *name, uint64_t *value)
{
	if (!ensure_init())
		return ENOMEM;
	return stats_read(name, value);
}

/* jemalloc's control interface (src/control/ctl.c has the tree). */
EXPORT int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
	if (!ensure_init())
		return EAGAIN;
	cairn_attach_heap(); /* thread.* speak of the thread's heap */
	return ctl_byname(name, oldp, oldlenp, newp, newlen);
}

EXPORT int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp)
{
	if (!ensure_init())
		return EAGAIN;
	return ctl_nametomib(name, mibp, miblenp);
}

EXPORT int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                        size_t newlen)
{
	if (!ensure_init())
		return EAGAIN;
	cairn_attach_heap(); /* thread.* speak of the thread's heap */
	return ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

EXPORT const char *cairn_version(void)
{
	return CAIRN_VERSION;
}

#ifndef CAIRN_PREFIXED
/* glibc's internal names, which some programs and libraries call directly,
 * the obsolete cfree, and cairn.h's names of malloc's family. */
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#define ALIAS(name) __attribute__((alias(#name), visibility("default")))
EXPORT void cfree(void *p) ALIAS(free);
EXPORT void *__libc_malloc(size_t n) ALIAS(malloc);
EXPORT void __libc_free(void *p) ALIAS(free);
EXPORT void *__libc_calloc(size_t nmemb, size_t size) ALIAS(calloc);
EXPORT void *__libc_realloc(void *p, size_t n) ALIAS(realloc);
EXPORT void *__libc_memalign(size_t align, size_t n) ALIAS(memalign);
EXPORT void *__libc_valloc(size_t n) ALIAS(valloc);
EXPORT void *__libc_pvalloc(size_t n) ALIAS(pvalloc);
EXPORT int __posix_memalign(void **memptr, size_t align, size_t n) ALIAS(posix_memalign);
EXPORT void *cairn_malloc(size_t n) ALIAS(malloc);
EXPORT void *cairn_calloc(size_t nmemb, size_t size) ALIAS(calloc);
EXPORT void *cairn_realloc(void *p, size_t n) ALIAS(realloc);
EXPORT void cairn_free(void *p) ALIAS(free);
EXPORT void cairn_free_sized(void *p, size_t size) ALIAS(free_sized);
EXPORT void *cairn_aligned_alloc(size_t align, size_t n) ALIAS(aligned_alloc);
#endif
