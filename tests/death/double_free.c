/* Death tests: freeing a block twice stops the program with SIGABRT and
 *   cairn: free(): double free of 0x...
 * for small (16, 64, 1000, 32768 bytes), large (100000) and huge (8 MiB)
 * blocks, aligned and calloc'd ones, a free with another block freed in
 * between, a block freed by realloc(p, 0) or free_sized first, and a
 * second free on another thread than the first (both ways round). Each
 * misuse runs in a forked child; the blocks are allocated before the fork. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
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

void free_sized(void *ptr, size_t size);

static void free_twice(void *p)
{
	free(p);
	free(p);
}

/* arg: two blocks a, b; frees a, b, then a again. */
static void free_aba(void *arg)
{
	void **ab = arg;
	free(ab[0]);
	free(ab[1]);
	free(ab[0]);
}

static void realloc0_then_free(void *p)
{
	void *volatile q = realloc(p, 0);
	(void)q;
	free(p);
}

static void free_sized_then_free(void *p)
{
	free_sized(p, 64);
	free(p);
}

static void *thread_free(void *p)
{
	free(p);
	return NULL;
}

/* First free on a new thread, second on the child's main thread. */
static void free_on_thread_then_main(void *p)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_free, p) != 0)
		_exit(3);
	pthread_join(t, NULL);
	free(p);
}

/* First free on the main thread, second on a new thread. */
static void free_on_main_then_thread(void *p)
{
	pthread_t t;
	free(p);
	if (pthread_create(&t, NULL, thread_free, p) != 0)
		_exit(3);
	pthread_join(t, NULL);
}

int main(void)
{
	const size_t sizes[] = {16, 64, 1000, 32768, 100000, 8 << 20};
	void *blocks[6];

	for (int i = 0; i < 6; i++) {
		char label[64];
		blocks[i] = malloc(sizes[i]);
		REQUIRE(blocks[i] != NULL, "malloc(%zu) returned NULL", sizes[i]);
		snprintf(label, sizeof label, "double free of malloc(%zu)", sizes[i]);
		expect_death(label, free_twice, blocks[i], "free", DOUBLE_FREE, blocks[i]);
	}

	void *c = calloc(10, 10), *m = memalign(4096, 200), *hm = memalign(2 << 20, 3 << 20);
	REQUIRE(c && m && hm, "allocation failed");
	expect_death("double free of calloc(10, 10)", free_twice, c, "free", DOUBLE_FREE, c);
	expect_death("double free of memalign(4096, 200)", free_twice, m, "free", DOUBLE_FREE, m);
	expect_death("double free of memalign(2 MiB, 3 MiB)", free_twice, hm, "free", DOUBLE_FREE,
	             hm);

	void *ab[2] = {malloc(64), malloc(64)};
	REQUIRE(ab[0] && ab[1], "malloc(64) returned NULL");
	expect_death("free(a); free(b); free(a)", free_aba, ab, "free", DOUBLE_FREE, ab[0]);

	expect_death("realloc(p, 0) then free(p)", realloc0_then_free, blocks[1], "free",
	             DOUBLE_FREE, blocks[1]);
	expect_death("free_sized(p, 64) then free(p)", free_sized_then_free, blocks[1], "free",
	             DOUBLE_FREE, blocks[1]);

	expect_death("free on a thread, then on main", free_on_thread_then_main, blocks[1], "free",
	             DOUBLE_FREE, blocks[1]);
	expect_death("free on main, then on a thread", free_on_main_then_thread, blocks[1], "free",
	             DOUBLE_FREE, blocks[1]);
	expect_death("large: free on a thread, then on main", free_on_thread_then_main, blocks[4],
	             "free", DOUBLE_FREE, blocks[4]);

	/* In the parent every block is still live and frees once, fine. */
	for (int i = 0; i < 6; i++)
		free(blocks[i]);
	free(c);
	free(m);
	free(hm);
	free(ab[0]);
	free(ab[1]);
	void *again = malloc(64);
	CHECK(again != NULL, "malloc(64) in the parent after the children");
	free(again);
	return CHECK_DONE();
}
