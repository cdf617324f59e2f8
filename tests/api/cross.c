/* SPDX-License-Identifier: MIT */
/* The cross-deallocator matrix: a block from any allocation function
 * (malloc, calloc, realloc(NULL, n), reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc and the __libc_* and
 * __posix_memalign aliases) is accepted by any deallocator (free, cfree,
 * free_sized, free_aligned_sized, realloc(p, 0), __libc_free), for a small,
 * a large and a huge size. Every pair runs several times; for huge blocks
 * the address space must not grow (a deallocator that leaked would map
 * 3 MiB more each time). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <cairn.h>
#include "check.h"
#include "proc.h"

/* Not in glibc's headers. */
void cfree(void *ptr);
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **memptr, size_t alignment, size_t size);

#define MiB   ((size_t)1 << 20)
#define ALIGN 64

/* An allocation: the block, and the alignment it was asked for (what
 * free_aligned_sized is told). */
struct block {
	void *p;
	size_t align;
};

static struct block a_malloc(size_t n)
{
	return (struct block){malloc(n), 16};
}
static struct block a_calloc(size_t n)
{
	return (struct block){calloc(1, n), 16};
}
static struct block a_realloc(size_t n)
{
	return (struct block){realloc(NULL, n), 16};
}
static struct block a_reallocarray(size_t n)
{
	return (struct block){reallocarray(NULL, n, 1), 16};
}
static struct block a_aligned_alloc(size_t n)
{
	return (struct block){aligned_alloc(ALIGN, n), ALIGN};
}
static struct block a_memalign(size_t n)
{
	return (struct block){memalign(ALIGN, n), ALIGN};
}
static struct block a_valloc(size_t n)
{
	return (struct block){valloc(n), 4096};
}
static struct block a_pvalloc(size_t n)
{
	return (struct block){pvalloc(n), 4096};
}
static struct block a_libc_malloc(size_t n)
{
	return (struct block){__libc_malloc(n), 16};
}
static struct block a_libc_calloc(size_t n)
{
	return (struct block){__libc_calloc(n, 1), 16};
}
static struct block a_libc_realloc(size_t n)
{
	return (struct block){__libc_realloc(NULL, n), 16};
}
static struct block a_libc_memalign(size_t n)
{
	return (struct block){__libc_memalign(ALIGN, n), ALIGN};
}
static struct block a_libc_valloc(size_t n)
{
	return (struct block){__libc_valloc(n), 4096};
}
static struct block a_libc_pvalloc(size_t n)
{
	return (struct block){__libc_pvalloc(n), 4096};
}

static struct block a_posix_memalign(size_t n)
{
	void *p = NULL;
	return (struct block){posix_memalign(&p, ALIGN, n) == 0 ? p : NULL, ALIGN};
}

static struct block a___posix_memalign(size_t n)
{
	void *p = NULL;
	return (struct block){__posix_memalign(&p, ALIGN, n) == 0 ? p : NULL, ALIGN};
}

static const struct {
	const char *name;
	struct block (*fn)(size_t);
} allocs[] = {
    {"malloc", a_malloc},
    {"calloc", a_calloc},
    {"realloc(NULL, n)", a_realloc},
    {"reallocarray(NULL, n, 1)", a_reallocarray},
    {"posix_memalign", a_posix_memalign},
    {"aligned_alloc", a_aligned_alloc},
    {"memalign", a_memalign},
    {"valloc", a_valloc},
    {"pvalloc", a_pvalloc},
    {"__libc_malloc", a_libc_malloc},
    {"__libc_calloc", a_libc_calloc},
    {"__libc_realloc(NULL, n)", a_libc_realloc},
    {"__libc_memalign", a_libc_memalign},
    {"__libc_valloc", a_libc_valloc},
    {"__libc_pvalloc", a_libc_pvalloc},
    {"__posix_memalign", a___posix_memalign},
};

/* Returns nonzero when the deallocator reported a problem itself. */
static int d_free(struct block b, size_t n)
{
	free(b.p);
	return 0;
}
static int d_cfree(struct block b, size_t n)
{
	cfree(b.p);
	return 0;
}
static int d_free_sized(struct block b, size_t n)
{
	free_sized(b.p, n);
	return 0;
}
static int d_free_aligned_sized(struct block b, size_t n)
{
	free_aligned_sized(b.p, b.align, n);
	return 0;
}
static int d_realloc0(struct block b, size_t n)
{
	return realloc(b.p, 0) != NULL;
}
static int d_libc_free(struct block b, size_t n)
{
	__libc_free(b.p);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct block, size_t);
} deallocs[] = {
    {"free", d_free},
    {"cfree", d_cfree},
    {"free_sized", d_free_sized},
    {"free_aligned_sized", d_free_aligned_sized},
    {"realloc(p, 0)", d_realloc0},
    {"__libc_free", d_libc_free},
};

#define NALLOCS   (sizeof allocs / sizeof allocs[0])
#define NDEALLOCS (sizeof deallocs / sizeof deallocs[0])

int main(void)
{
	/* Multiples of ALIGN, so that aligned_alloc's C11 rule holds too. */
	const size_t sizes[] = {192, 100032, 3 * MiB + 192};
	const char *range[] = {"small", "large", "huge"};
	enum { ROUNDS = 12 };

	for (size_t s = 0; s < 3; s++)
		TEST_CASE(range[s])
		{
			size_t n = sizes[s];
			for (size_t a = 0; a < NALLOCS; a++) {
				for (size_t d = 0; d < NDEALLOCS; d++) {
					int nulls = 0, bad_align = 0, short_usable = 0,
					    complaints = 0;
					size_t vm_start = 0;
					for (int r = 0; r < ROUNDS; r++) {
						/* Measure from after the first round: caches are
						 * warm. */
						if (r == 1 && vm_size_kib() > 0)
							vm_start = (size_t)vm_size_kib() << 10;
						struct block b = allocs[a].fn(n);
						if (!b.p) {
							nulls++;
							continue;
						}
						if ((uintptr_t)b.p & (b.align - 1))
							bad_align++;
						if (malloc_usable_size(b.p) < n)
							short_usable++;
						memset(b.p, 0x6b, n);
						complaints += deallocs[d].fn(b, n);
					}
					CHECK(nulls == 0, "%s(%s %zu) returned NULL %d times",
					      allocs[a].name, range[s], n, nulls);
					CHECK(bad_align == 0, "%s(%s %zu) misaligned %d times",
					      allocs[a].name, range[s], n, bad_align);
					CHECK(short_usable == 0,
					      "%s(%s %zu): usable size short %d times",
					      allocs[a].name, range[s], n, short_usable);
					CHECK(complaints == 0,
					      "%s of a %s(%s %zu) block failed %d times",
					      deallocs[d].name, allocs[a].name, range[s], n,
					      complaints);
					if (s == 2) {
						/* 11 huge blocks of 3 MiB: leaking them all maps 33
						 * MiB or more; a deallocator that frees them maps
						 * nothing new.
						 */
						size_t vm_end = (size_t)vm_size_kib() << 10;
						size_t grown =
						    vm_end > vm_start ? vm_end - vm_start : 0;
						CHECK(vm_start > 0 && grown < 12 * MiB,
						      "%s of %s(%zu) blocks: address space grew by "
						      "%zu MiB",
						      deallocs[d].name, allocs[a].name, n,
						      grown / MiB);
					}
				}
			}
		}
	return CHECK_DONE();
}
