/* SPDX-License-Identifier: MIT */
/* bootstrap.c: allocation before main, and around the dynamic loader's own allocations.
 *
 * An allocator loaded into a process is called long before main: by constructors of other
 * shared objects (which may run before cairn's own constructor), by threads those constructors
 * start, by libc. This test covers:
 *   - its own constructor (priority 101) that allocates, uses stdio and runs a thread that
 *     allocates, all before main;
 *   - tests/helpers/early.so, whose constructor allocates every way and starts threads that
 *     race it: the test runs itself again with LD_PRELOAD="libcairn early.so" and with the
 *     opposite order (so in one of them early.so's constructor runs before libcairn's), and
 *     the re-run checks the report early.so left and frees the block it left for main, then
 *     runs threads through early.so's pthread key (made before cairn's in that order);
 *   - the same helper dlopened from main, so its constructor runs inside dlopen;
 *   - dlsym and dlerror (glibc allocates their error strings) and a dlopen that fails, from
 *     main and from threads, and that malloc works afterwards;
 *   - that malloc really is cairn's (dladdr names the object that defines it).
 * Paths: the helper is found beside the test binary (build/tests/helpers/early.so), cairn at
 * $CAIRN_LIB or at lib/libcairn.so.0 three levels above the binary. */
#define _GNU_SOURCE
#include "check.h"
#include "child.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STAGE_ENV     "CAIRN_BOOTSTRAP_STAGE"
#define CHILD_TIMEOUT 20 /* seconds */

/* The same layout as in tests/helpers/early.c. */
struct early_report {
	size_t struct_size;
	int ran;
	int failures;
	int checks;
	char first_failure[160];
	unsigned char *left_for_main;
};
#define LEFT_SIZE 5000

/* ---------------------------------------------------------------- before main */

static struct {
	int ran, checks, failures;
	const char *first_failure;
	char *left; /* a block made before main, freed by main */
} ctor;

static void ctor_expect(int ok, const char *what)
{
	ctor.checks++;
	if (!ok && ctor.failures++ == 0)
		ctor.first_failure = what;
}

static void *ctor_thread(void *arg)
{
	void *blocks[100];
	for (int i = 0; i < 100; i++) {
		blocks[i] = malloc((size_t)(i * 97 % 3000) + 1);
		if (blocks[i] != NULL)
			memset(blocks[i], i, (size_t)(i * 97 % 3000) + 1);
	}
	for (int i = 0; i < 100; i++)
		free(blocks[i]);
	return (void *)1;
}

__attribute__((constructor(101))) static void before_main(void)
{
	char *p = malloc(100);
	ctor_expect(p != NULL, "malloc");
	char *q = p ? realloc(p, 100000) : NULL;
	ctor_expect(q != NULL, "realloc");
	free(q ? q : p);
	int *z = calloc(256, sizeof(int));
	ctor_expect(z != NULL && z[0] == 0 && z[255] == 0, "calloc");
	free(z);
	void *big = malloc(5 << 20);
	ctor_expect(big != NULL, "huge malloc");
	free(big);

	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0;
	ctor_expect(f != NULL && fscanf(f, "%ld", &pages) == 1 && pages > 0, "fopen and fscanf");
	if (f != NULL)
		fclose(f);

	pthread_t t;
	void *res = NULL;
	ctor_expect(pthread_create(&t, NULL, ctor_thread, NULL) == 0 &&
	                pthread_join(t, &res) == 0 && res == (void *)1,
	            "a thread that allocates");

	ctor.left = strdup("made by a constructor before main");
	ctor_expect(ctor.left != NULL, "strdup");
	ctor.ran++;
}

/* ---------------------------------------------------------------- the dynamic loader */

/* Calls that make glibc allocate and free behind the scenes; returns the number of failures.
 * No CHECK here: it also runs in threads. */
static int dl_calls(void)
{
	int bad = 0;
	dlerror(); /* clear */
	if (dlsym(RTLD_DEFAULT, "malloc") == NULL)
		bad++;
	if (dlsym(RTLD_DEFAULT, "cairn_no_such_symbol_xyz") != NULL)
		bad++;
	const char *e = dlerror();
	if (e == NULL || strstr(e, "cairn_no_such_symbol_xyz") == NULL)
		bad++;
	if (dlerror() != NULL) /* the message is consumed */
		bad++;

	void *h = dlopen("/nonexistent/cairn-bootstrap-missing.so", RTLD_NOW);
	e = dlerror();
	if (h != NULL || e == NULL || strstr(e, "cairn-bootstrap-missing") == NULL)
		bad++;

	/* And the allocator still works. */
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(i * 131 % 20000) + 1;
		unsigned char *p = malloc(n);
		if (p == NULL) {
			bad++;
			continue;
		}
		memset(p, 0xab, n);
		if (p[n - 1] != 0xab)
			bad++;
		free(p);
	}
	return bad;
}

static void *dl_thread(void *arg)
{
	return (void *)(intptr_t)dl_calls();
}

static void check_dl_calls(void)
{
	CHECK(dl_calls() == 0, "dlsym/dlerror/dlopen calls from main went wrong");
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		int rc = pthread_create(&t[i], NULL, dl_thread, NULL);
		REQUIRE(rc == 0, "pthread_create: error %d", rc);
	}
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		void *res = (void *)1;
		pthread_join(t[i], &res);
		bad += (int)(intptr_t)res;
	}
	CHECK(bad == 0, "%d dlsym/dlerror/dlopen calls from threads went wrong", bad);
}

/* ---------------------------------------------------------------- the helper's report */

static void check_report(const struct early_report *r, const char *how)
{
	REQUIRE(r != NULL, "%s: no report from early.so", how);
	REQUIRE(r->struct_size == sizeof *r, "%s: early.so's report has another layout", how);
	CHECK(r->ran == 1, "%s: early.so's constructor ran %d times", how, r->ran);
	CHECK(r->checks > 50, "%s: early.so made only %d checks", how, r->checks);
	CHECK(r->failures == 0, "%s: %d of early.so's checks failed, first: %s", how, r->failures,
	      r->first_failure);
	int ok = r->left_for_main != NULL;
	for (size_t i = 0; ok && i < LEFT_SIZE; i++)
		ok = r->left_for_main[i] == (unsigned char)(i * 13 + 7);
	CHECK(ok, "%s: the block early.so left for main is missing or corrupted", how);
	free(r->left_for_main);
}

/* ---------------------------------------------------------------- running itself again */

/* Runs this program again with the given LD_PRELOAD; returns its wait status, -1 on a hang. */
static int run_self(const char *exe, const char *preload, const char *stage)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("LD_PRELOAD", preload, 1);
		setenv(STAGE_ENV, stage, 1);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -2;
	return child_wait(pid, CHILD_TIMEOUT);
}

/* dirname, n times, in place */
static void up(char *path, int n)
{
	while (n-- > 0) {
		char *slash = strrchr(path, '/');
		if (slash != NULL)
			*slash = '\0';
	}
}

int main(void)
{
	const char *stage = getenv(STAGE_ENV);
	const char *how = stage ? stage : "plain run";

	CHECK(ctor.ran == 1, "%s: the constructor before main did not run", how);
	CHECK(ctor.checks == 7 && ctor.failures == 0, "%s: %d of %d checks before main failed: %s",
	      how, ctor.failures, ctor.checks, ctor.first_failure ? ctor.first_failure : "-");
	CHECK(ctor.left != NULL && strcmp(ctor.left, "made by a constructor before main") == 0,
	      "%s: the block made before main is wrong", how);
	free(ctor.left);

	Dl_info info;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(m != NULL && dladdr(m, &info) != 0 && strstr(info.dli_fname, "libcairn") != NULL,
	      "%s: malloc comes from %s, not from libcairn", how,
	      m != NULL && dladdr(m, &info) ? info.dli_fname : "?");

	check_dl_calls();

	if (stage != NULL) {
		/* A re-run: early.so is preloaded and its constructor ran before main. */
		const struct early_report *(*report)(void) =
		    (const struct early_report *(*)(void))dlsym(RTLD_DEFAULT, "early_report");
		REQUIRE(report != NULL, "%s: early.so is not loaded", how);
		check_report(report(), how);
		/* Threads whose key destructor may run before cairn's own. */
		int (*key_threads)(int, int *) =
		    (int (*)(int, int *))dlsym(RTLD_DEFAULT, "early_key_threads");
		int runs = 0, failures = key_threads ? key_threads(16, &runs) : -2;
		CHECK(failures == 0 && runs == 2 * 16,
		      "%s: early.so's key threads: %d failures, destructor ran %d times", how,
		      failures, runs);
		return CHECK_DONE();
	}

	char exe[PATH_MAX], helper[PATH_MAX + 64], lib[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	REQUIRE(n > 0, "readlink /proc/self/exe");
	exe[n] = '\0';
	snprintf(helper, sizeof helper, "%s", exe);
	up(helper, 2); /* build/tests/stress/bootstrap -> build/tests */
	strcat(helper, "/helpers/early.so");
	if (getenv("CAIRN_LIB") != NULL) {
		snprintf(lib, sizeof lib, "%s", getenv("CAIRN_LIB"));
	} else {
		snprintf(lib, sizeof lib, "%s", exe);
		up(lib, 4);
		strcat(lib, "/lib/libcairn.so.0");
	}
	REQUIRE(access(helper, R_OK) == 0, "the helper %s is missing (make test builds it)",
	        helper);
	REQUIRE(access(lib, R_OK) == 0, "the library %s is missing", lib);

	/* The helper's constructor inside dlopen, after main has started. */
	TEST_CASE("dlopen")
	{
		void *h = dlopen(helper, RTLD_NOW | RTLD_LOCAL);
		CHECK(h != NULL, "dlopen %s: %s", helper, dlerror());
		if (h != NULL) {
			const struct early_report *(*report)(void) =
			    (const struct early_report *(*)(void))dlsym(h, "early_report");
			CHECK(report != NULL, "dlsym early_report");
			if (report != NULL)
				check_report(report(), "dlopen");
			CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
		}
		CHECK(dl_calls() == 0, "dl calls after dlclose went wrong");
	}

	/* early.so preloaded after and before libcairn. */
	static const char *stages[2] = {"preload cairn,early", "preload early,cairn"};
	static const char *names[2] = {"preload_cairn_early", "preload_early_cairn"};
	for (int i = 0; i < 2; i++)
		TEST_CASE(names[i])
		{
			char preload[2 * PATH_MAX + 200];
			if (i == 0)
				snprintf(preload, sizeof preload, "%s %s", lib, helper);
			else
				snprintf(preload, sizeof preload, "%s %s", helper, lib);
			int st = run_self(exe, preload, stages[i]);
			CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "%s: the re-run %s (status %d)", stages[i],
			      st == -1 ? "hung" : "failed", st);
		}
	return CHECK_DONE();
}
