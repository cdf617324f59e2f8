/* SPDX-License-Identifier: MIT */
/* fuzz.c: random operation sequences checked against a model (tests/fuzz/model.h), seeded
 * and reproducible.
 *
 *   fuzz --seed S [--ops N] [--threads T]
 *       runs one sequence in this process, under whatever MALLOC_CONF is set: N operations
 *       (default 200000) spread over T threads (default 1), which hand blocks to each other to
 *       free. One thread repeats exactly; with several, each thread's choices repeat but not
 *       how they interleave.
 *   fuzz [--base B] [--ops N]
 *       (what `make test` runs) runs one such child for each MALLOC_CONF setting below, with a
 *       seed derived from B (default 1, or $FUZZ_SEED; "random" picks one), on 1 or 4 threads.
 *   fuzz --seconds S [--ops N] [--total OPS] [--base B]
 *       (what `make fuzz` runs) goes round the settings with fresh seeds (B: from the clock)
 *       until S seconds or OPS operations have passed; stops at the first failure.
 * Each child prints its seed and the operations it ran by kind; a failure prints the command
 * that repeats it. */
#define _GNU_SOURCE
#include "child.h"
#include "clock.h"
#include "fuzz/model.h"

#include <time.h>

#define CAP          1024 /* live blocks per thread */
#define MAX_THREADS  16
#define DEFAULT_OPS  200000
#define TEST_OPS     50000 /* per setting in `make test` */
#define CHILD_BUFCAP (64 * 1024)

static const char *const confs[] = {
    "",
    "tcache:false",
    "junk:true",
    "zero:true",
    "dirty_decay_ms:0,muzzy_decay_ms:0",
    "narenas:1,tcache_max:1024",
    "background_thread:false,dirty_decay_ms:100",
    "retain:true,muzzy_decay_ms:50",
    "thp:always,metadata_thp:always",
    "junk:free,narenas:2,max_background_threads:2",
};
#define NCONFS (sizeof(confs) / sizeof(confs[0]))
/* Their names as cases of make test's run. */
static const char *const conf_names[] = {
    "default", "no_tcache",  "junk",      "zero", "decay_0", "one_arena", "no_background_thread",
    "retain",  "thp_always", "junk_free",
};
_Static_assert(sizeof conf_names / sizeof conf_names[0] == NCONFS, "a name for each setting");

/* ---------------------------------------------------------------- one run */

static struct mshared *shared;
static struct mthread threads[MAX_THREADS];
static unsigned nthreads;
static uint64_t run_seed, run_ops;

static void print_repro(void)
{
	const char *conf = getenv("MALLOC_CONF");
	fprintf(stderr,
	        "fuzz: to repeat: MALLOC_CONF='%s' build/tests/stress/fuzz --seed %llu --ops %llu "
	        "--threads %u\n",
	        conf ? conf : "", (unsigned long long)run_seed, (unsigned long long)run_ops,
	        nthreads);
}

static void on_fail(void)
{
	uint64_t checks = 0;
	for (unsigned i = 0; i < nthreads; i++)
		checks += threads[i].checks;
	print_repro();
	fprintf(stderr, "checks: %llu passed, 1 failed\n", (unsigned long long)checks);
	fflush(stderr);
	_exit(1);
}

static void *thread_main(void *arg)
{
	struct mthread *t = arg;
	uint64_t ops = run_ops / nthreads + (t->id < run_ops % nthreads);
	while (t->ops < ops)
		m_step(t);
	m_free_all(t, false);
	return NULL;
}

static int run_one(uint64_t seed, uint64_t ops, unsigned nt)
{
	run_seed = seed;
	run_ops = ops;
	nthreads = nt;
	shared = m_shared_new(nt, CAP);
	shared->fail = on_fail;
	const char *conf = getenv("MALLOC_CONF");
	fprintf(stderr, "fuzz: seed %llu, %llu operations, %u thread%s, MALLOC_CONF='%s'\n",
	        (unsigned long long)seed, (unsigned long long)ops, nt, nt > 1 ? "s" : "",
	        conf ? conf : "");
	uint64_t s = seed;
	for (unsigned i = 0; i < nt; i++)
		m_thread_init(&threads[i], shared, i, CAP, rng_next(&s));
	double t0 = now_s();
	if (nt == 1) {
		thread_main(&threads[0]);
	} else {
		pthread_t tid[MAX_THREADS];
		for (unsigned i = 0; i < nt; i++)
			REQUIRE(pthread_create(&tid[i], NULL, thread_main, &threads[i]) == 0,
			        "pthread_create");
		for (unsigned i = 0; i < nt; i++)
			pthread_join(tid[i], NULL);
	}
	m_free_all(&threads[0], true);
	double secs = now_s() - t0;
	uint64_t count[OP_COUNT] = {0}, total = 0, checks = 0;
	for (unsigned i = 0; i < nt; i++) {
		for (int k = 0; k < OP_COUNT; k++)
			count[k] += threads[i].count[k];
		total += threads[i].ops;
		checks += threads[i].checks;
	}
	fprintf(stderr, "fuzz: ran");
	for (int k = 0; k < OP_COUNT; k++)
		fprintf(stderr, "%s %s %llu", k ? "," : "", m_op_name[k],
		        (unsigned long long)count[k]);
	fprintf(stderr, "\nfuzz: operations %llu in %.2f s, checks %llu\n",
	        (unsigned long long)total, secs, (unsigned long long)checks);
	CHECK(shared->nivl == 0, "model: %zu blocks left in the index", shared->nivl);
	CHECK(atomic_load(&shared->live_bytes) == 0, "model: %zu live bytes left",
	      atomic_load(&shared->live_bytes));
	/* The model's checks, all passed (a failure ends the process). */
	check_passed += (int)(checks > INT32_MAX / 2 ? INT32_MAX / 2 : checks);
	return CHECK_DONE();
}

/* ---------------------------------------------------------------- the parent */

struct child_result {
	bool ok;
	uint64_t ops;
};

static struct child_result run_child(uint64_t seed, uint64_t ops, unsigned nt, const char *conf,
                                     bool fold)
{
	static char out[CHILD_BUFCAP];
	char a0[40], a1[40], a2[40];
	snprintf(a0, sizeof(a0), "--seed=%llu", (unsigned long long)seed);
	snprintf(a1, sizeof(a1), "--ops=%llu", (unsigned long long)ops);
	snprintf(a2, sizeof(a2), "--threads=%u", nt);
	struct child_opts o = {.name = "fuzz",
	                       .args = {a0, a1, a2},
	                       .conf = conf,
	                       .timeout = 60 + (unsigned)(ops / 2000),
	                       .keep_tail = 1};
	int st = child_run(&o, out, sizeof(out), NULL);
	struct child_result r = {WIFEXITED(st) && WEXITSTATUS(st) == 0, 0};
	const char *line = strstr(out, "fuzz: operations ");
	if (line != NULL)
		r.ops = strtoull(line + 17, NULL, 10);
	if (fold || !r.ok) {
		const char *tally = child_fold_checks(out);
		if (fold)
			CHECK_CHILD(st, tally, "MALLOC_CONF='%s' seed %llu", conf,
			            (unsigned long long)seed);
	}
	if (!r.ok) {
		fprintf(stderr,
		        "fuzz: FAILED (%s %d) under MALLOC_CONF='%s'; to repeat:\n"
		        "    MALLOC_CONF='%s' build/tests/stress/fuzz --seed %llu --ops %llu "
		        "--threads %u\n",
		        WIFSIGNALED(st) ? "signal" : "exit status",
		        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), conf, conf,
		        (unsigned long long)seed, (unsigned long long)ops, nt);
	}
	return r;
}

static uint64_t base_from_env(uint64_t dflt)
{
	const char *s = getenv("FUZZ_SEED");
	if (s == NULL || *s == '\0')
		return dflt;
	if (strcmp(s, "random") == 0)
		return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return strtoull(s, NULL, 0);
}

/* Reads "--name value" or "--name=value" at argv[*i]; returns the value or NULL. */
static const char *arg(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);
	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0, base = 0, ops = 0, total = 0;
	bool have_seed = false, have_base = false;
	unsigned nt = 0;
	double seconds = 0;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = arg(argc, argv, &i, "--seed")) != NULL)
			seed = strtoull(v, NULL, 0), have_seed = true;
		else if ((v = arg(argc, argv, &i, "--base")) != NULL)
			base = strtoull(v, NULL, 0), have_base = true;
		else if ((v = arg(argc, argv, &i, "--ops")) != NULL)
			ops = strtoull(v, NULL, 0);
		else if ((v = arg(argc, argv, &i, "--total")) != NULL)
			total = strtoull(v, NULL, 0);
		else if ((v = arg(argc, argv, &i, "--threads")) != NULL)
			nt = (unsigned)strtoul(v, NULL, 0);
		else if ((v = arg(argc, argv, &i, "--seconds")) != NULL)
			seconds = strtod(v, NULL);
		else {
			fprintf(stderr,
			        "usage: %s --seed S [--ops N] [--threads T]\n"
			        "       %s [--base B] [--ops N]\n"
			        "       %s --seconds S [--total OPS] [--ops N] [--base B]\n",
			        argv[0], argv[0], argv[0]);
			return 2;
		}
	}
	if (nt > MAX_THREADS)
		nt = MAX_THREADS;
	if (have_seed)
		return run_one(seed, ops ? ops : DEFAULT_OPS, nt ? nt : 1);

	if (seconds <= 0 && total == 0) {
		/* make test: each setting once. */
		if (!have_base)
			base = base_from_env(1);
		fprintf(stderr, "fuzz: base seed %llu (FUZZ_SEED=%llu repeats this run)\n",
		        (unsigned long long)base, (unsigned long long)base);
		uint64_t all = 0;
		double t0 = now_s();
		for (size_t c = 0; c < NCONFS; c++)
			TEST_CASE(conf_names[c])
			{
				uint64_t s = base * 1000003 + c;
				s = rng_next(&s);
				double t = now_s();
				struct child_result r =
				    run_child(s, ops ? ops : TEST_OPS, nt ? nt : (c % 2 ? 4 : 1),
				              confs[c], true);
				all += r.ops;
				fprintf(stderr,
				        "fuzz: MALLOC_CONF='%s': %llu operations in %.2f s, %s\n\n",
				        confs[c], (unsigned long long)r.ops, now_s() - t,
				        r.ok ? "ok" : "FAILED");
			}
		fprintf(stderr, "fuzz: %llu operations under %zu settings in %.2f s\n",
		        (unsigned long long)all, NCONFS, now_s() - t0);
		return CHECK_DONE();
	}

	/* make fuzz: until the time or the operations are spent, or a failure. */
	if (!have_base)
		base = base_from_env((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
	ops = ops ? ops : 200000;
	fprintf(stderr,
	        "fuzz: base seed %llu, %llu operations a run, for %.0f s%s%llu operations\n",
	        (unsigned long long)base, (unsigned long long)ops, seconds, total ? " or " : "",
	        (unsigned long long)total);
	double t0 = now_s(), last = t0;
	uint64_t all = 0, runs = 0, s = base;
	for (;;) {
		double t = now_s();
		if ((seconds > 0 && t - t0 >= seconds) || (total > 0 && all >= total))
			break;
		size_t c = (size_t)(runs % NCONFS);
		unsigned threads_now =
		    nt ? nt : ((runs / NCONFS) % 2 ? (c % 2 ? 1 : 4) : (c % 2 ? 4 : 1));
		uint64_t seed = rng_next(&s);
		struct child_result r = run_child(seed, ops, threads_now, confs[c], false);
		runs++;
		all += r.ops;
		if (!r.ok) {
			fprintf(stderr, "fuzz: stopped after %llu runs, %llu operations, %.0f s\n",
			        (unsigned long long)runs, (unsigned long long)all, now_s() - t0);
			fprintf(stderr, "checks: %llu passed, 1 failed\n",
			        (unsigned long long)runs - 1);
			return 1;
		}
		if (now_s() - last >= 10) {
			last = now_s();
			fprintf(stderr, "fuzz: %.0f s: %llu runs, %llu operations\n", last - t0,
			        (unsigned long long)runs, (unsigned long long)all);
		}
	}
	fprintf(stderr,
	        "fuzz: %llu runs, %llu operations in %.0f s under %zu settings, no failure\n",
	        (unsigned long long)runs, (unsigned long long)all, now_s() - t0, NCONFS);
	fprintf(stderr, "checks: %llu passed, 0 failed\n", (unsigned long long)runs);
	return 0;
}
