/* SPDX-License-Identifier: MIT */
/* prof.c: the heap profiler from the program's side, every allocation
 * sampled (lg_prof_sample:0). Cases:
 *   mallctl   opt.prof*, prof.active, prof.thread_active_init, prof.gdump,
 *             prof.lg_sample, prof.reset (with a new rate; EPERM read),
 *             prof.interval, prof.dump and prof.prefix (ENOENT until the
 *             dump writer is in);
 *   thread    thread.prof.name (copied, bounded, EFAULT for a control
 *             byte or NULL, EPERM read and written at once), thread.prof.active,
 *             a new thread starting with prof.thread_active_init;
 *   blocks    sampled blocks of every size kind behave as any: usable size
 *             as nallocx says, sdallocx with the size asked for, realloc
 *             (data kept), frees from another thread;
 *   fork      a child allocates and frees sampled blocks, and frees its
 *             parent's;
 *   off       run again with MALLOC_CONF=prof:false: the prof:false answers. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cairn/jemalloc.h>

#include "check.h"

const char *malloc_conf = "prof:true,lg_prof_sample:0";

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

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "off") == 0)
		return off_mode();

	TEST_CASE("mallctl")
	{
		CHECK(read_bool("config.prof") && read_bool("opt.prof"), "config.prof, opt.prof");
		CHECK(read_bool("opt.prof_active") && read_bool("opt.prof_final"), "defaults");
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
		const char *path = NULL;
		CHECK(mallctl("prof.dump", NULL, NULL, &path, sizeof path) == ENOENT,
		      "prof.dump: not yet");
		CHECK(mallctl("prof.prefix", NULL, NULL, &path, sizeof path) == ENOENT,
		      "prof.prefix: not yet");
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
	return CHECK_DONE();
}
