/* Death tests: free(), and malloc_usable_size(), of pointers cairn never
 * handed out (a stack variable, a static variable, a string literal, a
 * function, pages of a private mmap, a page that was unmapped again, wild
 * values) stop the program with SIGABRT and the line
 *   cairn: free(): invalid pointer 0x... (not allocated by cairn)
 * and malloc_usable_size() of a freed block with "(already freed)".
 * Each misuse runs in a forked child. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"

/* ---------------------------------------------------------------- helper
 * expect_death() runs fn(arg) in a forked child whose stderr goes to a pipe,
 * then checks that the child died of SIGABRT after printing exactly one line,
 * the one cairn prints for this kind of misuse:
 *   cairn: FN(): invalid pointer PTR (not allocated by cairn)
 *   cairn: FN(): invalid pointer PTR (inside a block, not its start)
 *   cairn: FN(): double free of PTR
 *   cairn: FN(): invalid pointer PTR (already freed)
 * with PTR as printf's %p writes it. */
enum misuse { NOT_OURS, INTERIOR, DOUBLE_FREE, ALREADY_FREED };

static const char *const phrase[] = {
    "(not allocated by cairn)",        /* NOT_OURS */
    "(inside a block, not its start)", /* INTERIOR */
    "double free of",                  /* DOUBLE_FREE */
    "(already freed)",                 /* ALREADY_FREED */
};

/* Hides where a pointer came from, so that gcc does not warn about freeing
 * a non-heap object: that is the point of these tests. */
static __attribute__((unused)) void *launder(const void *p)
{
	void *q = (void *)p;
	__asm__ volatile("" : "+r"(q));
	return q;
}

static void run_child(void (*fn)(void *), void *arg, int *status, char *out, size_t cap)
{
	int fd[2];
	size_t len = 0;

	REQUIRE(pipe(fd) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		close(fd[0]);
		dup2(fd[1], 2);
		close(fd[1]);
		setrlimit(RLIMIT_CORE, &no_core);
		prctl(PR_SET_DUMPABLE, 0);
		alarm(10); /* a child that hangs dies of SIGALRM */
		fn(arg);
		_exit(0); /* survived the misuse */
	}
	close(fd[1]);
	for (;;) {
		char buf[1024];
		ssize_t r = read(fd[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t take = (size_t)r < cap - 1 - len ? (size_t)r : cap - 1 - len;
		memcpy(out + len, buf, take);
		len += take;
	}
	out[len] = '\0';
	close(fd[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

static void expect_death(const char *what, void (*fn)(void *), void *arg, const char *func,
                         enum misuse kind, const void *ptr)
{
	char out[4096], ptrs[32], fn_part[64], want[256];
	int status;

	snprintf(ptrs, sizeof ptrs, "%p", ptr);
	snprintf(fn_part, sizeof fn_part, "cairn: %s(): ", func);
	if (kind == DOUBLE_FREE)
		snprintf(want, sizeof want, "%s%s %s\n", fn_part, phrase[kind], ptrs);
	else
		snprintf(want, sizeof want, "%sinvalid pointer %s %s\n", fn_part, ptrs,
		         phrase[kind]);

	run_child(fn, arg, &status, out, sizeof out);

	if (WIFSIGNALED(status))
		CHECK(WTERMSIG(status) == SIGABRT,
		      "%s: child killed by signal %d (%s), want SIGABRT", what, WTERMSIG(status),
		      strsignal(WTERMSIG(status)));
	else
		CHECK(0, "%s: child exited with %d, want death by SIGABRT", what,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	char *nl = strchr(out, '\n');
	CHECK(nl != NULL && nl[1] == '\0', "%s: want exactly one line on stderr, got:\n%s", what,
	      out);
	CHECK(strncmp(out, "cairn: ", 7) == 0, "%s: line does not begin with \"cairn: \": %s", what,
	      out);
	CHECK(strstr(out, fn_part) != NULL, "%s: line does not name %s(): %s", what, func, out);
	CHECK(strstr(out, ptrs) != NULL, "%s: line does not show the pointer %s: %s", what, ptrs,
	      out);
	CHECK(strstr(out, phrase[kind]) != NULL, "%s: line lacks \"%s\": %s", what, phrase[kind],
	      out);
	CHECK(strcmp(out, want) == 0, "%s: want the line\n  %s got\n  %s", what, want, out);
}
/* ------------------------------------------------------------ end helper */

static void call_free(void *p)
{
	free(p);
}

static void call_usable_size(void *p)
{
	volatile size_t n = malloc_usable_size(p);
	(void)n;
}

static char static_buf[256];
static long static_long = 42;

int main(void)
{
	char stack_buf[128];
	long stack_long = 1;
	const long page = sysconf(_SC_PAGESIZE);

	memset(stack_buf, 0, sizeof stack_buf);
	expect_death("free(stack array)", call_free, launder(stack_buf), "free", NOT_OURS,
	             stack_buf);
	expect_death("free(&stack variable)", call_free, launder(&stack_long), "free", NOT_OURS,
	             &stack_long);
	expect_death("free(stack array + 16)", call_free, launder(stack_buf + 16), "free", NOT_OURS,
	             stack_buf + 16);
	expect_death("free(static array)", call_free, launder(static_buf), "free", NOT_OURS,
	             static_buf);
	expect_death("free(&static variable)", call_free, launder(&static_long), "free", NOT_OURS,
	             &static_long);
	const char *literal = "a string literal";
	expect_death("free(string literal)", call_free, launder(literal), "free", NOT_OURS,
	             literal);
	expect_death("free(function)", call_free, launder((void *)(uintptr_t)call_free), "free",
	             NOT_OURS, (void *)(uintptr_t)call_free);

	/* A page of a private mapping, and a point inside it. */
	char *map =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(map != MAP_FAILED, "mmap: %s", strerror(errno));
	expect_death("free(mmap page)", call_free, map, "free", NOT_OURS, map);
	expect_death("free(mmap page + 64)", call_free, map + 64, "free", NOT_OURS, map + 64);

	/* A mapped page on a 2 MiB boundary: where cairn's own chunks and huge
	 * blocks start, so a header lookup there must not be trusted. */
	const size_t two_mib = (size_t)2 << 20;
	char *big =
	    mmap(NULL, 2 * two_mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(big != MAP_FAILED, "mmap: %s", strerror(errno));
	char *boundary = (char *)(((uintptr_t)big + two_mib - 1) & ~(uintptr_t)(two_mib - 1));
	expect_death("free(2 MiB-aligned mmap page)", call_free, boundary, "free", NOT_OURS,
	             boundary);

	/* An address with nothing mapped there any more. */
	char *gone =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(gone != MAP_FAILED, "mmap: %s", strerror(errno));
	REQUIRE(munmap(gone, (size_t)page) == 0, "munmap: %s", strerror(errno));
	expect_death("free(unmapped page)", call_free, gone, "free", NOT_OURS, gone);

	/* Wild values: near NULL, and above the user address space. */
	void *low = (void *)(uintptr_t)0x10;
	void *high = (void *)(uintptr_t)0x800000000000ull;
	expect_death("free(0x10)", call_free, low, "free", NOT_OURS, low);
	expect_death("free(0x800000000000)", call_free, high, "free", NOT_OURS, high);

	/* malloc_usable_size checks its pointer the same way. */
	expect_death("malloc_usable_size(stack array)", call_usable_size, launder(stack_buf),
	             "malloc_usable_size", NOT_OURS, stack_buf);
	expect_death("malloc_usable_size(static array)", call_usable_size, launder(static_buf),
	             "malloc_usable_size", NOT_OURS, static_buf);
	expect_death("malloc_usable_size(mmap page)", call_usable_size, map, "malloc_usable_size",
	             NOT_OURS, map);

	/* Freed blocks: malloc_usable_size says so. */
	void *freed = malloc(64);
	REQUIRE(freed != NULL, "malloc(64) returned NULL");
	free(freed);
	expect_death("malloc_usable_size(freed small block)", call_usable_size, freed,
	             "malloc_usable_size", ALREADY_FREED, freed);

	/* The parent, which never misused anything, is fine. */
	void *p = malloc(100);
	CHECK(p != NULL && malloc_usable_size(p) >= 100, "parent malloc after the children");
	free(p);
	munmap(map, (size_t)page);
	munmap(big, 2 * two_mib);
	return CHECK_DONE();
}
