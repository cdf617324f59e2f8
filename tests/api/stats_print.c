/* SPDX-License-Identifier: MIT */
/* stats_print.c: malloc_stats_print, malloc_message and the options
 * stats_print, stats_print_opts, stats_interval, stats_interval_opts.
 * Runs with background_thread:false (malloc_conf below), so that no thread
 * of cairn's allocates while a case counts allocations, and with two
 * arenas, so that the report has a section per arena. Cases:
 *   text      the report comes in NUL-terminated pieces of whole lines,
 *             under 4 KiB each, between the two marker lines;
 *   numbers   its totals and a size class's counts are those mallctl and
 *             cairn_stats_read read after the same refresh;
 *   letters   g, m, a, b, l each take out their own sections (b and l
 *             in every arena's) and nothing else; d, x, e, h and unknown
 *             letters change nothing;
 *   arenas    with a thread on each arena, each has its "arenas[<i>]:"
 *             section (and JSON object) with mallctl's stats.arenas.<i>
 *             numbers; an arena without activity has none;
 *   lextents  3 blocks of 200 KiB move their large class's row by 3, in
 *             text and JSON, merged and in the thread's arena;
 *   sums      merged small + large + huge allocated is stats.allocated;
 *   json      J gives valid JSON (checked by a small parser here) with
 *             jemalloc's keys, and numbers that match;
 *   routing   no callback: malloc_message when set, else stderr (fd 2);
 *   exit      stats_print:true writes the report when main returns and at
 *             exit(), in the stats_print_opts form;
 *   interval  stats_interval:1m writes it again and again while a child
 *             allocates 64 MiB;
 *   threads   concurrent calls from 4 threads each get whole reports;
 *   nomalloc  a report allocates nothing: the thread's request count
 *             stays put across it (and moves by one for one malloc). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "cairn/jemalloc.h"
#include "check.h"
#include "child.h"

const char *malloc_conf = "background_thread:false,narenas:2";

/* ------------------------------------------------------------ collecting */

#define OUT_MAX    (512 * 1024)
#define REPORT_ALL 4096 /* stats.arenas.<i> of every arena summed */

struct sink {
	char text[OUT_MAX];
	size_t len;
	unsigned pieces;
	unsigned bad_pieces; /* too long, or not ending a line */
};

static void collect(void *opaque, const char *s)
{
	struct sink *k = opaque;
	size_t n = strlen(s);
	k->pieces++;
	if (n == 0 || n >= 4096 || s[n - 1] != '\n')
		k->bad_pieces++;
	if (k->len + n < sizeof k->text) {
		memcpy(k->text + k->len, s, n + 1);
		k->len += n;
	}
}

static struct sink sink_a, sink_b;

static struct sink *report(struct sink *k, const char *opts)
{
	memset(k, 0, sizeof *k);
	malloc_stats_print(collect, k, opts);
	return k;
}

/* The number after `label` in text, or UINT64_MAX. */
static uint64_t number_after(const char *text, const char *label)
{
	const char *p = strstr(text, label);
	if (p == NULL)
		return UINT64_MAX;
	return strtoull(p + strlen(label), NULL, 10);
}

static size_t read_size(const char *name)
{
	size_t v = 0, len = sizeof v;
	CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "mallctl %s", name);
	return v;
}

static unsigned count(const char *text, const char *word);

/* ------------------------------------------------------------ cases */

static void test_text(void)
{
	struct sink *k = report(&sink_a, NULL);
	CHECK(strncmp(k->text, "___ Begin cairn statistics ___\n", 31) == 0, "first line: %.40s",
	      k->text);
	static const char end[] = "--- End cairn statistics ---\n";
	CHECK(k->len > sizeof end && strcmp(k->text + k->len - (sizeof end - 1), end) == 0,
	      "last line");
	CHECK(k->pieces > 1 && k->bad_pieces == 0, "%u pieces, %u bad", k->pieces, k->bad_pieces);
	static const char *const parts[] = {"Version: \"" CAIRN_VERSION "\"",
	                                    "config.stats: true",
	                                    "opt.narenas: ",
	                                    "opt.stats_print: false",
	                                    "opt.stats_interval: -1",
	                                    "Page size: 4096",
	                                    "Allocated: ",
	                                    "Merged arenas stats:",
	                                    "bins:",
	                                    "nslabs",
	                                    "util",
	                                    "large:"};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		CHECK(strstr(k->text, parts[i]) != NULL, "report has \"%s\"", parts[i]);
}

static void test_numbers(void)
{
	void *big = malloc(8 << 20);
	void *small[10];
	for (int i = 0; i < 10; i++)
		small[i] = malloc(3000); /* class 25, 3072 bytes */
	struct sink *k = report(&sink_a, "m");
	/* No epoch write since: mallctl reads the snapshot the report took. */
	CHECK(number_after(k->text, "Allocated: ") == read_size("stats.allocated"),
	      "allocated %llu, mallctl %zu",
	      (unsigned long long)number_after(k->text, "Allocated: "),
	      read_size("stats.allocated"));
	CHECK(number_after(k->text, ", active: ") == read_size("stats.active"), "active");
	CHECK(number_after(k->text, ", resident: ") == read_size("stats.resident"), "resident");
	CHECK(number_after(k->text, ", mapped: ") == read_size("stats.mapped"), "mapped");
	CHECK(number_after(k->text, ", retained: ") == read_size("stats.retained"), "retained");
	CHECK(number_after(k->text, ", metadata: ") == read_size("stats.metadata"), "metadata");
	CHECK(read_size("stats.allocated") >= (8 << 20) + 10 * 3072, "allocated counts the blocks");

	/* Class 25's row of the bins table: size, index, allocated, nmalloc,
	 * ndalloc, nrequests, curregs, curslabs. */
	k = report(&sink_a, NULL);
	const char *row = strstr(k->text, "\n            3072  25 ");
	CHECK(row != NULL, "class 25's row");
	if (row != NULL) {
		unsigned long long v[8];
		CHECK(sscanf(row, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		             &v[3], &v[4], &v[5], &v[6], &v[7]) == 8,
		      "row parses");
		uint64_t curregs = 0, nmalloc = 0, ndalloc = 0, curslabs = 0;
		cairn_stats_read("bins.25.curregs", &curregs);
		cairn_stats_read("bins.25.nmalloc", &nmalloc);
		cairn_stats_read("bins.25.ndalloc", &ndalloc);
		cairn_stats_read("bins.25.curslabs", &curslabs);
		CHECK(v[6] == curregs && v[3] == nmalloc && v[4] == ndalloc && v[7] == curslabs &&
		          v[2] == curregs * 3072,
		      "row %llu %llu %llu %llu against %llu %llu %llu %llu", v[6], v[3], v[4], v[7],
		      (unsigned long long)curregs, (unsigned long long)nmalloc,
		      (unsigned long long)ndalloc, (unsigned long long)curslabs);
		CHECK(curregs >= 10, "the 10 blocks are in use: %llu", (unsigned long long)curregs);
	}
	free(big);
	for (int i = 0; i < 10; i++)
		free(small[i]);
}

/* text without each run of lines from one that contains `from` to the one
 * before the next that contains one of the '|'-separated `until`, into
 * out, with every run of digits, dots and spaces made one '#', so that
 * reports taken at different moments compare equal. */
static char norm_a[OUT_MAX], norm_b[OUT_MAX];

static bool contains_any(const char *line, const char *alternatives)
{
	char one[64];
	while (*alternatives != '\0') {
		size_t n = strcspn(alternatives, "|");
		snprintf(one, sizeof one, "%.*s", (int)n, alternatives);
		if (strstr(line, one) != NULL)
			return true;
		alternatives += n + (alternatives[n] == '|');
	}
	return false;
}

static void normalise(const char *text, const char *from, const char *until, char *out)
{
	size_t n = 0;
	bool cutting = false;
	while (*text != '\0') {
		const char *eol = strchr(text, '\n');
		size_t len = eol != NULL ? (size_t)(eol - text + 1) : strlen(text);
		char line[1024];
		size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
		memcpy(line, text, l);
		line[l] = '\0';
		if (cutting && contains_any(line, until))
			cutting = false;
		if (from != NULL && !cutting && strstr(line, from) != NULL)
			cutting = true;
		if (!cutting) {
			for (size_t i = 0; i < l; i++) {
				char c = line[i];
				bool filler = (c >= '0' && c <= '9') || c == '.' || c == ' ';
				if (!filler)
					out[n++] = c;
				else if (n == 0 || out[n - 1] != '#')
					out[n++] = '#';
			}
		}
		text += len;
	}
	out[n] = '\0';
}

static void expect_without(const char *letters, const char *from, const char *until)
{
	report(&sink_a, NULL);
	report(&sink_b, letters);
	normalise(sink_a.text, from, until, norm_a);
	normalise(sink_b.text, NULL, NULL, norm_b);
	CHECK(strcmp(norm_a, norm_b) == 0, "\"%s\" takes out the lines from \"%s\" to \"%s\" only",
	      letters, from ? from : "-", until ? until : "-");
	if (from != NULL)
		CHECK(strstr(sink_b.text, from) == NULL && strstr(sink_a.text, from) != NULL,
		      "\"%s\" is gone", from);
	CHECK(sink_b.bad_pieces == 0, "pieces whole");
}

static void test_letters(void)
{
	expect_without("g", "Version:", "Allocated:");
	expect_without("m", "Merged arenas stats:", "arenas[|--- End");
	expect_without("a", "arenas[", "--- End");
	expect_without("b", "bins:", "curlextents");
	expect_without("l", "curlextents", "arenas[|--- End");
	/* Sections cairn has none of, and letters that mean nothing. */
	expect_without("dxeh", NULL, NULL);
	expect_without("z?9", NULL, NULL);
	report(&sink_b, "gmabl");
	CHECK(strstr(sink_b.text, "Allocated: ") != NULL &&
	          strstr(sink_b.text, "Version") == NULL && strstr(sink_b.text, "Merged") == NULL &&
	          strstr(sink_b.text, "arenas[") == NULL,
	      "gmabl leaves the totals");
	/* m leaves the arenas' own bins and large tables, a the merged ones. */
	report(&sink_b, "m");
	CHECK(strstr(sink_b.text, "arenas[0]:") != NULL && strstr(sink_b.text, "bins:") != NULL &&
	          strstr(sink_b.text, "curlextents") != NULL,
	      "m: the arenas' sections with their tables");
	report(&sink_b, "a");
	CHECK(count(sink_b.text, "bins:") == 1 && count(sink_b.text, "curlextents") == 1,
	      "a: the merged tables only");
}

/* ------------------------------------------------------------ JSON */

/* A small JSON parser: checks the syntax of the whole text and finds the
 * value at a path ("jemalloc/stats/allocated", "a/b[3]/c"). */
struct json {
	const char *p;
	const char *want;
	char path[256];
	const char *found; /* where the wanted value starts */
	bool ok;
};

static void ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool string(struct json *j, char *out, size_t cap)
{
	size_t n = 0;
	if (*j->p != '"')
		return false;
	for (j->p++; *j->p != '"'; j->p++) {
		char c = *j->p;
		if ((unsigned char)c < 0x20 || c == '\0')
			return false;
		if (c == '\\') {
			c = *++j->p;
			if (c == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF", j->p[i]) == NULL ||
					    j->p[i] == '\0')
						return false;
				j->p += 4;
				c = '?';
			} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
				return false;
			}
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	j->p++;
	out[n] = '\0';
	return true;
}

static bool value(struct json *j)
{
	ws(j);
	if (strcmp(j->path, j->want) == 0)
		j->found = j->p;
	size_t base = strlen(j->path);
	if (*j->p == '{' || *j->p == '[') {
		bool object = *j->p == '{';
		char close = object ? '}' : ']';
		j->p++;
		ws(j);
		if (*j->p == close) {
			j->p++;
			return true;
		}
		for (unsigned i = 0;; i++) {
			ws(j);
			if (object) {
				char key[128];
				if (!string(j, key, sizeof key))
					return false;
				ws(j);
				if (*j->p++ != ':')
					return false;
				snprintf(j->path + base, sizeof j->path - base, "%s%s",
				         base ? "/" : "", key);
			} else {
				snprintf(j->path + base, sizeof j->path - base, "[%u]", i);
			}
			if (!value(j))
				return false;
			j->path[base] = '\0';
			ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return false;
			return true;
		}
	}
	if (*j->p == '"') {
		char s[256];
		return string(j, s, sizeof s);
	}
	static const char *const words[] = {"true", "false", "null"};
	for (int i = 0; i < 3; i++)
		if (strncmp(j->p, words[i], strlen(words[i])) == 0) {
			j->p += strlen(words[i]);
			return true;
		}
	const char *start = j->p;
	if (*j->p == '-')
		j->p++;
	if (*j->p < '0' || *j->p > '9')
		return false;
	if (*j->p == '0' && j->p[1] >= '0' && j->p[1] <= '9')
		return false;
	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

/* Whether text is valid JSON; where it is, the value at path (NULL: none). */
static bool json_check(const char *text, const char *path, const char **found)
{
	struct json j = {.p = text, .want = path, .found = NULL};
	j.path[0] = '\0';
	bool ok = value(&j);
	ws(&j);
	ok = ok && *j.p == '\0';
	if (found != NULL)
		*found = j.found;
	return ok;
}

static bool json_number(const char *text, const char *path, uint64_t *v)
{
	const char *at = NULL;
	if (!json_check(text, path, &at) || at == NULL || *at < '0' || *at > '9')
		return false;
	*v = strtoull(at, NULL, 10);
	return true;
}

static void test_json(void)
{
	static const char *const bad[] = {"{",        "{\"a\": }", "[1,]", "{\"a\" 1}",
	                                  "\"\x01\"", "01",        "{} x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!json_check(bad[i], "", NULL), "the checker rejects %s", bad[i]);
	CHECK(json_check("{\"a\": [1, {\"b\": \"x\\\"y\"}], \"c\": -1}", "", NULL),
	      "the checker takes valid JSON");

	void *big = malloc(6 << 20);
	struct sink *k = report(&sink_a, "J");
	CHECK(k->bad_pieces == 0 && k->pieces > 1, "pieces whole: %u of %u bad", k->bad_pieces,
	      k->pieces);
	CHECK(json_check(k->text, "", NULL), "J output parses as JSON");
	static const char *const keys[] = {
	    "jemalloc/version",
	    "jemalloc/config/stats",
	    "jemalloc/opt/narenas",
	    "jemalloc/opt/stats_print_opts",
	    "jemalloc/arenas/page",
	    "jemalloc/arenas/bin[43]/slab_size",
	    "jemalloc/arenas/lextent[0]/size",
	    "jemalloc/stats/allocated",
	    "jemalloc/stats/background_thread/num_threads",
	    "jemalloc/stats.arenas/merged/small/nmalloc",
	    "jemalloc/stats.arenas/merged/large/allocated",
	    "jemalloc/stats.arenas/merged/bins[0]/curregs",
	    "jemalloc/stats.arenas/merged/lextents[15]/curlextents",
	    "jemalloc/stats.arenas/merged/huge/curblocks",
	    "jemalloc/stats.arenas/0/bins[43]/nslabs",
	    "jemalloc/stats.arenas/0/lextents[0]/nrequests",
	    "jemalloc/stats/background_thread/run_interval",
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *at = NULL;
		CHECK(json_check(k->text, keys[i], &at) && at != NULL, "JSON has %s", keys[i]);
	}
	const char *version = NULL;
	json_check(k->text, "jemalloc/version", &version);
	CHECK(version != NULL &&
	          strncmp(version, "\"" CAIRN_VERSION "\"", sizeof CAIRN_VERSION + 1) == 0,
	      "version is cairn's");
	static const char *const totals[] = {"allocated", "active", "metadata",
	                                     "resident",  "mapped", "retained"};
	for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
		char path[64], name[64];
		uint64_t v = UINT64_MAX;
		snprintf(path, sizeof path, "jemalloc/stats/%s", totals[i]);
		snprintf(name, sizeof name, "stats.%s", totals[i]);
		CHECK(json_number(k->text, path, &v) && v == read_size(name),
		      "%s: %llu against %zu", path, (unsigned long long)v, read_size(name));
	}
	uint64_t page = 0, curregs = 0, want = 0;
	CHECK(json_number(k->text, "jemalloc/arenas/page", &page) &&
	          page == read_size("arenas.page"),
	      "page");
	cairn_stats_read("bins.3.curregs", &want);
	CHECK(json_number(k->text, "jemalloc/stats.arenas/merged/bins[3]/curregs", &curregs) &&
	          curregs == want,
	      "bins[3].curregs %llu against %llu", (unsigned long long)curregs,
	      (unsigned long long)want);
	k = report(&sink_a, "Jgmabl");
	CHECK(json_check(k->text, "", NULL) && strstr(k->text, "\"opt\"") == NULL &&
	          strstr(k->text, "\"stats.arenas\"") == NULL && strstr(k->text, "\"allocated\""),
	      "Jgma: valid, the totals only");
	k = report(&sink_a, "Jm");
	CHECK(json_check(k->text, "", NULL) && strstr(k->text, "\"merged\"") == NULL &&
	          json_check(k->text, "jemalloc/stats.arenas/0/small", &version) && version != NULL,
	      "Jm: valid, the arenas without merged");
	k = report(&sink_a, "Ja");
	CHECK(json_check(k->text, "", NULL) &&
	          json_check(k->text, "jemalloc/stats.arenas/0", &version) && version == NULL &&
	          json_check(k->text, "jemalloc/stats.arenas/merged/small", &version) &&
	          version != NULL,
	      "Ja: valid, merged without the arenas");
	k = report(&sink_a, "Jbl");
	CHECK(json_check(k->text, "", NULL) && strstr(k->text, "\"bins\"") == NULL &&
	          strstr(k->text, "\"lextents\"") == NULL && strstr(k->text, "\"small\""),
	      "Jbl: valid, no bins or lextents");
	free(big);
}

/* ------------------------------------------------------------ arenas */

static uint64_t read_arena(unsigned i, const char *leaf, size_t size)
{
	char name[96];
	uint64_t v = 0;
	size_t len = size;
	snprintf(name, sizeof name, "stats.arenas.%u.%s", i, leaf);
	CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "mallctl %s", name);
	return v; /* little-endian: an unsigned reads into the low half */
}

/* Arena i's section of the text report, or "" if it has none. */
static char section[OUT_MAX];

static const char *arena_section(const char *text, unsigned i)
{
	char head[32];
	snprintf(head, sizeof head, "\narenas[%u]:\n", i);
	const char *p = strstr(text, head);
	section[0] = '\0';
	if (p == NULL)
		return section;
	p++;
	const char *end = strstr(p + 1, "\narenas[");
	if (end == NULL)
		end = strstr(p, "--- End");
	size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
	memcpy(section, p, n);
	section[n] = '\0';
	return section;
}

/* The numbers of the row that starts with label in text: up to max. */
static unsigned row_numbers(const char *text, const char *label, unsigned long long *v,
                            unsigned max)
{
	const char *p = strstr(text, label);
	if (p == NULL)
		return 0;
	p += strlen(label);
	unsigned n = 0;
	while (n < max) {
		char *end;
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		v[n++] = strtoull(p, &end, 10);
		p = end;
	}
	return n;
}

#define NHOLDERS 4

static pthread_barrier_t held, release;

/* Allocates blocks of its own sizes in its own heap, and holds them until
 * the main thread has looked. */
static void *holder(void *arg)
{
	uintptr_t k = (uintptr_t)arg;
	void *small[8], *large;
	for (int i = 0; i < 8; i++)
		small[i] = malloc(100 + 700 * k);
	large = malloc((size_t)(64 + 96 * k) << 10);
	pthread_barrier_wait(&held);
	pthread_barrier_wait(&release);
	for (int i = 0; i < 8; i++)
		free(small[i]);
	free(large);
	return NULL;
}

static void test_arenas(void)
{
	unsigned narenas_now = 0;
	size_t len = sizeof narenas_now;
	REQUIRE(mallctl("arenas.narenas", &narenas_now, &len, NULL, 0) == 0 && narenas_now == 2,
	        "two arenas: %u", narenas_now);
	pthread_t t[NHOLDERS];
	pthread_barrier_init(&held, NULL, NHOLDERS + 1);
	pthread_barrier_init(&release, NULL, NHOLDERS + 1);
	for (uintptr_t k = 0; k < NHOLDERS; k++)
		REQUIRE(pthread_create(&t[k], NULL, holder, (void *)k) == 0, "create");
	pthread_barrier_wait(&held);

	struct sink *k = report(&sink_a, NULL);
	unsigned sections = 0;
	for (unsigned i = 0; i < narenas_now; i++) {
		uint64_t nthreads = read_arena(i, "nthreads", sizeof(unsigned));
		uint64_t small_nmalloc = read_arena(i, "small.nmalloc", 8);
		uint64_t large_nmalloc = read_arena(i, "large.nmalloc", 8);
		uint64_t mapped = read_arena(i, "mapped", 8);
		bool used =
		    nthreads != 0 || small_nmalloc != 0 || large_nmalloc != 0 || mapped != 0;
		const char *sec = arena_section(k->text, i);
		CHECK(used == (sec[0] != '\0'), "arena %u: used %d, section %d", i, used,
		      sec[0] != '\0');
		if (sec[0] == '\0')
			continue;
		sections++;
		CHECK(number_after(sec, "assigned threads: ") == nthreads, "arena %u: nthreads", i);
		unsigned long long v[6];
		static const char *const small[] = {"small.allocated", "small.nmalloc",
		                                    "small.ndalloc",   "small.nrequests",
		                                    "small.nfills",    "small.nflushes"};
		static const char *const large[] = {"large.allocated", "large.nmalloc",
		                                    "large.ndalloc",   "large.nrequests",
		                                    "large.nfills",    "large.nflushes"};
		CHECK(row_numbers(sec, "\nsmall:", v, 6) == 6, "arena %u: small row", i);
		for (int f = 0; f < 6; f++)
			CHECK(v[f] == read_arena(i, small[f], 8), "arena %u: %s %llu against %llu",
			      i, small[f], v[f], (unsigned long long)read_arena(i, small[f], 8));
		CHECK(row_numbers(sec, "\nlarge:", v, 6) == 6, "arena %u: large row", i);
		for (int f = 0; f < 6; f++)
			CHECK(v[f] == read_arena(i, large[f], 8), "arena %u: %s %llu against %llu",
			      i, large[f], v[f], (unsigned long long)read_arena(i, large[f], 8));
		CHECK(strstr(sec, "\nhuge:") == NULL, "arena %u: huge blocks are in no arena", i);
		static const char *const bytes[] = {"mapped", "retained", "base", "tcache_bytes",
		                                    "resident"};
		for (int f = 0; f < 5; f++) {
			char label[32];
			snprintf(label, sizeof label, "\n%s: ", bytes[f]);
			CHECK(number_after(sec, label) == read_arena(i, bytes[f], 8),
			      "arena %u: %s", i, bytes[f]);
		}
		CHECK(number_after(sec, "pages: active ") == read_arena(i, "pactive", 8),
		      "arena %u: pactive", i);
		/* Every bin row against stats.arenas.<i>.bins.<c>. */
		unsigned rows = 0;
		for (unsigned c = 0; c < 44; c++) {
			char label[48], leaf[48];
			snprintf(
			    label, sizeof label, "\n        %8zu%4u ",
			    read_size((snprintf(leaf, sizeof leaf, "arenas.bin.%u.size", c), leaf)),
			    c);
			unsigned long long b[6];
			if (row_numbers(sec, label, b, 6) != 6)
				continue;
			rows++;
			static const char *const f6[] = {"",          "nmalloc", "ndalloc",
			                                 "nrequests", "curregs", "curslabs"};
			for (int f = 1; f < 6; f++) {
				snprintf(leaf, sizeof leaf, "bins.%u.%s", c, f6[f]);
				CHECK(b[f] == read_arena(i, leaf, 8), "arena %u: %s", i, leaf);
			}
		}
		CHECK(rows == 44, "arena %u: 44 bin rows, %u", i, rows);
		/* And the JSON object. */
		struct sink *j = report(&sink_b, "Jg");
		char path[96];
		uint64_t got = UINT64_MAX;
		snprintf(path, sizeof path, "jemalloc/stats.arenas/%u/small/allocated", i);
		CHECK(json_number(j->text, path, &got) &&
		          got == read_arena(i, "small.allocated", 8),
		      "%s", path);
		snprintf(path, sizeof path, "jemalloc/stats.arenas/%u/nthreads", i);
		CHECK(json_number(j->text, path, &got) &&
		          got == read_arena(i, "nthreads", sizeof(unsigned)),
		      "%s", path);
		snprintf(path, sizeof path, "jemalloc/stats.arenas/%u/bins[5]/nmalloc", i);
		CHECK(json_number(j->text, path, &got) && got == read_arena(i, "bins.5.nmalloc", 8),
		      "%s", path);
		k = report(&sink_a, NULL);
	}
	CHECK(sections == narenas_now, "a section for each of the %u arenas: %u", narenas_now,
	      sections);
	pthread_barrier_wait(&release);
	for (int i = 0; i < NHOLDERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&held);
	pthread_barrier_destroy(&release);
}

/* The merged large table's row of class ind ("size ind ..."), its
 * nmalloc, ndalloc, nrequests and curlextents into v; false if none. */
static bool large_row(const char *text, size_t size, unsigned ind, unsigned long long *v)
{
	char label[48];
	snprintf(label, sizeof label, "\n%20zu%4u ", size, ind);
	unsigned long long r[5];
	if (row_numbers(text, label, r, 5) != 5)
		return false;
	memcpy(v, r + 1, 4 * sizeof *v);
	return true;
}

static void test_lextents(void)
{
	/* The least large class 200 KiB fits in. */
	unsigned nbins = 0, j = 0;
	size_t size = 0, len = sizeof nbins;
	char name[64];
	REQUIRE(mallctl("arenas.nbins", &nbins, &len, NULL, 0) == 0, "arenas.nbins");
	for (;; j++) {
		snprintf(name, sizeof name, "arenas.lextent.%u.size", j);
		size = read_size(name);
		if (size >= 200 << 10 || j == 15)
			break;
	}
	unsigned arena = 0;
	len = sizeof arena;
	REQUIRE(mallctl("thread.arena", &arena, &len, NULL, 0) == 0, "thread.arena");
	unsigned long long before[4] = {0}, after[4] = {0}, in_arena[4] = {0};
	uint64_t json_before = 0, json_after = 0;
	char path[96];
	snprintf(path, sizeof path, "jemalloc/stats.arenas/merged/lextents[%u]/nmalloc", j);
	struct sink *k = report(&sink_a, "g");
	large_row(k->text, size, nbins + j, before); /* no row yet: zeros */
	k = report(&sink_b, "Jg");
	CHECK(json_number(k->text, path, &json_before), "%s before", path);

	void *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = malloc(200 << 10);
	k = report(&sink_a, "g");
	CHECK(large_row(k->text, size, nbins + j, after), "a row for class %u (%zu)", nbins + j,
	      size);
	CHECK(after[0] == before[0] + 3 && after[2] == before[2] + 3 && after[3] == before[3] + 3,
	      "nmalloc, nrequests, curlextents %llu %llu %llu, were %llu %llu %llu", after[0],
	      after[2], after[3], before[0], before[2], before[3]);
	snprintf(name, sizeof name, "lextents.%u.nmalloc", j);
	CHECK(after[0] == read_arena(REPORT_ALL, name, 8), "merged nmalloc is mallctl's");
	CHECK(large_row(arena_section(k->text, arena), size, nbins + j, in_arena) &&
	          in_arena[0] == read_arena(arena, name, 8) && in_arena[0] >= 3,
	      "the thread's arena %u has the row: %llu", arena, in_arena[0]);
	k = report(&sink_b, "Jg");
	CHECK(json_number(k->text, path, &json_after) && json_after == json_before + 3,
	      "%s %llu, was %llu", path, (unsigned long long)json_after,
	      (unsigned long long)json_before);
	for (int i = 0; i < 3; i++)
		free(p[i]);
	k = report(&sink_a, "g");
	CHECK(large_row(k->text, size, nbins + j, after) && after[1] == before[1] + 3 &&
	          after[3] == before[3],
	      "freed: ndalloc %llu (was %llu), curlextents %llu", after[1], before[1], after[3]);
	k = report(&sink_a, "gl");
	CHECK(strstr(k->text, "curlextents") == NULL && strstr(k->text, "\nlarge:") != NULL,
	      "l: no large class table, the large row stays");
}

static void test_sums(void)
{
	void *p[5];
	p[0] = malloc(3 << 20); /* huge */
	p[1] = malloc(200 << 10);
	p[2] = malloc(600 << 10);
	p[3] = malloc(1000);
	p[4] = malloc(5 << 20); /* huge */
	struct sink *k = report(&sink_b, "Jg");
	uint64_t small = 0, large = 0, huge = 0, allocated = 0, curblocks = 0;
	CHECK(json_number(k->text, "jemalloc/stats.arenas/merged/small/allocated", &small) &&
	          json_number(k->text, "jemalloc/stats.arenas/merged/large/allocated", &large) &&
	          json_number(k->text, "jemalloc/stats.arenas/merged/huge/allocated", &huge) &&
	          json_number(k->text, "jemalloc/stats.arenas/merged/huge/curblocks", &curblocks) &&
	          json_number(k->text, "jemalloc/stats/allocated", &allocated),
	      "the JSON numbers");
	CHECK(small + large + huge == allocated && allocated == read_size("stats.allocated"),
	      "small %llu + large %llu + huge %llu = allocated %llu", (unsigned long long)small,
	      (unsigned long long)large, (unsigned long long)huge, (unsigned long long)allocated);
	CHECK(large >= (800 << 10) && huge >= (8 << 20) && curblocks >= 2,
	      "large runs %llu, huge %llu in %llu blocks", (unsigned long long)large,
	      (unsigned long long)huge, (unsigned long long)curblocks);
	CHECK(large == read_arena(REPORT_ALL, "large.allocated", 8), "large is arenas' large");
	uint64_t v = 0;
	cairn_stats_read("huge_allocated", &v);
	CHECK(huge == v, "huge is huge_allocated");
	/* Text: huge apart from large, and the total is Allocated. */
	k = report(&sink_a, "g");
	unsigned long long row[3];
	CHECK(row_numbers(k->text, "\nhuge:", row, 3) == 3, "huge row");
	CHECK(row[0] == huge, "huge row: %llu", row[0]);
	CHECK(row_numbers(k->text, "\ntotal:", row, 3) == 3 &&
	          row[0] == number_after(k->text, "Allocated: "),
	      "merged total %llu = Allocated %llu", row[0],
	      (unsigned long long)number_after(k->text, "Allocated: "));
	CHECK(number_after(k->text, ", run_interval: ") ==
	          read_size("stats.background_thread.run_interval"),
	      "run_interval");
	for (int i = 0; i < 5; i++)
		free(p[i]);
}

/* ------------------------------------------------------------ where it goes */

static void routed(void *opaque, const char *s)
{
	collect(&sink_b, s);
	if (opaque != (void *)&sink_b)
		sink_b.bad_pieces += 1000; /* cbopaque must come through */
}

static void print_to_stderr(void *arg)
{
	malloc_stats_print(NULL, NULL, (const char *)arg);
}

static char child_out[256 * 1024];

static void test_routing(void)
{
	memset(&sink_b, 0, sizeof sink_b);
	malloc_message = routed;
	malloc_stats_print(NULL, &sink_b, "g");
	malloc_message = NULL;
	CHECK(strstr(sink_b.text, "___ Begin cairn statistics ___") != NULL &&
	          strstr(sink_b.text, "--- End cairn statistics ---") != NULL &&
	          sink_b.bad_pieces == 0,
	      "no callback: malloc_message gets the report and cbopaque (%u bad)",
	      sink_b.bad_pieces);

	struct child_opts opts = {0};
	size_t len = 0;
	int st = child_call(print_to_stderr, "", &opts, child_out, sizeof child_out, &len);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	CHECK(strncmp(child_out, "___ Begin cairn statistics ___\n", 31) == 0 &&
	          strstr(child_out, "--- End cairn statistics ---\n") != NULL,
	      "neither: stderr gets the report (%zu bytes)", len);
	st = child_call(print_to_stderr, "J", &opts, child_out, sizeof child_out, &len);
	CHECK(WIFEXITED(st) && json_check(child_out, "", NULL), "J to stderr is valid JSON");
}

static int child_mode(const char *mode)
{
	if (strcmp(mode, "exit") == 0)
		exit(0);
	if (strcmp(mode, "allocate") == 0) {
		/* 64 MiB in small blocks, freed as it goes. */
		for (int i = 0; i < 64 * 1024; i++) {
			char *p = malloc(1024);
			p[0] = (char)i;
			free(p);
		}
	}
	if (strcmp(mode, "allocate-large") == 0) {
		/* 64 MiB in large blocks, each from the thread's cache but the
		 * first. */
		for (int i = 0; i < 256; i++) {
			char *p = malloc(256 << 10);
			p[0] = (char)i;
			free(p);
		}
	}
	return 0; /* "return": main returns */
}

static unsigned count(const char *text, const char *word)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, word)) != NULL; p += strlen(word))
		n++;
	return n;
}

static void run_mode(const char *conf, const char *mode, int *status)
{
	struct child_opts opts = {.name = "stats_print", .args = {"--child", mode}, .conf = conf};
	*status = child_run(&opts, child_out, sizeof child_out, NULL);
}

static void test_exit(void)
{
	int st;
	run_mode("background_thread:false", "return", &st);
	CHECK(WIFEXITED(st) && count(child_out, "Begin cairn statistics") == 0,
	      "no report by default");
	static const char *const modes[] = {"return", "exit"};
	for (int i = 0; i < 2; i++) {
		run_mode("stats_print:true", modes[i], &st);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", modes[i], st);
		CHECK(count(child_out, "___ Begin cairn statistics ___\n") == 1 &&
		          count(child_out, "--- End cairn statistics ---\n") == 1 &&
		          strstr(child_out, "opt.stats_print: true") != NULL,
		      "%s: one report at exit", modes[i]);
		run_mode("stats_print:true,stats_print_opts:Jg", modes[i], &st);
		CHECK(json_check(child_out, "", NULL) &&
		          strstr(child_out, "\"jemalloc\"") != NULL &&
		          strstr(child_out, "\"opt\"") == NULL,
		      "%s: stats_print_opts:Jg gives JSON without the general part", modes[i]);
	}
}

static void test_interval(void)
{
	int st;
	run_mode("stats_interval:1m,stats_interval_opts:gma", "allocate", &st);
	unsigned n = count(child_out, "___ Begin cairn statistics ___\n");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	CHECK(n >= 16 && n <= 64 && count(child_out, "--- End cairn statistics ---\n") == n &&
	          strstr(child_out, "Merged") == NULL,
	      "64 MiB at 1 MiB intervals: %u reports", n);
	run_mode("stats_interval:16m,stats_interval_opts:gma", "allocate", &st);
	unsigned m = count(child_out, "___ Begin cairn statistics ___\n");
	CHECK(m >= 2 && m <= 4, "64 MiB at 16 MiB intervals: %u reports", m);
	run_mode("stats_interval:-1", "allocate", &st);
	CHECK(count(child_out, "Begin cairn statistics") == 0, "-1: none");
	/* Large blocks count toward the rare event as 64 KiB each, and toward
	 * stats_interval in full. */
	run_mode("stats_interval:16m,stats_interval_opts:gma", "allocate-large", &st);
	m = count(child_out, "___ Begin cairn statistics ___\n");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && m >= 2 && m <= 4,
	      "64 MiB of 256 KiB blocks at 16 MiB intervals: %u reports", m);
}

/* ------------------------------------------------------------ threads */

#define NTHREADS 4
#define ROUNDS   20

static struct sink thread_sink[NTHREADS];

static void *reporter(void *arg)
{
	struct sink *k = arg;
	for (int i = 0; i < ROUNDS; i++) {
		malloc_stats_print(collect, k, i % 2 ? "gJ" : "g");
		/* Keep only the last report: the text of each is checked by
		 * counting what all of them said. */
		if (k->len > OUT_MAX / 2)
			k->len = 0;
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		memset(&thread_sink[i], 0, sizeof thread_sink[i]);
		REQUIRE(pthread_create(&t[i], NULL, reporter, &thread_sink[i]) == 0, "create");
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(thread_sink[i].bad_pieces == 0 && thread_sink[i].pieces >= ROUNDS,
		      "thread %d: %u pieces, %u bad", i, thread_sink[i].pieces,
		      thread_sink[i].bad_pieces);
	/* Sequentially again: one thread's report is whole and right. */
	struct sink *k = report(&sink_a, "g");
	CHECK(count(k->text, "Begin cairn") == 1 && count(k->text, "End cairn") == 1,
	      "whole after the concurrent ones");
}

/* ------------------------------------------------------------ no malloc */

static void noop(void *opaque, const char *s)
{
	(*(size_t *)opaque) += strlen(s);
}

/* Every allocation the thread made, ever: small requests (counted once
 * the bins are flushed), large and huge blocks. */
static uint64_t requests(void)
{
	REQUIRE(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush");
	cairn_stats_refresh();
	uint64_t sum = 0, v;
	for (unsigned c = 0; c < 44; c++) {
		char name[48];
		snprintf(name, sizeof name, "bins.%u.nrequests", c);
		v = 0;
		cairn_stats_read(name, &v);
		sum += v;
	}
	v = 0;
	cairn_stats_read("large_nmalloc", &v);
	sum += v;
	v = 0;
	cairn_stats_read("huge_nmalloc", &v);
	return sum + v;
}

static void *count_allocations(void *arg)
{
	uint64_t *r = arg;
	size_t bytes = 0;
	r[0] = requests();
	malloc_stats_print(noop, &bytes, NULL);
	malloc_stats_print(noop, &bytes, "J");
	r[1] = requests();
	void *p = malloc(100);
	free(p);
	r[2] = requests();
	r[3] = bytes;
	return NULL;
}

static void test_nomalloc(void)
{
	uint64_t r[4] = {0};
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, count_allocations, r) == 0, "create");
	pthread_join(t, NULL);
	CHECK(r[3] > 10000, "the reports were written: %llu bytes", (unsigned long long)r[3]);
	CHECK(r[2] == r[1] + 1, "the count sees one malloc: %llu then %llu",
	      (unsigned long long)r[1], (unsigned long long)r[2]);
	CHECK(r[1] == r[0], "two reports allocated nothing: %llu then %llu",
	      (unsigned long long)r[0], (unsigned long long)r[1]);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_mode(argv[2]);
	TEST_CASE("text") test_text();
	TEST_CASE("numbers") test_numbers();
	TEST_CASE("letters") test_letters();
	TEST_CASE("json") test_json();
	TEST_CASE("arenas") test_arenas();
	TEST_CASE("lextents") test_lextents();
	TEST_CASE("sums") test_sums();
	TEST_CASE("routing") test_routing();
	TEST_CASE("exit") test_exit();
	TEST_CASE("interval") test_interval();
	TEST_CASE("threads") test_threads();
	TEST_CASE("nomalloc") test_nomalloc();
	return CHECK_DONE();
}
