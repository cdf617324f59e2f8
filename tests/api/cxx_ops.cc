/* SPDX-License-Identifier: MIT */
/* C++ new/delete expressions over cairn: arrays of objects with
 * destructors (constructed and destroyed exactly once each, including a
 * constructor that throws half way), over-aligned types (alignas 64 and
 * 4096, single and array), sized delete of complete types and direct sized
 * deallocation, and the standard containers, whose memory must come from
 * cairn (it has cairn's class sizes), across threads too. */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include "check.h"

static bool aligned(const void *p, std::size_t a)
{
	return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

struct Tracked {
	static long constructed, destroyed;
	std::uint64_t magic;
	char pad[40];
	Tracked() : magic(0x7ac4edull)
	{
		std::memset(pad, 0x2b, sizeof pad);
		constructed++;
	}
	~Tracked()
	{
		if (magic != 0x7ac4edull)
			destroyed = -1000000; /* destroying something never built */
		magic = 0;
		destroyed++;
	}
};
long Tracked::constructed, Tracked::destroyed;

static void test_arrays_with_destructors()
{
	const std::size_t counts[] = {0, 1, 2, 7, 100, 1000, 20000, 100000};
	for (std::size_t n : counts) {
		Tracked::constructed = Tracked::destroyed = 0;
		Tracked *a = new Tracked[n];
		CHECK(a != nullptr, "new Tracked[%zu] returned NULL", n);
		CHECK(aligned(a, alignof(Tracked)), "new Tracked[%zu] = %p misaligned", n,
		      static_cast<void *>(a));
		CHECK(Tracked::constructed == static_cast<long>(n), "new Tracked[%zu] built %ld", n,
		      Tracked::constructed);
		long bad = 0;
		for (std::size_t i = 0; i < n; i++)
			bad += a[i].magic != 0x7ac4edull || a[i].pad[39] != 0x2b;
		CHECK(bad == 0, "new Tracked[%zu]: %ld elements damaged", n, bad);
		delete[] a;
		CHECK(Tracked::destroyed == static_cast<long>(n),
		      "delete[] of %zu Tracked destroyed %ld", n, Tracked::destroyed);
	}

	/* Many arrays live at once, freed in a different order. */
	Tracked::constructed = Tracked::destroyed = 0;
	std::vector<Tracked *> live;
	long total = 0;
	for (int i = 0; i < 300; i++) {
		std::size_t n = static_cast<std::size_t>((i * 37) % 200);
		live.push_back(new Tracked[n]);
		total += static_cast<long>(n);
	}
	for (std::size_t i = 0; i < live.size(); i += 2)
		delete[] live[i];
	for (std::size_t i = 1; i < live.size(); i += 2)
		delete[] live[i];
	CHECK(Tracked::constructed == total && Tracked::destroyed == total,
	      "300 arrays: built %ld, destroyed %ld, want %ld", Tracked::constructed,
	      Tracked::destroyed, total);
}

/* The fifth constructor throws: the four built are destroyed and the array
 * memory goes back through operator delete[]. */
struct ThrowsFifth {
	static int built, destroyed, countdown;
	ThrowsFifth()
	{
		if (--countdown == 0)
			throw 42;
		built++;
	}
	~ThrowsFifth()
	{
		destroyed++;
	}
};
int ThrowsFifth::built, ThrowsFifth::destroyed, ThrowsFifth::countdown;

static void test_throwing_constructor()
{
	int wrong = 0;
	for (int round = 0; round < 100; round++) {
		ThrowsFifth::built = ThrowsFifth::destroyed = 0;
		ThrowsFifth::countdown = 5;
		bool caught = false;
		try {
			ThrowsFifth *a = new ThrowsFifth[10];
			delete[] a;
		} catch (int v) {
			caught = v == 42;
		}
		if (!caught || ThrowsFifth::built != 4 || ThrowsFifth::destroyed != 4) {
			if (wrong++ == 0)
				std::fprintf(stderr,
				             "round %d: caught %d, built %d, destroyed %d\n", round,
				             caught, ThrowsFifth::built, ThrowsFifth::destroyed);
		}
	}
	CHECK(wrong == 0, "%d of 100 throwing-constructor rounds went wrong", wrong);
}

struct alignas(64) Line {
	char bytes[100];
	~Line()
	{
		bytes[0] = 0;
	}
};

struct alignas(4096) Page {
	char bytes[5000];
};

static void test_overaligned()
{
	int bad = 0;
	for (int i = 0; i < 200; i++) {
		Line *l = new Line;
		Line *la = new Line[static_cast<std::size_t>(i % 17)];
		Page *p = new Page;
		Page *pa = new Page[static_cast<std::size_t>(i % 5 + 1)];
		bad += !aligned(l, 64) + !aligned(la, 64) + !aligned(p, 4096) + !aligned(pa, 4096);
		std::memset(l->bytes, 1, sizeof l->bytes);
		std::memset(p->bytes, 2, sizeof p->bytes);
		std::memset(pa, 3, sizeof(Page) * static_cast<std::size_t>(i % 5 + 1));
		delete l;
		delete[] la;
		delete p;
		delete[] pa;
	}
	CHECK(bad == 0, "%d over-aligned objects misaligned", bad);
}

/* A class whose delete expression passes the size (C++14 sized
 * deallocation, on by default). */
struct Sized {
	char data[300];
	virtual ~Sized() = default;
};
struct SizedDerived : Sized {
	char more[40000];
};

static void test_sized_delete()
{
	for (int i = 0; i < 1000; i++) {
		Sized *s = i % 3 ? new Sized : new SizedDerived;
		std::memset(s->data, 4, sizeof s->data);
		delete s; /* virtual: the size of the dynamic type */
	}
	const std::size_t sizes[] = {1, 24, 300, 4000, 40000, 100000, (std::size_t)3 << 20};
	for (std::size_t n : sizes) {
		for (int i = 0; i < 20; i++) {
			void *p = ::operator new(n);
			void *q = ::operator new[](n);
			void *r = ::operator new(n, std::align_val_t(256));
			CHECK(p && q && r && aligned(r, 256), "operator new(%zu) forms", n);
			std::memset(p, 5, n);
			std::memset(q, 6, n);
			std::memset(r, 7, n);
			::operator delete(p, n);
			::operator delete[](q, n);
			::operator delete(r, n, std::align_val_t(256));
		}
	}
}

/* Standard containers use operator new; their blocks have cairn's sizes. */
static void test_containers()
{
	std::vector<char> v(100);
	CHECK(malloc_usable_size(v.data()) == 112,
	      "std::vector<char>(100) block: usable %zu, want cairn's 112",
	      malloc_usable_size(v.data()));
	std::vector<char> w(40000);
	CHECK(malloc_usable_size(w.data()) == 40960,
	      "std::vector<char>(40000) block: usable %zu, want cairn's 40960",
	      malloc_usable_size(w.data()));

	std::vector<std::string> strings;
	for (int i = 0; i < 20000; i++)
		strings.push_back(std::string(static_cast<std::size_t>(i % 300),
		                              static_cast<char>('a' + i % 26)));
	std::map<int, std::string> m;
	std::unordered_map<std::string, int> u;
	for (int i = 0; i < 20000; i++) {
		m[i] = strings[static_cast<std::size_t>(i)];
		u[std::to_string(i)] = i;
	}
	long bad = 0;
	for (int i = 0; i < 20000; i++) {
		const std::string &s = m[i];
		bad += s.size() != static_cast<std::size_t>(i % 300);
		bad += !s.empty() && s[s.size() - 1] != static_cast<char>('a' + i % 26);
		bad += u[std::to_string(i)] != i;
	}
	CHECK(bad == 0, "%ld container entries wrong", bad);
	strings.clear();
	strings.shrink_to_fit();

	auto sp = std::make_shared<std::vector<int>>(5000, 9);
	std::unique_ptr<int[]> up(new int[3000]());
	CHECK((*sp)[4999] == 9 && up[2999] == 0, "shared_ptr / unique_ptr contents");
}

/* Objects made on one thread, destroyed on another. */
static void test_threads()
{
	const int per = 20000;
	std::vector<std::unique_ptr<std::string>> made(per * 2);
	std::thread a([&] {
		for (int i = 0; i < per; i++)
			made[static_cast<std::size_t>(i)].reset(
			    new std::string(static_cast<std::size_t>(i % 200 + 16), 'x'));
	});
	std::thread b([&] {
		for (int i = per; i < 2 * per; i++)
			made[static_cast<std::size_t>(i)].reset(
			    new std::string(static_cast<std::size_t>(i % 200 + 16), 'y'));
	});
	a.join();
	b.join();
	long bad = 0;
	std::thread c([&] {
		for (int i = 0; i < 2 * per; i += 2) {
			bad += made[static_cast<std::size_t>(i)]->size() !=
			       static_cast<std::size_t>(i % 200 + 16);
			made[static_cast<std::size_t>(i)].reset();
		}
	});
	for (int i = 1; i < 2 * per; i += 2) {
		bad += made[static_cast<std::size_t>(i)]->back() != (i < per ? 'x' : 'y');
		made[static_cast<std::size_t>(i)].reset();
	}
	c.join();
	CHECK(bad == 0, "%ld strings wrong across threads", bad);
}

int main()
{
	TEST_CASE("arrays_with_destructors") test_arrays_with_destructors();
	TEST_CASE("throwing_constructor") test_throwing_constructor();
	TEST_CASE("overaligned") test_overaligned();
	TEST_CASE("sized_delete") test_sized_delete();
	TEST_CASE("containers") test_containers();
	TEST_CASE("threads") test_threads();
	return CHECK_DONE();
}
