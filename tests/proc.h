/* SPDX-License-Identifier: MIT */
/* Reading the process's own memory figures in tests, with raw system calls
 * (no stdio, so reading does not allocate). */
#ifndef CAIRN_TESTS_PROC_H
#define CAIRN_TESTS_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reads a small /proc file into buf with no allocation. */
static inline ssize_t read_proc(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The process's address space in KiB (VmSize in /proc/self/status: what
 * RLIMIT_AS counts); -1 if unreadable. */
static inline long vm_size_kib(void)
{
	char buf[4096];
	if (read_proc("/proc/self/status", buf, sizeof buf) < 0)
		return -1;
	const char *v = strstr(buf, "VmSize:");
	return v != NULL ? strtol(v + 7, NULL, 10) : -1;
}

/* Resident set size in bytes, from /proc/self/statm; 0 if unreadable. */
static inline size_t rss_bytes(void)
{
	char buf[256];
	unsigned long size = 0, resident = 0;
	if (read_proc("/proc/self/statm", buf, sizeof buf) <= 0 ||
	    sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Threads of this process named cairn-purge. Raw getdents64, open and read: no allocation,
 * so that looking cannot itself free anything and start the thread. */
static inline int purge_threads(void)
{
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int n = 0;
	char buf[8192];
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, buf, sizeof buf);
		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			struct linux_dirent64 {
				uint64_t d_ino;
				int64_t d_off;
				unsigned short d_reclen;
				unsigned char d_type;
				char d_name[];
			};
			/* An explicit cast, so that C++ tests can include this too. */
			struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
			off += e->d_reclen;
			if (e->d_name[0] == '.')
				continue;
			char path[64], comm[64];
			snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
			if (read_proc(path, comm, sizeof comm) > 0 &&
			    strncmp(comm, "cairn-purge", 11) == 0)
				n++;
		}
	}
	close(dfd);
	return n;
}

#endif
