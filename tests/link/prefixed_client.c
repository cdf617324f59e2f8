/* SPDX-License-Identifier: MIT */
/* A program that uses cairn beside the system allocator: linked with
 * -lcairn-prefixed (tests/link/prefixed.sh), it allocates with cairn_malloc
 * and its family while malloc and free stay glibc's. Compiled with
 * CAIRN_PREFIXED, so that jemalloc's names (mallctl, mallocx ...) from
 * <cairn/jemalloc.h> are cairn's prefixed ones.
 *
 * "idle" as its argument: it never calls cairn and prints nothing, so the
 * script can see that the library did not initialise itself. "foreign":
 * it hands a block of malloc's to cairn_free, which must stop it. */
#define _GNU_SOURCE
#include <cairn.h>
#include <cairn/jemalloc.h>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"

#define NTHREADS   8
#define PER_THREAD 20000

static void *handoff[NTHREADS][64];

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	void *kept[256] = {0};
	for (unsigned i = 0; i < PER_THREAD; i++) {
		unsigned slot = (i * 7 + id) % 256;
		cairn_free(kept[slot]);
		size_t n = 1 + (i * 131 + id) % 5000;
		kept[slot] = cairn_malloc(n);
		if (kept[slot] == NULL)
			return (void *)1;
		memset(kept[slot], (int)id, n < 64 ? n : 64);
	}
	for (unsigned i = 0; i < 256; i++)
		cairn_free(kept[i]);
	/* Left for the main thread to free after this one has exited. */
	for (unsigned i = 0; i < 64; i++) {
		handoff[id][i] = cairn_malloc(48 + i * 100);
		if (handoff[id][i] == NULL)
			return (void *)1;
		memset(handoff[id][i], (int)id + 1, 48);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "idle") == 0)
		return 0;
	/* glibc's block handed to cairn: cairn reports it and stops. */
	if (argc > 1 && strcmp(argv[1], "foreign") == 0) {
		void *g = malloc(100);
		cairn_free(g);
		return 0;
	}

	TEST_CASE("malloc is glibc's")
	{
		Dl_info sys, mine;
		void *sys_malloc = dlsym(RTLD_DEFAULT, "malloc");
		CHECK(dladdr(sys_malloc, &sys) && sys.dli_fname != NULL &&
		          strstr(sys.dli_fname, "libc.so") != NULL,
		      "malloc resolves to %s, not libc", sys.dli_fname ? sys.dli_fname : "(none)");
		CHECK(dladdr((void *)cairn_malloc, &mine) && mine.dli_fname != NULL &&
		          strstr(mine.dli_fname, "libc.so") == NULL,
		      "cairn_malloc lies in %s", mine.dli_fname ? mine.dli_fname : "(none)");
		fprintf(stderr, "malloc: %s; cairn_malloc: %s\n", sys.dli_fname, mine.dli_fname);
		CHECK(dlsym(RTLD_DEFAULT, "_Znwm") == NULL ||
		          (dladdr(dlsym(RTLD_DEFAULT, "_Znwm"), &sys) &&
		           strstr(sys.dli_fname, "libstdc++") != NULL),
		      "operator new is defined outside libstdc++");
	}

	TEST_CASE("blocks are cairn's")
	{
		void *p = cairn_malloc(100);
		CHECK(p != NULL && cairn_usable_size(p) == 112,
		      "cairn_usable_size(cairn_malloc(100)) = %zu, want cairn's class 112",
		      p ? cairn_usable_size(p) : 0);
		cairn_free(p);
		/* glibc's heap does not move while cairn allocates, and does when
		 * malloc does. cairn is initialised already (above). */
		struct mallinfo2 before = mallinfo2();
		enum { N = 2000 };
		static void *blocks[N];
		for (int i = 0; i < N; i++) {
			blocks[i] = cairn_malloc(1000);
			memset(blocks[i], 0x3c, 1000);
		}
		struct mallinfo2 after_cairn = mallinfo2();
		CHECK(after_cairn.uordblks < before.uordblks + 100000,
		      "glibc's arena grew by %zu bytes on 2 MB of cairn_malloc",
		      after_cairn.uordblks - before.uordblks);
		for (int i = 0; i < N; i++)
			cairn_free(blocks[i]);
		for (int i = 0; i < N; i++)
			blocks[i] = malloc(1000);
		struct mallinfo2 after_glibc = mallinfo2();
		CHECK(after_glibc.uordblks >= after_cairn.uordblks + (size_t)N * 1000,
		      "glibc's arena grew by only %zu bytes on 2 MB of malloc",
		      after_glibc.uordblks - after_cairn.uordblks);
		for (int i = 0; i < N; i++)
			free(blocks[i]);
	}

	TEST_CASE("the family")
	{
		unsigned char *z = cairn_calloc(500, 7);
		int zero = z != NULL;
		for (size_t i = 0; zero && i < 3500; i++)
			zero = z[i] == 0;
		CHECK(zero, "cairn_calloc zeroes");
		memset(z, 0x77, 3500);
		z = cairn_realloc(z, 1u << 20);
		CHECK(z != NULL && z[0] == 0x77 && z[3499] == 0x77,
		      "cairn_realloc keeps the bytes");
		CHECK(cairn_usable_size(z) >= 1u << 20, "grown: %zu", cairn_usable_size(z));
		cairn_free_sized(z, 1u << 20);
		void *a = cairn_aligned_alloc(4096, 100);
		CHECK(a != NULL && ((uintptr_t)a & 4095) == 0, "cairn_aligned_alloc: %p", a);
		a = cairn_realloc_aligned(a, 50000, 4096);
		CHECK(a != NULL && ((uintptr_t)a & 4095) == 0, "cairn_realloc_aligned: %p", a);
		cairn_free(a);
		CHECK(cairn_realloc(cairn_malloc(10), 0) == NULL, "cairn_realloc(p, 0) frees");
	}

	TEST_CASE("jemalloc's names, prefixed")
	{
		const char *version = NULL;
		size_t len = sizeof version;
		int rc = mallctl("version", &version, &len, NULL, 0); /* cairn_mallctl */
		CHECK(rc == 0 && version != NULL && strcmp(version, CAIRN_VERSION) == 0,
		      "cairn_mallctl(\"version\") = %d, %s", rc, version ? version : "(null)");
		void *p = mallocx(3000, MALLOCX_ALIGN(256) | MALLOCX_ZERO);
		CHECK(p != NULL && ((uintptr_t)p & 255) == 0 && sallocx(p, 0) >= 3000,
		      "cairn_mallocx: %p", p);
		CHECK(sallocx(p, 0) == nallocx(3000, MALLOCX_ALIGN(256)),
		      "sallocx %zu, nallocx %zu", sallocx(p, 0), nallocx(3000, MALLOCX_ALIGN(256)));
		dallocx(p, 0);
		uint64_t epoch = 1;
		size_t allocated = 0, sz = sizeof allocated;
		void *held = cairn_malloc(1 << 20);
		mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
		rc = mallctl("stats.allocated", &allocated, &sz, NULL, 0);
		CHECK(rc == 0 && allocated >= (1 << 20),
		      "stats.allocated %zu with 1 MiB held (rc %d)", allocated, rc);
		cairn_free(held);
	}

	TEST_CASE("threads")
	{
		pthread_t t[NTHREADS];
		for (unsigned i = 0; i < NTHREADS; i++)
			CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0,
			      "pthread_create");
		for (unsigned i = 0; i < NTHREADS; i++) {
			void *r = (void *)1;
			pthread_join(t[i], &r);
			CHECK(r == NULL, "thread %u failed", i);
		}
		int intact = 1;
		for (unsigned i = 0; i < NTHREADS; i++)
			for (unsigned j = 0; j < 64; j++) {
				unsigned char *b = handoff[i][j];
				intact &= b != NULL && b[0] == i + 1 && b[47] == i + 1;
				cairn_free(b);
			}
		CHECK(intact, "blocks from exited threads kept their bytes");
	}

	TEST_CASE("fork")
	{
		unsigned char *kept = cairn_malloc(200);
		memset(kept, 0x42, 200);
		pid_t pid = fork();
		if (pid == 0) {
			int ok = kept[0] == 0x42 && kept[199] == 0x42;
			cairn_free(kept);
			for (int i = 0; i < 10000; i++) {
				void *p = cairn_malloc((size_t)i % 3000 + 1);
				ok &= p != NULL;
				cairn_free(p);
			}
			void *g = malloc(100); /* glibc's still works in the child */
			ok &= g != NULL;
			free(g);
			_exit(ok ? 0 : 1);
		}
		int status = -1;
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		          WEXITSTATUS(status) == 0,
		      "the child allocated with cairn (status %#x)", status);
		cairn_free(kept);
	}
	return CHECK_DONE();
}
