/* SPDX-License-Identifier: MIT */
/* longrun: a long-running service -- bursts of growth, scattered survivors,
 * then idle.
 *
 * Pattern modelled: a service that works in phases (a batch job per request
 * burst, a cache rebuilt now and then, a compiler or interpreter running one
 * unit after another). Each phase allocates a lot of mixed small and medium
 * objects, and nearly all of them die when the phase ends -- but a few
 * survive (a cached result, an interned string, a connection that stayed
 * open), scattered all over the memory the phase used. This is what makes a
 * heap fragment over time: every page that holds one survivor stays
 * resident, so the question is whether the allocator reuses the holes in
 * the next phase (RSS levels off) or keeps taking fresh memory (RSS climbs
 * phase after phase), and whether it gives free pages back to the system
 * while the program is idle (RSS after the idle period: jemalloc's decay and
 * background thread, mimalloc's purge delay, glibc's trim only at the top
 * of the heap). It is the situation behind the well-known "Redis/Ruby/Python
 * service grows to N times its live data under glibc" reports, and the
 * long-running tests in the mimalloc-bench suite (`larson`, `redis`,
 * `rptest`) and in the Mesh paper (Powers et al., PLDI 2019).
 *
 * PHASES times, GAP_MS milliseconds apart (the service doing other things
 * between bursts; the program sleeps): allocate objects until MIB
 * mebibytes were allocated in the
 * phase, fill each one completely (sizes: 50% 16-128 B, 30% 129 B-1 KiB,
 * 15% 1-8 KiB, 5% 8-64 KiB, mean about 2.7 KiB), shuffle them, free all but
 * KEEP per mille of them in that random order (the rest survive to the end
 * of the run), and print rss_phaseN_kb (VmRSS after the frees). Then sleep
 * IDLE_MS milliseconds, doing nothing, and print rss_idle_kb. Then check
 * every survivor and free them all (rss_end_kb, as every workload).
 *
 * Usage: longrun [-p PHASES] [-m MIB_PER_PHASE] [-k KEEP_PERMILLE]
 *                [-g GAP_MS] [-i IDLE_MS] [-S SEED]
 * Prints one line per phase (phase=N rss_phaseN_kb= live_phaseN_kb=
 * end_phaseN_s=; live: the bytes the survivors so far were asked for), then
 * rss_idle_kb= idle_from_s= idle_s= threads_idle=, then the result line: workload=longrun phases=
 * mib= keep= time_s= survivors= checksum= errors= rss_end_kb=
 * anon_huge_kb=. time_s covers the phases only (not the gaps, not the idle
 * period); end_phaseN_s and idle_from_s are seconds since main() started
 * (for the RSS chart). */
#include "common.h"
#include "harness.h"
#include "sizes.h"

struct obj {
	unsigned char *p;
	uint32_t size;
	uint64_t tag;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Fill the whole object: the tag at the start, the tag's low byte all
 * through, another byte at the end. */
static void fill_all(unsigned char *p, size_t size, uint64_t tag)
{
	memset(p, (int)(tag & 0xff), size);
	bench_fill(p, size, tag);
}

int main(int argc, char **argv)
{
	int phases = 10, keep = 50;
	long mib = 160, idle_ms = 3000, gap_ms = 0;
	uint64_t rng = 0x10e9;
	double tstart = bench_now();

	const struct bench_opt opts[] = {
	    {'p', "PHASES", BENCH_INT, &phases, "phases, 1 to 100"},
	    {'m', "MIB_PER_PHASE", BENCH_COUNT, &mib, "MiB allocated in each phase"},
	    {'k', "KEEP_PERMILLE", BENCH_INT, &keep, "objects per mille that survive their phase"},
	    {'g', "GAP_MS", BENCH_COUNT, &gap_ms, "milliseconds of sleep between phases"},
	    {'i', "IDLE_MS", BENCH_COUNT, &idle_ms, "milliseconds of idle time after the phases"},
	    {'S', "SEED", BENCH_SEED, &rng, "random seed"},
	    {0},
	};

	bench_options(argc, argv, opts, NULL);
	if (phases < 1 || phases > 100 || mib < 1 || keep < 0 || keep > 1000 || idle_ms < 0 ||
	    gap_ms < 0) {
		fprintf(stderr, "bad arguments\n");
		return 1;
	}

	/* Harness arrays, allocated before the clock starts: the objects of
	 * one phase and the survivors. With a mean object size of 2.7 KiB a
	 * phase has about MIB * 390 objects; room for MIB * 4096 (a phase
	 * stops early if it ever fills it; only the part used is touched). */
	size_t cap = (size_t)mib * 4096 + 1;
	size_t scap = cap / 1000 * (size_t)keep * (size_t)phases + 1024;
	struct obj *cur = malloc(cap * sizeof *cur);
	struct obj *surv = malloc(scap * sizeof *surv);
	if (!cur || !surv) {
		fprintf(stderr, "out of memory for the harness arrays\n");
		return 1;
	}
	size_t nsurv = 0, live = 0;
	uint64_t serial = 0, sum = 0;
	long errors = 0;
	double busy = 0;

	for (int ph = 1; ph <= phases; ph++) {
		if (ph > 1)
			sleep_ms(gap_ms);
		double t0 = bench_now();
		size_t n = 0, bytes = 0, goal = (size_t)mib * 1048576;
		while (bytes < goal && n < cap) {
			size_t size = size_draw(MIX_PHASES, bench_rand(&rng));
			uint64_t tag = ++serial * 0x9e3779b97f4a7c15ULL;
			unsigned char *p = malloc(size);
			if (!p) {
				fprintf(stderr, "malloc(%zu) failed\n", size);
				return 1;
			}
			fill_all(p, size, tag);
			cur[n++] = (struct obj){p, (uint32_t)size, tag};
			bytes += size;
		}
		/* Fisher-Yates: the order of the frees and which objects
		 * survive are both random. */
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)(bench_rand(&rng) % (i + 1));
			struct obj t = cur[i];
			cur[i] = cur[j];
			cur[j] = t;
		}
		size_t nkeep = n * (size_t)keep / 1000;
		for (size_t i = nkeep; i < n; i++) {
			errors += bench_check(cur[i].p, cur[i].size, cur[i].tag);
			sum += cur[i].p[cur[i].size / 2];
			free(cur[i].p);
		}
		for (size_t i = 0; i < nkeep && nsurv < scap; i++) {
			surv[nsurv++] = cur[i];
			live += cur[i].size;
		}
		busy += bench_now() - t0;
		printf("phase=%d rss_phase%d_kb=%ld live_phase%d_kb=%zu "
		       "end_phase%d_s=%.3f\n",
		       ph, ph, bench_rss_kb(), ph, live / 1024, ph, bench_now() - tstart);
		fflush(stdout);
	}

	double ti = bench_now();
	sleep_ms(idle_ms);
	/* threads_idle: 1 here, unless the allocator runs threads of its
	 * own (jemalloc's background_thread:true does). */
	printf("rss_idle_kb=%ld idle_from_s=%.3f idle_s=%.3f threads_idle=%ld\n", bench_rss_kb(),
	       ti - tstart, bench_now() - ti, bench_proc_kb("/proc/self/status", "Threads:"));

	double t0 = bench_now();
	for (size_t i = 0; i < nsurv; i++) {
		errors += bench_check(surv[i].p, surv[i].size, surv[i].tag);
		sum += surv[i].p[surv[i].size / 2];
		free(surv[i].p);
	}
	busy += bench_now() - t0;
	free(cur);
	free(surv);

	return bench_result(sum, errors,
	                    "workload=longrun phases=%d mib=%ld keep=%d time_s=%.6f survivors=%zu",
	                    phases, mib, keep, busy, nsurv);
}
