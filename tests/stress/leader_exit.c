/* SPDX-License-Identifier: MIT */
/* A process whose leading thread leaves with pthread_exit ends when its
 * last other thread does, as without cairn: cairn's purging thread never
 * keeps it alive. Each case runs in a child with a time limit and must
 * exit with status 0 once the program's own threads are gone:
 *   main       main frees enough to start the purging thread, then exits;
 *   worker     main exits first, a worker allocates for a while after it;
 *   notcache   main exits with thread heaps off (no heap of its own);
 *   forked     in a child of fork from a second thread, the forking
 *              thread (the child's leader) starts the purging thread and
 *              exits.
 *
 * run.sh: alone (each child must end within 3 s of its last thread). */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "clock.h"
#include "proc.h"

#define MiB ((size_t)1 << 20)

/* Allocates and frees enough that cairn starts its purging thread, and
 * waits up to a second for it to show. */
static void start_purger(void)
{
	void *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = malloc(256 << 10);
		if (p[i] != NULL)
			memset(p[i], 1, 256 << 10);
	}
	for (int i = 0; i < 64; i++)
		free(p[i]);
	void *h = malloc(8 * MiB);
	if (h != NULL)
		memset(h, 1, 8 * MiB);
	free(h);
	for (int i = 0; i < 100 && purge_threads() <= 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void *worker(void *arg)
{
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	for (int i = 0; i < 10000; i++) {
		void *p = malloc((size_t)(i % 300) * 16);
		free(p);
	}
	return NULL;
}

static void *fork_then_exit(void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: this thread is all of it, and leads it. */
		start_purger();
		if (purge_threads() <= 0) {
			fprintf(stderr, "no purging thread in the forked child\n");
			_exit(1);
		}
		pthread_exit(NULL);
	}
	/* Up to 3 s, then it is killed: a child that does not end by itself
	 * would not end on a signal that cairn's thread blocks either. */
	int st = child_wait(pid, 3);
	return (void *)(intptr_t)st;
}

static int child(const char *mode)
{
	if (strcmp(mode, "forked") == 0) {
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, fork_then_exit, NULL) == 0, "pthread_create");
		void *st;
		pthread_join(t, &st);
		int s = (int)(intptr_t)st;
		CHECK(s >= 0 && WIFEXITED(s) && WEXITSTATUS(s) == 0, "forked child: %s %d",
		      s < 0            ? "still running after 3 s, killed; wait"
		      : WIFSIGNALED(s) ? "killed by signal"
		                       : "exit status",
		      s < 0            ? s
		      : WIFSIGNALED(s) ? WTERMSIG(s)
		                       : WEXITSTATUS(s));
		return CHECK_DONE();
	}
	start_purger();
	CHECK(purge_threads() > 0, "no purging thread after freeing 24 MiB");
	if (strcmp(mode, "worker") == 0) {
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
		pthread_detach(t);
	}
	/* The tally goes out now: what follows is the exit under test. */
	if (CHECK_DONE() != 0)
		exit(1);
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(argv[2]);
	static const struct {
		const char *name, *mode, *conf;
	} cases[] = {
	    {"main", "main", NULL},
	    {"worker", "worker", NULL},
	    {"notcache", "notcache", "tcache:false"},
	    {"main_4_purgers", "main", "max_background_threads:4,narenas:4"},
	    {"forked", "forked", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		TEST_CASE(cases[i].name)
		{
			struct child_opts opts = {.name = "leader_exit",
			                          .args = {"--child", cases[i].mode},
			                          .conf = cases[i].conf,
			                          .timeout = 5};
			static char out[8192];
			double t0 = now_s();
			int st = child_run(&opts, out, sizeof out, NULL);
			double s = now_s() - t0;
			const char *tally = child_fold_checks(out);
			CHECK_CHILD(st, tally, "%s (MALLOC_CONF=%s)", cases[i].mode,
			            cases[i].conf ? cases[i].conf : "");
			fprintf(stderr, "%s (MALLOC_CONF=%s): ended after %.3f s\n", cases[i].mode,
			        cases[i].conf ? cases[i].conf : "", s);
		}
	return CHECK_DONE();
}
