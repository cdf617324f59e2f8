/* SPDX-License-Identifier: MIT */
/* early.c: a shared object whose constructor allocates, for tests/stress/bootstrap.c.
 *
 * bootstrap.c runs itself again with this object in LD_PRELOAD, beside libcairn (in both
 * orders), so this constructor runs before main, and possibly before cairn's own constructor:
 * the allocator must then set itself up from inside the first malloc it gets. It also starts two
 * threads that allocate at the same time as the constructor does, so that two threads may race
 * to initialise the allocator. It records what it saw in a report that main reads through
 * early_report(); it also leaves one block for main to check and free. bootstrap.c also
 * dlopens this object from main when it was not preloaded, so the same constructor runs inside
 * dlopen too.
 *
 * Before its first malloc the constructor also creates a pthread key. When it runs before
 * cairn's constructor, that key comes before cairn's own thread-exit key, so its destructor
 * runs before cairn's in each round of thread exit (tests/stress/tsd.c covers the keys that
 * come after); early_key_threads() runs threads that use it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep in step with the copy in tests/stress/bootstrap.c. */
struct early_report {
	size_t struct_size;
	int ran;      /* times the constructor ran */
	int failures; /* allocation checks that failed */
	int checks;   /* allocation checks made */
	char first_failure[160];
	unsigned char *left_for_main; /* LEFT_SIZE bytes, byte i == (unsigned char)(i * 13 + 7) */
};
#define LEFT_SIZE 5000

static struct early_report report = {.struct_size = sizeof(struct early_report)};
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((visibility("default"))) const struct early_report *early_report(void)
{
	return &report;
}

static void expect(int ok, const char *what)
{
	pthread_mutex_lock(&report_lock);
	report.checks++;
	if (!ok && report.failures++ == 0)
		snprintf(report.first_failure, sizeof report.first_failure, "%s", what);
	pthread_mutex_unlock(&report_lock);
}

static int filled(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* One round of every kind of allocation, each checked. */
static void allocate_everything(void)
{
	static const size_t sizes[] = {1,     8,     16,     24,      100,     1000,   4096,
	                               32768, 40000, 300000, 1048576, 1048577, 3000000};
	void *blocks[sizeof sizes / sizeof sizes[0]];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = malloc(sizes[i]);
		expect(p != NULL && (uintptr_t)p % 16 == 0, "malloc in a constructor");
		if (p != NULL)
			memset(p, (int)i + 1, sizes[i]);
		blocks[i] = p;
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		expect(blocks[i] != NULL && filled(blocks[i], sizes[i], (unsigned char)(i + 1)),
		       "block written in a constructor kept its contents");
		free(blocks[i]);
	}

	unsigned char *z = calloc(1000, 100);
	expect(z != NULL && filled(z, 100000, 0), "calloc in a constructor");
	free(z);

	unsigned char *r = malloc(10);
	if (r != NULL)
		memset(r, 0x33, 10);
	for (size_t n = 20; r != NULL && n <= 2000000; n *= 4) {
		unsigned char *q = realloc(r, n);
		expect(q != NULL && filled(q, 10, 0x33), "realloc in a constructor");
		r = q;
	}
	free(r);

	void *a = NULL;
	expect(posix_memalign(&a, 4096, 5000) == 0 && (uintptr_t)a % 4096 == 0,
	       "posix_memalign in a constructor");
	free(a);

	char *s = strdup("strdup before main");
	expect(s != NULL && strcmp(s, "strdup before main") == 0, "strdup in a constructor");
	free(s);

	/* stdio allocates its buffer through malloc. */
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	expect(f != NULL && fgets(line, sizeof line, f) != NULL,
	       "fopen and fgets in a constructor");
	if (f != NULL)
		fclose(f);
}

static void *thread_main(void *arg)
{
	allocate_everything();
	return NULL;
}

/* ---------------------------------------------------------------- the early key */

static pthread_key_t early_key;
static int early_key_made;
static atomic_int key_runs, key_failures;

/* Allocates, frees, and asks for a second round once. */
static void early_key_destructor(void *value)
{
	atomic_fetch_add(&key_runs, 1);
	unsigned char *p = malloc(1000), *q = malloc(200000);
	if (p == NULL || q == NULL) {
		atomic_fetch_add(&key_failures, 1);
	} else {
		memset(p, 0x11, 1000);
		memset(q, 0x22, 200000);
		if (!filled(p, 1000, 0x11) || !filled(q, 200000, 0x22))
			atomic_fetch_add(&key_failures, 1);
	}
	free(p);
	free(q);
	if (value == (void *)1 && pthread_setspecific(early_key, (void *)2) != 0)
		atomic_fetch_add(&key_failures, 1);
}

static void *key_thread(void *arg)
{
	pthread_setspecific(early_key, (void *)1); /* before this thread's first malloc */
	void *p = malloc(64);
	if (p == NULL)
		atomic_fetch_add(&key_failures, 1);
	free(p);
	return NULL;
}

/* Runs n threads that set the early key and exit; returns the number of failures (-1 when the
 * key could not be made) and stores how many times its destructor ran (2 a thread expected). */
__attribute__((visibility("default"))) int early_key_threads(int n, int *runs)
{
	if (!early_key_made)
		return -1;
	atomic_store(&key_runs, 0);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, key_thread, NULL) != 0)
			atomic_fetch_add(&key_failures, 1);
		else
			pthread_join(t, NULL);
	}
	*runs = atomic_load(&key_runs);
	return atomic_load(&key_failures);
}

__attribute__((constructor)) static void early_init(void)
{
	if (!early_key_made)
		early_key_made = pthread_key_create(&early_key, early_key_destructor) == 0;

	/* Then a plain malloc, before any thread exists. */
	void *first = malloc(24);
	expect(first != NULL, "the first malloc in a constructor");
	free(first);

	pthread_t t[2];
	int started[2];
	for (int i = 0; i < 2; i++)
		started[i] = pthread_create(&t[i], NULL, thread_main, NULL) == 0;
	allocate_everything();
	for (int i = 0; i < 2; i++) {
		expect(started[i], "pthread_create in a constructor");
		if (started[i])
			pthread_join(t[i], NULL);
	}

	if (report.left_for_main == NULL) {
		report.left_for_main = malloc(LEFT_SIZE);
		expect(report.left_for_main != NULL, "malloc of the block left for main");
		for (size_t i = 0; report.left_for_main && i < LEFT_SIZE; i++)
			report.left_for_main[i] = (unsigned char)(i * 13 + 7);
	}
	report.ran++;
}
