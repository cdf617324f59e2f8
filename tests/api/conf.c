/* SPDX-License-Identifier: MIT */
/* Options from MALLOC_CONF. The test re-executes itself (/proc/self/exe
 * --child MODE) with a chosen MALLOC_CONF and reads the child's stderr:
 *   confirm_conf:true prints one "cairn: options:" line naming each option;
 *   an unknown key or a bad value prints one "cairn:" line naming it and the
 *   program runs on; with abort_conf:true it aborts after that line;
 *   the name or value is shown escaped and cut to 64 bytes; past 16 such
 *   lines one more line counts the rest;
 *   junk:true fills new blocks with 0xa5; zero:true zeroes them;
 *   tcache:false and narenas:1 still work with 4 threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <malloc.h>
#include "check.h"
#include "child.h"
#include "rng.h"

#define MiB ((size_t)1 << 20)

/* ------------------------------------------------------------ child side */

static int child_failed;

/* Like CHECK, for the child: only the first few failures are printed. */
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond) && child_failed++ < 10) {                                              \
			fprintf(stderr, "child: %s:%d: ", __FILE__, __LINE__);                     \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static size_t count_not(const unsigned char *p, size_t n, unsigned char v)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += p[i] != v;
	return bad;
}

/* A little of everything; prints nothing when all is well. */
static void child_plain(void)
{
	size_t sizes[] = {1, 64, 1000, 32768, 100000, 3 * MiB};
	for (int r = 0; r < 3; r++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			unsigned char *p = malloc(sizes[i]);
			EXPECT(p != NULL, "malloc(%zu) returned NULL", sizes[i]);
			if (!p)
				continue;
			memset(p, 1, sizes[i]);
			p = realloc(p, sizes[i] * 2);
			EXPECT(p != NULL, "realloc returned NULL");
			free(p);
		}
	}
}

static void child_junk(void)
{
	unsigned char *p = malloc(64);
	EXPECT(p != NULL, "malloc(64) returned NULL");
	if (!p)
		return;
	EXPECT(count_not(p, 64, 0xa5) == 0, "fresh malloc(64): %zu bytes are not 0xa5",
	       count_not(p, 64, 0xa5));
	/* A block handed out again is filled again. */
	memset(p, 0, 64);
	free(p);
	for (int r = 0; r < 10; r++) {
		p = malloc(64);
		EXPECT(p != NULL, "malloc(64) returned NULL");
		if (!p)
			return;
		EXPECT(count_not(p, 64, 0xa5) == 0, "reused malloc(64) #%d: %zu bytes are not 0xa5",
		       r, count_not(p, 64, 0xa5));
		memset(p, 0x11, 64);
		free(p);
	}
	/* calloc still zeroes. */
	size_t sizes[] = {64, 1000, 100000, 3 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *c = calloc(1, sizes[i]);
		EXPECT(c != NULL, "calloc(1, %zu) returned NULL", sizes[i]);
		if (c)
			EXPECT(count_not(c, sizes[i], 0) == 0,
			       "calloc(1, %zu) with junk:true: %zu bytes "
			       "not zero",
			       sizes[i], count_not(c, sizes[i], 0));
		free(c);
	}
}

static void child_zero(void)
{
	size_t sizes[] = {1, 16, 64, 1000, 32768, 100000, MiB, 3 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		for (int r = 0; r < 10; r++) {
			unsigned char *p = malloc(n);
			EXPECT(p != NULL, "malloc(%zu) returned NULL", n);
			if (!p)
				return;
			EXPECT(count_not(p, n, 0) == 0,
			       "malloc(%zu) round %d with zero:true: %zu bytes "
			       "not zero",
			       n, r, count_not(p, n, 0));
			memset(p, 0xff, malloc_usable_size(p));
			free(p);
		}
	}
}

/* 4 threads: random sizes, blocks checked before they are freed, and some
 * blocks handed to the next thread to free. */
enum { NTHREADS = 4, LIVE = 64, OPS = 20000 };

struct mailbox {
	pthread_mutex_t lock;
	unsigned char *slot[LIVE];
	size_t size[LIVE];
};
static struct mailbox box[NTHREADS];

static int check_block(const unsigned char *p, size_t n)
{
	unsigned char tag = (unsigned char)(n * 7);
	return n == 0 || (p[0] == tag && p[n / 2] == tag && p[n - 1] == tag);
}

static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t seed = 1000u + (uint64_t)id;
	unsigned char *live[LIVE] = {0};
	size_t size[LIVE] = {0};
	long bad = 0;

	for (int op = 0; op < OPS; op++) {
		uint32_t r = (uint32_t)(rng_next(&seed) >> 32);
		int k = r % LIVE;
		if (live[k]) {
			bad += !check_block(live[k], size[k]);
			/* Every few ops pass the block on instead of freeing it. */
			if (r % 5 == 0) {
				struct mailbox *m = &box[(id + 1) % NTHREADS];
				pthread_mutex_lock(&m->lock);
				unsigned char *old = m->slot[k];
				size_t old_n = m->size[k];
				m->slot[k] = live[k];
				m->size[k] = size[k];
				pthread_mutex_unlock(&m->lock);
				if (old) {
					bad += !check_block(old, old_n);
					free(old);
				}
			} else {
				free(live[k]);
			}
			live[k] = NULL;
		}
		size_t n = r % 100 == 0    ? 32769 + r % 300000
		           : r % 1000 == 1 ? MiB + r % MiB
		                           : r % 2048;
		live[k] = malloc(n);
		if (!live[k]) {
			bad++;
			continue;
		}
		size[k] = n;
		memset(live[k], (unsigned char)(n * 7), n);
	}
	for (int k = 0; k < LIVE; k++) {
		if (live[k]) {
			bad += !check_block(live[k], size[k]);
			free(live[k]);
		}
	}
	return (void *)(intptr_t)bad;
}

static void child_threads(void)
{
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&box[i].lock, NULL);
		EXPECT(pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i) == 0,
		       "pthread_create failed");
	}
	long bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)(intptr_t)r;
	}
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k < LIVE; k++) {
			if (box[i].slot[k]) {
				bad += !check_block(box[i].slot[k], box[i].size[k]);
				free(box[i].slot[k]);
			}
		}
	}
	EXPECT(bad == 0, "%ld blocks corrupted or not allocated", bad);
}

static int child_main(const char *mode)
{
	if (strcmp(mode, "plain") == 0)
		child_plain();
	else if (strcmp(mode, "junk") == 0)
		child_junk();
	else if (strcmp(mode, "zero") == 0)
		child_zero();
	else if (strcmp(mode, "threads") == 0)
		child_threads();
	else
		EXPECT(0, "unknown mode %s", mode);
	return child_failed != 0;
}

/* ----------------------------------------------------------- parent side */

struct result {
	int status;
	char err[16384];
	size_t len;
};

/* Runs this program as "--child MODE" with MALLOC_CONF set to conf (unset
 * when conf is NULL); collects its stderr and its wait status. */
static void run_child(const char *conf, const char *mode, struct result *res)
{
	struct child_opts opts = {
	    .name = "conf",
	    .args = {"--child", mode},
	    .conf = conf,
	    .no_core = 1,
	};
	res->status = child_run(&opts, res->err, sizeof res->err, &res->len);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Number of lines that start with prefix; *first gets the first of them
 * (up to its newline) when there is one. */
static int lines_starting(const char *s, const char *prefix, char *first, size_t cap)
{
	int n = 0;
	size_t pl = strlen(prefix);
	while (*s) {
		const char *end = strchr(s, '\n');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len >= pl && memcmp(s, prefix, pl) == 0) {
			if (n++ == 0 && first) {
				size_t c = len < cap - 1 ? len : cap - 1;
				memcpy(first, s, c);
				first[c] = '\0';
			}
		}
		s += len + (end ? 1 : 0);
	}
	return n;
}

static const char *describe(const struct result *r)
{
	static char buf[64];
	if (WIFEXITED(r->status))
		snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(r->status));
	else if (WIFSIGNALED(r->status))
		snprintf(buf, sizeof buf, "signal %d (%s)", WTERMSIG(r->status),
		         strsignal(WTERMSIG(r->status)));
	else
		snprintf(buf, sizeof buf, "status 0x%x", r->status);
	return buf;
}

static int exited_ok(const struct result *r)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* A run that must succeed and print nothing at all. */
static void expect_silent(const char *conf, const char *mode)
{
	struct result r;
	run_child(conf, mode, &r);
	CHECK(exited_ok(&r), "MALLOC_CONF=%s %s: %s", conf ? conf : "(unset)", mode, describe(&r));
	CHECK(r.len == 0, "MALLOC_CONF=%s %s printed:\n%s", conf ? conf : "(unset)", mode, r.err);
}

static void test_confirm(void)
{
	struct result r;
	char line[4096] = "";

	run_child("confirm_conf:true", "plain", &r);
	CHECK(exited_ok(&r), "confirm_conf:true: %s", describe(&r));
	CHECK(lines_starting(r.err, "cairn: options:", line, sizeof line) == 1,
	      "confirm_conf:true: want one \"cairn: options:\" line, got:\n%s", r.err);
	/* One line, though longer than the 512 bytes of other messages. */
	CHECK(count_lines(r.err) == 1 && strlen(r.err) > 512 && strlen(r.err) < 4096,
	      "confirm_conf:true printed %d lines, %zu bytes:\n%s", count_lines(r.err),
	      strlen(r.err), r.err);
	CHECK(strstr(line, "prof_bt_max:128") != NULL, "the last option printed: %s", line);
	const char *names[] = {"narenas:",   "tcache:true",      "tcache_max:",      "junk:",
	                       "zero:false", "abort_conf:false", "confirm_conf:true"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		CHECK(strstr(line, names[i]) != NULL, "options line lacks \"%s\": %s", names[i],
		      line);

	/* The values shown are the ones set. */
	run_child("confirm_conf:true,narenas:3,tcache:false,tcache_max:4096,zero:true", "plain",
	          &r);
	CHECK(exited_ok(&r), "confirm with values: %s", describe(&r));
	line[0] = '\0';
	CHECK(lines_starting(r.err, "cairn: options:", line, sizeof line) == 1,
	      "want one options line, got:\n%s", r.err);
	const char *vals[] = {"narenas:3", "tcache:false", "tcache_max:4096", "zero:true"};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		CHECK(strstr(line, vals[i]) != NULL, "options line lacks \"%s\": %s", vals[i],
		      line);
}

/* One "cairn:" line mentioning `name`, and the child goes on to exit 0. */
static void expect_warning(const char *conf, const char *name)
{
	struct result r;
	char line[4096] = "";

	run_child(conf, "plain", &r);
	CHECK(exited_ok(&r), "MALLOC_CONF=%s: %s; stderr:\n%s", conf, describe(&r), r.err);
	CHECK(lines_starting(r.err, "cairn:", line, sizeof line) == 1,
	      "MALLOC_CONF=%s: want one \"cairn:\" line, got:\n%s", conf, r.err);
	CHECK(count_lines(r.err) == 1 && r.len > 0 && r.err[r.len - 1] == '\n',
	      "MALLOC_CONF=%s: want exactly one line, got:\n%s", conf, r.err);
	CHECK(strstr(line, name) != NULL, "MALLOC_CONF=%s: line does not name %s: %s", conf, name,
	      line);
}

/* With abort_conf:true: the line naming the option, then SIGABRT. Anything
 * else printed on the way must be a cairn: line too. */
static void expect_abort(const char *conf, const char *name)
{
	struct result r;
	char line[4096] = "";

	run_child(conf, "plain", &r);
	CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
	      "MALLOC_CONF=%s: %s, want SIGABRT; stderr:\n%s", conf, describe(&r), r.err);
	int lines = count_lines(r.err);
	CHECK(lines >= 1 && lines_starting(r.err, "cairn:", line, sizeof line) == lines,
	      "MALLOC_CONF=%s: want only \"cairn:\" lines, got:\n%s", conf, r.err);
	CHECK(strstr(line, name) != NULL, "MALLOC_CONF=%s: first line does not name %s: %s", conf,
	      name, line);
}

/* The "cairn:" lines are printable ASCII, each ended by a newline: no byte of the input is
 * copied raw. Returns the offset of the first other byte, or -1. */
static long first_raw_byte(const struct result *r)
{
	for (size_t i = 0; i < r->len; i++) {
		unsigned char c = (unsigned char)r->err[i];
		if ((c < 0x20 || c > 0x7e) && c != '\n')
			return (long)i;
	}
	return -1;
}

/* Names and values are echoed escaped: " and \ with a backslash, \n \t \r, any other byte
 * outside printable ASCII as \xNN, on one line. */
static void expect_escaped(const char *conf, const char *shown)
{
	struct result r;
	char line[4096] = "";

	run_child(conf, "plain", &r);
	CHECK(exited_ok(&r), "escaping %s: %s; stderr:\n%s", shown, describe(&r), r.err);
	CHECK(count_lines(r.err) == 1 && lines_starting(r.err, "cairn:", line, sizeof line) == 1 &&
	          r.len > 0 && r.err[r.len - 1] == '\n',
	      "escaping %s: want one \"cairn:\" line, got:\n%s", shown, r.err);
	long at = first_raw_byte(&r);
	CHECK(at < 0, "escaping %s: raw byte 0x%02x at %ld:\n%s", shown,
	      at < 0 ? 0 : (unsigned char)r.err[at], at, r.err);
	CHECK(strstr(line, shown) != NULL, "escaping: line does not show %s: %s", shown, line);
}

static void test_escaping(void)
{
	expect_escaped("narenas:1\n\x1b[31mred", "\"1\\n\\x1b[31mred\"");
	expect_escaped("bo\"gus\\\t\r\x01\x7f\xff:1", "\"bo\\\"gus\\\\\\t\\r\\x01\\x7f\\xff\"");
	expect_escaped("tcache:\x1b]0;title\x07", "\"\\x1b]0;title\\x07\"");
	expect_escaped("no value\x1b[2J", "\"no value\\x1b[2J\"");
}

/* A long name or value is cut: its first 64 bytes (escaped), then "...". */
static void test_long_items(void)
{
	enum { LONG = 10000 };
	static char conf[LONG + 16];
	struct result r;
	char line[4096] = "", want[128];

	memset(conf, 'a', LONG);
	strcpy(conf + LONG, ":1");
	run_child(conf, "plain", &r);
	CHECK(exited_ok(&r), "long name: %s", describe(&r));
	CHECK(count_lines(r.err) == 1 && lines_starting(r.err, "cairn:", line, sizeof line) == 1,
	      "long name: want one \"cairn:\" line, got %d lines", count_lines(r.err));
	memset(want, 'a', 64);
	strcpy(want + 64, "...\"");
	CHECK(strstr(line, want) != NULL && strstr(line, "\"aaaa") != NULL && strlen(line) < 200,
	      "long name: want its first 64 bytes then ..., got %zu bytes: %.300s", strlen(line),
	      line);
	want[64] = 'a';
	want[65] = '\0';
	CHECK(strstr(line, want) == NULL, "long name: more than 64 bytes shown: %.300s", line);

	/* A value of control bytes: 64 of them shown as \x01, then "...". */
	strcpy(conf, "narenas:");
	memset(conf + 8, 1, 1000);
	conf[1008] = '\0';
	run_child(conf, "plain", &r);
	CHECK(exited_ok(&r), "long value: %s", describe(&r));
	CHECK(count_lines(r.err) == 1 && first_raw_byte(&r) < 0,
	      "long value: want one printable line, got %d lines:\n%.600s", count_lines(r.err),
	      r.err);
	char *v = strstr(r.err, "\"\\x01");
	int n = 0;
	for (; v != NULL && strncmp(v + 1 + 4 * n, "\\x01", 4) == 0; n++)
		;
	CHECK(v != NULL && n == 64 && strncmp(v + 1 + 4 * n, "...\"", 4) == 0,
	      "long value: want 64 \\x01 then ...\", got %d: %.600s", n, r.err);
}

/* At most CAP option errors are printed; one more line counts the rest. */
enum { CAP = 16 };

/* `nbad` unknown options b0:1,b1:1,..., after `prefix`. */
static char *bad_items(const char *prefix, int nbad)
{
	static char conf[65536];
	size_t n = strlen(prefix);
	memcpy(conf, prefix, n + 1);
	for (int i = 0; i < nbad; i++)
		n += (size_t)snprintf(conf + n, sizeof conf - n, "%sb%d:1", n ? "," : "", i);
	return conf;
}

static void expect_capped(int nbad)
{
	struct result r;
	char line[4096] = "";

	run_child(bad_items("", nbad), "plain", &r);
	int shown = nbad < CAP ? nbad : CAP, lines = count_lines(r.err);
	int want = shown + (nbad > CAP);
	CHECK(exited_ok(&r), "%d bad items: %s", nbad, describe(&r));
	CHECK(lines == want && lines_starting(r.err, "cairn:", NULL, 0) == lines,
	      "%d bad items: want %d \"cairn:\" lines, got %d:\n%.2000s", nbad, want, lines, r.err);
	CHECK(lines_starting(r.err, "cairn: MALLOC_CONF: unknown option \"b", NULL, 0) == shown,
	      "%d bad items: want %d of them named:\n%.2000s", nbad, shown, r.err);
	/* The last ones named and the count of the rest. */
	char name[32];
	snprintf(name, sizeof name, "\"b%d\"", shown - 1);
	CHECK(strstr(r.err, name) != NULL, "%d bad items: %s is not named", nbad, name);
	snprintf(name, sizeof name, "\"b%d\"", shown);
	CHECK(strstr(r.err, name) == NULL, "%d bad items: %s is named", nbad, name);
	if (nbad > CAP) {
		const char *last = r.err;
		for (int i = 0; i < lines - 1; i++)
			last = strchr(last, '\n') + 1;
		char want_last[96];
		snprintf(want_last, sizeof want_last, "cairn: MALLOC_CONF: %d more %s not shown\n",
		         nbad - CAP, nbad - CAP == 1 ? "error" : "errors");
		CHECK(strcmp(last, want_last) == 0, "%d bad items: last line %s, want %s", nbad,
		      last, want_last);
	}

	/* With abort_conf:true: the same lines, then the abort. */
	run_child(bad_items("abort_conf:true", nbad), "plain", &r);
	lines = count_lines(r.err);
	CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
	      "abort_conf:true and %d bad items: %s, want SIGABRT", nbad, describe(&r));
	CHECK(lines == want + 1 && lines_starting(r.err, "cairn:", line, sizeof line) == lines,
	      "abort_conf:true and %d bad items: want %d \"cairn:\" lines, got %d:\n%.2000s", nbad,
	      want + 1, lines, r.err);
	CHECK(strstr(r.err, "abort_conf:true)\n") != NULL &&
	          strcmp(strstr(r.err, "abort_conf:true)\n"), "abort_conf:true)\n") == 0,
	      "abort_conf:true and %d bad items: the last line is not the abort:\n%.2000s", nbad,
	      r.err);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

	/* No options, empty options, valid options: nothing printed. */
	TEST_CASE("silent")
	{
		expect_silent(NULL, "plain");
		expect_silent("", "plain");
		expect_silent("narenas:2,tcache:true", "plain");
		expect_silent("abort_conf:true,narenas:2", "plain");
	}

	TEST_CASE("confirm") test_confirm();

	TEST_CASE("warning")
	{
		expect_warning("bogus:1", "bogus");
		expect_warning("tcache:true,bogus:1,narenas:2", "bogus");
		expect_warning("narenas:abc", "narenas");
		expect_warning("tcache:maybe", "tcache");
		expect_warning("tcache_max:-5", "tcache_max");
	}

	TEST_CASE("abort")
	{
		expect_abort("abort_conf:true,bogus:1", "bogus");
		expect_abort("abort_conf:true,narenas:abc", "narenas");
		expect_abort("abort_conf:true,tcache:maybe", "tcache");
	}

	TEST_CASE("escaping") test_escaping();
	TEST_CASE("long_items") test_long_items();
	TEST_CASE("capped")
	{
		expect_capped(CAP);
		expect_capped(CAP + 1);
		expect_capped(5000);
	}

	TEST_CASE("junk_zero")
	{
		expect_silent("junk:true", "junk");
		expect_silent("zero:true", "zero");
	}

	TEST_CASE("threads")
	{
		expect_silent(NULL, "threads");
		expect_silent("tcache:false", "threads");
		expect_silent("narenas:1", "threads");
		expect_silent("tcache:false,narenas:1", "threads");
	}
	return CHECK_DONE();
}
