/* SPDX-License-Identifier: MIT */
/* thp.c: the thp option and the alignment of huge blocks.
 *
 * The test re-executes itself (/proc/self/exe --child SETTING) with MALLOC_CONF=thp:SETTING
 * for default, always and never. In each child:
 *   - huge blocks of 2 MiB, 8 MiB + 1 and 33 MiB (beyond what the huge cache keeps), a huge
 *     block reused from the cache (8 MiB freed, 8 MiB asked again), a huge block grown by
 *     realloc (2 MiB to 40 MiB) and one from posix_memalign(4 MiB alignment) all start on a
 *     2 MiB boundary (the last on 4 MiB);
 *   - every VMA of /proc/self/smaps that overlaps such a block carries in its VmFlags line
 *     "hg" (MADV_HUGEPAGE) under thp:always, "nh" (MADV_NOHUGEPAGE) under thp:never, and
 *     neither under thp:default;
 *   - the same for the 2 MiB chunk that holds a large block (malloc(100000)): the chunk is
 *     the 2 MiB-aligned region containing the block.
 * Where the kernel has no transparent huge pages (/sys/kernel/mm/transparent_hugepage
 * missing) madvise cannot set the flags: the flag checks are skipped with a note, the
 * alignment checks still run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "proc.h"

#define MiB   ((size_t)1 << 20)
#define CHUNK (2 * MiB)

static char smaps[4 << 20];

/* The whole of /proc/self/smaps into smaps; 0 if unreadable or too long. */
static int read_smaps(void)
{
	ssize_t len = read_proc("/proc/self/smaps", smaps, sizeof smaps);
	return len > 0 && (size_t)len < sizeof smaps - 1;
}

static int has_token(const char *line, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = line; (p = strstr(p, tok)) != NULL; p += n)
		if ((p == line || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

struct flags {
	int vmas;       /* VMAs overlapping the range */
	int hg, nh;     /* how many of them carry each flag */
	size_t covered; /* bytes of the range inside those VMAs */
};

/* The VMAs overlapping [start, start + len) and their VmFlags. */
static struct flags range_flags(uintptr_t start, size_t len)
{
	struct flags f = {0};
	if (!read_smaps())
		return f;
	uintptr_t end = start + len;
	int in = 0;
	for (char *line = smaps; *line;) {
		char *nl = strchr(line, '\n');
		unsigned long lo, hi;
		char c;
		if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = lo < end && hi > start;
			if (in) {
				f.vmas++;
				f.covered += (hi < end ? hi : end) - (lo > start ? lo : start);
			}
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			if (nl)
				*nl = '\0';
			f.hg += has_token(line + 8, "hg");
			f.nh += has_token(line + 8, "nh");
			if (nl)
				*nl = '\n';
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return f;
}

static int thp_kernel;
static const char *setting;

/* The advice on the VMAs covering [p, p + len) matches the setting. */
static void check_advice(const char *what, const void *p, size_t len)
{
	struct flags f = range_flags((uintptr_t)p, len);
	CHECK(f.vmas > 0 && f.covered == len,
	      "%s at %p: %zu of %zu bytes mapped in smaps (%d VMAs)", what, p, f.covered, len,
	      f.vmas);
	if (!thp_kernel)
		return;
	if (strcmp(setting, "always") == 0)
		CHECK(f.hg == f.vmas && f.nh == 0,
		      "thp:always: %s at %p: %d of %d VMAs have hg, %d have nh", what, p, f.hg,
		      f.vmas, f.nh);
	else if (strcmp(setting, "never") == 0)
		CHECK(f.nh == f.vmas && f.hg == 0,
		      "thp:never: %s at %p: %d of %d VMAs have nh, %d have hg", what, p, f.nh,
		      f.vmas, f.hg);
	else
		CHECK(f.hg == 0 && f.nh == 0, "thp:default: %s at %p: %d VMAs have hg, %d have nh",
		      what, p, f.hg, f.nh);
}

static void *huge_block(const char *what, size_t n)
{
	unsigned char *p = malloc(n);
	REQUIRE(p != NULL, "malloc(%zu) failed", n);
	CHECK(((uintptr_t)p & (CHUNK - 1)) == 0, "thp:%s: %s malloc(%zu) = %p is not 2 MiB aligned",
	      setting, what, n, (void *)p);
	p[0] = 1;
	p[n - 1] = 1;
	check_advice(what, p, n);
	return p;
}

static int child_main(const char *s)
{
	setting = s;
	thp_kernel = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
	if (!thp_kernel)
		fprintf(stderr,
		        "  no transparent huge pages in this kernel: VmFlags not checked\n");

	void *a = huge_block("2 MiB block", 2 * MiB);
	void *b = huge_block("8 MiB + 1 block", 8 * MiB + 1);
	void *c = huge_block("33 MiB block", 33 * MiB);

	/* Reused from the cache of freed mappings. */
	free(b);
	void *b2 = huge_block("8 MiB block reused", 8 * MiB);

	/* Grown by realloc: in place or moved, the whole block carries the advice. */
	unsigned char *g = realloc(a, 40 * MiB);
	REQUIRE(g != NULL, "realloc to 40 MiB failed");
	CHECK(((uintptr_t)g & (CHUNK - 1)) == 0,
	      "thp:%s: realloc to 40 MiB = %p is not 2 MiB aligned", setting, (void *)g);
	g[40 * MiB - 1] = 1;
	check_advice("2 MiB block grown to 40 MiB", g, 40 * MiB);

	void *m = NULL;
	int rc = posix_memalign(&m, 4 * MiB, 3 * MiB);
	REQUIRE(rc == 0 && m != NULL, "posix_memalign(4 MiB, 3 MiB) failed: %d", rc);
	CHECK(((uintptr_t)m & (4 * MiB - 1)) == 0, "posix_memalign(4 MiB) = %p", m);
	check_advice("posix_memalign(4 MiB, 3 MiB) block", m, 3 * MiB);

	/* A large block: its chunk is the 2 MiB-aligned region around it. */
	unsigned char *l = malloc(100000);
	REQUIRE(l != NULL, "malloc(100000) failed");
	l[0] = 1;
	void *chunk = (void *)((uintptr_t)l & ~(uintptr_t)(CHUNK - 1));
	check_advice("the chunk of a malloc(100000) block", chunk, CHUNK);

	free(l);
	free(m);
	free(g);
	free(b2);
	free(c);
	return CHECK_DONE();
}

/* ------------------------------------------------------------ parent side */

static void run_child(const char *s)
{
	char conf[64];
	snprintf(conf, sizeof conf, "thp:%s", s);
	struct child_opts opts = {.name = "thp", .args = {"--child", s}, .conf = conf};
	static char out[16384];
	int st = child_run(&opts, out, sizeof out, NULL);
	fprintf(stderr, "MALLOC_CONF=%s:\n", conf);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "thp:%s child", s);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);
	TEST_CASE("default") run_child("default");
	TEST_CASE("always") run_child("always");
	TEST_CASE("never") run_child("never");
	return CHECK_DONE();
}
