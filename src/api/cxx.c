/* SPDX-License-Identifier: MIT */
/* The 20 C++ operator new/delete forms, written in C so that the library
 * needs no C++ runtime.
 *
 * operator new runs the standard loop: on failure call the installed
 * new-handler and retry; with no handler, throw std::bad_alloc (the nothrow
 * forms return NULL). The handler and the throw come from libstdc++ through
 * weak references, resolved when the program has a C++ runtime; a C program
 * never calls these. If libstdc++ only arrives later through
 * dlopen(RTLD_LOCAL) the references stay unresolved and a failing throwing
 * new reports and aborts.
 *
 * A nothrow form must return NULL when the handler gives up by throwing
 * std::bad_alloc, and C cannot catch an exception. When a handler is
 * installed, the nothrow forms therefore hand the failing request to the C++
 * runtime's own nothrow operator (found with dlsym(RTLD_NEXT)), which wraps
 * a call to the throwing form, that is cairn's, in a try/catch.
 *
 * This file is compiled with unwind tables
 * (-fexceptions) so a std::bad_alloc thrown by the handler or by
 * __throw_bad_alloc unwinds through it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>

#include "api/entry.h"

#define EXPORT __attribute__((visibility("default")))

typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static NOINLINE void *new_failed(size_t n, size_t align, bool nothrow)
{
	for (;;) {
		new_handler_fn handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
		if (handler == NULL) {
			if (nothrow)
				return NULL;
			if (_ZSt17__throw_bad_allocv)
				_ZSt17__throw_bad_allocv();
			cairn_message("operator new: out of memory and no C++ runtime to throw "
			              "std::bad_alloc",
			              (const char *)NULL);
			abort();
		}
		handler();
		void *p = align ? cairn_alloc_aligned(align, n) : cairn_alloc(n);
		if (p != NULL)
			return p;
	}
}

static const char nothrow_tag; /* stands in for std::nothrow */

static NOINLINE void *new_failed_nothrow(size_t n, size_t align, const char *runtime_name)
{
	if (_ZSt15get_new_handlerv == NULL || _ZSt15get_new_handlerv() == NULL)
		return NULL;
	void *next = dlsym(RTLD_NEXT, runtime_name);
	if (next == NULL)
		return new_failed(n, align, true);
	if (align)
		return ((void *(*)(size_t, size_t, const void *))next)(n, align, &nothrow_tag);
	return ((void *(*)(size_t, const void *))next)(n, &nothrow_tag);
}

/* The ways out of op_new's fast path: each runs the new-handler loop when
 * malloc's would return NULL. */
static NOINLINE void *new_refill(size_t n, unsigned cls, struct heap *h)
{
	void *p = cairn_alloc_refill(n, cls, h);
	return likely(p != NULL) ? p : new_failed(n, 0, false);
}

static NOINLINE void *new_medium(size_t n)
{
	void *p = cairn_alloc_medium(n);
	return likely(p != NULL) ? p : new_failed(n, 0, false);
}

static ALWAYS_INLINE void *op_new(size_t n)
{
	return cairn_alloc_via(n, new_refill, new_medium);
}

static ALWAYS_INLINE void *op_new_aligned(size_t n, size_t align)
{
	void *p = cairn_alloc_aligned(align, n);
	return likely(p != NULL) ? p : new_failed(n, align, false);
}

#define NEW_NOTHROW(name, runtime_name)                                                            \
	EXPORT void *name(size_t n, const struct nothrow_t *t)                                     \
	{                                                                                          \
		void *p = cairn_alloc(n);                                                          \
		return likely(p != NULL) ? p : new_failed_nothrow(n, 0, runtime_name);             \
	}

#define NEW_ALIGNED_NOTHROW(name, runtime_name)                                                    \
	EXPORT void *name(size_t n, size_t align, const struct nothrow_t *t)                       \
	{                                                                                          \
		void *p = cairn_alloc_aligned(align, n);                                           \
		return likely(p != NULL) ? p : new_failed_nothrow(n, align, runtime_name);         \
	}

struct nothrow_t;

EXPORT void *_Znwm(size_t n)
{
	return op_new(n);
}
EXPORT void *_Znam(size_t n)
{
	return op_new(n);
}
EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t align)
{
	return op_new_aligned(n, align);
}
EXPORT void *_ZnamSt11align_val_t(size_t n, size_t align)
{
	return op_new_aligned(n, align);
}
NEW_NOTHROW(_ZnwmRKSt9nothrow_t, "_ZnwmRKSt9nothrow_t")
NEW_NOTHROW(_ZnamRKSt9nothrow_t, "_ZnamRKSt9nothrow_t")
NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t, "_ZnwmSt11align_val_tRKSt9nothrow_t")
NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t, "_ZnamSt11align_val_tRKSt9nothrow_t")

/* Every delete form frees the same way: the size and alignment a sized or
 * aligned delete passes are not needed to find the block. */
#define DELETE(name, ...)                                                                          \
	EXPORT void name(void *p, ##__VA_ARGS__)                                                   \
	{                                                                                          \
		cairn_dealloc(p, "free");                                                          \
	}

DELETE(_ZdlPv)
DELETE(_ZdaPv)
DELETE(_ZdlPvm, size_t n)
DELETE(_ZdaPvm, size_t n)
DELETE(_ZdlPvRKSt9nothrow_t, const struct nothrow_t *t)
DELETE(_ZdaPvRKSt9nothrow_t, const struct nothrow_t *t)
DELETE(_ZdlPvSt11align_val_t, size_t align)
DELETE(_ZdaPvSt11align_val_t, size_t align)
DELETE(_ZdlPvmSt11align_val_t, size_t n, size_t align)
DELETE(_ZdaPvmSt11align_val_t, size_t n, size_t align)
DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, size_t align, const struct nothrow_t *t)
DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, size_t align, const struct nothrow_t *t)
