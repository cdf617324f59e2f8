/* SPDX-License-Identifier: MIT */
/* probe: checks that a preloaded allocator really is the one in use.
 *
 * Not a workload: bench/run.py runs it once per allocator before any
 * measurement. A library that exists but does not define malloc (a stub
 * build, a wrong file) would otherwise be "measured" as glibc without
 * anyone noticing, and one that crashes would spoil every table.
 *
 * It prints the file that the process's malloc and free resolve to (dladdr
 * on the symbol as the dynamic linker binds it for this program), then does
 * a little malloc/calloc/realloc/free traffic on two threads, checking the
 * data, so that a library that is present but broken is reported up front
 * (the first failed check goes to stderr), not half-way through the tables.
 * Output: malloc_from=<path> free_from=<path> mallctl_from=<path or ?>
 * ok=<1|0>; exit status 2 when a check failed. mallctl_from tells the redis
 * workload whose statistics redis's INFO reports: those of the linked
 * jemalloc, or of a preloaded allocator that defines mallctl itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *origin(const char *sym)
{
	Dl_info info;
	void *addr = dlsym(RTLD_DEFAULT, sym);
	if (!addr || !dladdr(addr, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

static void *fail(const char *what, size_t size)
{
	fprintf(stderr, "probe: %s (size %zu)\n", what, size);
	return (void *)1;
}

static void *traffic(void *arg)
{
	static const size_t sizes[] = {1,    16,   24,   64,    100,    256,
	                               1000, 4096, 5000, 40000, 300000, 3000000};
	enum { N = sizeof sizes / sizeof sizes[0] };
	unsigned char *p[N];
	(void)arg;
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < N; i++) {
			p[i] = malloc(sizes[i]);
			if (!p[i])
				return fail("malloc returned NULL", sizes[i]);
			/* 16-byte alignment is owed to blocks of 16 bytes or
			 * more; smaller ones may be less aligned (tcmalloc
			 * gives 8), as C11 allows. */
			if (sizes[i] >= 16 && (uintptr_t)p[i] % 16)
				return fail("malloc result not 16-byte aligned", sizes[i]);
			memset(p[i], i + 1, sizes[i]);
		}
		for (int i = 0; i < N; i++) {
			if (p[i][0] != i + 1 || p[i][sizes[i] - 1] != i + 1)
				return fail("block contents changed", sizes[i]);
			p[i] = realloc(p[i], sizes[i] * 2);
			if (!p[i])
				return fail("realloc to twice the size returned NULL", sizes[i]);
			if (p[i][0] != i + 1 || p[i][sizes[i] - 1] != i + 1)
				return fail("realloc lost the contents", sizes[i]);
			free(p[i]);
		}
		unsigned char *z = calloc(1000, 8);
		if (!z)
			return fail("calloc returned NULL", 8000);
		for (int i = 0; i < 8000; i++)
			if (z[i] != 0)
				return fail("calloc memory not zeroed", 8000);
		memset(z, 0xff, 8000);
		free(z);
	}
	return NULL;
}

int main(void)
{
	pthread_t th;
	void *r1, *r2;
	printf("malloc_from=%s free_from=%s mallctl_from=%s ", origin("malloc"), origin("free"),
	       origin("mallctl"));
	fflush(stdout);
	if (pthread_create(&th, NULL, traffic, NULL) != 0)
		return 1;
	r1 = traffic(NULL);
	pthread_join(th, &r2);
	printf("ok=%d\n", r1 == NULL && r2 == NULL);
	return r1 == NULL && r2 == NULL ? 0 : 2;
}
