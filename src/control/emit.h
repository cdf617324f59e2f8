/* SPDX-License-Identifier: MIT */
/* The writer behind malloc_stats_print: text lines and JSON members built
 * on the stack and handed to a write callback in pieces, each a run of
 * whole lines (or JSON members) of at most EMIT_PIECE bytes with its NUL,
 * as jemalloc's callback contract wants. Nothing here allocates, so the
 * report can run inside the allocator, from any thread. */
#ifndef CAIRN_CONTROL_EMIT_H
#define CAIRN_CONTROL_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMIT_PIECE 4096
#define EMIT_LINE  512

typedef void emit_write_fn(void *opaque, const char *s);

struct emit {
	emit_write_fn *write;
	void *opaque;
	size_t len;           /* bytes in piece */
	size_t line_len;      /* bytes in line */
	unsigned depth;       /* JSON: containers open */
	bool first;           /* JSON: the next member is its container's first */
	char line[EMIT_LINE]; /* the line being built: not in the piece yet */
	char piece[EMIT_PIECE];
};

void emit_init(struct emit *e, emit_write_fn *write, void *opaque);
/* Hands the last piece to the callback. */
void emit_finish(struct emit *e);

/* Appending to the line being built; what does not fit is cut. */
void emit_str(struct emit *e, const char *s);
void emit_u64(struct emit *e, uint64_t v);
void emit_i64(struct emit *e, int64_t v);
/* v right-aligned in width columns. */
void emit_u64_w(struct emit *e, uint64_t v, unsigned width);
/* s left-aligned (width > 0) or right-aligned (width < 0) in |width| columns. */
void emit_str_w(struct emit *e, const char *s, int width);
/* num / den with three decimals ("0.750"), "1" when equal, "0" when num is 0. */
void emit_ratio(struct emit *e, uint64_t num, uint64_t den);
/* The line, ended with a newline, into the piece. */
void emit_eol(struct emit *e);
/* A whole text line. */
void emit_line(struct emit *e, const char *s);

/* JSON, one member per line, indented with tabs as jemalloc's. A NULL key
 * makes an array element. */
void emit_json_begin(struct emit *e);
void emit_json_end(struct emit *e);
void emit_json_object(struct emit *e, const char *key);
void emit_json_array(struct emit *e, const char *key);
void emit_json_close(struct emit *e, char bracket);
void emit_json_u64(struct emit *e, const char *key, uint64_t v);
void emit_json_i64(struct emit *e, const char *key, int64_t v);
void emit_json_bool(struct emit *e, const char *key, bool v);
void emit_json_string(struct emit *e, const char *key, const char *v);

#endif
