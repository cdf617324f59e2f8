/* SPDX-License-Identifier: MIT */
/* Running something in a child process, for the tests.
 *
 * child_run() re-executes the test (/proc/self/exe) with options cairn reads at startup
 * (MALLOC_CONF, CAIRN_CGROUP_ROOT), which can only be tried in a fresh process, and collects
 * its stderr; child_fold_checks() adds the child's check tally to this process's.
 * child_call() runs a function of the test in a forked child instead (no exec), its stderr
 * collected the same way: for a child meant to die. Both kill a child that outlives its time
 * limit. child_wait() waits for a child the test forked itself, up to a time limit.
 *
 * The including file defines _GNU_SOURCE before its first #include (cpu_set_t). */
#ifndef CAIRN_TESTS_CHILD_H
#define CAIRN_TESTS_CHILD_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"

#define CHILD_MAX_ARGS 4

/* How to start the child. A field left out (zero) means what follows its colon. */
struct child_opts {
	const char *name;                 /* its argv[0] */
	const char *args[CHILD_MAX_ARGS]; /* its arguments, up to the first NULL */
	const char *conf;                 /* MALLOC_CONF; NULL: none, whatever ours is */
	const char *const *env;           /* more variables, NAME, VALUE, ..., NULL; NULL: none */
	const cpu_set_t *cpus;            /* the CPUs it may run on; NULL: ours */
	unsigned timeout;                 /* seconds until SIGALRM kills it; 0: 30 */
	int no_core;                      /* 1 for a child meant to abort: no core dump */
	int keep_tail;                    /* 1: output beyond `cap` keeps its end, not its start */
	unsigned long as_limit;           /* RLIMIT_AS in bytes, set before exec; 0: ours */
};

/* Reads fd to its end into out (cap bytes with the terminating NUL), so that the writer is
 * never blocked on a full pipe. What does not fit is dropped or, with keep_tail, written over
 * from the start of out, where a tally printed last then survives. Returns the length. */
static inline size_t child_read_all(int fd, char *out, size_t cap, int keep_tail)
{
	char spill[4096];
	size_t len = 0;
	for (;;) {
		if (len == cap - 1 && keep_tail)
			len = 0;
		size_t room = cap - 1 - len;
		ssize_t r = room > 0 ? read(fd, out + len, room) : read(fd, spill, sizeof spill);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (room > 0)
			len += (size_t)r;
	}
	out[len] = '\0';
	return len;
}

/* Waits for the child pid, at most secs seconds (0: as long as it takes), then kills it
 * (SIGKILL) and reaps it. Returns its wait status; -1 when it ran out of time, -2 when
 * waitpid failed. No allocation: also for the child of a threaded fork. */
static inline int child_wait(pid_t pid, double secs)
{
	double deadline = secs > 0 ? now_s() + secs : 0;
	for (;;) {
		int st = 0;
		pid_t r = waitpid(pid, &st, secs > 0 ? WNOHANG : 0);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -2;
		if (secs > 0 && now_s() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		if (r == 0)
			usleep(1000);
	}
}

/* Forks a child with its stderr into out (see child_read_all; *len, where not NULL, gets the
 * bytes read) that runs fn(arg) and exits 0, or, with fn NULL, runs /proc/self/exe as
 * opts->name with opts->args, MALLOC_CONF and opts->env. Returns its wait status. In the
 * child, exit status 125: RLIMIT_AS could not be set; 126: the CPUs could not be set; 127:
 * exec failed. An exec'd child gets the case this process runs as CHECK_PARENT_CASE. */
static inline int child_start(const struct child_opts *opts, void (*fn)(void *), void *arg,
                              char *out, size_t cap, size_t *len)
{
	unsigned timeout = opts->timeout ? opts->timeout : 30;
	int fd[2];
	REQUIRE(pipe(fd) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], 2);
		close(fd[1]);
		if (opts->no_core) {
			struct rlimit no_core = {0, 0};
			setrlimit(RLIMIT_CORE, &no_core);
			prctl(PR_SET_DUMPABLE, 0); /* exec sets it back; fn's child keeps it */
		}
		if (fn == NULL) {
			if (opts->conf != NULL)
				setenv("MALLOC_CONF", opts->conf, 1);
			else
				unsetenv("MALLOC_CONF");
			for (const char *const *e = opts->env; e != NULL && e[0] != NULL; e += 2)
				setenv(e[0], e[1], 1);
			const char *label = check_case_label();
			if (label != NULL)
				setenv("CHECK_PARENT_CASE", label, 1);
		}
		if (opts->cpus != NULL && sched_setaffinity(0, sizeof *opts->cpus, opts->cpus) != 0)
			_exit(126);
		/* Last: setenv above may allocate. */
		if (opts->as_limit != 0) {
			struct rlimit as = {opts->as_limit, opts->as_limit};
			if (setrlimit(RLIMIT_AS, &as) != 0)
				_exit(125);
		}
		alarm(timeout); /* survives exec: a hung child dies */
		if (fn != NULL) {
			fn(arg);
			_exit(0);
		}
		const char *argv[CHILD_MAX_ARGS + 2] = {opts->name};
		for (int i = 0; i < CHILD_MAX_ARGS && opts->args[i] != NULL; i++)
			argv[i + 1] = opts->args[i];
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(fd[1]);
	/* SIGALRM cannot end a child that blocks it in every thread it has
	 * left: a watchdog sends SIGKILL a little later. */
	pid_t watchdog = fork();
	if (watchdog == 0) {
		close(fd[0]);
		sleep(timeout + 2);
		kill(pid, SIGKILL);
		_exit(0);
	}
	size_t n = child_read_all(fd[0], out, cap, opts->keep_tail);
	close(fd[0]);
	if (len != NULL)
		*len = n;
	int st = child_wait(pid, 0);
	if (watchdog > 0) {
		kill(watchdog, SIGKILL);
		child_wait(watchdog, 0);
	}
	return st;
}

/* Runs /proc/self/exe as opts->name (see child_start); returns its wait status. */
static inline int child_run(const struct child_opts *opts, char *out, size_t cap, size_t *len)
{
	return child_start(opts, NULL, NULL, out, cap, len);
}

/* Runs fn(arg) in a forked child (see child_start); returns its wait status. Of opts, only
 * timeout, no_core, cpus and as_limit apply. */
static inline int child_call(void (*fn)(void *), void *arg, const struct child_opts *opts,
                             char *out, size_t cap, size_t *len)
{
	return child_start(opts, fn, arg, out, cap, len);
}

/* Adds the child's "checks: N passed, M failed" to this process's tally and copies its
 * output to stderr. The line is shown as "child checks: ...", as a child that keeps its own
 * count prints it already: tests/run.sh takes a line that begins "checks:" for the tally of
 * the whole program. Returns the tally within out, or NULL if the child printed none. */
static inline const char *child_fold_checks(const char *out)
{
	const char *tally = strstr(out, "checks: ");
	int ok = 0, bad = 0;
	if (tally == NULL || sscanf(tally, "checks: %d passed, %d failed", &ok, &bad) != 2) {
		fputs(out, stderr);
		return NULL;
	}
	check_passed += ok;
	check_failed += bad;
	int named = tally - out >= 6 && strncmp(tally - 6, "child ", 6) == 0;
	fprintf(stderr, "%.*s%s%s", (int)(tally - out), out, named ? "" : "child ", tally);
	return tally;
}

/* One check that the child exited with status 0 and printed its tally; the
 * failure message starts with the printf-style label given. */
#define CHECK_CHILD(st, tally, ...)                                                                \
	do {                                                                                       \
		char child_label_[256];                                                            \
		snprintf(child_label_, sizeof child_label_, __VA_ARGS__);                          \
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && (tally) != NULL, "%s: %s %d",       \
		      child_label_, WIFSIGNALED(st) ? "killed by signal" : "exit status",          \
		      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));                           \
	} while (0)

#endif
