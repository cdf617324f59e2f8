/* SPDX-License-Identifier: MIT */
/* A program linked with lib/libcairn.a (tests/link/static.sh builds it, as a
 * dynamic and as a fully static executable) that defines global functions
 * and a variable with the names of cairn's internals. It must link (no
 * multiple definitions), its own definitions must be the ones called (each
 * counts its calls; cairn calls its own while it works, which must not show
 * in the counts), and malloc must be cairn's: cairn_version() answers, the
 * smallest block is 16 bytes (glibc's is 24), and glibc's own allocations
 * (strdup, a stdio buffer) can be freed by cairn, which would abort on a
 * pointer it did not hand out. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cairn.h"
#include "check.h"

static int calls;

int heap_init(void)
{
	calls++;
	return 101;
}

int os_init(void)
{
	calls++;
	return 102;
}

int purge_all(void)
{
	calls++;
	return 103;
}

int meta_lock(void)
{
	calls++;
	return 104;
}

int conf_init(void)
{
	calls++;
	return 105;
}

int huge_alloc(void)
{
	calls++;
	return 106;
}

int fmt_u64(void)
{
	calls++;
	return 107;
}

/* cairn's options live in a variable of this name inside the archive. */
long cairn_conf[4] = {1, 2, 3, 4};

/* Allocation of every kind, so that cairn's own init, heap, huge and purge
 * code runs: small, large, huge blocks, realloc, frees from another thread. */
static void *work(void *arg)
{
	(void)arg;
	void *p[256];
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 256; i++) {
			size_t n = (size_t)(i * 37 + round) % 40000 + 1;
			p[i] = malloc(n);
			if (p[i])
				memset(p[i], i, n);
		}
		for (int i = 0; i < 256; i++)
			free(p[i]);
	}
	char *h = malloc(8u << 20);
	if (h) {
		h[0] = 1;
		h = realloc(h, 16u << 20);
	}
	return h;
}

int main(void)
{
	CHECK(heap_init() == 101, "heap_init is not the program's");
	CHECK(os_init() == 102, "os_init is not the program's");
	CHECK(purge_all() == 103, "purge_all is not the program's");
	CHECK(meta_lock() == 104, "meta_lock is not the program's");
	CHECK(conf_init() == 105, "conf_init is not the program's");
	CHECK(huge_alloc() == 106, "huge_alloc is not the program's");
	CHECK(fmt_u64() == 107, "fmt_u64 is not the program's");
	CHECK(calls == 7, "%d calls counted, want 7", calls);

	const char *v = cairn_version();
	CHECK(v && *v, "cairn_version() returned nothing");
	void *p = malloc(1);
	CHECK(p && malloc_usable_size(p) == 16, "malloc(1) has %zu usable bytes, cairn gives 16",
	      p ? malloc_usable_size(p) : 0);
	free(p);

	pthread_t t;
	void *huge = NULL;
	CHECK(pthread_create(&t, NULL, work, NULL) == 0, "pthread_create failed");
	void *mine = work(NULL);
	CHECK(pthread_join(t, &huge) == 0, "pthread_join failed");
	CHECK(mine && huge, "a huge realloc failed");
	free(mine);
	free(huge);
	malloc_trim(0);
	cairn_purge(-1);

	char *s = strdup("glibc allocates this");
	CHECK(s && malloc_usable_size(s) >= 22, "strdup's block is not cairn's");
	free(s);
	FILE *f = tmpfile();
	CHECK(f != NULL, "tmpfile failed");
	if (f) {
		fputs("a stdio buffer from malloc\n", f);
		fclose(f);
	}

	CHECK(calls == 7, "cairn called the program's functions: %d calls, want 7", calls);
	CHECK(cairn_conf[0] == 1 && cairn_conf[3] == 4,
	      "cairn wrote into the program's cairn_conf");
	printf("cairn %s\n", v ? v : "?");
	return CHECK_DONE();
}
