/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmark workloads (one workload per .c file):
 * random numbers, writing and checking blocks, reading /proc. The frame of
 * each program -- options, clock, result line, and the conventions that let
 * bench/run.py drive it -- is in harness.h.
 *
 * The workloads are built with plain `gcc -O2 -pthread -fno-builtin-malloc
 * -fno-builtin-free` and link no allocator: the allocator under test comes in
 * through LD_PRELOAD (glibc when nothing is preloaded), so every allocator
 * runs the very same binary. */
#ifndef CAIRN_BENCH_COMMON_H
#define CAIRN_BENCH_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* splitmix64: tiny, fast, good enough for picking slots and sizes. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The value (in kB) of the line starting with `key` in the /proc file
 * `path`, or -1. read(2) into a stack buffer: no malloc, so measuring does
 * not change what is measured. */
static inline long bench_proc_kb(const char *path, const char *key)
{
	char buf[8192];
	size_t klen = strlen(key), len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	for (char *line = buf; line && *line;) {
		if (!strncmp(line, key, klen))
			return strtol(line + klen, NULL, 10);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

/* Resident set of this process now, in kB (VmRSS). */
static inline long bench_rss_kb(void)
{
	return bench_proc_kb("/proc/self/status", "VmRSS:");
}

/* Transparent huge pages backing anonymous memory now, in kB. */
static inline long bench_anon_huge_kb(void)
{
	return bench_proc_kb("/proc/self/smaps_rollup", "AnonHugePages:");
}

/* Writes a recognisable pattern into a block: an 8-byte tag at the start,
 * the low byte of the tag over the first cache line, a second byte at the
 * end. Any block of 1 byte or more; bench_check() reads it back. */
static inline void bench_fill(unsigned char *p, size_t size, uint64_t tag)
{
	if (size < 16) {
		memset(p, (int)(tag & 0xff), size);
		return;
	}
	memcpy(p, &tag, 8);
	memset(p + 8, (int)(tag & 0xff), (size < 64 ? size : 64) - 8);
	p[size - 1] = (unsigned char)(tag >> 8);
}

/* 0 when the block still holds what bench_fill() wrote, 1 otherwise. */
static inline int bench_check(const unsigned char *p, size_t size, uint64_t tag)
{
	if (size < 16)
		return p[0] != (unsigned char)(tag & 0xff) ||
		       p[size - 1] != (unsigned char)(tag & 0xff);
	uint64_t got;
	memcpy(&got, p, 8);
	return got != tag || p[8] != (unsigned char)(tag & 0xff) ||
	       p[size - 1] != (unsigned char)(tag >> 8);
}

/* Writes one byte into every 4 KiB page of [p, p+size) (the first byte of
 * each page, plus the last byte): what it costs to make a fresh block
 * resident, without the cost of filling it. The byte written into page i
 * is (i ^ salt) & 0xff; bench_pages_check() counts pages that differ. */
static inline void bench_touch_pages(unsigned char *p, size_t size, unsigned salt)
{
	for (size_t off = 0, i = 0; off < size; off += 4096, i++)
		p[off] = (unsigned char)(i ^ salt);
	if (size > 1 && (size - 1) % 4096)
		p[size - 1] = (unsigned char)salt;
}

static inline long bench_pages_check(const unsigned char *p, size_t size, unsigned salt)
{
	long bad = 0;
	for (size_t off = 0, i = 0; off < size; off += 4096, i++)
		bad += p[off] != (unsigned char)(i ^ salt);
	if (size > 1 && (size - 1) % 4096 && p[size - 1] != (unsigned char)salt)
		bad++;
	return bad;
}

#endif
