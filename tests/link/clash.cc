/* SPDX-License-Identifier: MIT */
/* The C++ side of tests/link/clash.c: a C++ program linked with
 * lib/libcairn.a (dynamic and fully static) that defines functions with the
 * names of cairn's internals. It links, its own functions are the ones
 * called, and new/delete work through cairn: blocks of cairn's class sizes,
 * the containers of the standard library, std::bad_alloc for a request that
 * cannot be met, the nothrow and aligned forms. tests/link/static.sh checks
 * with the linker's trace that _Znwm and malloc come from the archive. */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>
#include "cairn.h"
#include "check.h"

static int calls;

extern "C" int heap_init(void)
{
	calls++;
	return 201;
}

extern "C" int os_init(void)
{
	calls++;
	return 202;
}

extern "C" int purge_all(void)
{
	calls++;
	return 203;
}

extern "C" int meta_lock(void)
{
	calls++;
	return 204;
}

/* A C++ function of the same name as a C internal: a different symbol, but
 * it must not be disturbed either. */
int heap_flush(int x)
{
	calls++;
	return x + 1;
}

static void work()
{
	std::map<int, std::string> m;
	for (int i = 0; i < 20000; i++)
		m[i] = std::string(static_cast<std::size_t>(i % 300), 'x');
	std::vector<std::vector<int>> v;
	for (int i = 0; i < 200; i++)
		v.emplace_back(static_cast<std::size_t>(i * 50), i);
	std::vector<char> big(8u << 20, 'b');
	big.resize(24u << 20);
}

int main()
{
	CHECK(heap_init() == 201, "heap_init is not the program's");
	CHECK(os_init() == 202, "os_init is not the program's");
	CHECK(purge_all() == 203, "purge_all is not the program's");
	CHECK(meta_lock() == 204, "meta_lock is not the program's");
	CHECK(heap_flush(7) == 8, "heap_flush is not the program's");
	CHECK(calls == 5, "%d calls counted, want 5", calls);

	const char *v = cairn_version();
	CHECK(v && *v, "cairn_version() returned nothing");
	char *c = new char;
	CHECK(malloc_usable_size(c) == 16, "new char has %zu usable bytes, cairn gives 16",
	      malloc_usable_size(c));
	delete c;
	int *a = new int[100];
	CHECK(malloc_usable_size(a) >= 400, "new int[100] has %zu usable bytes",
	      malloc_usable_size(a));
	delete[] a;
	void *al = ::operator new(100, std::align_val_t(4096));
	CHECK((reinterpret_cast<std::uintptr_t>(al) & 4095) == 0, "aligned new gave %p", al);
	::operator delete(al, std::align_val_t(4096));
	void *none = ::operator new(std::size_t(1) << 62, std::nothrow);
	CHECK(none == nullptr, "nothrow new of 2^62 bytes returned %p", none);
	bool threw = false;
	try {
		void *p = ::operator new(std::size_t(1) << 62);
		::operator delete(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw, "new of 2^62 bytes did not throw std::bad_alloc");

	std::thread t(work);
	work();
	t.join();
	cairn_purge(-1);

	CHECK(calls == 5, "cairn called the program's functions: %d calls, want 5", calls);
	std::printf("cairn %s\n", v ? v : "?");
	return CHECK_DONE();
}
