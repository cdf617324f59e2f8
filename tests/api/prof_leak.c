/* SPDX-License-Identifier: MIT */
/* prof_leak.c: the leak report at exit (prof_leak, prof_leak_error). The
 * test runs itself again as a child that leaks known blocks from
 * leak_here(), or none, under MALLOC_CONF, and reads the child's stderr
 * and exit status. Cases:
 *   report   prof_leak, every allocation sampled: the summary gives the
 *            leaked bytes (nallocx's usable sizes) and objects, the stack
 *            names leak_here and main in this program's file, and the
 *            addr2line command printed gives leak_here's malloc line;
 *            the status is the program's own (0);
 *   error    prof_leak_error alone: the same report, then status 1;
 *   clean    prof_leak_error and nothing leaked: status 0, no report
 *            (run on the UBSan library, which loads libstdc++, this also
 *            checks that libstdc++'s emergency pool is not reported);
 *   off      prof_leak:false, or prof:false with prof_leak: no report;
 *   scaled   lg_prof_sample:10, 4000 blocks of 64 bytes leaked: the
 *            estimate is scaled back from the few sampled (about 6%) to
 *            within a quarter of the bytes leaked;
 *   routes   every allocation sampled, blocks leaked from five functions
 *            that reach the sampler through different chains of cairn's
 *            frames (malloc of a small and of a medium size, calloc,
 *            mallocx past the thread cache, aligned_alloc), each function
 *            three times in turn: every stack starts at its own function.
 *            The walk keeps the way out of cairn's frames per starting
 *            point and takes it only where the return addresses are the
 *            ones it found (src/prof/unwind.c, own_path_take); taken
 *            where they are not, a route's stack would start elsewhere;
 *   callers  one call site reached by four routes of callers that share
 *            their first frames: four stacks, each with its own count;
 *   deep     one call site 40 frames deep, reached three times: one stack
 *            of all its frames. A walk keeps at most 16 of a stack's
 *            frames as the way for its call site, noting that the stack
 *            went on (src/prof/unwind.c, memo_walk); taken as if it had
 *            ended there, the later samples' stacks would be cut short. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cairn/jemalloc.h>

#include "check.h"
#include "child.h"

#define LEAK_SIZE    3000
#define LEAK_COUNT   5
#define SCALED_SIZE  64
#define SCALED_COUNT 4000

static void *kept[SCALED_COUNT];

/* The line of leak_here's call to malloc: addr2line must give it. */
static const int leak_line = __LINE__ + 4;
__attribute__((noinline, noclone)) void leak_here(int i, size_t size)
{
	/* Not a tail call: the store keeps leak_here on the stack. */
	kept[i] = malloc(size);
}

static int child_leak(int count, size_t size)
{
	for (int i = 0; i < count; i++)
		leak_here(i, size);
	return 0;
}

/* The routes, each its own function; not tail calls (the stores). */
#define ROUTE_ROUNDS 3
static void *routed[5 * ROUTE_ROUNDS];
__attribute__((noinline, noclone)) void route_small(int i)
{
	routed[i] = malloc(100);
}
__attribute__((noinline, noclone)) void route_medium(int i)
{
	routed[i] = malloc(3000);
}
__attribute__((noinline, noclone)) void route_calloc(int i)
{
	routed[i] = calloc(1, 100);
}
__attribute__((noinline, noclone)) void route_uncached(int i)
{
	routed[i] = mallocx(100, MALLOCX_TCACHE_NONE);
}
__attribute__((noinline, noclone)) void route_aligned(int i)
{
	routed[i] = aligned_alloc(64, 128);
}

static int child_routes(void)
{
	for (int r = 0, i = 0; r < ROUTE_ROUNDS; r++) {
		route_small(i++);
		route_medium(i++);
		route_calloc(i++);
		route_uncached(i++);
		route_aligned(i++);
	}
	return 0;
}

/* One call site reached by two callers, one of them from three places:
 * four stacks that share their first frame, three their first two. A
 * sample whose frames match a way kept from an earlier walk takes that
 * walk's stack without comparing them again (src/prof/unwind.c,
 * prof_backtrace_memo): it must do so only where every frame matches. */
#define CALLS 10
static void *called[4 * CALLS];
__attribute__((noinline, noclone)) void site_c(int i)
{
	called[i] = malloc(48);
}
__attribute__((noinline, noclone)) void caller_x(int i)
{
	site_c(i);
	__asm__ volatile("" ::: "memory");
}
__attribute__((noinline, noclone)) void caller_y(int i)
{
	site_c(i);
	__asm__ volatile("" ::: "memory");
}
__attribute__((noinline, noclone)) void outer_1(int i)
{
	caller_x(i);
	__asm__ volatile("" ::: "memory");
}
__attribute__((noinline, noclone)) void outer_2(int i)
{
	caller_x(i);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, noclone)) static int child_callers(void)
{
	for (int r = 0, i = 0; r < CALLS; r++) {
		caller_x(i++);
		caller_y(i++);
		outer_1(i++);
		outer_2(i++);
	}
	__asm__ volatile("" ::: "memory");
	return 0;
}

/* Recursion DEEP frames down to one malloc; not tail calls (the
 * stores after them). */
#define DEEP        40
#define DEEP_ROUNDS 3
static void *deep_kept[DEEP_ROUNDS];
static volatile int deep_sink;
__attribute__((noinline, noclone)) void deep_step(int d, int i)
{
	if (d == 0)
		deep_kept[i] = malloc(48);
	else
		deep_step(d - 1, i);
	deep_sink = d;
}

/* Read at run time, so that the loop is not unrolled into a call site per
 * round. */
static volatile int deep_rounds = DEEP_ROUNDS;

static int child_deep(void)
{
	for (int i = 0; i < deep_rounds; i++)
		deep_step(DEEP, i);
	return 0;
}

/* The objects of the report's stack whose frames #1 and #2 are in the
 * functions named; -1 where no stack has them. */
static long long stack_objects(const char *err, const char *f1, const char *f2)
{
	char w1[64], w2[64];
	snprintf(w1, sizeof w1, "  #1 %s+0x", f1);
	snprintf(w2, sizeof w2, "  #2 %s+0x", f2);
	for (const char *at = strstr(err, "cairn: leak "); at != NULL;
	     at = strstr(at + 1, "cairn: leak ")) {
		long long objs;
		const char *in = strstr(at, " in ~");
		if (strncmp(at, "cairn: leak summary", 19) == 0 || in == NULL ||
		    sscanf(in, " in ~%lld objects", &objs) != 1)
			continue;
		const char *next = strstr(at + 1, "cairn: leak ");
		size_t len = next != NULL ? (size_t)(next - at) : strlen(at);
		char block[4096];
		if (len >= sizeof block)
			len = sizeof block - 1;
		memcpy(block, at, len);
		block[len] = '\0';
		if (strstr(block, "  #0 site_c+0x") != NULL && strstr(block, w1) != NULL &&
		    strstr(block, w2) != NULL)
			return objs;
	}
	return -1;
}

static int child_clean(void)
{
	child_leak(LEAK_COUNT, LEAK_SIZE);
	for (int i = 0; i < LEAK_COUNT; i++)
		free(kept[i]);
	return 0;
}

struct run {
	int status;
	char err[1 << 16];
};

static struct run run_child(const char *conf, const char *mode)
{
	static struct run r;
	struct child_opts opts = {.name = "prof_leak", .args = {mode}, .conf = conf};
	r.status = child_run(&opts, r.err, sizeof r.err, NULL);
	return r;
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

struct summary {
	unsigned long long bytes, objs, stacks;
};

static int parse_summary(const char *err, struct summary *s)
{
	const char *at = strstr(err, "cairn: leak summary: ~");
	return at != NULL &&
	       sscanf(at, "cairn: leak summary: ~%llu bytes in ~%llu objects from %llu", &s->bytes,
	              &s->objs, &s->stacks) == 3;
}

/* The line of err that starts with `start` (after "cairn: "), copied into
 * line; 0 when there is none. */
static int find_line(const char *err, const char *start, char *line, size_t cap)
{
	const char *at = strstr(err, start);
	if (at == NULL)
		return 0;
	size_t n = strcspn(at, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(line, at, n);
	line[n] = '\0';
	return 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "leak") == 0)
		return child_leak(LEAK_COUNT, LEAK_SIZE);
	if (argc > 1 && strcmp(argv[1], "scaled") == 0)
		return child_leak(SCALED_COUNT, SCALED_SIZE);
	if (argc > 1 && strcmp(argv[1], "clean") == 0)
		return child_clean();
	if (argc > 1 && strcmp(argv[1], "routes") == 0)
		return child_routes();
	if (argc > 1 && strcmp(argv[1], "callers") == 0)
		return child_callers();
	if (argc > 1 && strcmp(argv[1], "deep") == 0)
		return child_deep();

	const char *every = "prof:true,lg_prof_sample:0,prof_final:false,prof_gdump:false";
	char conf[256], self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	REQUIRE(n > 0, "readlink /proc/self/exe");
	self[n] = '\0';
	unsigned long long leaked = (unsigned long long)LEAK_COUNT * nallocx(LEAK_SIZE, 0);

	TEST_CASE("report")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "leak");
		CHECK(exit_status(r->status) == 0, "prof_leak keeps the status: %d",
		      exit_status(r->status));
		struct summary s;
		CHECK(parse_summary(r->err, &s), "a summary line:\n%s", r->err);
		CHECK(s.bytes == leaked && s.objs == LEAK_COUNT && s.stacks == 1,
		      "%llu bytes (want %llu), %llu objects, %llu stacks", s.bytes, leaked, s.objs,
		      s.stacks);
		char line[1024], want[128];
		snprintf(want, sizeof want,
		         "leak 1 of 1: ~%llu bytes in ~%d objects (sampled: %llu", leaked,
		         LEAK_COUNT, leaked);
		CHECK(strstr(r->err, want) != NULL, "the stack's line: %s", want);
		CHECK(find_line(r->err, "  #0 ", line, sizeof line) &&
		          strncmp(line, "  #0 leak_here+0x", 17) == 0 && strstr(line, self) != NULL,
		      "frame 0 is leak_here in %s: %s", self, line);
		CHECK(find_line(r->err, "  #1 ", line, sizeof line) &&
		          strncmp(line, "  #1 main+0x", 12) == 0,
		      "frame 1 is main: %s", line);
		CHECK(strstr(r->err, "exiting with status 1") == NULL, "no exit message");

		/* The addr2line command printed, run: leak_here's malloc line. */
		char cmd[1200];
		REQUIRE(find_line(r->err, "addr2line ", line, sizeof line), "an addr2line line");
		snprintf(cmd, sizeof cmd, "%s 2>&1", line);
		FILE *p = popen(cmd, "r");
		REQUIRE(p != NULL, "popen %s", cmd);
		char got[4096] = "";
		size_t len = fread(got, 1, sizeof got - 1, p);
		got[len] = '\0';
		int st = pclose(p);
		snprintf(want, sizeof want, "prof_leak.c:%d", leak_line);
		CHECK(st == 0 && strstr(got, "leak_here") != NULL && strstr(got, want) != NULL,
		      "%s gives leak_here at %s: %s", line, want, got);
	}

	TEST_CASE("error")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak_error:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "leak");
		CHECK(exit_status(r->status) == 1, "status 1 with a leak: %d",
		      exit_status(r->status));
		struct summary s;
		CHECK(parse_summary(r->err, &s) && s.bytes == leaked && s.objs == LEAK_COUNT,
		      "the summary:\n%s", r->err);
		CHECK(strstr(r->err, "  #0 leak_here+0x") != NULL, "leak_here named");
		CHECK(strstr(r->err, "cairn: exiting with status 1") != NULL, "the exit said");
	}

	TEST_CASE("clean")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak_error:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "clean");
		CHECK(exit_status(r->status) == 0, "status 0 without a leak: %d\n%s",
		      exit_status(r->status), r->err);
		CHECK(strstr(r->err, "leak") == NULL, "nothing said: %s", r->err);
	}

	TEST_CASE("off")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak:false", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "leak");
		CHECK(exit_status(r->status) == 0 && strstr(r->err, "leak") == NULL,
		      "prof_leak:false: no report (status %d): %s", exit_status(r->status), r->err);
		*r = run_child("prof:false,prof_leak:true,prof_leak_error:true", "leak");
		CHECK(exit_status(r->status) == 0 && strstr(r->err, "leak") == NULL,
		      "prof:false: no report (status %d): %s", exit_status(r->status), r->err);
	}

	TEST_CASE("scaled")
	{
		struct run *r = &(struct run){0};
		*r = run_child("prof:true,lg_prof_sample:10,prof_final:false,prof_gdump:false,"
		               "prof_leak:true",
		               "scaled");
		unsigned long long truth =
		    (unsigned long long)SCALED_COUNT * nallocx(SCALED_SIZE, 0);
		struct summary s;
		CHECK(exit_status(r->status) == 0 && parse_summary(r->err, &s), "a summary:\n%s",
		      r->err);
		CHECK(s.bytes > truth * 3 / 4 && s.bytes < truth * 5 / 4,
		      "estimate %llu bytes within a quarter of %llu", s.bytes, truth);
		CHECK(s.objs > SCALED_COUNT * 3 / 4 && s.objs < SCALED_COUNT * 5 / 4,
		      "estimate %llu objects within a quarter of %d", s.objs, SCALED_COUNT);
		unsigned long long sampled = 0;
		const char *at = strstr(r->err, "(sampled: ");
		CHECK(at != NULL && sscanf(at, "(sampled: %llu", &sampled) == 1 &&
		          sampled < truth / 4,
		      "few blocks sampled (%llu bytes): the estimate is scaled", sampled);
	}
	TEST_CASE("routes")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "routes");
		struct summary s;
		CHECK(exit_status(r->status) == 0 && parse_summary(r->err, &s), "a summary:\n%s",
		      r->err);
		CHECK(s.objs == 5 * ROUTE_ROUNDS && s.stacks == 5,
		      "%llu objects (want %d) from %llu stacks (want 5):\n%s", s.objs,
		      5 * ROUTE_ROUNDS, s.stacks, r->err);
		static const char *const routes[] = {"route_small", "route_medium", "route_calloc",
		                                     "route_uncached", "route_aligned"};
		for (int i = 0; i < 5; i++) {
			char want[64];
			snprintf(want, sizeof want, "  #0 %s+0x", routes[i]);
			CHECK(strstr(r->err, want) != NULL, "a stack starts at %s:\n%s", routes[i],
			      r->err);
		}
	}
	TEST_CASE("callers")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "callers");
		struct summary s;
		CHECK(exit_status(r->status) == 0 && parse_summary(r->err, &s), "a summary:\n%s",
		      r->err);
		CHECK(s.objs == 4 * CALLS && s.stacks == 4,
		      "%llu objects (want %d) from %llu stacks (want 4):\n%s", s.objs, 4 * CALLS,
		      s.stacks, r->err);
		static const char *const frames[4][2] = {{"caller_x", "child_callers"},
		                                         {"caller_y", "child_callers"},
		                                         {"caller_x", "outer_1"},
		                                         {"caller_x", "outer_2"}};
		for (int i = 0; i < 4; i++) {
			long long objs = stack_objects(r->err, frames[i][0], frames[i][1]);
			CHECK(objs == CALLS, "site_c from %s from %s: %lld objects (want %d):\n%s",
			      frames[i][0], frames[i][1], objs, CALLS, r->err);
		}
	}
	TEST_CASE("deep")
	{
		snprintf(conf, sizeof conf, "%s,prof_leak:true", every);
		struct run *r = &(struct run){0};
		*r = run_child(conf, "deep");
		struct summary s;
		CHECK(exit_status(r->status) == 0 && parse_summary(r->err, &s), "a summary:\n%s",
		      r->err);
		CHECK(s.objs == DEEP_ROUNDS && s.stacks == 1,
		      "%llu objects (want %d) from %llu stacks (want 1):\n%s", s.objs, DEEP_ROUNDS,
		      s.stacks, r->err);
		/* Frames #0 to #15 shown, the rest counted: deep_step's 41 and
		 * child_deep's, main's and the C library's below them. */
		unsigned more = 0;
		const char *at = strstr(r->err, "  ... ");
		CHECK(at != NULL && sscanf(at, "  ... %u more frames", &more) == 1 &&
		          16 + more >= DEEP + 3,
		      "the stack has all %d frames of the recursion and those below (%u more "
		      "than 16 shown):\n%s",
		      DEEP + 1, more, r->err);
	}
	return CHECK_DONE();
}
