/* SPDX-License-Identifier: MIT */
/* Death tests for C++: operator delete, in each of its forms, of a stack
 * pointer stops the program like free() does:
 *   cairn: free(): invalid pointer 0x... (not allocated by cairn)
 * and so do deleting an interior pointer and deleting twice. Each misuse
 * runs in a forked child. */
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <new>
#include <unistd.h>
#include "check.h"

#include "death.h"

static void op_delete(void *p)
{
	::operator delete(p);
}

static void op_delete_sized(void *p)
{
	::operator delete(p, 64);
}

static void op_delete_nothrow(void *p)
{
	::operator delete(p, std::nothrow);
}

static void op_delete_aligned(void *p)
{
	::operator delete(p, std::align_val_t(64));
}

static void op_delete_sized_aligned(void *p)
{
	::operator delete(p, 64, std::align_val_t(64));
}

static void op_delete_array(void *p)
{
	::operator delete[](p);
}

static void op_delete_array_sized(void *p)
{
	::operator delete[](p, 64);
}

static void op_delete_array_nothrow(void *p)
{
	::operator delete[](p, std::nothrow);
}

static void op_delete_array_aligned(void *p)
{
	::operator delete[](p, std::align_val_t(64));
}

/* Through a volatile, so that gcc does not warn about the second delete. */
static void op_delete_twice(void *p)
{
	void *volatile v = p;
	::operator delete(v);
	::operator delete(v);
}

static void op_delete_array_twice(void *p)
{
	void *volatile v = p;
	::operator delete[](v);
	::operator delete[](v);
}

struct form {
	const char *name;
	void (*fn)(void *);
};

int main()
{
	alignas(64) char stack_buf[128];
	memset(stack_buf, 0, sizeof stack_buf);
	void *sp = launder(stack_buf);

	const form forms[] = {
	    {"operator delete(stack)", op_delete},
	    {"operator delete(stack, 64)", op_delete_sized},
	    {"operator delete(stack, nothrow)", op_delete_nothrow},
	    {"operator delete(stack, align_val_t(64))", op_delete_aligned},
	    {"operator delete(stack, 64, align_val_t(64))", op_delete_sized_aligned},
	    {"operator delete[](stack)", op_delete_array},
	    {"operator delete[](stack, 64)", op_delete_array_sized},
	    {"operator delete[](stack, nothrow)", op_delete_array_nothrow},
	    {"operator delete[](stack, align_val_t(64))", op_delete_array_aligned},
	};
	TEST_CASE("stack")
	{
		for (const form &f : forms)
			expect_death(f.name, f.fn, sp, "free", NOT_OURS, stack_buf);
	}

	/* An interior pointer, and a block deleted twice. */
	char *p = static_cast<char *>(::operator new(64));
	char *q = static_cast<char *>(::operator new[](100000));
	REQUIRE(p && q, "operator new failed");
	TEST_CASE("interior")
	{
		expect_death("operator delete(new(64) + 16)", op_delete, p + 16, "free", INTERIOR,
		             p + 16);
		expect_death("operator delete[](new[](100000) + 4096)", op_delete_array, q + 4096,
		             "free", INTERIOR, q + 4096);
	}
	TEST_CASE("twice")
	{
		expect_death("operator delete twice", op_delete_twice, p, "free", DOUBLE_FREE, p);
		expect_death("operator delete[] twice", op_delete_array_twice, q, "free",
		             DOUBLE_FREE, q);
	}

	/* In the parent the blocks are still fine. */
	memset(p, 1, 64);
	memset(q, 2, 100000);
	::operator delete(p);
	::operator delete[](q);
	int *ok = new int(5);
	CHECK(ok != nullptr && *ok == 5, "new int in the parent after the children");
	delete ok;
	return CHECK_DONE();
}
