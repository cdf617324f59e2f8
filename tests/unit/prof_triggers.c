/* SPDX-License-Identifier: MIT */
/* The heap profiler's dump triggers, counted (prof_dumps_due) and the
 * files they wrote: every 2^lg_prof_interval bytes allocated ('i'), a new
 * peak of the sampled live bytes at most once a second and not in the
 * profiler's first second ('u'); the final one
 * ('f') comes from the library's destructor and is off here (tests/api/
 * prof.c sees it). The files go into a directory of this run's own
 * (prof.prefix): counted by pid under /tmp, a file an earlier run left
 * (its last interval dump, made by a sample after its clean-up) counted
 * when a later run got the same pid. Sampling stops before the clean-up,
 * so that nothing is written after it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cairn/jemalloc.h>

#include "check.h"
#include "clock.h"
#include "prof/profiler.h"

const char *malloc_conf = "prof:true,lg_prof_sample:12,lg_prof_interval:22,prof_final:false,"
                          "prof_prefix:/tmp/cairn-prof-triggers";

static char dir[] = "/tmp/cairn-prof-triggers.XXXXXX";

/* The files this process wrote of kind `kind`, each checked to start as a
 * heap profile does; with unlink, removed. */
static int files_of(char kind, int unlink_them)
{
	char start[64];
	snprintf(start, sizeof start, "t.%d.", (int)getpid());
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, start, strlen(start)) != 0 || len < 7 ||
		    (kind != '*' && e->d_name[len - 6] != kind))
			continue;
		char path[512], head[16] = "";
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(head, sizeof head, f) != NULL &&
			    strncmp(head, "heap_v2/4096", 12) == 0)
				n++;
			fclose(f);
		}
		if (unlink_them)
			unlink(path);
	}
	closedir(d);
	return n;
}

int main(void)
{
	REQUIRE(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "%s/t", dir);
	const char *p = prefix;
	REQUIRE(mallctl("prof.prefix", NULL, NULL, &p, sizeof p) == 0, "prof.prefix %s", prefix);
	free(malloc(1));
	TEST_CASE("start")
	{
		/* Well within the profiler's first second: a heap that grows
		 * from nothing is a new peak at every sample, and none is
		 * dumped yet. */
		static void *held[2048];
		double t0 = now_s();
		for (int i = 0; i < 2048; i++)
			held[i] = malloc(1024);
		CHECK(now_s() - t0 < 0.5 && prof_dumps_due('u') == 0,
		      "no peak dump in the first second: %llu in %.3f s",
		      (unsigned long long)prof_dumps_due('u'), now_s() - t0);
		for (int i = 0; i < 2048; i++)
			free(held[i]);
	}
	TEST_CASE("interval")
	{
		uint64_t before = prof_dumps_due('i');
		/* 64 MiB through the thread heap, 16 times 2^22 bytes. */
		for (int i = 0; i < (64 << 20) / 512; i++)
			free(malloc(512));
		uint64_t n = prof_dumps_due('i') - before;
		CHECK(n >= 12 && n <= 17, "interval dumps for 64 MiB at 4 MiB: %llu",
		      (unsigned long long)n);
		CHECK(files_of('i', 0) == (int)prof_dumps_due('i'),
		      "each interval dump written: %d files for %llu", files_of('i', 0),
		      (unsigned long long)prof_dumps_due('i'));
	}
	TEST_CASE("peak")
	{
		static void *held[4096];
		struct timespec pause = {1, 100000000};
		nanosleep(&pause, NULL); /* past the last peak dump's second */
		uint64_t before = prof_dumps_due('u');
		for (int i = 0; i < 2048; i++)
			held[i] = malloc(1024);
		uint64_t first = prof_dumps_due('u') - before;
		CHECK(first == 1, "one peak dump at first, the rest within the second: %llu",
		      (unsigned long long)first);
		nanosleep(&pause, NULL);
		for (int i = 2048; i < 4096; i++)
			held[i] = malloc(1024);
		CHECK(prof_dumps_due('u') - before == 2, "a second peak a second later: %llu",
		      (unsigned long long)(prof_dumps_due('u') - before));
		for (int i = 0; i < 4096; i++)
			free(held[i]);
		for (int i = 0; i < 4096; i++)
			held[i] = malloc(1024);
		CHECK(prof_dumps_due('u') - before == 2, "not a new peak: no dump");
		for (int i = 0; i < 4096; i++)
			free(held[i]);
		CHECK(files_of('u', 0) == (int)prof_dumps_due('u'), "each peak dump written: %d",
		      files_of('u', 0));
	}
	bool off = false;
	CHECK(mallctl("prof.active", NULL, NULL, &off, sizeof off) == 0, "prof.active false");
	files_of('*', 1);
	CHECK(rmdir(dir) == 0, "the run's directory left empty");
	return CHECK_DONE();
}
