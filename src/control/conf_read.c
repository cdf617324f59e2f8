/* SPDX-License-Identifier: MIT */
/* The options read back: the options line that confirm_conf prints, and
 * opt.* for mallctl (conf_read), from the values conf.c parsed. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "control/conf.h"
#include "core/util.h"
#include "os/os.h"

/* An option's value as a number: a string option's is 0 (it is read from its
 * field). */
static int64_t value_of(const struct conf_option *o)
{
	const char *field = (const char *)&cairn_conf + o->offset;
	switch (o->kind) {
	case CONF_KIND_BOOL:
		return *(const bool *)field;
	case CONF_KIND_UINT:
	case CONF_KIND_ENUM:
		return *(const unsigned *)field;
	case CONF_KIND_SIZE:
		return (int64_t) * (const size_t *)field;
	case CONF_KIND_MS:
	case CONF_KIND_I64:
		return *(const int64_t *)field;
	case CONF_KIND_STRING:
		return 0;
	}
	return 0;
}

/* The options line: one line, written with one write(2) (atomic on a pipe
 * up to PIPE_BUF, 4096 bytes, which it stays below), so that a program's
 * log shows the options in force together. It is the one message of
 * cairn's longer than 512 bytes: every option is in it, prof_prefix's
 * 1023 bytes included. */
static void print_line(const char *s, size_t len)
{
	static const char prefix[] = "cairn: options: ";
	char line[sizeof prefix + 3072 + 1];
	size_t p = sizeof prefix - 1;
	if (len > sizeof line - p - 1)
		len = sizeof line - p - 1;
	memcpy(line, prefix, p);
	memcpy(line + p, s, len);
	line[p + len] = '\n';
	os_write_stderr(line, p + len + 1);
}

void conf_print(void)
{
	/* Room for every option, prof_prefix's 1023 bytes included. */
	char buf[3072];
	size_t n = 0;
	for (size_t i = 0; i < conf_noptions; i++) {
		const struct conf_option *o = &conf_options[i];
		int64_t v = value_of(o);
		if (n + 64 > sizeof(buf))
			break;
		if (i)
			buf[n++] = ',';
		size_t l = strlen(o->name);
		memcpy(buf + n, o->name, l);
		n += l;
		buf[n++] = ':';
		const char *word = NULL;
		if (o->kind == CONF_KIND_BOOL)
			word = v ? "true" : "false";
		else if (o->kind == CONF_KIND_ENUM)
			word = o->names[v];
		else if (o->kind == CONF_KIND_STRING)
			word = (const char *)&cairn_conf + o->offset;
		else if (v < 0)
			word = "-1";
		if (word) {
			l = strlen(word);
			if (n + l + 64 > sizeof(buf))
				break;
			memcpy(buf + n, word, l);
			n += l;
		} else {
			n += fmt_u64(buf + n, (uint64_t)v);
		}
	}
	print_line(buf, n);
}

size_t conf_type_size(enum conf_type type)
{
	switch (type) {
	case CONF_TYPE_BOOL:
		return sizeof(bool);
	case CONF_TYPE_UNSIGNED:
		return sizeof(unsigned);
	case CONF_TYPE_SIZE:
		return sizeof(size_t);
	case CONF_TYPE_SSIZE:
		return sizeof(ssize_t);
	case CONF_TYPE_STRING:
		return sizeof(const char *);
	}
	return 0;
}

int conf_read(const char *name, void *out, size_t *len)
{
	const struct conf_option *o = conf_find(name);
	if (o == NULL)
		return ENOENT;
	if (out == NULL || len == NULL)
		return 0;
	int64_t v = value_of(o);
	union {
		bool b;
		unsigned u;
		size_t z;
		ssize_t s;
		const char *str;
	} value;
	switch (o->type) {
	case CONF_TYPE_BOOL:
		value.b = v != 0;
		break;
	case CONF_TYPE_UNSIGNED:
		value.u = (unsigned)v;
		break;
	case CONF_TYPE_SIZE:
		value.z = (size_t)v;
		break;
	case CONF_TYPE_SSIZE:
		value.s = (ssize_t)v;
		break;
	case CONF_TYPE_STRING:
		value.str = o->kind == CONF_KIND_STRING ? (const char *)&cairn_conf + o->offset
		                                        : o->names[v];
		break;
	}
	size_t size = conf_type_size(o->type);
	if (*len != size) {
		size_t copy = *len < size ? *len : size;
		memcpy(out, &value, copy);
		*len = copy;
		return EINVAL;
	}
	memcpy(out, &value, size);
	return 0;
}
