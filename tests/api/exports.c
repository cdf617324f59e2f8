/* SPDX-License-Identifier: MIT */
/* The shared library's dynamic symbol table: the defined global symbols
 * (nm -D types T W D B V i) are exactly the public API of exports.map, no
 * more and no less, and the library does not need libstdc++. The library is
 * $CAIRN_LIB (set by tests/run.sh), or else the object that defines malloc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static const char *const expected[] = {
    "malloc",
    "free",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "free_sized",
    "free_aligned_sized",
    "cfree",
    "__libc_malloc",
    "__libc_free",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__libc_valloc",
    "__libc_pvalloc",
    "__posix_memalign",
    "malloc_conf",
    "cairn_version",
    "cairn_purge",
    "cairn_stats_refresh",
    "cairn_stats_read",
    "cairn_heap_create",
    "cairn_heap_arena",
    "cairn_heap_malloc",
    "cairn_heap_calloc",
    "cairn_heap_aligned_alloc",
    "cairn_heap_realloc",
    "cairn_heap_reset",
    "cairn_heap_destroy",
    "cairn_malloc",
    "cairn_calloc",
    "cairn_realloc",
    "cairn_free",
    "cairn_free_sized",
    "cairn_aligned_alloc",
    "cairn_realloc_aligned",
    "cairn_usable_size",
    "mallctl",
    "mallctlnametomib",
    "mallctlbymib",
    "malloc_stats_print",
    "malloc_message",
    "mallinfo",
    "mallinfo2",
    "malloc_stats",
    "malloc_trim",
    /* jemalloc's allocation API */
    "mallocx",
    "rallocx",
    "xallocx",
    "sallocx",
    "dallocx",
    "sdallocx",
    "nallocx",
    /* operator new */
    "_Znwm",
    "_ZnwmRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_Znam",
    "_ZnamRKSt9nothrow_t",
    "_ZnamSt11align_val_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    /* operator delete */
    "_ZdlPv",
    "_ZdlPvm",
    "_ZdlPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPv",
    "_ZdaPvm",
    "_ZdaPvRKSt9nothrow_t",
    "_ZdaPvSt11align_val_t",
    "_ZdaPvmSt11align_val_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

#define MAXSYMS 1024
static char *found[MAXSYMS];
static int nfound;

static int is_expected(const char *name)
{
	for (size_t i = 0; i < NEXPECTED; i++)
		if (strcmp(expected[i], name) == 0)
			return 1;
	return 0;
}

static int is_found(const char *name)
{
	for (int i = 0; i < nfound; i++)
		if (strcmp(found[i], name) == 0)
			return 1;
	return 0;
}

/* The command's output must not be confused by odd characters in the path. */
static int safe_path(const char *s)
{
	for (; *s; s++)
		if (*s == '\'')
			return 0;
	return 1;
}

static void read_symbols(const char *lib)
{
	char cmd[4352], line[1024];
	snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>&1", lib);
	FILE *f = popen(cmd, "r");
	REQUIRE(f != NULL, "popen(%s) failed", cmd);
	int lines = 0;
	while (fgets(line, sizeof line, f)) {
		char addr[64], type[8], name[512];
		lines++;
		/* "0000000000012340 T malloc" or, for a version node,
		 * "0000000000000000 A VERS_1"; a name may carry "@@VERSION". */
		if (sscanf(line, "%63s %7s %511s", addr, type, name) != 3) {
			fprintf(stderr, "nm: unparsed line: %s", line);
			continue;
		}
		if (strlen(type) != 1 || !strchr("TWDBVi", type[0]))
			continue;
		char *at = strchr(name, '@');
		if (at)
			*at = '\0';
		if (!is_found(name) && nfound < MAXSYMS)
			found[nfound++] = strdup(name);
	}
	int rc = pclose(f);
	REQUIRE(rc == 0, "`%s` exited with status %d", cmd, rc);
	REQUIRE(lines > 0, "`%s` printed nothing", cmd);
}

static void check_needed(const char *lib)
{
	char cmd[4352], line[1024];
	snprintf(cmd, sizeof cmd, "readelf -d '%s' 2>&1", lib);
	FILE *f = popen(cmd, "r");
	REQUIRE(f != NULL, "popen(%s) failed", cmd);
	int needed = 0, libc = 0;
	while (fgets(line, sizeof line, f)) {
		if (!strstr(line, "(NEEDED)"))
			continue;
		needed++;
		if (strstr(line, "[libc.so."))
			libc = 1;
		CHECK(strstr(line, "libstdc++") == NULL, "library needs libstdc++: %s", line);
	}
	int rc = pclose(f);
	CHECK(rc == 0, "`%s` exited with status %d", cmd, rc);
	/* It does need libc: this shows the NEEDED lines were parsed at all. */
	CHECK(needed > 0 && libc, "readelf found %d NEEDED entries, libc among them: %d", needed,
	      libc);
}

int main(void)
{
	const char *lib = getenv("CAIRN_LIB");
	Dl_info info;

	if (!lib || !*lib) {
		REQUIRE(dladdr(dlsym(RTLD_DEFAULT, "malloc"), &info) && info.dli_fname,
		        "CAIRN_LIB is not set and dladdr(malloc) failed");
		lib = info.dli_fname;
	}
	REQUIRE(safe_path(lib), "library path with a quote: %s", lib);
	fprintf(stderr, "library: %s\n", lib);

	TEST_CASE("symbols")
	{
		read_symbols(lib);
		for (size_t i = 0; i < NEXPECTED; i++)
			CHECK(is_found(expected[i]), "%s is not exported", expected[i]);
		int extra = 0;
		for (int i = 0; i < nfound; i++)
			if (!is_expected(found[i])) {
				extra++;
				fprintf(stderr, "unexpected export: %s\n", found[i]);
			}
		CHECK(extra == 0, "%d symbols exported beyond the public API", extra);
		CHECK(nfound == (int)NEXPECTED, "%d symbols exported, want %zu", nfound, NEXPECTED);
	}

	TEST_CASE("needed") check_needed(lib);
	for (int i = 0; i < nfound; i++)
		free(found[i]);
	return CHECK_DONE();
}
