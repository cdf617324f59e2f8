/* SPDX-License-Identifier: MIT */
/* A small real program for the port builds (tests/port/musl.sh): counts the
 * words of the files it is given, with four threads over a shared table,
 * and prints the 25 most frequent. Its allocations go every way a program's
 * do: its own malloc, calloc, realloc and free, the C library's on its
 * behalf (getline's buffer, strdup, open_memstream's growing buffer),
 * aligned blocks, and frees from threads other than the allocating one.
 *
 * Its output is the same whatever allocator it runs on, so the script
 * compares it with a reference run on the system's; the lines starting
 * with "allocator:" and "check failed" are the exceptions: when cairn's
 * mallctl is there (linked in, or preloaded) it says so, and checks that
 * the C library's own allocations reach cairn. Exit status 1 on any
 * failed check. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static int failed;
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "check failed: " __VA_ARGS__);                             \
			fputc('\n', stderr);                                                       \
			failed = 1;                                                                \
		}                                                                                  \
	} while (0)

struct entry {
	char *word;
	unsigned long count;
};

static struct entry *table;
static size_t cap, used;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

static void grow(void)
{
	size_t ncap = cap ? cap * 2 : 1024;
	struct entry *n = calloc(ncap, sizeof *n);
	EXPECT(n != NULL, "calloc of %zu entries", ncap);
	if (n == NULL)
		exit(1);
	for (size_t i = 0; i < cap; i++) {
		if (table[i].word == NULL)
			continue;
		size_t j = hash(table[i].word) & (ncap - 1);
		while (n[j].word != NULL)
			j = (j + 1) & (ncap - 1);
		n[j] = table[i];
	}
	free(table);
	table = n;
	cap = ncap;
}

/* Takes word (malloc'd by the caller's thread): kept, or freed when the
 * table has it already. */
static void add(char *word)
{
	pthread_mutex_lock(&table_lock);
	if (used * 2 >= cap)
		grow();
	size_t j = hash(word) & (cap - 1);
	while (table[j].word != NULL && strcmp(table[j].word, word) != 0)
		j = (j + 1) & (cap - 1);
	if (table[j].word == NULL) {
		table[j].word = word;
		used++;
	} else {
		free(word);
	}
	table[j].count++;
	pthread_mutex_unlock(&table_lock);
}

struct job {
	const char *path;
	unsigned part, parts;
	unsigned long words;
};

/* Counts the words of every parts-th line of the file, from line part. */
static void *count(void *arg)
{
	struct job *job = arg;
	FILE *f = fopen(job->path, "r");
	EXPECT(f != NULL, "open %s", job->path);
	if (f == NULL)
		return NULL;
	char *line = NULL;
	size_t len = 0;
	unsigned long n = 0;
	while (getline(&line, &len, f) >= 0) {
		if (n++ % job->parts != job->part)
			continue;
		char *p = line;
		for (;;) {
			while (*p && !isalnum((unsigned char)*p))
				p++;
			if (!*p)
				break;
			char *start = p;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			char *word = strndup(start, (size_t)(p - start));
			for (char *c = word; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			add(word);
			job->words++;
		}
	}
	free(line);
	fclose(f);
	return NULL;
}

static int by_count(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->word, y->word);
}

/* Aligned blocks of every size range, written through and freed. */
static void aligned(void)
{
	static const size_t aligns[] = {16, 64, 4096, 65536, 1 << 21};
	static const size_t sizes[] = {1, 100, 5000, 300000, 3 << 20};
	for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++)
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			void *p = NULL;
			int rc = posix_memalign(&p, aligns[i], sizes[k]);
			EXPECT(rc == 0 && ((uintptr_t)p & (aligns[i] - 1)) == 0,
			       "posix_memalign(%zu, %zu)", aligns[i], sizes[k]);
			void *q = aligned_alloc(aligns[i], sizes[k]);
			EXPECT(q != NULL && ((uintptr_t)q & (aligns[i] - 1)) == 0,
			       "aligned_alloc(%zu, %zu)", aligns[i], sizes[k]);
			if (p != NULL)
				memset(p, 1, sizes[k]);
			if (q != NULL)
				memset(q, 2, sizes[k]);
			free(p);
			free(q);
		}
}

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);

/* cairn's mallctl: linked in (the weak reference), or preloaded. */
static mallctl_fn *find_mallctl(void)
{
	if (mallctl != NULL)
		return mallctl;
	return (mallctl_fn *)dlsym(RTLD_DEFAULT, "mallctl");
}

static uint64_t allocated(mallctl_fn *ctl)
{
	uint64_t v = 0;
	size_t len = sizeof v;
	EXPECT(ctl("thread.allocated", &v, &len, NULL, 0) == 0, "mallctl thread.allocated");
	return v;
}

/* The C library's own allocations are cairn's: strdup's block counts in
 * this thread's bytes, and so does open_memstream's buffer. */
static void libc_reaches_cairn(mallctl_fn *ctl)
{
	const char *version = NULL;
	size_t len = sizeof version;
	EXPECT(ctl("version", &version, &len, NULL, 0) == 0 && version != NULL, "mallctl version");
	fprintf(stderr, "allocator: cairn %s\n", version ? version : "?");
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	uint64_t before = allocated(ctl);
	char *s = strdup(big);
	uint64_t after = allocated(ctl);
	EXPECT(after - before >= sizeof big, "strdup's 3000 bytes counted by cairn: %llu",
	       (unsigned long long)(after - before));
	free(s);
	char *buf = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	before = allocated(ctl);
	for (int i = 0; i < 2000; i++)
		fprintf(m, "%d,", i);
	fclose(m);
	after = allocated(ctl);
	EXPECT(size > 8000 && after - before >= size, "open_memstream's %zu bytes counted: %llu",
	       size, (unsigned long long)(after - before));
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: wordfreq FILE...\n");
		return 2;
	}
	mallctl_fn *ctl = find_mallctl();
	if (ctl != NULL)
		libc_reaches_cairn(ctl);
	else
		fprintf(stderr, "allocator: the C library's\n");
	aligned();
	enum { PARTS = 4 };
	unsigned long words = 0;
	for (int a = 1; a < argc; a++) {
		pthread_t t[PARTS];
		struct job jobs[PARTS];
		for (unsigned i = 0; i < PARTS; i++) {
			jobs[i] = (struct job){.path = argv[a], .part = i, .parts = PARTS};
			EXPECT(pthread_create(&t[i], NULL, count, &jobs[i]) == 0, "pthread_create");
		}
		for (unsigned i = 0; i < PARTS; i++) {
			pthread_join(t[i], NULL);
			words += jobs[i].words;
		}
	}
	/* Packed and sorted, into a report that open_memstream builds. */
	struct entry *list = malloc(used * sizeof *list);
	size_t n = 0;
	for (size_t i = 0; i < cap; i++)
		if (table[i].word != NULL)
			list[n++] = table[i];
	qsort(list, n, sizeof *list, by_count);
	char *report = NULL;
	size_t report_len = 0;
	FILE *out = open_memstream(&report, &report_len);
	fprintf(out, "%lu words, %zu distinct\n", words, n);
	for (size_t i = 0; i < n && i < 25; i++)
		fprintf(out, "%8lu %s\n", list[i].count, list[i].word);
	fclose(out);
	fputs(report, stdout);
	free(report);
	for (size_t i = 0; i < n; i++)
		free(list[i].word);
	free(list);
	free(table);
	return failed;
}
