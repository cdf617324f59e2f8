/* SPDX-License-Identifier: MIT */
/* Options from a `const char *malloc_conf` the program defines (here
 * "confirm_conf:true"): they apply without MALLOC_CONF, and MALLOC_CONF is
 * read after them, so the environment wins. The test re-executes itself
 * (/proc/self/exe --child) with MALLOC_CONF set or unset and reads the
 * child's stderr. The parent prints its own options line too; it is not
 * checked. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "child.h"

const char *malloc_conf = "confirm_conf:true";

#define MiB ((size_t)1 << 20)

struct result {
	int status;
	char err[16384];
	size_t len;
};

/* Allocates a little of every range; the options line comes out at the
 * first allocation. */
static int child_main(void)
{
	size_t sizes[] = {10, 1000, 100000, 3 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *p = malloc(sizes[i]);
		if (!p)
			return 1;
		memset(p, 1, sizes[i]);
		free(p);
	}
	return 0;
}

static void run_child(const char *conf, struct result *res)
{
	struct child_opts opts = {
	    .name = "conf_symbol",
	    .args = {"--child"},
	    .conf = conf,
	    .no_core = 1,
	};
	res->status = child_run(&opts, res->err, sizeof res->err, &res->len);
}

static int exited_ok(const struct result *r)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The child prints exactly one line, the options line, containing each of
 * the `want` strings. */
static void expect_options(const char *conf, const char *const *want, int nwant)
{
	struct result r;
	const char *label = conf ? conf : "(unset)";

	run_child(conf, &r);
	CHECK(exited_ok(&r), "MALLOC_CONF=%s: child status 0x%x", label, r.status);
	CHECK(strncmp(r.err, "cairn: options:", 15) == 0,
	      "MALLOC_CONF=%s: want a \"cairn: options:\" line, got:\n%s", label, r.err);
	CHECK(count_lines(r.err) == 1, "MALLOC_CONF=%s: want one line, got:\n%s", label, r.err);
	for (int i = 0; i < nwant; i++)
		CHECK(strstr(r.err, want[i]) != NULL,
		      "MALLOC_CONF=%s: options line lacks \"%s\": %s", label, want[i], r.err);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return child_main();

	/* The program's own string alone turns the options line on. */
	TEST_CASE("program_string")
	{
		const char *const plain[] = {"confirm_conf:true", "tcache:true", "narenas:"};
		expect_options(NULL, plain, 3);
		expect_options("", plain, 3);
	}

	/* MALLOC_CONF is applied after it and wins. */
	TEST_CASE("env_wins")
	{
		const char *const no_tcache[] = {"confirm_conf:true", "tcache:false"};
		expect_options("tcache:false", no_tcache, 2);
		const char *const two[] = {"confirm_conf:true", "narenas:2", "tcache:true"};
		expect_options("narenas:2", two, 3);
	}

	/* The environment can turn the program's option off again. */
	TEST_CASE("env_turns_off")
	{
		struct result r;
		run_child("confirm_conf:false", &r);
		CHECK(exited_ok(&r), "MALLOC_CONF=confirm_conf:false: child status 0x%x", r.status);
		CHECK(r.len == 0, "MALLOC_CONF=confirm_conf:false still printed:\n%s", r.err);
	}
	return CHECK_DONE();
}
