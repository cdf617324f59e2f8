/* Reading the process's own memory figures in tests, with raw system calls
 * (no stdio, so reading does not allocate). */
#ifndef CAIRN_TESTS_PROC_H
#define CAIRN_TESTS_PROC_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Resident set size in bytes, from /proc/self/statm; 0 if unreadable. */
static inline size_t rss_bytes(void)
{
	char buf[256];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	unsigned long size = 0, resident = 0;
	if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
