/* SPDX-License-Identifier: MIT */
#include "core/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"

size_t fmt_u64(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t fmt_hex(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0;
	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v);
	buf[0] = '0';
	buf[1] = 'x';
	for (size_t i = 0; i < n; i++)
		buf[2 + i] = tmp[n - 1 - i];
	return n + 2;
}

static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n > cap - len)
		n = cap - len;
	memcpy(buf + len, s, n);
	return len + n;
}

void cairn_message(const char *first, ...)
{
	char buf[512];
	size_t len = append(buf, 0, sizeof(buf) - 1, "cairn: ");
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		len = append(buf, len, sizeof(buf) - 1, s);
	va_end(ap);
	buf[len++] = '\n';
	os_write_stderr(buf, len);
}

void cairn_fatal_ptr(const char *fn, const char *what, const void *ptr, const char *tail)
{
	char hex[24];
	hex[fmt_hex(hex, (uintptr_t)ptr)] = '\0';
	cairn_message(fn, "(): ", what, " ", hex, tail, (const char *)NULL);
	abort();
}

void cairn_freelist_corrupt(const void *b)
{
	cairn_fatal_ptr("malloc", "corrupted free list at", b, " (freed memory was written to)");
}
