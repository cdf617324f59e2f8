/* SPDX-License-Identifier: MIT */
/* rlimit: cairn starts and works under a small address-space limit (RLIMIT_AS, what
 * `ulimit -v` sets). The limit counts every mapping, reserved or not, so an allocator that
 * reserves a large range up front cannot even serve its first malloc. The test re-executes
 * itself with RLIMIT_AS at 64 MiB (set before exec, as a shell's ulimit does) and checks
 * small, large and huge blocks, realloc, calloc and threads there; a request beyond the
 * limit gets NULL with ENOMEM, and the process goes on working afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "child.h"
#include "proc.h"

#define MiB (1ul << 20)

static int filled(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void *thread_work(void *arg)
{
	uintptr_t k = (uintptr_t)arg, bad = 0;
	void *keep[256];
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 256; i++) {
			size_t n = 16 + (size_t)((i * 37 + k * 11) % 2000);
			keep[i] = malloc(n);
			if (keep[i] == NULL)
				bad++;
			else
				memset(keep[i], (int)k, n);
		}
		for (int i = 0; i < 256; i++)
			free(keep[i]);
	}
	void *big = malloc(256 << 10);
	if (big == NULL)
		bad++;
	free(big);
	return (void *)bad;
}

static int child_main(void)
{
	struct rlimit as;
	getrlimit(RLIMIT_AS, &as);
	fprintf(stderr, "child: RLIMIT_AS %lu MiB, VmSize at start %ld KiB\n",
	        (unsigned long)as.rlim_cur / MiB, vm_size_kib());

	/* The first allocation: before the fix, the page map's 512 MiB reservation failed. */
	char *first = malloc(100);
	REQUIRE(first != NULL, "malloc(100) under a 64 MiB address-space limit: %s",
	        strerror(errno));
	memset(first, 1, 100);

	/* Small blocks of every size class range. */
	enum { NSMALL = 4000 };
	static void *small[NSMALL];
	int got = 0;
	for (int i = 0; i < NSMALL; i++) {
		size_t n = 1 + (size_t)(i * 131) % 4096;
		small[i] = malloc(n);
		if (small[i] != NULL) {
			memset(small[i], i & 0xff, n);
			got++;
		}
	}
	CHECK(got == NSMALL, "%d of %d small blocks", got, NSMALL);

	/* Large (page runs) and huge (own mappings) blocks. */
	size_t sizes[] = {40000, 300000, 1 * MiB, 3 * MiB, 8 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = malloc(sizes[i]);
		CHECK(p != NULL, "malloc(%zu): %s", sizes[i], strerror(errno));
		if (p != NULL) {
			memset(p, 0x5c, sizes[i]);
			CHECK(filled(p, sizes[i], 0x5c), "malloc(%zu) contents", sizes[i]);
			free(p);
		}
	}

	/* calloc of a huge block, zeroed. */
	unsigned char *z = calloc(4, MiB);
	CHECK(z != NULL && filled(z, 4 * MiB, 0), "calloc(4, 1 MiB)");
	free(z);

	/* realloc growing from small through large to huge, contents kept. */
	unsigned char *r = malloc(64);
	REQUIRE(r != NULL, "malloc(64)");
	memset(r, 0x33, 64);
	size_t have = 64;
	int kept = 1;
	for (size_t n = 200; n <= 12 * MiB && r != NULL; n = n * 3) {
		unsigned char *q = realloc(r, n);
		CHECK(q != NULL, "realloc to %zu: %s", n, strerror(errno));
		if (q == NULL)
			break;
		kept &= filled(q, have, 0x33);
		memset(q + have, 0x33, n - have);
		have = n;
		r = q;
	}
	CHECK(kept, "realloc kept the contents");
	free(r);

	/* Threads, with small stacks (glibc's default 8 MiB stacks count against the limit
	 * too: that is the program's business). */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_t t[4];
	int started = 0;
	for (uintptr_t i = 0; i < 4; i++)
		started += pthread_create(&t[i], &attr, thread_work, (void *)(i + 1)) == 0;
	CHECK(started == 4, "%d of 4 threads started", started);
	uintptr_t bad = 0;
	for (int i = 0; i < started; i++) {
		void *res;
		pthread_join(t[i], &res);
		bad += (uintptr_t)res;
	}
	CHECK(bad == 0, "%lu allocations failed in threads", (unsigned long)bad);
	pthread_attr_destroy(&attr);

	/* Beyond the limit: NULL and ENOMEM, for a huge request and for an aligned one. */
	errno = 0;
	void *over = malloc(128 * MiB);
	CHECK(over == NULL && errno == ENOMEM, "malloc(128 MiB) under 64 MiB: %p, errno %d", over,
	      errno);
	errno = 0;
	over = aligned_alloc(4 * MiB, 100 * MiB);
	CHECK(over == NULL && errno == ENOMEM, "aligned_alloc(4 MiB, 100 MiB): %p, errno %d", over,
	      errno);
	void *pm = NULL;
	CHECK(posix_memalign(&pm, 64, 200 * MiB) == ENOMEM, "posix_memalign(64, 200 MiB)");

	/* Fill the address space with 1 MiB blocks until one fails: a clean NULL. */
	enum { NFILL = 128 };
	static void *fill[NFILL];
	int nfill = 0;
	errno = 0;
	while (nfill < NFILL && (fill[nfill] = malloc(MiB)) != NULL)
		memset(fill[nfill++], 7, MiB);
	CHECK(nfill < NFILL && errno == ENOMEM, "filling: %d MiB, then errno %d", nfill, errno);
	fprintf(stderr, "child: %d blocks of 1 MiB fit\n", nfill);
	CHECK(nfill >= 16, "only %d MiB could be allocated under a 64 MiB limit", nfill);
	/* free keeps errno. */
	errno = 12345;
	for (int i = 0; i < nfill; i++)
		free(fill[i]);
	CHECK(errno == 12345, "free changed errno to %d", errno);

	/* And it all works again: the freed space is reused. */
	void *again = malloc(16 * MiB);
	CHECK(again != NULL, "malloc(16 MiB) after freeing: %s", strerror(errno));
	if (again != NULL)
		memset(again, 9, 16 * MiB);
	free(again);
	got = 0;
	for (int i = 0; i < NSMALL; i++) {
		free(small[i]);
		small[i] = malloc(48);
		got += small[i] != NULL;
	}
	CHECK(got == NSMALL, "%d of %d small blocks after the failures", got, NSMALL);
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	free(first);
	fprintf(stderr, "child: VmSize at the end %ld KiB\n", vm_size_kib());
	return CHECK_DONE();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return child_main();
	static char out[65536];
	static const struct {
		const char *name, *conf;
	} confs[] = {
	    {"default", NULL},
	    {"no_background_thread", "background_thread:false"},
	    {"retain", "retain:true,narenas:4"},
	};
	for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++)
		TEST_CASE(confs[i].name)
		{
			struct child_opts opts = {
			    .name = "rlimit",
			    .args = {"--child"},
			    .conf = confs[i].conf,
			    .as_limit = 64 * MiB,
			};
			int st = child_run(&opts, out, sizeof out, NULL);
			fprintf(stderr, "--- RLIMIT_AS 64 MiB, MALLOC_CONF=%s\n",
			        confs[i].conf ? confs[i].conf : "");
			const char *tally = child_fold_checks(out);
			CHECK_CHILD(st, tally, "child under RLIMIT_AS 64 MiB, MALLOC_CONF=%s",
			            confs[i].conf ? confs[i].conf : "");
		}
	return CHECK_DONE();
}
