/* SPDX-License-Identifier: MIT */
/* C++ operator new/delete, called directly: every one of the 20 forms
 * works; the aligned forms honour alignments 32..64 KiB for small to huge
 * sizes; new(0) gives unique non-NULL pointers; the operators are cairn's
 * (the library defines _Znwm, and its blocks have cairn's class sizes);
 * and when allocation fails the installed new_handler is called until it
 * uninstalls itself, then the throwing forms throw std::bad_alloc and the
 * nothrow forms return nullptr (also when the handler throws), for sizes
 * no allocation can satisfy and for small ones once the address space is
 * used up. */
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <new>
#include <sys/resource.h>
#include <unistd.h>
#include "check.h"
#include "proc.h"

static const std::size_t MiB = std::size_t(1) << 20;

static bool aligned(const void *p, std::size_t a)
{
	return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

static void touch(void *p, std::size_t n)
{
	std::memset(p, 0x3d, n);
}

static const std::size_t sizes[] = {1, 16, 100, 1000, 5000, 32768, 100000, MiB, 3 * MiB + 1};

/* The plain forms, each allocation paired with each matching delete. */
static void test_plain_forms()
{
	int nulls = 0, misaligned = 0;
	for (std::size_t n : sizes) {
		void *p[8];
		p[0] = ::operator new(n);
		p[1] = ::operator new(n);
		p[2] = ::operator new(n);
		p[3] = ::operator new(n, std::nothrow);
		p[4] = ::operator new[](n);
		p[5] = ::operator new[](n);
		p[6] = ::operator new[](n);
		p[7] = ::operator new[](n, std::nothrow);
		for (void *q : p) {
			if (!q) {
				nulls++;
				continue;
			}
			misaligned += !aligned(q, 16);
			touch(q, n);
			CHECK(malloc_usable_size(q) >= n, "usable size %zu of operator new(%zu)",
			      malloc_usable_size(q), n);
		}
		::operator delete(p[0]);
		::operator delete(p[1], n);
		::operator delete(p[2], std::nothrow);
		::operator delete(p[3]);
		::operator delete[](p[4]);
		::operator delete[](p[5], n);
		::operator delete[](p[6], std::nothrow);
		::operator delete[](p[7]);
	}
	CHECK(nulls == 0, "operator new returned NULL %d times", nulls);
	CHECK(misaligned == 0, "operator new results not 16-byte aligned %d times", misaligned);
}

static void test_aligned_forms()
{
	for (std::size_t a = 32; a <= 65536; a <<= 1) {
		std::align_val_t al = static_cast<std::align_val_t>(a);
		for (std::size_t n : sizes) {
			void *p[8];
			p[0] = ::operator new(n, al);
			p[1] = ::operator new(n, al);
			p[2] = ::operator new(n, al);
			p[3] = ::operator new(n, al, std::nothrow);
			p[4] = ::operator new[](n, al);
			p[5] = ::operator new[](n, al);
			p[6] = ::operator new[](n, al);
			p[7] = ::operator new[](n, al, std::nothrow);
			for (int i = 0; i < 8; i++) {
				CHECK(p[i] != nullptr, "aligned new #%d(%zu, %zu) returned NULL", i,
				      n, a);
				if (!p[i])
					continue;
				CHECK(aligned(p[i], a),
				      "aligned new #%d(%zu, align %zu) = %p misaligned", i, n, a,
				      p[i]);
				touch(p[i], n);
			}
			::operator delete(p[0], al);
			::operator delete(p[1], n, al);
			::operator delete(p[2], al, std::nothrow);
			::operator delete(p[3], al);
			::operator delete[](p[4], al);
			::operator delete[](p[5], n, al);
			::operator delete[](p[6], al, std::nothrow);
			::operator delete[](p[7], al);
		}
	}
}

static void test_new_zero()
{
	enum { N = 200 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = i % 2 ? ::operator new(0) : ::operator new[](0);
	int nulls = 0, dups = 0;
	for (int i = 0; i < N; i++) {
		nulls += p[i] == nullptr;
		for (int j = i + 1; j < N; j++)
			dups += p[i] && p[i] == p[j];
	}
	CHECK(nulls == 0, "operator new(0) returned NULL %d times", nulls);
	CHECK(dups == 0, "operator new(0) returned the same pointer twice (%d pairs)", dups);
	for (int i = 0; i < N; i++) {
		if (i % 2)
			::operator delete(p[i]);
		else
			::operator delete[](p[i]);
	}
	/* Size 0 with every alignment up to 1 GiB: distinct blocks that free
	 * cleanly (the 8 KiB - 1 MiB ones once came out of zero-page runs). */
	for (std::size_t a = 1; a <= (std::size_t(1) << 30); a <<= 1) {
		void *z = ::operator new(0, std::align_val_t(a));
		void *y = ::operator new[](0, std::align_val_t(a));
		CHECK(z != nullptr && aligned(z, a) && y != nullptr && aligned(y, a) && z != y,
		      "operator new(0, align %zu) = %p, new[] = %p", a, z, y);
		::operator delete(z, std::align_val_t(a));
		::operator delete[](y, std::align_val_t(a));
	}
}

/* The operators in effect are cairn's: the definition of _Znwm lives in the
 * library, and a block from operator new has cairn's usable size. */
static void test_operators_are_cairns()
{
	const char *lib = std::getenv("CAIRN_LIB");
	void *sym = dlsym(RTLD_DEFAULT, "_Znwm");
	Dl_info info;
	CHECK(sym && dladdr(sym, &info) && info.dli_fname, "cannot locate _Znwm");
	if (sym && dladdr(sym, &info) && info.dli_fname)
		CHECK(std::strstr(info.dli_fname, "libcairn") != nullptr,
		      "_Znwm resolves to %s, not libcairn", info.dli_fname);
	if (lib && *lib) {
		void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
		CHECK(h != nullptr, "%s is not loaded", lib);
		if (h) {
			CHECK(dlsym(h, "_Znwm") == sym, "_Znwm in effect is not the library's");
			CHECK(dlsym(h, "_ZdlPv") == dlsym(RTLD_DEFAULT, "_ZdlPv"),
			      "_ZdlPv in effect is not the library's");
			dlclose(h);
		}
	}
	void *p = ::operator new(100);
	CHECK(malloc_usable_size(p) == 112, "malloc_usable_size(operator new(100)) = %zu, want 112",
	      malloc_usable_size(p));
	::operator delete(p);
}

/* ----------------------------------------------------------- new_handler */

static int handler_calls;

/* Called on each failure; uninstalls itself on the second call. */
static void handler_twice()
{
	if (++handler_calls >= 2)
		std::set_new_handler(nullptr);
}

static void handler_throws()
{
	handler_calls++;
	throw std::bad_alloc();
}

/* Sizes no allocation can satisfy. */
static volatile std::size_t impossible[] = {std::size_t(1) << 50, std::size_t(PTRDIFF_MAX) + 1,
                                            SIZE_MAX};
static const char *const impossible_name[] = {"1 << 50", "PTRDIFF_MAX + 1", "SIZE_MAX"};

/* The throwing forms, by number: 0 new, 1 new[], 2 new aligned, 3 new[] aligned. */
static void *throwing_new(int form, std::size_t n)
{
	switch (form) {
	case 0:
		return ::operator new(n);
	case 1:
		return ::operator new[](n);
	case 2:
		return ::operator new(n, std::align_val_t(64));
	default:
		return ::operator new[](n, std::align_val_t(64));
	}
}

/* The nothrow forms. They are declared noexcept; called through pointers to
 * functions that may throw, so that an exception escaping one would be
 * caught here and reported instead of ending the program. */
typedef void *(*nothrow_fn)(std::size_t, const std::nothrow_t &);
typedef void *(*nothrow_aligned_fn)(std::size_t, std::align_val_t, const std::nothrow_t &);
static volatile nothrow_fn nothrow_new = &::operator new;
static volatile nothrow_fn nothrow_new_array = &::operator new[];
static volatile nothrow_aligned_fn nothrow_new_aligned = &::operator new;
static volatile nothrow_aligned_fn nothrow_new_array_aligned = &::operator new[];

static void *nothrow_form(int form, std::size_t n)
{
	switch (form) {
	case 0:
		return nothrow_new(n, std::nothrow);
	case 1:
		return nothrow_new_array(n, std::nothrow);
	case 2:
		return nothrow_new_aligned(n, std::align_val_t(64), std::nothrow);
	default:
		return nothrow_new_array_aligned(n, std::align_val_t(64), std::nothrow);
	}
}

static void test_new_handler()
{
	for (int form = 0; form < 4; form++) {
		for (int s = 0; s < 3; s++) {
			std::size_t n = impossible[s];

			/* Throwing form: handler twice, then std::bad_alloc. */
			handler_calls = 0;
			std::set_new_handler(handler_twice);
			bool caught = false;
			try {
				void *p = throwing_new(form, n);
				CHECK(false, "form %d: operator new(%s) returned %p", form,
				      impossible_name[s], p);
			} catch (const std::bad_alloc &) {
				caught = true;
			}
			CHECK(caught, "form %d: operator new(%s) did not throw std::bad_alloc",
			      form, impossible_name[s]);
			CHECK(handler_calls == 2,
			      "form %d: new(%s) called the handler %d times, want 2", form,
			      impossible_name[s], handler_calls);
			CHECK(std::get_new_handler() == nullptr, "handler still installed");

			/* Nothrow form: handler twice, then nullptr. */
			handler_calls = 0;
			std::set_new_handler(handler_twice);
			void *p = reinterpret_cast<void *>(1);
			try {
				p = nothrow_form(form, n);
			} catch (...) {
				CHECK(false, "form %d: nothrow new(%s) threw", form,
				      impossible_name[s]);
			}
			CHECK(p == nullptr, "form %d: nothrow new(%s) returned %p", form,
			      impossible_name[s], p);
			CHECK(handler_calls == 2,
			      "form %d: nothrow new(%s) called the handler %d times, want 2", form,
			      impossible_name[s], handler_calls);

			/* A handler that throws: the throwing form passes the exception
			 * on, the nothrow form returns nullptr. */
			handler_calls = 0;
			std::set_new_handler(handler_throws);
			caught = false;
			try {
				p = throwing_new(form, n);
				CHECK(false, "form %d: operator new(%s) returned %p", form,
				      impossible_name[s], p);
			} catch (const std::bad_alloc &) {
				caught = true;
			}
			CHECK(caught && handler_calls == 1,
			      "form %d: new(%s) with a throwing handler: caught %d, %d calls", form,
			      impossible_name[s], caught, handler_calls);
			handler_calls = 0;
			p = reinterpret_cast<void *>(1);
			bool threw = false;
			try {
				p = nothrow_form(form, n);
			} catch (...) {
				threw = true;
			}
			CHECK(!threw && p == nullptr && handler_calls == 1,
			      "form %d: nothrow new(%s) with a throwing handler: threw %d, "
			      "returned %p, %d calls; want nullptr after 1 call",
			      form, impossible_name[s], threw, threw ? nullptr : p, handler_calls);
			std::set_new_handler(nullptr);
		}
	}

	/* No handler at all: bad_alloc straight away, nothrow gives nullptr. */
	std::set_new_handler(nullptr);
	bool caught = false;
	try {
		void *p = ::operator new(impossible[0]);
		CHECK(false, "operator new(1 << 50) returned %p", p);
	} catch (const std::bad_alloc &) {
		caught = true;
	}
	CHECK(caught, "operator new(1 << 50) with no handler did not throw");
	CHECK(::operator new(impossible[0], std::nothrow) == nullptr,
	      "nothrow new(1 << 50) did not return nullptr");

	/* A request that can be met never calls the handler. */
	handler_calls = 0;
	std::set_new_handler(handler_twice);
	void *ok = ::operator new(1000);
	CHECK(ok != nullptr && handler_calls == 0, "operator new(1000) called the handler");
	::operator delete(ok);
	std::set_new_handler(nullptr);
}

/* ------------------------------------------------ address space used up */

static void **reserve; /* blocks handler_frees gives back */
static std::size_t nreserve;

static void handler_frees()
{
	handler_calls++;
	for (int i = 0; i < 16 && nreserve > 0; i++)
		::operator delete(reserve[--nreserve]);
	std::set_new_handler(nullptr);
}

/* operator new of sizes the thread cache serves (1000: from the fast
 * path's class table; 5000: past it), with RLIMIT_AS lowered until they
 * fail: the handler runs once and the retry gets what it freed; with no
 * handler, std::bad_alloc. The limit is restored afterwards. */
static void test_exhausted()
{
	const std::size_t cap = std::size_t(1) << 20;
	void **held = static_cast<void **>(std::malloc(cap * sizeof(void *)));
	CHECK(held != nullptr, "no room for the list of blocks");
	if (!held)
		return;
	struct rlimit old;
	CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit: %s", std::strerror(errno));
	static const std::size_t exhausted_sizes[] = {1000, 5000};
	for (std::size_t n : exhausted_sizes) {
		struct rlimit lim = old;
		long kib = vm_size_kib();
		CHECK(kib > 0, "no VmSize in /proc/self/status");
		lim.rlim_cur = (rlim_t)kib * 1024 + 64 * MiB;
		CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit: %s", std::strerror(errno));
		std::size_t k = 0;
		while (k < cap && (held[k] = ::operator new(n, std::nothrow)) != nullptr)
			k++;
		CHECK(k > 1000 && k < cap, "new(%zu, nothrow) failed after %zu blocks", n, k);

		reserve = held;
		nreserve = k;
		handler_calls = 0;
		std::set_new_handler(handler_frees);
		void *p = nullptr;
		try {
			p = ::operator new(n);
		} catch (const std::bad_alloc &) {
		}
		CHECK(p != nullptr && handler_calls == 1,
		      "new(%zu) with the address space used up: %p after %d handler calls, want "
		      "a block after 1",
		      n, p, handler_calls);
		k = nreserve;
		if (p)
			held[k++] = p;

		while (k < cap && (held[k] = ::operator new(n, std::nothrow)) != nullptr)
			k++;
		bool caught = false;
		try {
			p = ::operator new(n);
			if (k < cap)
				held[k++] = p;
		} catch (const std::bad_alloc &) {
			caught = true;
		}
		CHECK(caught,
		      "new(%zu) with the address space used up and no handler did not "
		      "throw std::bad_alloc",
		      n);
		CHECK(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back: %s", std::strerror(errno));
		while (k > 0)
			::operator delete(held[--k]);
	}
	std::free(held);
}

int main()
{
	TEST_CASE("plain_forms") test_plain_forms();
	TEST_CASE("aligned_forms") test_aligned_forms();
	TEST_CASE("new_zero") test_new_zero();
	TEST_CASE("operators_are_cairns") test_operators_are_cairns();
	TEST_CASE("new_handler") test_new_handler();
	TEST_CASE("exhausted") test_exhausted();
	return CHECK_DONE();
}
