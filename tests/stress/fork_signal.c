/* SPDX-License-Identifier: MIT */
/* fork_signal.c: fork from a signal handler, and fork against stdio, never hang.
 *
 * The test re-executes itself (/proc/self/exe --run MODE) once per scenario, each with a
 * deadline (an alarm that kills it), so a hang is a failure rather than a stuck test suite:
 *   single      one thread loops malloc/free of sizes that refill slabs and take large runs;
 *               a POSIX timer (SIGEV_SIGNAL: no thread) sends SIGUSR1 every millisecond and the
 *               handler forks. The main line forks too now and then, so signals also land
 *               inside fork itself. This is glibc's tst-mallocfork2. It runs with
 *               background_thread:false, so that the process stays single-threaded: see
 *               single-bg.
 *   single-bg   the same after freeing enough large blocks to start cairn's purging thread
 *               (every program becomes multi-threaded then, as far as glibc knows). Here the
 *               main line does not fork: with more than one thread glibc's own fork holds its
 *               atfork lock from the last prepare handler to the first parent handler, and a
 *               handler that forks there hangs in glibc (with any malloc).
 *   threads     three threads allocate and free (some blocks freed by another thread); the
 *               timer's signal goes to whichever of them runs, and its handler forks. (The
 *               main thread, which reaps, blocks it: with forks slower than the timer, the
 *               handlers would starve it.)
 *   stdio       glibc's tst-malloc-fork-deadlock: one thread forks in a loop (its children
 *               _exit at once or after a malloc), one calls fflush(NULL) in a loop, one reads
 *               lines of every length with getline (which reallocs under the FILE's lock),
 *               and two more allocate.
 * Every child of a fork allocates and frees small, large and huge blocks and _exits 0; its
 * parent reaps it and counts it. Each run lasts RUN_SECONDS (stdio: longer if it had fewer
 * than MIN_FORKS forks by then) and prints its fork count.
 *
 * run.sh: alone (each run forks against a deadline). */
#define _GNU_SOURCE
#include "child.h"
#include "clock.h"
#include "rng.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_SECONDS  1.5
#define RUN_TIMEOUT  10 /* seconds before the alarm ends a hung run */
#define TIMER_NS     1000000
#define SLOTS        512
#define NTHREADS     3
#define MIN_FORKS    20
#define FORK_SLEEPUS 200
/* stdio: the forking thread competes with fflush(NULL) for glibc's stdio list
 * lock, and gets few turns on a loaded machine: that run goes on past
 * RUN_SECONDS until MIN_FORKS forks went through, up to this long. */
#define STDIO_MAX_SECONDS 6.0

static atomic_long forks, fork_failures, bad_children, ops;
static atomic_int stop;

/* In a child: every kind of block, then _exit. */
static void child_body(int quick)
{
	int bad = 0;
	if (!quick) {
		static const size_t sizes[] = {16, 100, 1000, 5000, 40000, 300000, 3 << 20};
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			char *p = malloc(sizes[i]);
			if (p == NULL) {
				bad = 1;
				continue;
			}
			memset(p, 0x5a, sizes[i]);
			free(p);
		}
	}
	_exit(bad);
}

/* Reaps the children that ended; with block, all of them. */
static void reap(int block)
{
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, block ? 0 : WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			atomic_fetch_add(&bad_children, 1);
	}
}

static timer_t timer;
/* When the timer's run ends (now_s()): a handler called later disarms the
 * timer instead of forking. Where a fork takes longer than the timer's
 * period (a sanitizer's build on a loaded machine), the allocating threads
 * go from one handler to the next and would never see the end of the run
 * themselves, nor let the main thread join them. */
static double timer_until;

static void on_signal(int sig)
{
	int saved = errno;
	if (now_s() >= timer_until) {
		struct itimerspec off = {{0, 0}, {0, 0}};
		timer_settime(timer, 0, &off, NULL);
		errno = saved;
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		child_body(0);
	if (pid < 0)
		atomic_fetch_add(&fork_failures, 1);
	else
		atomic_fetch_add(&forks, 1);
	errno = saved;
}

static void start_timer(void)
{
	timer_until = now_s() + RUN_SECONDS;
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0, "timer_create: %s",
	        strerror(errno));
	struct itimerspec its = {{0, TIMER_NS}, {0, TIMER_NS}};
	timer_settime(timer, 0, &its, NULL);
}

static void stop_timer(void)
{
	struct itimerspec off = {{0, 0}, {0, 0}};
	timer_settime(timer, 0, &off, NULL);
	timer_delete(timer);
	signal(SIGUSR1, SIG_IGN);
}

/* Sizes that keep slabs refilling (many classes), with some large runs. */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 100, x = rng_next(rng);
	if (r < 85)
		return 16 + x % 2048;
	if (r < 98)
		return 2049 + x % 30000;
	return 40000 + x % 200000;
}

/* One thread's allocation loop; slots of its own, and every 16th block is handed to the
 * shared slot array so that others free it. */
static void *_Atomic shared_slot[64];

static void alloc_loop(uint64_t seed, int main_forks)
{
	void *slot[SLOTS] = {0};
	uint64_t rng = seed;
	double end = now_s() + RUN_SECONDS;
	for (long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		unsigned k = (unsigned)(rng_next(&rng) % SLOTS);
		free(slot[k]);
		size_t n = pick_size(&rng);
		slot[k] = malloc(n);
		if (slot[k] != NULL)
			memset(slot[k], (int)i, n < 64 ? n : 64);
		if ((i & 15) == 0) {
			void *old = atomic_exchange(&shared_slot[rng_next(&rng) % 64], slot[k]);
			slot[k] = old;
		}
		if ((i & 15) == 0 && main_forks >= 0 && now_s() > end)
			break;
		if ((i & 255) == 0) {
			atomic_fetch_add_explicit(&ops, 256, memory_order_relaxed);
			if (main_forks > 0 && (i & 4095) == 0) {
				pid_t pid = fork();
				if (pid == 0)
					child_body(1);
				if (pid > 0)
					atomic_fetch_add(&forks, 1);
			}
			if (main_forks >= 0)
				reap(0);
		}
	}
	for (int k = 0; k < SLOTS; k++)
		free(slot[k]);
}

static void *thread_main(void *arg)
{
	alloc_loop(0x1234567ull * (uintptr_t)arg + 99, -1);
	return NULL;
}

/* --------------------------------------------------------------- stdio */

static FILE *lines;

static void *getline_thread(void *arg)
{
	while (!atomic_load(&stop)) {
		/* A fresh buffer each time: getline mallocs and reallocs it under the FILE's
		 * lock. */
		char *line = NULL;
		size_t cap = 0;
		ssize_t n = getline(&line, &cap, lines);
		if (n < 0) {
			clearerr(lines);
			rewind(lines);
		}
		free(line);
	}
	return NULL;
}

static void *fflush_thread(void *arg)
{
	while (!atomic_load(&stop))
		fflush(NULL);
	return NULL;
}

static void *fork_thread(void *arg)
{
	uint64_t rng = 77;
	while (!atomic_load(&stop)) {
		pid_t pid = fork();
		if (pid == 0) {
			if (rng_next(&rng) & 1)
				_exit(0);
			child_body(0);
		}
		if (pid < 0) {
			atomic_fetch_add(&fork_failures, 1);
			usleep(1000);
			continue;
		}
		atomic_fetch_add(&forks, 1);
		int st = child_wait(pid, 0);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			atomic_fetch_add(&bad_children, 1);
	}
	return NULL;
}

static int run_stdio(void)
{
	lines = tmpfile();
	REQUIRE(lines != NULL, "tmpfile: %s", strerror(errno));
	uint64_t rng = 5;
	for (int i = 0; i < 2000; i++) {
		size_t n = 1 + rng_next(&rng) % (i % 10 == 0 ? 20000 : 300);
		for (size_t j = 0; j < n; j++)
			fputc('a' + (int)(j % 26), lines);
		fputc('\n', lines);
	}
	rewind(lines);
	pthread_t t[5];
	void *(*fn[5])(void *) = {getline_thread, fflush_thread, fork_thread, thread_main,
	                          thread_main};
	for (int i = 0; i < 5; i++)
		REQUIRE(pthread_create(&t[i], NULL, fn[i], (void *)(uintptr_t)i) == 0,
		        "pthread_create");
	double start = now_s();
	while (now_s() - start < RUN_SECONDS ||
	       (atomic_load(&forks) < MIN_FORKS && now_s() - start < STDIO_MAX_SECONDS))
		usleep(10000);
	atomic_store(&stop, 1);
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	fclose(lines);
	return 0;
}

/* --------------------------------------------------------------- one run */

static int run_main(const char *mode)
{
	double t0 = now_s();
	if (strcmp(mode, "single") == 0) {
		start_timer();
		alloc_loop(1, 1);
		stop_timer();
	} else if (strcmp(mode, "single-bg") == 0) {
		/* 8 MiB of large blocks freed: the purging thread starts. */
		void *big[32];
		for (int i = 0; i < 32; i++)
			big[i] = malloc(256 << 10);
		for (int i = 0; i < 32; i++)
			free(big[i]);
		usleep(50 * 1000);
		start_timer();
		alloc_loop(2, 0);
		stop_timer();
	} else if (strcmp(mode, "threads") == 0) {
		pthread_t t[NTHREADS];
		for (int i = 0; i < NTHREADS; i++)
			REQUIRE(pthread_create(&t[i], NULL, thread_main,
			                       (void *)(uintptr_t)(i + 1)) == 0,
			        "pthread_create");
		/* The signals go to the allocating threads: this one reaps and
		 * ends the run. */
		sigset_t usr1;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
		start_timer();
		double end = now_s() + RUN_SECONDS;
		while (now_s() < end) {
			reap(0);
			usleep(FORK_SLEEPUS);
		}
		atomic_store(&stop, 1);
		for (int i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		stop_timer();
	} else if (strcmp(mode, "stdio") == 0) {
		run_stdio();
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	reap(1);
	double secs = now_s() - t0;
	long n = atomic_load(&forks);
	fprintf(stderr, "%s: %ld forks in %.2f s (%.0f/s), %ld allocator operations\n", mode, n,
	        secs, (double)n / secs, atomic_load(&ops));
	CHECK(n >= MIN_FORKS, "%s: only %ld forks", mode, n);
	CHECK(atomic_load(&bad_children) == 0, "%s: %ld children failed", mode,
	      atomic_load(&bad_children));
	CHECK(atomic_load(&fork_failures) == 0, "%s: fork failed %ld times", mode,
	      atomic_load(&fork_failures));
	for (int i = 0; i < 64; i++)
		free(shared_slot[i]);
	return CHECK_DONE();
}

static void run_mode(const char *mode, const char *conf)
{
	struct child_opts opts = {
	    .name = "fork_signal",
	    .args = {"--run", mode},
	    .conf = conf,
	    .timeout = RUN_TIMEOUT,
	    .keep_tail = 1,
	};
	static char out[16384];
	double t0 = now_s();
	int st = child_run(&opts, out, sizeof out, NULL);
	fprintf(stderr, "run %s (%.2f s):\n", mode, now_s() - t0);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "run %s%s", mode,
	            WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " hung (killed after the deadline)"
	                                                       : "");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--run") == 0)
		return run_main(argv[2]);
	TEST_CASE("single") run_mode("single", "background_thread:false");
	TEST_CASE("single-bg") run_mode("single-bg", NULL);
	TEST_CASE("threads") run_mode("threads", NULL);
	TEST_CASE("stdio") run_mode("stdio", NULL);
	return CHECK_DONE();
}
