/* SPDX-License-Identifier: MIT */
/* fork_background.c: fork while the background purging thread runs.
 *
 * The test re-executes itself (/proc/self/exe --run MODE) once per mode:
 *   bg    MALLOC_CONF=dirty_decay_ms:300
 *   nobg  MALLOC_CONF=dirty_decay_ms:300,background_thread:false
 * Each run:
 *   1. A process that has not freed much has no "cairn-purge" thread (it starts lazily):
 *      checked after small malloc/free traffic and a 1 MiB large block freed.
 *   2. Main frees 4 MiB of large blocks, which starts the purging thread (bg: one
 *      "cairn-purge" in /proc/self/task/(tid)/comm within 1 s; nobg: none, ever).
 *   3a. A quiet fork: after malloc_trim(0), with no other thread, main forks a child that
 *      makes no allocator call (it lists the threads with raw system calls), so nothing in
 *      it can start the thread lazily: it must find one within 1 s (bg), none (nobg).
 *   3b. Three worker threads start allocating and freeing (small, large, a few huge
 *      blocks), publishing blocks in a table, and main forks FORKS times while they run.
 *      Each child: the purging thread is there again (bg: polled up to 1 s; nobg: none);
 *      it frees every block the vanished workers had published (checking their contents),
 *      allocates and frees each kind of block; then allocates 64 MiB of large blocks,
 *      touches them, frees them, and its RSS falls back to where it was before (+ 8 MiB)
 *      within 2 s by decay alone (bg), or stays up for 1 s, three times the decay time,
 *      with no allocator call (nobg). The first child also forks a grandchild that checks
 *      the purging thread once more. A child _exits(0) on success; the parent waits for
 *      each with a deadline and kills it on a hang.
 *   4. The parent still has exactly one purging thread (bg) or none (nobg).
 * The runs have CAIRN_CGROUP_ROOT pointing at an empty directory, so that the cgroup memory
 * limit of whatever machine runs the test cannot trigger a purge.
 *
 * run.sh: alone (the purging thread must restart within 1 s and RSS fall within 2 s). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "clock.h"
#include "proc.h"
#include "rng.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define NWORKERS      3
#define TSLOTS        64
#define FORKS         4
#define CHILD_TIMEOUT 10 /* seconds */
#define SEED          0xf0b6f0b6a5a5a5a5ull

/* Polls up to `secs` seconds for `want` purging threads; returns the last count. */
static int wait_purge_threads(int want, double secs)
{
	double start = now_s();
	int n = purge_threads();
	while (n != want && now_s() - start < secs) {
		usleep(10 * 1000);
		n = purge_threads();
	}
	return n;
}

/* ------------------------------------------------------------ blocks */

typedef uint64_t __attribute__((may_alias)) word_t;

static uint64_t tag_of(const unsigned char *p, size_t size)
{
	return ((uintptr_t)p + size) * 0x9E3779B97F4A7C15ull;
}

/* A block holding its size in word 0 and a tag in word 1 and in its last word; every page
 * touched. */
static unsigned char *make_block(size_t size)
{
	if (size < 24)
		size = 24;
	unsigned char *p = malloc(size);
	if (p == NULL)
		return NULL;
	for (size_t off = 4096; off < size; off += 4096)
		p[off] = 1;
	((word_t *)p)[0] = size;
	((word_t *)p)[1] = tag_of(p, size);
	memcpy(p + size - 8, &((word_t *)p)[1], 8);
	return p;
}

/* Checks and frees; returns 0 if the block was wrong. */
static int check_free(unsigned char *p)
{
	size_t size = ((word_t *)p)[0];
	uint64_t last;
	int ok = size >= 24 && size <= 8 * MiB;
	if (ok) {
		memcpy(&last, p + size - 8, 8);
		ok = ((word_t *)p)[1] == tag_of(p, size) && last == tag_of(p, size);
	}
	free(p);
	return ok;
}

static size_t worker_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 1000, x = rng_next(rng);
	if (r < 700)
		return 16 + x % 4096;
	if (r < 990)
		return 33 * KiB + x % (480 * KiB);
	return MiB + 1 + x % (2 * MiB);
}

/* ------------------------------------------------------------ workers */

static unsigned char *_Atomic table[NWORKERS][TSLOTS];
static atomic_int stop, workers_ready;
static atomic_long worker_errors;

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint64_t rng = SEED + 104729u * (uint64_t)self;
	for (int i = 0; i < TSLOTS; i++) {
		unsigned char *p = make_block(worker_size(&rng));
		if (p == NULL)
			atomic_fetch_add(&worker_errors, 1);
		atomic_store(&table[self][i], p);
	}
	atomic_fetch_add(&workers_ready, 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		/* A slot is emptied before its block is freed and set once the new block is
		 * complete, so a child sees NULL or a whole block in each. */
		unsigned char *_Atomic *slot = &table[self][rng_next(&rng) % TSLOTS];
		unsigned char *old = atomic_exchange(slot, NULL);
		if (old != NULL && !check_free(old))
			atomic_fetch_add(&worker_errors, 1);
		void *tmp = malloc(worker_size(&rng));
		unsigned char *p = make_block(worker_size(&rng));
		free(tmp);
		if (p == NULL)
			atomic_fetch_add(&worker_errors, 1);
		atomic_store(slot, p);
	}
	return NULL;
}

/* ------------------------------------------------------------ the forked children */

static int bg_on; /* background_thread:true in this run */
static int child_errors;

static void child_fail(const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (child_errors++ < 10)
		say("  fork child %d: %s\n", (int)getpid(), buf);
}

static void exercise(void)
{
	static const size_t sizes[] = {16,    100,       1000, 4000,    20000,
	                               40000, 300 * KiB, MiB,  MiB + 1, 3 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = make_block(sizes[i]);
		if (p == NULL || !check_free(p))
			child_fail("malloc(%zu) failed or lost its contents", sizes[i]);
	}
}

/* Allocates 64 MiB of large blocks, frees them, and watches RSS. */
static void child_decay(int n_child)
{
	enum { N = 128 };
	static unsigned char *big[N];
	/* The pages of the inherited blocks just freed go back first: left
	 * resident, they would take in part of the 64 MiB below, by how much
	 * depending on how far their decay has gone. */
	malloc_trim(0);
	size_t before = rss_bytes();
	for (int i = 0; i < N; i++)
		if ((big[i] = make_block(512 * KiB)) == NULL)
			child_fail("malloc(512 KiB) failed");
	/* The growth shows the blocks were really touched. */
	size_t peak = rss_bytes();
	if (peak < before + 32 * MiB)
		child_fail("RSS %zu MiB after allocating 64 MiB, before %zu MiB", peak / MiB,
		           before / MiB);
	for (int i = 0; i < N; i++)
		if (big[i] != NULL && !check_free(big[i]))
			child_fail("a 512 KiB block lost its contents");
	double start = now_s();
	size_t rss = rss_bytes(), low = rss;
	if (bg_on) {
		/* The purging thread decays the freed pages with no allocator call here. */
		while (rss > before + 8 * MiB && now_s() - start < 2.0) {
			usleep(50 * 1000);
			rss = rss_bytes();
		}
		if (n_child == 0)
			say("  first child: RSS %zu MiB before, %zu MiB with 64 MiB allocated, %zu "
			    "MiB "
			    "%.2f s after freeing it\n",
			    before / MiB, peak / MiB, rss / MiB, now_s() - start);
		if (rss > before + 8 * MiB)
			child_fail(
			    "RSS %zu MiB 2 s after freeing 64 MiB (dirty_decay_ms:300), want <= "
			    "%zu MiB: the restarted purging thread did not decay",
			    rss / MiB, (before + 8 * MiB) / MiB);
	} else {
		while (now_s() - start < 1.0) {
			usleep(50 * 1000);
			rss = rss_bytes();
			low = rss < low ? rss : low;
		}
		/* Against the peak, not the start: how much of the 64 MiB
		 * reused inherited pages varies with their decay. */
		if (low + 8 * MiB < peak)
			child_fail("background_thread:false: RSS fell to %zu MiB with no allocator "
			           "call (peak %zu MiB)",
			           low / MiB, peak / MiB);
	}
}

static void check_purge_threads(const char *who)
{
	int n = bg_on ? wait_purge_threads(1, 1.0) : purge_threads();
	if (n != (bg_on ? 1 : 0))
		child_fail("%s: %d cairn-purge threads, want %d%s", who, n, bg_on ? 1 : 0,
		           bg_on ? " (restarted within 1 s)" : "");
}

static void child_main(int n)
{
	alarm(CHILD_TIMEOUT);
	check_purge_threads("in the child");
	int freed = 0;
	for (int w = 0; w < NWORKERS; w++)
		for (int i = 0; i < TSLOTS; i++) {
			unsigned char *p = atomic_load(&table[w][i]);
			if (p != NULL) {
				if (!check_free(p))
					child_fail("corrupted block of a vanished worker");
				table[w][i] = NULL;
				freed++;
			}
		}
	if (freed < NWORKERS * (TSLOTS - 1))
		child_fail("only %d published blocks", freed);
	exercise();
	child_decay(n);
	if (n == 0) {
		pid_t g = fork();
		if (g == 0) {
			child_errors = 0;
			check_purge_threads("in the grandchild");
			exercise();
			_exit(child_errors == 0 ? 0 : 1);
		}
		int st = 0;
		if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			child_fail("the grandchild failed (status 0x%x)", st);
	}
	check_purge_threads("in the child at its end");
	_exit(child_errors == 0 ? 0 : 1);
}

/* ------------------------------------------------------------ one run */

static int run_passed, run_failed;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (cond) {                                                                        \
			run_passed++;                                                              \
		} else {                                                                           \
			run_failed++;                                                              \
			say("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
			say(__VA_ARGS__);                                                          \
			say("\n");                                                                 \
		}                                                                                  \
	} while (0)

static int run_main(const char *mode)
{
	bg_on = strcmp(mode, "bg") == 0;
	double t0 = now_s();

	/* 1. Lazily started: not after a little traffic. */
	for (int i = 0; i < 2000; i++) {
		void *p = malloc(16 + (size_t)i % 3000);
		free(p);
	}
	free(make_block(MiB));
	EXPECT(purge_threads() == 0, "a cairn-purge thread before anything much was freed: %d",
	       purge_threads());

	/* 2. 4 MiB of large blocks freed: the purging thread starts. */
	unsigned char *blocks[16];
	for (int i = 0; i < 16; i++)
		blocks[i] = make_block(256 * KiB);
	for (int i = 0; i < 16; i++)
		if (blocks[i] == NULL || !check_free(blocks[i]))
			EXPECT(0, "a 256 KiB block failed");
	int n = bg_on ? wait_purge_threads(1, 1.0) : (usleep(200 * 1000), purge_threads());
	EXPECT(n == (bg_on ? 1 : 0),
	       "after freeing 4 MiB of large blocks: %d cairn-purge threads, "
	       "want %d",
	       n, bg_on ? 1 : 0);

	/* 3a. A quiet fork: nothing left to purge, no other thread, and the child makes no
	 * allocator call at all, so nothing in it can start the thread lazily: it is there
	 * only if the fork restarted it. */
	malloc_trim(0);
	fflush(NULL);
	pid_t quiet = fork();
	if (quiet == 0) {
		alarm(CHILD_TIMEOUT);
		int q = bg_on ? wait_purge_threads(1, 1.0) : (usleep(200 * 1000), purge_threads());
		_exit(q == (bg_on ? 1 : 0) ? 0 : 10 + q);
	}
	if (quiet > 0) {
		int st = child_wait(quiet, CHILD_TIMEOUT + 2);
		EXPECT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		       "a child forked from a process %s: %d cairn-purge threads, want %d (status "
		       "0x%x)",
		       bg_on ? "whose purging thread runs" : "with background_thread:false",
		       st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) - 10 : -1, bg_on ? 1 : 0, st);
	}

	/* 3b. Worker threads, and forks while they run. */
	pthread_t tids[NWORKERS];
	for (int i = 0; i < NWORKERS; i++) {
		int rc = pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i);
		if (rc != 0) {
			say("pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	while (atomic_load(&workers_ready) < NWORKERS)
		usleep(1000);
	uint64_t rng = SEED;
	int failed = 0, hung = 0;
	double slowest = 0;
	for (int k = 0; k < FORKS; k++) {
		usleep(5000 + (useconds_t)(rng_next(&rng) % 20000));
		double start = now_s();
		pid_t pid = fork();
		if (pid < 0) {
			EXPECT(0, "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0)
			child_main(k);
		int st = child_wait(pid, CHILD_TIMEOUT + 2);
		double took = now_s() - start;
		slowest = took > slowest ? took : slowest;
		if (st == -1) {
			hung++;
			say("  child %d (fork %d) hung; killed\n", (int)pid, k);
		} else if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed++;
			say("  child %d (fork %d): %s %d\n", (int)pid, k,
			    st >= 0 && WIFSIGNALED(st) ? "killed by signal" : "exit status",
			    st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st)
			    : st >= 0                  ? WEXITSTATUS(st)
			                               : -1);
		}
	}
	EXPECT(hung == 0, "%d of %d children hung", hung, FORKS);
	EXPECT(failed == 0, "%d of %d children failed", failed, FORKS);

	/* 4. The parent's own thread. */
	n = purge_threads();
	EXPECT(n == (bg_on ? 1 : 0), "the parent after the forks: %d cairn-purge threads, want %d",
	       n, bg_on ? 1 : 0);

	atomic_store(&stop, 1);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(tids[i], NULL);
	int bad = 0;
	for (int w = 0; w < NWORKERS; w++)
		for (int i = 0; i < TSLOTS; i++)
			if (table[w][i] != NULL)
				bad += !check_free(table[w][i]);
	EXPECT(bad == 0 && atomic_load(&worker_errors) == 0,
	       "%d corrupted blocks, %ld worker errors", bad, atomic_load(&worker_errors));
	say("run %s: %.2f s, slowest child %.2f s; child checks: %d passed, %d failed\n", mode,
	    now_s() - t0, slowest, run_passed, run_failed);
	return run_failed != 0;
}

/* ------------------------------------------------------------ parent side */

static char cgroup_dir[64] = "/tmp/cairn-forkbg-XXXXXX";

static void run_mode(const char *conf, const char *mode)
{
	struct child_opts opts = {
	    .name = "fork_background",
	    .args = {"--run", mode},
	    .conf = conf,
	    .env = (const char *const[]){"CAIRN_CGROUP_ROOT", cgroup_dir, NULL},
	    .timeout = 60,
	    .keep_tail = 1,
	};
	static char out[16384];
	int st = child_run(&opts, out, sizeof out, NULL);
	fprintf(stderr, "MALLOC_CONF=%s:\n", conf);
	const char *tally = child_fold_checks(out);
	CHECK_CHILD(st, tally, "run %s (MALLOC_CONF=%s)", mode, conf);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--run") == 0)
		return run_main(argv[2]);
	REQUIRE(mkdtemp(cgroup_dir) != NULL, "mkdtemp: %s", strerror(errno));
	TEST_CASE("bg") run_mode("dirty_decay_ms:300", "bg");
	TEST_CASE("nobg") run_mode("dirty_decay_ms:300,background_thread:false", "nobg");
	rmdir(cgroup_dir);
	return CHECK_DONE();
}
