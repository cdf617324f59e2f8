/* SPDX-License-Identifier: MIT */
/* sites.c: the program the heap-profile tests read the profiles of
 * (programs/jeprof.sh, programs/cairn_prof.sh), built by them the Debian way
 * (-O2, no frame pointers) and run with cairn preloaded. Three allocation
 * sites in noinline functions, and two dumps through
 * mallctl("prof.dump", NULL, ...):
 *   phase 1: site_a keeps 24 MiB in 4 KiB blocks; site_c allocates and frees
 *            200 MiB in 64 KiB blocks (nothing live); dump 1
 *   phase 2: site_a keeps 24 MiB more; site_b keeps 16 MiB in 100 KiB blocks
 *            (112 KiB usable each); dump 2
 * It prints what each site holds at each dump, in usable bytes (what the
 * profiles count): the truth the tests check the readers against. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024 * 1024)
static void *live_a[12288], *live_b[200];
static size_t n_a, n_b;
static volatile char sink;

__attribute__((noinline)) void site_a(size_t bytes)
{
	for (size_t i = 0; i < bytes / 4096; i++) {
		char *p = malloc(4096);
		p[0] = 1;
		live_a[n_a++] = p;
	}
}

__attribute__((noinline)) void site_b(size_t bytes)
{
	for (size_t i = 0; i < bytes / (100 * 1024); i++) {
		char *p = malloc(100 * 1024);
		p[0] = 1;
		live_b[n_b++] = p;
	}
}

__attribute__((noinline)) void site_c(size_t bytes)
{
	for (size_t i = 0; i < bytes / 65536; i++) {
		char *p = malloc(65536);
		p[0] = 1;
		sink += p[0];
		free(p);
	}
}

/* Found as a program written for jemalloc finds it when it may run without. */
static int dump(void)
{
	int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
	    (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl == NULL) {
		fprintf(stderr, "sites: no mallctl in the process\n");
		return 1;
	}
	int r = mallctl("prof.dump", NULL, NULL, NULL, 0);
	if (r != 0) {
		fprintf(stderr, "sites: mallctl(\"prof.dump\") failed: %s\n", strerror(r));
		return 1;
	}
	return 0;
}

static double usable_mib(void **p, size_t n)
{
	size_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += malloc_usable_size(p[i]);
	return s / (double)MiB;
}

int main(void)
{
	site_a(24 * MiB);
	site_c(200 * MiB);
	if (dump() != 0)
		return 1;
	printf("dump 1: site_a %.3f MiB\n", usable_mib(live_a, n_a));
	site_a(24 * MiB);
	site_b(16 * MiB);
	if (dump() != 0)
		return 1;
	printf("dump 2: site_a %.3f site_b %.3f MiB, %zu and %zu blocks\n", usable_mib(live_a, n_a),
	       usable_mib(live_b, n_b), n_a, n_b);
	return 0;
}
