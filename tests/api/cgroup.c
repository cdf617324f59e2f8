/* SPDX-License-Identifier: MIT */
/* cgroup.c: arenas capped by the cgroup v2 cpu quota, and purging near the memory limit.
 *
 * Each case builds a fake cgroup directory (mkdtemp) and re-executes this program
 * (/proc/self/exe --child MODE) with CAIRN_CGROUP_ROOT pointing at it, which cairn then
 * takes as the process's cgroup directory (cpu.max, memory.max, memory.high and
 * memory.current are read from it).
 *
 * CPUs, with MALLOC_CONF=confirm_conf:true and the "cairn: options: narenas:N" line read
 * from the child's stderr; CPUS is the size of this process's affinity mask
 * (sched_getaffinity):
 *   cpu.max "150000 100000" -> narenas min(2, CPUS)  (quota 1.5 CPUs, rounded up)
 *   cpu.max "50000 100000"  -> narenas 1
 *   cpu.max "100000 100000" -> narenas 1
 *   cpu.max "200000 100000" -> narenas min(2, CPUS)
 *   cpu.max "250000 100000" -> narenas min(3, CPUS)  (the affinity mask caps the quota)
 *   cpu.max "max 100000"    -> narenas CPUS
 *   no cpu.max              -> narenas CPUS
 *   cpu.max "50000 100000" with narenas:3 set      -> narenas 3 (an explicit value wins)
 *   cpu.max "max 100000", affinity one CPU (when CPUS >= 2) -> narenas 1
 *
 * Memory, with MALLOC_CONF=dirty_decay_ms:-1,background_thread:true (freed pages would never
 * decay): the child allocates 64 MiB of large blocks (128 x 512 KiB), touches them, frees
 * them, and watches its RSS for 3 s (polled every 50 ms).
 *   memory.max 1 GiB, memory.current 95% of it: RSS falls back to within 8 MiB of where it
 *     was before the blocks, within 3 s (the background thread sees usage within 10% of the
 *     limit and purges everything at once);
 *   memory.high 1 GiB, memory.max "max", memory.current 95% of 1 GiB: the same (the lower
 *     of the two limits counts);
 *   memory.max 1 GiB, memory.current 50% of it: RSS stays above start + 56 MiB for 3 s;
 *   memory.max 1 GiB, memory.current 95%, and the purging thread already running and idle
 *     (4 MiB of large blocks freed and 300 ms waited before the 64 MiB): RSS falls within
 *     3 s as well ("checked about once a second while it has work").
 *
 * run.sh: alone (the purging thread must bring RSS down within seconds). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "clock.h"
#include "proc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ------------------------------------------------------------ child side */

static unsigned char *blocks[256];

/* Allocates `count` blocks of `size` and touches every page. */
static void alloc_touch(int count, size_t size)
{
	for (int i = 0; i < count; i++) {
		blocks[i] = malloc(size);
		if (blocks[i] == NULL) {
			fprintf(stderr, "malloc(%zu) failed\n", size);
			exit(1);
		}
		for (size_t off = 0; off < size; off += 4096)
			blocks[i][off] = 1;
	}
}

static void free_all(int count)
{
	for (int i = 0; i < count; i++)
		free(blocks[i]);
}

/* near: 1 if RSS must fall (usage near the limit), 0 if it must stay up. warm: start the
 * purging thread first and let it go idle. */
static int child_memory(int near, int warm)
{
	if (warm) {
		alloc_touch(8, 512 * KiB);
		free_all(8);
		usleep(300 * 1000);
	}
	size_t before = rss_bytes();
	/* The peak is read while the blocks are live: near the limit the purging
	 * thread may purge as soon as the first ones are freed, before a reading
	 * after the frees could be taken. */
	alloc_touch(128, 512 * KiB);
	size_t peak = rss_bytes();
	CHECK(peak >= before + 56 * MiB,
	      "RSS %.1f MiB with 64 MiB allocated and touched, %.1f MiB before", (double)peak / MiB,
	      (double)before / MiB);
	free_all(128);
	double start = now_s();
	size_t rss = peak, low = peak;
	double fell_at = -1;
	while (now_s() - start < 3.0) {
		usleep(50 * 1000);
		rss = rss_bytes();
		low = rss < low ? rss : low;
		if (near && rss <= before + 8 * MiB) {
			fell_at = now_s() - start;
			break;
		}
	}
	fprintf(stderr,
	        "  RSS before %.1f MiB, with the blocks live %.1f MiB, lowest in 3 s %.1f MiB%s",
	        (double)before / MiB, (double)peak / MiB, (double)low / MiB,
	        fell_at >= 0 ? "" : "\n");
	if (fell_at >= 0)
		fprintf(stderr, " (down after %.2f s)\n", fell_at);
	if (near)
		CHECK(rss <= before + 8 * MiB,
		      "near the cgroup memory limit%s: RSS %.1f MiB 3 s after freeing 64 MiB, want "
		      "<= "
		      "%.1f MiB (the background thread should purge at once)",
		      warm ? ", purging thread already idle" : "", (double)rss / MiB,
		      (double)(before + 8 * MiB) / MiB);
	else
		CHECK(
		    low >= before + 56 * MiB,
		    "far below the cgroup memory limit: RSS fell to %.1f MiB (from %.1f MiB) with "
		    "dirty_decay_ms:-1",
		    (double)low / MiB, (double)peak / MiB);
	return CHECK_DONE();
}

static int child_main(const char *mode)
{
	if (strcmp(mode, "plain") == 0) {
		free(malloc(100));
		return 0;
	}
	if (strcmp(mode, "near") == 0)
		return child_memory(1, 0);
	if (strcmp(mode, "near_warm") == 0)
		return child_memory(1, 1);
	if (strcmp(mode, "far") == 0)
		return child_memory(0, 0);
	fprintf(stderr, "unknown mode %s\n", mode);
	return 1;
}

/* ------------------------------------------------------------ parent side */

static char dir[64];

static void put(const char *name, const char *value)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (value == NULL) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL, "fopen(%s): %s", path, strerror(errno));
	fprintf(f, "%s\n", value);
	fclose(f);
}

static void clear_files(void)
{
	const char *names[] = {"cpu.max", "memory.max", "memory.high", "memory.current"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		put(names[i], NULL);
}

struct result {
	int status;
	char out[16384];
};

/* Runs "--child MODE" with MALLOC_CONF=conf and CAIRN_CGROUP_ROOT=dir, on the CPUs in
 * `cpus` if not NULL; collects its stderr. */
static void run_child(const char *conf, const char *mode, const cpu_set_t *cpus, struct result *res)
{
	struct child_opts opts = {
	    .name = "cgroup",
	    .args = {"--child", mode},
	    .conf = conf,
	    .env = (const char *const[]){"CAIRN_CGROUP_ROOT", dir, NULL},
	    .cpus = cpus,
	};
	res->status = child_run(&opts, res->out, sizeof res->out, NULL);
}

static int exited_ok(const struct result *r)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* narenas:N from the options line, -1 if none. */
static int narenas_of(const char *out)
{
	const char *line = strstr(out, "cairn: options:");
	if (line == NULL)
		return -1;
	const char *eol = strchr(line, '\n');
	const char *n = strstr(line, "narenas:");
	if (n == NULL || (eol != NULL && n > eol))
		return -1;
	int v = -1;
	return sscanf(n + 8, "%d", &v) == 1 ? v : -1;
}

static void expect_narenas(const char *cpu_max, const char *conf, const cpu_set_t *cpus, int want,
                           const char *why)
{
	clear_files();
	if (cpu_max)
		put("cpu.max", cpu_max);
	struct result r;
	run_child(conf, "plain", cpus, &r);
	int got = narenas_of(r.out);
	fprintf(stderr, "cpu.max %-15s %-28s -> narenas:%d (want %d)\n",
	        cpu_max ? cpu_max : "(none)", conf, got, want);
	CHECK(exited_ok(&r), "cpu.max %s: child status 0x%x; stderr:\n%s", cpu_max, r.status,
	      r.out);
	CHECK(got == want,
	      "cpu.max \"%s\", MALLOC_CONF=%s%s: narenas:%d, want %d (%s); stderr:\n%s",
	      cpu_max ? cpu_max : "(none)", conf, cpus ? ", one CPU" : "", got, want, why, r.out);
}

static void expect_memory(const char *max, const char *high, size_t current, const char *mode)
{
	char cur[32];
	clear_files();
	snprintf(cur, sizeof cur, "%zu", current);
	put("memory.max", max);
	put("memory.high", high);
	put("memory.current", cur);
	struct result r;
	double start = now_s();
	run_child("dirty_decay_ms:-1,background_thread:true", mode, NULL, &r);
	fprintf(stderr, "memory.max %s, memory.high %s, memory.current %s (%s), %.2f s:\n",
	        max ? max : "(none)", high ? high : "(none)", cur, mode, now_s() - start);
	const char *tally = child_fold_checks(r.out);
	CHECK(exited_ok(&r) && tally != NULL, "memory case %s: child status 0x%x", mode, r.status);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);

	cpu_set_t set;
	CPU_ZERO(&set);
	REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity: %s",
	        strerror(errno));
	int cpus = CPU_COUNT(&set);
	REQUIRE(cpus >= 1, "no CPUs in the affinity mask");
	fprintf(stderr, "CPUs in the affinity mask: %d\n", cpus);
#define MIN(a, b) ((a) < (b) ? (a) : (b))

	snprintf(dir, sizeof dir, "/tmp/cairn-cgroup-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));

	TEST_CASE("narenas")
	{
		expect_narenas("150000 100000", "confirm_conf:true", NULL, MIN(2, cpus),
		               "ceil(1.5) CPUs, capped by the affinity mask");
		expect_narenas("50000 100000", "confirm_conf:true", NULL, 1,
		               "half a CPU rounds up to 1");
		expect_narenas("100000 100000", "confirm_conf:true", NULL, 1, "one CPU");
		expect_narenas("200000 100000", "confirm_conf:true", NULL, MIN(2, cpus),
		               "two CPUs");
		expect_narenas("250000 100000", "confirm_conf:true", NULL, MIN(3, cpus),
		               "ceil(2.5) CPUs, capped by the affinity mask");
		expect_narenas("max 100000", "confirm_conf:true", NULL, cpus, "no quota");
		expect_narenas(NULL, "confirm_conf:true", NULL, cpus, "no cpu.max");
		expect_narenas("50000 100000", "confirm_conf:true,narenas:3", NULL, 3,
		               "an explicit narenas wins");
		if (cpus >= 2) {
			cpu_set_t one;
			CPU_ZERO(&one);
			for (int c = 0; c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &set)) {
					CPU_SET(c, &one);
					break;
				}
			expect_narenas("max 100000", "confirm_conf:true", &one, 1,
			               "affinity mask of one CPU");
		}
	}

	TEST_CASE("memory_max_near") expect_memory("1073741824", NULL, GiB / 100 * 95, "near");
	TEST_CASE("memory_high_near") expect_memory("max", "1073741824", GiB / 100 * 95, "near");
	TEST_CASE("memory_far") expect_memory("1073741824", NULL, GiB / 2, "far");
	TEST_CASE("memory_warm") expect_memory("1073741824", NULL, GiB / 100 * 95, "near_warm");

	clear_files();
	rmdir(dir);
	return CHECK_DONE();
}
