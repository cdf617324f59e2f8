/* SPDX-License-Identifier: MIT */
/* The heap_v2 writer (src/prof/dump.c): the exact bytes of a dump of a
 * known table, the files' safety (mode 0600, an existing file or a symbolic
 * link never opened), the names prof_dump_auto picks (seq, skipping taken
 * names, fork, secure mode), write errors, no allocation while dumping, and
 * how long a dump of 100k stacks holds the table.
 *
 * The stack table is this test's: it defines prof_visit and
 * prof_sample_interval over a table it fills itself. The writer references
 * them weakly and hidden, so these definitions bind to it, and the archive's
 * own (the sampler's) are never pulled in: nothing else this program uses
 * references them. The test also defines malloc, calloc, realloc and free,
 * forwarding to glibc's and counting the calls, so that any allocation
 * during a dump (the writer's or libc's on its behalf) is seen; under the
 * sanitizers, whose runtime owns malloc, the runtime's hooks count instead.
 * getauxval is the test's too, to start "secure mode" on demand. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "prof/dump.h"
#include "prof/params.h"
#include "prof/prof.h"

/* ------------------------------------------------------------ allocations */

static volatile unsigned long allocs;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizer runtime's (compiler-rt's allocator_interface.h, which gcc
 * does not install). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void count_malloc(const volatile void *p, size_t n)
{
	allocs++;
}
static void count_free(const volatile void *p)
{
}
static void counting_start(void)
{
	__sanitizer_install_malloc_and_free_hooks(count_malloc, count_free);
}
#else
/* glibc's own, found with dlsym; the archive's malloc (cairn's) is never
 * linked in, since nothing here references it. While dlsym runs, what it
 * allocates comes from a static buffer. */
#include <dlfcn.h>
static void *(*libc_malloc)(size_t);
static void *(*libc_calloc)(size_t, size_t);
static void *(*libc_realloc)(void *, size_t);
static void (*libc_free)(void *);
static char boot[4096] __attribute__((aligned(16)));
static size_t boot_used;
static int resolving;

static void resolve(void)
{
	resolving = 1;
	libc_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	libc_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	libc_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	libc_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
	if (!libc_malloc || !libc_calloc || !libc_realloc || !libc_free)
		abort();
}

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof(boot) - boot_used)
		return NULL;
	boot_used += n;
	return memset(boot + boot_used - n, 0, n);
}

static int from_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

void *malloc(size_t n)
{
	allocs++;
	if (resolving)
		return boot_alloc(n);
	if (libc_malloc == NULL)
		resolve();
	return libc_malloc(n);
}
void *calloc(size_t k, size_t n)
{
	allocs++;
	if (resolving)
		return n != 0 && k > SIZE_MAX / n ? NULL : boot_alloc(k * n);
	if (libc_calloc == NULL)
		resolve();
	return libc_calloc(k, n);
}
void *realloc(void *p, size_t n)
{
	allocs++;
	if (libc_realloc == NULL)
		resolve();
	if (from_boot(p)) {
		void *q = libc_malloc(n);
		if (q != NULL)
			memcpy(q, p,
			       n < (size_t)(boot + sizeof(boot) - (char *)p)
			           ? n
			           : (size_t)(boot + sizeof(boot) - (char *)p));
		return q;
	}
	return libc_realloc(p, n);
}
void free(void *p)
{
	if (p == NULL || from_boot(p))
		return;
	if (libc_free == NULL)
		resolve();
	libc_free(p);
}
static void counting_start(void)
{
}
#endif

/* ------------------------------------------------------------ secure mode */

unsigned long __getauxval(unsigned long type);
static int fake_secure;

unsigned long getauxval(unsigned long type)
{
	if (type == AT_SECURE && fake_secure)
		return 1;
	return __getauxval(type);
}

/* ------------------------------------------------------------ the table */

struct stack {
	unsigned depth;
	uintptr_t pcs[128];
	struct prof_counts c;
};

static struct stack *table;
static size_t table_len;
static uint64_t interval = 524288;
static unsigned visits;
static double longest_visit_ms;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void prof_visit(void (*fn)(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                           void *arg),
                void *arg, struct prof_counts *total)
{
	double t0 = now_ms();
	struct prof_counts sum = {0, 0, 0, 0};
	for (size_t i = 0; i < table_len; i++) {
		if (fn != NULL)
			fn(table[i].pcs, table[i].depth, &table[i].c, arg);
		sum.curobjs += table[i].c.curobjs;
		sum.curbytes += table[i].c.curbytes;
		sum.accumobjs += table[i].c.accumobjs;
		sum.accumbytes += table[i].c.accumbytes;
	}
	if (total != NULL)
		*total = sum;
	visits++;
	double t = now_ms() - t0;
	if (t > longest_visit_ms)
		longest_visit_ms = t;
}

uint64_t prof_sample_interval(void)
{
	return interval;
}

/* Room for the big table, mapped (not malloc'ed: the counts stay the dump's). */
static void table_reserve(size_t n)
{
	if (table != NULL)
		munmap(table, 100000 * sizeof(*table));
	table = mmap(NULL, 100000 * sizeof(*table), PROT_READ | PROT_WRITE,
	             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (table == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	table_len = n;
}

/* ------------------------------------------------------------ files */

static char dir[PATH_MAX];
/* Big enough for the 100k-stack dump; in .bss, touched only as far as used. */
static char file_buf[64 << 20];
static char want_buf[1 << 20];

/* The whole file into file_buf: its length, or -1. */
static ssize_t slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, file_buf + len, sizeof(file_buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	file_buf[len] = '\0';
	return (ssize_t)len;
}

static const char *in_dir(const char *name)
{
	static char path[2][PATH_MAX];
	static int which;
	which ^= 1;
	snprintf(path[which], PATH_MAX, "%s/%s", dir, name);
	return path[which];
}

static size_t want_append(size_t len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t want_append(size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(want_buf + len, sizeof(want_buf) - len, fmt, ap);
	va_end(ap);
	return len + (size_t)n;
}

/* What jemalloc's prof_dump would write for the table, up to the maps:
 * formatted here with printf, independently of the writer. */
static size_t want_dump(void)
{
	struct prof_counts t = {0, 0, 0, 0};
	for (size_t i = 0; i < table_len; i++) {
		t.curobjs += table[i].c.curobjs;
		t.curbytes += table[i].c.curbytes;
		t.accumobjs += table[i].c.accumobjs;
		t.accumbytes += table[i].c.accumbytes;
	}
	size_t len = want_append(0, "heap_v2/%" PRIu64 "\n", interval);
	len = want_append(len, "  t*: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "]\n",
	                  t.curobjs, t.curbytes, t.accumobjs, t.accumbytes);
	for (size_t i = 0; i < table_len; i++) {
		len = want_append(len, "@");
		for (unsigned d = 0; d < table[i].depth; d++)
			len = want_append(len, " %#" PRIxPTR, table[i].pcs[d]);
		const struct prof_counts *c = &table[i].c;
		len = want_append(len,
		                  "\n  t*: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "]\n",
		                  c->curobjs, c->curbytes, c->accumobjs, c->accumbytes);
	}
	return want_append(len, "\nMAPPED_LIBRARIES:\n");
}

/* A small table with the edges: a full-depth stack, the largest counts
 * and addresses, a stack with no frames. */
static void fill_small(void)
{
	table_reserve(4);
	table[0].depth = 3;
	table[0].pcs[0] = 0x401a2b;
	table[0].pcs[1] = 0x7f0012345678;
	table[0].pcs[2] = 0x401000;
	table[0].c = (struct prof_counts){2, 1048576, 5, 2621440};
	table[1].depth = 128;
	for (unsigned d = 0; d < 128; d++)
		table[1].pcs[d] = UINTPTR_MAX - d * 0x1111;
	table[1].c =
	    (struct prof_counts){UINT64_MAX / 4, UINT64_MAX / 4, UINT64_MAX / 4, UINT64_MAX / 4};
	table[2].depth = 1;
	table[2].pcs[0] = 0x1;
	table[2].c = (struct prof_counts){1, 16, 0, 0};
	table[3].depth = 0;
	table[3].c = (struct prof_counts){0, 0, 7, 700};
}

/* n stacks of 16 frames each, distinct. */
static void fill_many(size_t n)
{
	table_reserve(n);
	for (size_t i = 0; i < n; i++) {
		table[i].depth = 16;
		for (unsigned d = 0; d < 16; d++)
			table[i].pcs[d] = 0x55d0c0de0000 + i * 64 + d * 0x1003;
		table[i].c = (struct prof_counts){i % 7 + 1, (i % 7 + 1) * 4096, i % 11 + 1,
		                                  (i % 11 + 1) * 4096};
	}
}

/* Whether the file's MAPPED_LIBRARIES section (from off) is /proc/self/maps
 * as it reads now. */
static int maps_match(const char *got, size_t off, size_t len)
{
	static char maps[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, maps + n, sizeof(maps) - n)) > 0)
		n += (size_t)r;
	close(fd);
	return n > 0 && len - off == n && memcmp(got + off, maps, n) == 0;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Real return addresses, for jeprof to symbolize: site_alpha's and
 * site_beta's stacks (innermost first: the call in the site, then the
 * site's call in main) into table[i]. */
__attribute__((noinline)) static void grab(size_t i, void *caller_return)
{
	table[i].pcs[0] = (uintptr_t)__builtin_return_address(0);
	table[i].pcs[1] = (uintptr_t)caller_return;
	table[i].depth = 2;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_alpha(void)
{
	grab(0, __builtin_return_address(0));
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_beta(void)
{
	grab(1, __builtin_return_address(0));
	__asm__ volatile("" ::: "memory");
}

/* The flat MB jeprof --text gives function fn in the report at path; -1
 * when it is not there. */
static double jeprof_mb(const char *path, const char *fn)
{
	char line[512], name[256];
	double flat, cum;
	double mb = -1;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, " %lf %*f%% %*f%% %lf %*f%% %255s", &flat, &cum, name) == 3 &&
		    strcmp(name, fn) == 0)
			mb = flat;
	fclose(f);
	return mb;
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/cairn-prof-dump.%d", (int)getpid());
	REQUIRE(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
	/* Nothing hides a wrong mode: the file is 0600 by its own right. */
	umask(0);
	counting_start();
	char path[PATH_MAX];

	TEST_CASE("bytes")
	{
		fill_small();
		size_t want = want_dump();
		int r = prof_dump_to(in_dir("small.heap"));
		CHECK(r == 0, "prof_dump_to: %s", strerror(r));
		ssize_t got = slurp(in_dir("small.heap"));
		CHECK(got >= (ssize_t)want && memcmp(file_buf, want_buf, want) == 0,
		      "the dump up to the maps differs from jemalloc's layout:\n%s\nwanted:\n%s",
		      file_buf, want_buf);
		CHECK(got > 0 && maps_match(file_buf, want, (size_t)got),
		      "MAPPED_LIBRARIES is not /proc/self/maps");
		CHECK(memcmp(file_buf, "heap_v2/524288\n  t*: ", 21) == 0, "header: %.40s",
		      file_buf);
	}

	TEST_CASE("bytes_across_buffers")
	{
		/* About 700 KB: many flushes, a piece landing on each boundary. */
		fill_many(2000);
		interval = 1;
		size_t want = want_dump();
		int r = prof_dump_to(in_dir("many.heap"));
		CHECK(r == 0, "prof_dump_to: %s", strerror(r));
		ssize_t got = slurp(in_dir("many.heap"));
		CHECK(got >= (ssize_t)want && memcmp(file_buf, want_buf, want) == 0,
		      "the dump of 2000 stacks differs from jemalloc's layout");
		CHECK(got > 0 && maps_match(file_buf, want, (size_t)got),
		      "MAPPED_LIBRARIES is not /proc/self/maps");
		interval = 524288;
	}

	TEST_CASE("mode")
	{
		fill_small();
		CHECK(prof_dump_to(in_dir("mode.heap")) == 0, "prof_dump_to");
		struct stat st;
		CHECK(lstat(in_dir("mode.heap"), &st) == 0 && S_ISREG(st.st_mode) &&
		          (st.st_mode & 07777) == 0600,
		      "mode %o, wanted a regular file 0600", (unsigned)st.st_mode);
		int fd = open(in_dir("mode.heap"), O_RDONLY);
		CHECK(fd >= 3, "open");
		/* The writer's descriptor is closed: the next one is the lowest. */
		int fd2 = dup(0);
		CHECK(fd2 == fd + 1, "a descriptor left open by the dump (next fd %d after %d)",
		      fd2, fd);
		close(fd2);
		close(fd);
	}

	TEST_CASE("existing_file")
	{
		fill_small();
		const char *p = in_dir("old.heap");
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0 && write(fd, "keep", 4) == 4, "writing %s", p);
		close(fd);
		CHECK(prof_dump_to(p) == EEXIST, "an existing file: EEXIST");
		CHECK(slurp(p) == 4 && memcmp(file_buf, "keep", 4) == 0,
		      "the existing file was changed: %.20s", file_buf);
		struct stat st;
		CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644, "its mode was changed");
	}

	TEST_CASE("symlink")
	{
		fill_small();
		const char *target = in_dir("target"), *link = in_dir("link.heap");
		int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0 && write(fd, "precious", 8) == 8, "writing %s", target);
		close(fd);
		CHECK(symlink(target, link) == 0, "symlink");
		int r = prof_dump_to(link);
		CHECK(r == EEXIST || r == ELOOP, "a link: %s, wanted EEXIST or ELOOP", strerror(r));
		CHECK(slurp(target) == 8 && memcmp(file_buf, "precious", 8) == 0,
		      "the link's target was written: %.20s", file_buf);
		/* A dangling link: its target is not created. */
		const char *dangling = in_dir("dangling.heap"), *nowhere = in_dir("nowhere");
		CHECK(symlink(nowhere, dangling) == 0, "symlink");
		r = prof_dump_to(dangling);
		CHECK(r == EEXIST || r == ELOOP, "a dangling link: %s", strerror(r));
		CHECK(!exists(nowhere), "the dangling link's target was created");
	}

	TEST_CASE("auto_names")
	{
		fill_small();
		int pid = (int)getpid();
		snprintf(path, sizeof path, "%s/app", dir);
		cairn_prof.prefix = path;
		CHECK(prof_dump_auto(NULL, 'm') == 0, "first dump");
		char want[PATH_MAX];
		snprintf(want, sizeof want, "%s/app.%d.0.m.heap", dir, pid);
		CHECK(exists(want), "%s missing", want);
		CHECK(prof_dump_auto(NULL, 'i') == 0, "second dump");
		snprintf(want, sizeof want, "%s/app.%d.1.i.heap", dir, pid);
		CHECK(exists(want), "%s missing", want);
		/* A name left by an earlier process with this pid is skipped. */
		snprintf(want, sizeof want, "%s/app.%d.2.u.heap", dir, pid);
		int fd = open(want, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0 && write(fd, "old", 3) == 3, "writing %s", want);
		close(fd);
		CHECK(prof_dump_auto(NULL, 'u') == 0, "dump past a taken name");
		CHECK(slurp(want) == 3, "the old file was changed");
		snprintf(want, sizeof want, "%s/app.%d.3.u.heap", dir, pid);
		CHECK(exists(want), "%s missing (the taken seq 2 skipped)", want);
		/* A prefix given overrides the option's. */
		snprintf(path, sizeof path, "%s/other", dir);
		CHECK(prof_dump_auto(path, 'f') == 0, "dump under another prefix");
		snprintf(want, sizeof want, "%s/other.%d.4.f.heap", dir, pid);
		CHECK(exists(want), "%s missing", want);
		/* No prefix set: jemalloc's "jeprof", in the working directory. */
		cairn_prof.prefix = NULL;
		char cwd[PATH_MAX];
		CHECK(getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0, "chdir");
		CHECK(prof_dump_auto(NULL, 'f') == 0, "dump under the default prefix");
		snprintf(want, sizeof want, "%s/jeprof.%d.5.f.heap", dir, pid);
		CHECK(exists(want), "%s missing", want);
		CHECK(chdir(cwd) == 0, "chdir back");
		CHECK(prof_dump_auto(path, 'x') == EINVAL, "kind x: EINVAL");
		CHECK(prof_dump_auto(path, 0) == EINVAL, "kind 0: EINVAL");
		static char longp[PATH_MAX + 16];
		memset(longp, 'a', sizeof(longp) - 1);
		CHECK(prof_dump_auto(longp, 'm') == ENAMETOOLONG, "a prefix past PATH_MAX");
		CHECK(prof_dump_auto("/nonexistent-dir/p", 'm') == ENOENT,
		      "a missing directory: ENOENT");
		CHECK(prof_dump_to(NULL) == EINVAL, "prof_dump_to(NULL): EINVAL");
	}

	TEST_CASE("fork")
	{
		/* The child counts its own dumps from 0 under its own pid; the
		 * parent's count goes on. */
		fill_small();
		snprintf(path, sizeof path, "%s/fork", dir);
		CHECK(prof_dump_auto(path, 'm') == 0, "parent's dump before fork");
		pid_t child = fork();
		if (child == 0) {
			int ok = prof_dump_auto(path, 'f') == 0 && prof_dump_auto(path, 'f') == 0;
			_exit(ok ? 0 : 1);
		}
		int status;
		CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
		          WEXITSTATUS(status) == 0,
		      "the child's dumps");
		char want[PATH_MAX];
		for (int seq = 0; seq < 2; seq++) {
			snprintf(want, sizeof want, "%s.%d.%d.f.heap", path, (int)child, seq);
			CHECK(exists(want), "%s missing", want);
		}
		CHECK(prof_dump_auto(path, 'm') == 0, "parent's dump after fork");
		/* The parent's two dumps have consecutive seqs: the child's did
		 * not advance the parent's count. */
		int seqs[2], n = 0;
		for (int seq = 0; seq < 64; seq++) {
			snprintf(want, sizeof want, "%s.%d.%d.m.heap", path, (int)getpid(), seq);
			if (exists(want) && n < 2)
				seqs[n++] = seq;
		}
		CHECK(n == 2 && seqs[1] == seqs[0] + 1, "the parent's dumps: %d found, seqs %d, %d",
		      n, n > 0 ? seqs[0] : -1, n > 1 ? seqs[1] : -1);
	}

	TEST_CASE("secure_mode")
	{
		fill_small();
		snprintf(path, sizeof path, "%s/secure", dir);
		fake_secure = 1;
		CHECK(prof_dump_auto(path, 'f') == EPERM, "AT_SECURE: no automatic dump");
		CHECK(prof_dump_auto(NULL, 'm') == EPERM,
		      "AT_SECURE: nor under the option's prefix");
		char want[PATH_MAX];
		int found = 0;
		for (int seq = 0; seq < 16; seq++) {
			snprintf(want, sizeof want, "%s.%d.%d.f.heap", path, (int)getpid(), seq);
			found |= exists(want);
		}
		CHECK(!found, "a file was written in secure mode");
		CHECK(prof_dump_to(in_dir("secure-named.heap")) == 0,
		      "AT_SECURE: a dump to a path the program names");
		fake_secure = 0;
	}

	TEST_CASE("write_error")
	{
		/* A file size limit makes write(2) fail part way: the error comes
		 * back, nothing is lost silently. In a child: the limit stays. */
		fill_many(2000);
		pid_t child = fork();
		if (child == 0) {
			signal(SIGXFSZ, SIG_IGN);
			struct rlimit rl = {4096, 4096};
			setrlimit(RLIMIT_FSIZE, &rl);
			_exit(prof_dump_to(in_dir("big.heap")) == EFBIG ? 0 : 1);
		}
		int status;
		CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
		          WEXITSTATUS(status) == 0,
		      "a dump past RLIMIT_FSIZE: EFBIG");
	}

	TEST_CASE("no_allocation")
	{
		fill_many(2000);
		/* The counter sees libc's own allocations ... */
		unsigned long before = allocs;
		FILE *f = fopen("/proc/self/stat", "r");
		if (f != NULL)
			fclose(f);
		CHECK(allocs > before, "the counter missed fopen's allocation");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		/* ... and the program's (under the sanitizers those go to cairn,
		 * renamed, as the writer's would: the plain build checks them). */
		before = allocs;
		void *(*volatile m)(size_t) = malloc;
		free(m(24));
		CHECK(allocs == before + 1, "the counter missed malloc(24)");
#endif
		before = allocs;
		snprintf(path, sizeof path, "%s/noalloc", dir);
		CHECK(prof_dump_to(in_dir("noalloc.heap")) == 0, "prof_dump_to");
		CHECK(prof_dump_auto(path, 'm') == 0, "prof_dump_auto");
		CHECK(allocs == before, "%lu allocations during the dumps", allocs - before);
	}

	TEST_CASE("jeprof_reads")
	{
		/* Debian's jeprof (libjemalloc-dev) reads a dump of this
		 * program's own return addresses: the sites by name, the
		 * samples scaled by the interval, 3:1. */
		table_reserve(2);
		site_alpha();
		site_beta();
		table[0].c = (struct prof_counts){96, 96 * 4096, 0, 0};
		table[1].c = (struct prof_counts){32, 32 * 4096, 0, 0};
		CHECK(prof_dump_to(in_dir("self.heap")) == 0, "prof_dump_to");
		char exe[PATH_MAX], cmd[4 * PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = '\0';
		snprintf(cmd, sizeof cmd, "jeprof --text %s %s > %s 2>&1", exe, in_dir("self.heap"),
		         in_dir("self.txt"));
		int r = system(cmd);
		CHECK(r == 0, "%s: status %d (jeprof from libjemalloc-dev installed?)", cmd, r);
		double a = jeprof_mb(in_dir("self.txt"), "site_alpha");
		double b = jeprof_mb(in_dir("self.txt"), "site_beta");
		/* 96 samples of 4 KiB at 512 KiB: 96 * 4096 / (1 - exp(-1/128))
		 * bytes, 48.2 MiB (jeprof's MB); 32 of them, 16.1. */
		CHECK(a > 46 && a < 50.5, "site_alpha: %.1f MB, wanted about 48.2", a);
		CHECK(b > 15.3 && b < 16.9, "site_beta: %.1f MB, wanted about 16.1", b);
		say("jeprof --text: site_alpha %.1f MB, site_beta %.1f MB\n", a, b);
		if (!(a > 46 && a < 50.5 && b > 15.3 && b < 16.9)) {
			slurp(in_dir("self.txt"));
			fprintf(stderr, "jeprof said:\n%s\n", file_buf);
		}
	}

	TEST_CASE("100k_stacks")
	{
		/* How long the table is held: the writer runs inside prof_visit,
		 * under the sampler's lock, for the whole pass. */
		fill_many(100000);
		visits = 0;
		longest_visit_ms = 0;
		double t0 = now_ms();
		int r = prof_dump_to(in_dir("100k.heap"));
		double total = now_ms() - t0;
		CHECK(r == 0, "prof_dump_to: %s", strerror(r));
		CHECK(visits == 2, "%u passes over the table, wanted 2", visits);
		ssize_t got = slurp(in_dir("100k.heap"));
		size_t stacks = 0;
		for (ssize_t i = 0; i + 2 < got; i++)
			stacks +=
			    file_buf[i] == '\n' && file_buf[i + 1] == '@' && file_buf[i + 2] == ' ';
		CHECK(stacks == 100000, "%zu stacks in the file", stacks);
		say("100k stacks of 16 frames: %zd bytes, dump %.1f ms, table held %.1f ms at "
		    "the longest\n",
		    got, total, longest_visit_ms);
	}

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "rm -rf %s", dir);
	return CHECK_DONE();
}
