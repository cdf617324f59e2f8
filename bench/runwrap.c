/* SPDX-License-Identifier: MIT */
/* runwrap: runs one benchmark process and measures it from outside.
 *
 * Not a workload: the harness bench/run.py starts every timed run through
 * it. It forks, sets LD_PRELOAD in the child only (so the wrapper itself
 * always runs on glibc malloc and measures every allocator the same way),
 * execs the program, and reaps it with wait4(), whose struct rusage gives the
 * child's peak resident set (ru_maxrss) and CPU times -- no dependency on
 * /usr/bin/time.
 *
 * With -s it also samples the child's resident set every INTERVAL_MS
 * milliseconds (default 100) from a helper thread, reading
 * /proc/<pid>/statm (field 2, resident pages), and writes the time series
 * to SAMPLE_FILE, one "<seconds since start> <RSS KiB>" line per sample:
 * RSS over time, seen from outside, for any program.
 *
 * Usage: runwrap [-p PRELOAD] [-s SAMPLE_FILE [-i INTERVAL_MS]]
 *                -o RESULT_FILE -- PROGRAM [ARGS...]
 *   -p ''  or no -p: LD_PRELOAD is removed from the child's environment.
 * RESULT_FILE receives one line:
 *   wall_s=<s> user_s=<s> sys_s=<s> maxrss_kib=<KiB> status=<exit:N|signal:N>
 *   [samples=<n> rss_last_kib=<KiB of the last sample>]
 * The child's stdout and stderr are left alone. runwrap exits 0 when it
 * could run the program and write the result (whatever the program's own
 * status), 127 when it could not start it, 1 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

/* The RSS sampler (-s). */
static struct {
	pthread_t th;
	FILE *f;
	char statm[64];
	long interval_ms, page_kib;
	double t0;
	_Atomic int stop;
	long samples, last_kib;
} smp;

/* Resident KiB of the child from /proc/<pid>/statm, -1 once it is gone
 * (or a zombie: statm then reads all zeros). */
static long child_rss_kib(void)
{
	char buf[256];
	int fd = open(smp.statm, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long size = 0, res = 0;
	if (sscanf(buf, "%ld %ld", &size, &res) != 2 || size == 0)
		return -1;
	return res * smp.page_kib;
}

static void *sampler(void *arg)
{
	(void)arg;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&smp.stop)) {
		long kib = child_rss_kib();
		if (kib >= 0) {
			fprintf(smp.f, "%.3f %ld\n", bench_now() - smp.t0, kib);
			smp.samples++;
			smp.last_kib = kib;
		}
		next.tv_nsec += smp.interval_ms * 1000000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *preload = NULL, *out = NULL, *samples = NULL;
	int interval_ms = 100;
	const struct bench_opt opts[] = {
	    {'p', "PRELOAD", BENCH_STR, &preload, "LD_PRELOAD of the program ('' or none: unset)"},
	    {'s', "SAMPLE_FILE", BENCH_STR, &samples, "write the program's RSS over time there"},
	    {'i', "INTERVAL_MS", BENCH_INT, &interval_ms, "with -s: milliseconds between samples"},
	    {'o', "RESULT_FILE", BENCH_STR, &out, "write the result line there"},
	    {0},
	};
	int prog = bench_parse(argc, argv, opts,
	                       "[-p PRELOAD] [-s SAMPLE_FILE [-i INTERVAL_MS]] "
	                       "-o RESULT_FILE -- PROGRAM [ARGS...]");

	if (!out || prog >= argc || interval_ms < 1)
		bench_usage();
	smp.interval_ms = interval_ms;
	if (samples) {
		smp.f = fopen(samples, "w");
		if (!smp.f) {
			fprintf(stderr, "runwrap: %s: %s\n", samples, strerror(errno));
			return 1;
		}
		smp.page_kib = sysconf(_SC_PAGESIZE) / 1024;
	}

	FILE *f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "runwrap: %s: %s\n", out, strerror(errno));
		return 1;
	}

	double t0 = bench_now();
	pid_t pid = fork();
	if (pid < 0) {
		perror("runwrap: fork");
		return 127;
	}
	if (pid == 0) {
		if (preload && *preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execv(argv[prog], argv + prog);
		fprintf(stderr, "runwrap: %s: %s\n", argv[prog], strerror(errno));
		_exit(127);
	}
	if (samples) {
		snprintf(smp.statm, sizeof smp.statm, "/proc/%d/statm", (int)pid);
		smp.t0 = t0;
		if (pthread_create(&smp.th, NULL, sampler, NULL) != 0) {
			fprintf(stderr, "runwrap: cannot start the RSS sampler\n");
			fclose(smp.f);
			samples = NULL;
		}
	}

	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runwrap: wait4");
			return 127;
		}
	}
	double wall = bench_now() - t0;
	if (samples) {
		atomic_store(&smp.stop, 1);
		pthread_join(smp.th, NULL);
		if (fclose(smp.f) != 0)
			perror("runwrap: writing the samples");
	}

	char st[32];
	if (WIFEXITED(status))
		snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
	else
		snprintf(st, sizeof st, "unknown:%d", status);
	fprintf(f, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld status=%s", wall,
	        tv(ru.ru_utime), tv(ru.ru_stime), ru.ru_maxrss, st);
	if (samples)
		fprintf(f, " samples=%ld rss_last_kib=%ld", smp.samples, smp.last_kib);
	fprintf(f, "\n");
	if (fclose(f) != 0) {
		perror("runwrap: writing the result");
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? 127 : 0;
}
