/* SPDX-License-Identifier: MIT */
/* Asks the mallctl of the library it is linked with about each name of
 * tools/jemalloc-names.tsv (on stdin) and prints, per name, "name<TAB>answer":
 * "ok" when the name exists, for a name that can be read (access r- or rw) a
 * read of its type's size succeeds with exactly that size, and for one that
 * can also be written (rw) writing back the value just read succeeds;
 * "ENOENT" when the name is none or its read gives ENOENT (jemalloc's answer
 * for a feature that is off, e.g. thread.prof.name without profiling);
 * "read-only" when the write back gives EPERM or ENOENT (jemalloc's answer
 * for turning on what is off); "error: ..." for anything else. Names with parts
 * to fill take arena 0, size class 0, the counter num_ops and the extent
 * type dirty. Actions and write-only names are only looked up, never run
 * (arena.<i>.destroy would destroy an arena). Used by
 * tests/link/jemalloc_names.sh. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);

/* The size a read of a value of this type takes; 0 for none (a counter
 * whose type depends on the counter, void). */
static size_t type_size(const char *type)
{
	static const struct {
		const char *type;
		size_t size;
	} sizes[] = {
	    {"bool", sizeof(bool)},
	    {"unsigned", sizeof(unsigned)},
	    {"uint32_t", 4},
	    {"size_t", sizeof(size_t)},
	    {"ssize_t", sizeof(size_t)},
	    {"int64_t", 8},
	    {"uint64_t", 8},
	    {"uint64_t *", sizeof(void *)},
	    {"const char *", sizeof(void *)},
	    {"extent_hooks_t *", sizeof(void *)},
	};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = strlen(sizes[i].type);
		/* "unsigned, extent_hooks_t *": the first is what is read. */
		if (strncmp(type, sizes[i].type, n) == 0 && (type[n] == '\0' || type[n] == ','))
			return sizes[i].size;
	}
	return 0;
}

/* Copies name into out with the parts to fill filled. */
static void fill(const char *name, char *out, size_t cap)
{
	static const struct {
		const char *part, *with;
	} parts[] = {
	    {"<i>", "0"}, {"<j>", "0"}, {"{counter}", "num_ops"}, {"{extent_type}", "dirty"}};
	size_t o = 0;
	while (*name != '\0' && o + 16 < cap) {
		size_t k;
		for (k = 0; k < sizeof parts / sizeof parts[0]; k++)
			if (strncmp(name, parts[k].part, strlen(parts[k].part)) == 0)
				break;
		if (k < sizeof parts / sizeof parts[0]) {
			o += (size_t)snprintf(out + o, cap - o, "%s", parts[k].with);
			name += strlen(parts[k].part);
		} else {
			out[o++] = *name++;
		}
	}
	out[o] = '\0';
}

int main(void)
{
	char line[512];
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *name = strtok(line, "\t"), *type = strtok(NULL, "\t"),
		     *access = strtok(NULL, "\t");
		if (name == NULL || type == NULL || access == NULL) {
			fprintf(stderr, "jemalloc_probe: a line without name, type and access\n");
			return 2;
		}
		char full[256];
		fill(name, full, sizeof full);
		size_t mib[16], miblen = 16;
		int rc = mallctlnametomib(full, mib, &miblen);
		if (rc == ENOENT) {
			printf("%s\tENOENT\n", name);
			continue;
		}
		if (rc != 0) {
			printf("%s\terror: mallctlnametomib(\"%s\") gave %d\n", name, full, rc);
			continue;
		}
		size_t size = type_size(type);
		if (access[0] == 'r' && size != 0) {
			unsigned char buf[16];
			size_t len = size;
			/* arenas.lookup reads the arena of the pointer written. */
			void *p = strcmp(full, "arenas.lookup") == 0 ? malloc(1) : NULL;
			rc = mallctl(full, buf, &len, p != NULL ? &p : NULL,
			             p != NULL ? sizeof p : 0);
			free(p);
			if (rc == ENOENT) {
				printf("%s\tENOENT\n", name);
				continue;
			}
			if (rc != 0 || len != size) {
				printf("%s\terror: reading \"%s\" as %s (%zu bytes) gave %d, %zu "
				       "bytes\n",
				       name, full, type, size, rc, len);
				continue;
			}
			/* Where two types are given the write is another
			 * value (arenas.create takes extent hooks). */
			if (strcmp(access, "rw") == 0 && strchr(type, ',') == NULL) {
				rc = mallctl(full, NULL, NULL, buf, size);
				if (rc == EPERM || rc == ENOENT) {
					printf("%s\tread-only\n", name);
					continue;
				}
				if (rc != 0) {
					printf("%s\terror: writing back \"%s\" gave %d\n", name,
					       full, rc);
					continue;
				}
			}
		}
		printf("%s\tok\n", name);
	}
	return 0;
}
