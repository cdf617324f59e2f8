/* runwrap: runs one benchmark process and measures it from outside.
 *
 * Not a workload: the harness bench/run.py starts every timed run through
 * it. It forks, sets LD_PRELOAD in the child only (so the wrapper itself
 * always runs on glibc malloc and measures every allocator the same way),
 * execs the program, and reaps it with wait4(), whose struct rusage gives the
 * child's peak resident set (ru_maxrss) and CPU times -- no dependency on
 * /usr/bin/time.
 *
 * Usage: runwrap [-p PRELOAD] -o RESULT_FILE -- PROGRAM [ARGS...]
 *   -p ''  or no -p: LD_PRELOAD is removed from the child's environment.
 * RESULT_FILE receives one line:
 *   wall_s=<s> user_s=<s> sys_s=<s> maxrss_kib=<KiB> status=<exit:N|signal:N>
 * The child's stdout and stderr are left alone. runwrap exits 0 when it
 * could run the program and write the result (whatever the program's own
 * status), 127 when it could not start it, 1 on a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
	const char *preload = NULL, *out = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+p:o:")) != -1) {
		switch (opt) {
		case 'p': preload = optarg; break;
		case 'o': out = optarg; break;
		default: goto usage;
		}
	}
	if (!out || optind >= argc)
		goto usage;

	FILE *f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "runwrap: %s: %s\n", out, strerror(errno));
		return 1;
	}

	double t0 = now();
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
		execv(argv[optind], argv + optind);
		fprintf(stderr, "runwrap: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}

	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runwrap: wait4");
			return 127;
		}
	}
	double wall = now() - t0;

	char st[32];
	if (WIFEXITED(status))
		snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
	else
		snprintf(st, sizeof st, "unknown:%d", status);
	fprintf(f, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld status=%s\n",
		wall, tv(ru.ru_utime), tv(ru.ru_stime), ru.ru_maxrss, st);
	if (fclose(f) != 0) {
		perror("runwrap: writing the result");
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? 127 : 0;

usage:
	fprintf(stderr, "usage: %s [-p PRELOAD] -o RESULT_FILE -- PROGRAM [ARGS...]\n",
		argv[0]);
	return 1;
}
