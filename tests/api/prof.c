/* SPDX-License-Identifier: MIT */
/* prof.c: the heap profiler from the program's side, every allocation
 * sampled (lg_prof_sample:0). Cases:
 *   mallctl   opt.prof*, prof.active, prof.thread_active_init, prof.gdump,
 *             prof.lg_sample, prof.reset (with a new rate; EPERM read),
 *             prof.interval;
 *   dump      prof.dump to a path (a new 0600 heap_v2 file; EFAULT where
 *             one exists), prof.prefix then prof.dump with NULL (the
 *             automatic name, kind m);
 *   thread    thread.prof.name (copied, bounded, EFAULT for a control
 *             byte or NULL, EPERM read and written at once), thread.prof.active,
 *             a new thread starting with prof.thread_active_init;
 *   blocks    sampled blocks of every size kind behave as any: usable size
 *             as nallocx says, sdallocx with the size asked for, realloc
 *             (data kept), frees from another thread;
 *   fork      a child allocates and frees sampled blocks, and frees its
 *             parent's;
 *   off       run again with MALLOC_CONF=prof:false: the prof:false answers;
 *   final     run again with only prof:true and prof_prefix: the final dump
 *             is written at exit (cairn's default prof_final:true).
 * Runs with prof_final:false and prof_gdump:false, so that it writes no
 * file but those it asks for, in a directory of its own it removes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cairn/jemalloc.h>

#include "check.h"

const char *malloc_conf = "prof:true,lg_prof_sample:0,prof_final:false,prof_gdump:false";

/* Whether path is a private heap profile of interval `interval`. */
static bool is_profile(const char *path, const char *interval)
{
	struct stat st;
	if (stat(path, &st) != 0 || (st.st_mode & 0777) != 0600)
		return false;
	FILE *f = fopen(path, "r");
	char head[64] = "", want[64];
	if (f == NULL)
		return false;
	bool ok = fgets(head, sizeof head, f) != NULL;
	fclose(f);
	snprintf(want, sizeof want, "heap_v2/%s\n", interval);
	return ok && strcmp(head, want) == 0;
}

/* The files in dir whose names end with `end` and are profiles; with
 * remove_all, every file of dir is removed, then dir. */
static int profiles_in(const char *dir, const char *end, const char *interval, bool remove_all)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[600];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t len = strlen(e->d_name), elen = strlen(end);
		if (len >= elen && strcmp(e->d_name + len - elen, end) == 0 &&
		    is_profile(path, interval))
			n++;
		if (remove_all)
			unlink(path);
	}
	closedir(d);
	if (remove_all)
		rmdir(dir);
	return n;
}

static bool read_bool(const char *name)
{
	bool b = false;
	size_t len = sizeof b;
	CHECK(mallctl(name, &b, &len, NULL, 0) == 0, "%s reads", name);
	return b;
}

static int write_bool(const char *name, bool v)
{
	return mallctl(name, NULL, NULL, &v, sizeof v);
}

#define N 200
static void *blocks[N];
static size_t sizes[N];

static void *free_all(void *arg)
{
	for (int i = 0; i < N; i++)
		sdallocx(blocks[i], sizes[i], 0);
	return NULL;
}

static void *thread_active(void *arg)
{
	return (void *)(uintptr_t)read_bool("thread.prof.active");
}

static void fill_blocks(void)
{
	static const size_t kinds[] = {1, 17, 300, 4000, 20000, 40000, 300000, 3u << 20};
	for (int i = 0; i < N; i++) {
		sizes[i] = kinds[i % 8] + (size_t)i;
		blocks[i] = malloc(sizes[i]);
		memset(blocks[i], i & 0xff, sizes[i]);
	}
}

static int off_mode(void)
{
	CHECK(!read_bool("opt.prof"), "opt.prof false");
	CHECK(!read_bool("prof.active"), "prof.active reads false");
	CHECK(write_bool("prof.active", true) == ENOENT, "prof.active on: ENOENT");
	CHECK(write_bool("prof.active", false) == 0, "prof.active off: allowed");
	CHECK(write_bool("prof.gdump", true) == ENOENT, "prof.gdump: ENOENT");
	CHECK(mallctl("prof.reset", NULL, NULL, NULL, 0) == ENOENT, "prof.reset: ENOENT");
	const char *name;
	size_t len = sizeof name;
	CHECK(mallctl("thread.prof.name", &name, &len, NULL, 0) == ENOENT, "thread.prof.name");
	CHECK(write_bool("thread.prof.active", true) == ENOENT, "thread.prof.active: ENOENT");
	size_t lg = 1;
	len = sizeof lg;
	CHECK(mallctl("prof.lg_sample", &lg, &len, NULL, 0) == 0 && lg == 0, "lg_sample 0");
	fill_blocks();
	free_all(NULL);
	return CHECK_DONE();
}

/* Run with MALLOC_CONF=prof:true,prof_final:true,prof_prefix:DIR/f: the
 * defaults cairn gives a short command, and a final dump at exit. */
static int final_mode(void)
{
	CHECK(read_bool("opt.prof_final") && read_bool("opt.prof_gdump"),
	      "prof_final and prof_gdump on");
	fill_blocks();
	return CHECK_DONE();
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "off") == 0)
		return off_mode();
	if (argc > 1 && strcmp(argv[1], "final") == 0)
		return final_mode();

	TEST_CASE("mallctl")
	{
		CHECK(read_bool("config.prof") && read_bool("opt.prof"), "config.prof, opt.prof");
		CHECK(read_bool("opt.prof_active") && !read_bool("opt.prof_final"),
		      "prof_active by default, prof_final:false as set");
		const char *prefix = NULL;
		size_t len = sizeof prefix;
		CHECK(mallctl("opt.prof_prefix", &prefix, &len, NULL, 0) == 0 && prefix != NULL &&
		          strcmp(prefix, "jeprof") == 0,
		      "opt.prof_prefix jeprof");
		CHECK(read_bool("prof.active"), "prof.active");
		bool old = false;
		len = sizeof old;
		bool off = false;
		CHECK(mallctl("prof.active", &old, &len, &off, sizeof off) == 0 && old,
		      "prof.active written, old value read");
		CHECK(!read_bool("prof.active"), "prof.active now false");
		CHECK(write_bool("prof.active", true) == 0 && read_bool("prof.active"), "on again");
		CHECK(mallctl("prof.active", NULL, NULL, &off, 4) == EINVAL, "wrong size: EINVAL");
		CHECK(write_bool("prof.gdump", false) == 0 && !read_bool("prof.gdump"),
		      "prof.gdump");
		CHECK(write_bool("prof.thread_active_init", false) == 0 &&
		          !read_bool("prof.thread_active_init"),
		      "prof.thread_active_init");
		pthread_t t;
		void *r;
		pthread_create(&t, NULL, thread_active, NULL);
		pthread_join(t, &r);
		CHECK(r == NULL, "a new thread starts inactive");
		CHECK(write_bool("prof.thread_active_init", true) == 0, "back on");
		pthread_create(&t, NULL, thread_active, NULL);
		pthread_join(t, &r);
		CHECK(r != NULL, "a new thread starts active");

		size_t lg = 99;
		len = sizeof lg;
		CHECK(mallctl("prof.lg_sample", &lg, &len, NULL, 0) == 0 && lg == 0, "lg_sample 0");
		size_t want = 12;
		CHECK(mallctl("prof.reset", NULL, NULL, &want, sizeof want) == 0, "prof.reset 12");
		CHECK(mallctl("prof.lg_sample", &lg, &len, NULL, 0) == 0 && lg == 12,
		      "lg_sample 12: %zu", lg);
		want = 0;
		CHECK(mallctl("prof.reset", NULL, NULL, &want, sizeof want) == 0, "prof.reset 0");
		CHECK(mallctl("prof.reset", NULL, NULL, NULL, 0) == 0, "prof.reset, rate kept");
		CHECK(mallctl("prof.lg_sample", &lg, &len, NULL, 0) == 0 && lg == 0, "lg 0 kept");
		CHECK(mallctl("prof.reset", &lg, &len, NULL, 0) == EPERM, "prof.reset read: EPERM");
		uint64_t interval = 1;
		len = sizeof interval;
		CHECK(mallctl("prof.interval", &interval, &len, NULL, 0) == 0 && interval == 0,
		      "prof.interval 0 without lg_prof_interval");
	}

	TEST_CASE("dump")
	{
		char dir[] = "/tmp/cairn-prof-XXXXXX";
		REQUIRE(mkdtemp(dir) != NULL, "a directory");
		fill_blocks();
		char file[300];
		snprintf(file, sizeof file, "%s/one.heap", dir);
		const char *path = file;
		CHECK(mallctl("prof.dump", NULL, NULL, &path, sizeof path) == 0,
		      "prof.dump to a path");
		CHECK(is_profile(file, "1"), "a private heap_v2 file, interval 1 (lg 0)");
		CHECK(mallctl("prof.dump", NULL, NULL, &path, sizeof path) == EFAULT,
		      "a file that exists is not written: EFAULT");
		const char *got = NULL;
		size_t len = sizeof got;
		CHECK(mallctl("prof.dump", &got, &len, NULL, 0) == EPERM, "prof.dump read: EPERM");
		char prefix[300];
		snprintf(prefix, sizeof prefix, "%s/auto", dir);
		const char *p = prefix;
		CHECK(mallctl("prof.prefix", NULL, NULL, &p, sizeof p) == 0, "prof.prefix");
		p = NULL;
		CHECK(mallctl("prof.prefix", NULL, NULL, &p, sizeof p) == EINVAL,
		      "prof.prefix NULL");
		CHECK(mallctl("prof.dump", NULL, NULL, NULL, 0) == 0, "prof.dump, no path");
		path = NULL;
		CHECK(mallctl("prof.dump", NULL, NULL, &path, sizeof path) == 0, "prof.dump, NULL");
		CHECK(profiles_in(dir, ".m.heap", "1", false) == 2,
		      "two automatic dumps of kind m");
		char name[300];
		snprintf(name, sizeof name, "%s/auto.%d.", dir, (int)getpid());
		DIR *d = opendir(dir);
		int named = 0;
		for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
			char full[600];
			snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
			named += strncmp(full, name, strlen(name)) == 0;
		}
		if (d != NULL)
			closedir(d);
		CHECK(named == 2, "named <prefix>.<pid>.<seq>.m.heap: %d", named);
		free_all(NULL);
		profiles_in(dir, "", "1", true);
	}

	TEST_CASE("thread")
	{
		const char *name = NULL;
		size_t len = sizeof name;
		CHECK(mallctl("thread.prof.name", &name, &len, NULL, 0) == 0 && name != NULL &&
		          name[0] == '\0',
		      "no name at first");
		char mine[] = "worker 7";
		const char *set = mine;
		CHECK(mallctl("thread.prof.name", NULL, NULL, &set, sizeof set) == 0, "name set");
		mine[0] = 'X'; /* copied, not referred to */
		CHECK(mallctl("thread.prof.name", &name, &len, NULL, 0) == 0 &&
		          strcmp(name, "worker 7") == 0,
		      "name read back: %s", name);
		set = "a name far longer than any thread should need to have";
		CHECK(mallctl("thread.prof.name", NULL, NULL, &set, sizeof set) == 0, "long name");
		CHECK(mallctl("thread.prof.name", &name, &len, NULL, 0) == 0 &&
		          strlen(name) == 31 && strncmp(name, set, 31) == 0,
		      "cut to 31 bytes: %s", name);
		set = "tab\there";
		CHECK(mallctl("thread.prof.name", NULL, NULL, &set, sizeof set) == EFAULT,
		      "control byte: EFAULT");
		set = NULL;
		CHECK(mallctl("thread.prof.name", NULL, NULL, &set, sizeof set) == EFAULT,
		      "NULL: EFAULT");
		set = "x";
		CHECK(mallctl("thread.prof.name", &name, &len, &set, sizeof set) == EPERM,
		      "read and write: EPERM");
		CHECK(read_bool("thread.prof.active"), "thread.prof.active");
		CHECK(write_bool("thread.prof.active", false) == 0 &&
		          !read_bool("thread.prof.active"),
		      "thread.prof.active off");
		CHECK(write_bool("thread.prof.active", true) == 0 &&
		          read_bool("thread.prof.active"),
		      "thread.prof.active on");
	}

	TEST_CASE("blocks")
	{
		fill_blocks();
		for (int i = 0; i < N; i++)
			CHECK(malloc_usable_size(blocks[i]) == nallocx(sizes[i], 0),
			      "%zu: usable %zu, nallocx %zu", sizes[i],
			      malloc_usable_size(blocks[i]), nallocx(sizes[i], 0));
		for (int i = 0; i < N; i += 3) {
			size_t n = sizes[i] * 3 + 1;
			blocks[i] = realloc(blocks[i], n);
			CHECK(blocks[i] != NULL &&
			          ((unsigned char *)blocks[i])[sizes[i] - 1] == (i & 0xff),
			      "realloc keeps the data");
			sizes[i] = n;
		}
		pthread_t t;
		pthread_create(&t, NULL, free_all, NULL);
		pthread_join(t, NULL);
	}

	TEST_CASE("fork")
	{
		fill_blocks();
		pid_t pid = fork();
		if (pid == 0) {
			free_all(NULL);
			fill_blocks();
			free_all(NULL);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's samples");
		free_all(NULL);
	}

	TEST_CASE("off")
	{
		pid_t pid = fork();
		if (pid == 0) {
			setenv("MALLOC_CONF", "prof:false", 1);
			execl("/proc/self/exe", argv[0], "off", (char *)NULL);
			_exit(99);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "prof:false answers (status %d)",
		      WEXITSTATUS(st));
	}

	TEST_CASE("final")
	{
		char dir[] = "/tmp/cairn-prof-XXXXXX";
		REQUIRE(mkdtemp(dir) != NULL, "a directory");
		char conf[200];
		snprintf(
		    conf, sizeof conf,
		    "prof:true,prof_final:true,prof_gdump:true,lg_prof_sample:19,prof_prefix:%s/f",
		    dir);
		pid_t pid = fork();
		if (pid == 0) {
			setenv("MALLOC_CONF", conf, 1);
			execl("/proc/self/exe", argv[0], "final", (char *)NULL);
			_exit(99);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ran (status %d)",
		      WEXITSTATUS(st));
		CHECK(profiles_in(dir, ".f.heap", "524288", false) == 1,
		      "one final dump, at the default interval");
		profiles_in(dir, "", "", true);
	}
	return CHECK_DONE();
}
