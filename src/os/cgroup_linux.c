/* SPDX-License-Identifier: MIT */
/* The cgroup v2 limits of the process (os.h: os_cgroup_cpus,
 * os_cgroup_memory), read with raw system calls and no allocation. */
#define _GNU_SOURCE
#include "os/linux.h"

#include <stdlib.h>
#include <string.h>

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* Appends s to buf (of capacity cap) at *len; false if it does not fit. */
static bool append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return false;
	for (size_t i = 0; i < n; i++)
		buf[(*len)++] = s[i];
	buf[*len] = '\0';
	return true;
}

/* The directory of the process's cgroup v2: the cgroup2 mount point (or
 * CAIRN_CGROUP_ROOT) followed by the path in /proc/self/cgroup. *base_len
 * is the length of the mount point part: walks up stop there. */
static bool cgroup_dir(char *dir, size_t cap, size_t *base_len)
{
	size_t len = 0;
	const char *root = secure_getenv("CAIRN_CGROUP_ROOT");
	if (root != NULL) {
		*base_len = str_len(root);
		return append(dir, cap, &len, root, str_len(root));
	}
	char buf[4096];
	if (!os_read_file("/proc/self/cgroup", buf, sizeof(buf)))
		return false;
	const char *path = NULL;
	for (char *line = buf; *line;) {
		char *end = line;
		while (*end && *end != '\n')
			end++;
		if (end - line >= 3 && line[0] == '0' && line[1] == ':' && line[2] == ':') {
			*end = '\0';
			path = line + 3;
			break;
		}
		line = *end ? end + 1 : end;
	}
	if (path == NULL)
		return false;
	char info[8192];
	if (!os_read_file("/proc/self/mountinfo", info, sizeof(info)))
		return false;
	/* A mountinfo line: id parent major:minor root mountpoint options -
	 * fstype source superoptions. */
	for (char *line = info; *line;) {
		char *end = line;
		while (*end && *end != '\n')
			end++;
		char saved_end = *end;
		*end = '\0';
		char *dash = line;
		while ((dash = strstr(dash, " - ")) != NULL &&
		       strncmp(dash + 3, "cgroup2 ", 8) != 0)
			dash++;
		if (dash != NULL) {
			const char *f = line;
			for (int field = 0; field < 4 && f; field++) {
				f = strchr(f, ' ');
				if (f)
					f++;
			}
			if (f) {
				const char *e = strchr(f, ' ');
				if (e && append(dir, cap, &len, f, (size_t)(e - f))) {
					*base_len = len;
					return append(dir, cap, &len, path, str_len(path));
				}
			}
		}
		*end = saved_end;
		line = *end ? end + 1 : end;
	}
	return false;
}

/* Reads NAME in dir and in each directory above it up to the root of the
 * hierarchy (limits can be set on a parent); calls parse on each value
 * found and keeps the smallest positive result. */
static uint64_t cgroup_min(const char *name, uint64_t (*parse)(const char *))
{
	char dir[1024], path[1100], buf[256];
	size_t base_len;
	if (!cgroup_dir(dir, sizeof(dir), &base_len))
		return 0;
	uint64_t best = 0;
	size_t len = str_len(dir);
	for (;;) {
		size_t n = 0;
		path[0] = '\0';
		if (!append(path, sizeof(path), &n, dir, len) ||
		    !append(path, sizeof(path), &n, "/", 1) ||
		    !append(path, sizeof(path), &n, name, str_len(name)))
			break;
		if (os_read_file(path, buf, sizeof(buf))) {
			uint64_t v = parse(buf);
			if (v != 0 && (best == 0 || v < best))
				best = v;
		}
		/* Up one directory, not above the mount point. */
		while (len > base_len && dir[len - 1] == '/')
			len--;
		while (len > base_len && dir[len - 1] != '/')
			len--;
		while (len > base_len && dir[len - 1] == '/')
			len--;
		if (len <= base_len)
			break;
		dir[len] = '\0';
	}
	return best;
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return 0; /* "max" */
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

/* cpu.max: "max PERIOD" or "QUOTA PERIOD"; CPUs = ceil(quota / period). */
static uint64_t parse_cpu_max(const char *s)
{
	uint64_t quota = parse_u64(s);
	const char *p = strchr(s, ' ');
	uint64_t period = p ? parse_u64(p + 1) : 0;
	if (quota == 0 || period == 0)
		return 0;
	return (quota + period - 1) / period;
}

unsigned os_cgroup_cpus(void)
{
	return (unsigned)cgroup_min("cpu.max", parse_cpu_max);
}

bool os_cgroup_memory(uint64_t *limit, uint64_t *current)
{
	uint64_t high = cgroup_min("memory.high", parse_u64);
	uint64_t max = cgroup_min("memory.max", parse_u64);
	uint64_t lim = high && (!max || high < max) ? high : max;
	if (lim == 0)
		return false;
	char dir[1024], path[1100], buf[64];
	size_t n = 0, base_len;
	if (!cgroup_dir(dir, sizeof(dir), &base_len))
		return false;
	path[0] = '\0';
	if (!append(path, sizeof(path), &n, dir, str_len(dir)) ||
	    !append(path, sizeof(path), &n, "/memory.current", 15) ||
	    !os_read_file(path, buf, sizeof(buf)))
		return false;
	*limit = lim;
	*current = parse_u64(buf);
	return true;
}
