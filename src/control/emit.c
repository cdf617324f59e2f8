/* SPDX-License-Identifier: MIT */
#include "control/emit.h"

#include <string.h>

#include "core/util.h"

void emit_init(struct emit *e, emit_write_fn *write, void *opaque)
{
	e->write = write;
	e->opaque = opaque;
	e->len = 0;
	e->line_len = 0;
	e->depth = 0;
	e->first = true;
}

static void flush(struct emit *e)
{
	if (e->len == 0)
		return;
	e->piece[e->len] = '\0';
	e->write(e->opaque, e->piece);
	e->len = 0;
}

void emit_finish(struct emit *e)
{
	if (e->line_len > 0)
		emit_eol(e);
	flush(e);
}

static void append(struct emit *e, const char *s, size_t n)
{
	size_t room = sizeof e->line - 1 - e->line_len; /* one byte kept for the newline */
	if (n > room)
		n = room;
	memcpy(e->line + e->line_len, s, n);
	e->line_len += n;
}

void emit_str(struct emit *e, const char *s)
{
	append(e, s, strlen(s));
}

void emit_u64(struct emit *e, uint64_t v)
{
	char buf[24];
	append(e, buf, fmt_u64(buf, v));
}

void emit_i64(struct emit *e, int64_t v)
{
	if (v < 0) {
		append(e, "-", 1);
		emit_u64(e, (uint64_t)0 - (uint64_t)v);
	} else {
		emit_u64(e, (uint64_t)v);
	}
}

static void spaces(struct emit *e, size_t n)
{
	static const char blank[] = "                                ";
	while (n > 0) {
		size_t k = n < sizeof blank - 1 ? n : sizeof blank - 1;
		append(e, blank, k);
		n -= k;
	}
}

void emit_u64_w(struct emit *e, uint64_t v, unsigned width)
{
	char buf[24];
	size_t n = fmt_u64(buf, v);
	if (n < width)
		spaces(e, width - n);
	append(e, buf, n);
}

void emit_str_w(struct emit *e, const char *s, int width)
{
	size_t n = strlen(s);
	size_t w = (size_t)(width < 0 ? -width : width);
	if (width < 0 && n < w)
		spaces(e, w - n);
	append(e, s, n);
	if (width > 0 && n < w)
		spaces(e, w - n);
}

void emit_ratio(struct emit *e, uint64_t num, uint64_t den)
{
	if (num == 0 || den == 0) {
		append(e, "0", 1);
		return;
	}
	if (num >= den) {
		emit_u64(e, num / den);
		num %= den;
		if (num == 0)
			return;
	} else {
		append(e, "0", 1);
	}
	/* Three decimals, rounded down; num < den, so num * 1000 overflows
	 * only for counts no process reaches. */
	uint64_t milli = num * 1000 / den;
	char d[4] = {'.', (char)('0' + milli / 100), (char)('0' + milli / 10 % 10),
	             (char)('0' + milli % 10)};
	append(e, d, 4);
}

void emit_eol(struct emit *e)
{
	e->line[e->line_len++] = '\n';
	if (e->len + e->line_len > sizeof e->piece - 1)
		flush(e);
	memcpy(e->piece + e->len, e->line, e->line_len);
	e->len += e->line_len;
	e->line_len = 0;
}

void emit_line(struct emit *e, const char *s)
{
	emit_str(e, s);
	emit_eol(e);
}

/* ------------------------------------------------------------ JSON
 *
 * A member stays in the line until the next one starts, which adds the
 * comma after it if it is not the last of its container. */

static void quoted(struct emit *e, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	append(e, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			append(e, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			append(e, esc, 6);
		} else {
			append(e, s, 1);
		}
	}
	append(e, "\"", 1);
}

static void member(struct emit *e, const char *key)
{
	if (e->line_len > 0) {
		if (!e->first)
			append(e, ",", 1);
		emit_eol(e);
	}
	e->first = false;
	for (unsigned i = 0; i < e->depth; i++)
		append(e, "\t", 1);
	if (key != NULL) {
		quoted(e, key);
		append(e, ": ", 2);
	}
}

void emit_json_begin(struct emit *e)
{
	member(e, NULL);
	append(e, "{", 1);
	e->depth = 1;
	e->first = true;
}

void emit_json_end(struct emit *e)
{
	emit_json_close(e, '}');
	emit_finish(e);
}

void emit_json_object(struct emit *e, const char *key)
{
	member(e, key);
	append(e, "{", 1);
	e->depth++;
	e->first = true;
}

void emit_json_array(struct emit *e, const char *key)
{
	member(e, key);
	append(e, "[", 1);
	e->depth++;
	e->first = true;
}

void emit_json_close(struct emit *e, char bracket)
{
	if (e->line_len > 0)
		emit_eol(e);
	e->depth--;
	for (unsigned i = 0; i < e->depth; i++)
		append(e, "\t", 1);
	append(e, &bracket, 1);
	e->first = false;
}

void emit_json_u64(struct emit *e, const char *key, uint64_t v)
{
	member(e, key);
	emit_u64(e, v);
}

void emit_json_i64(struct emit *e, const char *key, int64_t v)
{
	member(e, key);
	emit_i64(e, v);
}

void emit_json_bool(struct emit *e, const char *key, bool v)
{
	member(e, key);
	emit_str(e, v ? "true" : "false");
}

void emit_json_string(struct emit *e, const char *key, const char *v)
{
	member(e, key);
	quoted(e, v);
}
