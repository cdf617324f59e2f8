/* SPDX-License-Identifier: MIT */
/* Options: every option is declared once, in control/options.def, with its
 * kind, default, range and meaning. From that list come the fields of struct
 * conf and the enums below, the parser of MALLOC_CONF and of the malloc_conf
 * symbol, the confirm_conf printout, the table conf_options[] and the reader
 * conf_read() for the opt.* mallctl names, and the README's options table.
 * Option names and meanings follow jemalloc's where they match. */
#ifndef CAIRN_CONF_H
#define CAIRN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* enum junk_mode { JUNK_NONE, ... }, enum thp_mode, enum metadata_thp_mode */
/* clang-format off */
#define CONF_ENUMERATOR(constant, name)    constant,
#define CONF_ENUM(name, def, values, help) enum name##_mode { values(CONF_ENUMERATOR) };
/* clang-format on */
#include "control/options.def"

/* The size of a short CONF_STRING option's field, its NUL included. */
#define CONF_STRING_MAX 16

struct conf {
#define CONF_BOOL(name, def, help)                      bool name;
#define CONF_UINT(name, read_type, def, min, max, help) unsigned name;
#define CONF_SIZE(name, def, min, max, help)            size_t name;
#define CONF_MS(name, def, help)                        int64_t name; /* -1: never */
#define CONF_I64(name, def, min, max, help)             int64_t name;
#define CONF_STRING(name, size, def, help)              char name[size];
#define CONF_ENUM(name, def, values, help)              unsigned name; /* enum name##_mode */
#include "control/options.def"
};

extern struct conf cairn_conf __attribute__((visibility("hidden")));

/* How an option's value is written. */
enum conf_kind {
	CONF_KIND_BOOL,
	CONF_KIND_UINT,
	CONF_KIND_SIZE,   /* accepts k, m, g suffixes */
	CONF_KIND_MS,     /* milliseconds, -1 for never */
	CONF_KIND_ENUM,   /* one of `names`, stored as its index */
	CONF_KIND_I64,    /* an integer, -1 allowed where min is; k, m, g suffixes */
	CONF_KIND_STRING, /* a string of at most max bytes, stored in the field */
};

/* The C type conf_read() gives an option's value in: jemalloc's for opt.name. */
enum conf_type {
	CONF_TYPE_BOOL,     /* bool */
	CONF_TYPE_UNSIGNED, /* unsigned */
	CONF_TYPE_SIZE,     /* size_t */
	CONF_TYPE_SSIZE,    /* ssize_t */
	CONF_TYPE_STRING,   /* const char *: one of `names`, or a CONF_STRING's field */
};

struct conf_option {
	const char *name;
	enum conf_kind kind;
	enum conf_type type;
	size_t offset; /* of the value in struct conf */
	int64_t def, min, max;
	const char *help;         /* the README's meaning */
	const char *const *names; /* CONF_KIND_ENUM: the values, max + 1 of them */
	const char *str_def;      /* CONF_KIND_STRING: the default */
};

/* Every option, in the order of options.def. */
extern const struct conf_option conf_options[] __attribute__((visibility("hidden")));
extern const size_t conf_noptions __attribute__((visibility("hidden")));

/* Where the options come from: the program's string and the environment
 * variable. The prefixed library has names of its own, as jemalloc's
 * prefixed builds do, so that it never takes the options meant for the
 * process's malloc (another cairn, or jemalloc). */
#ifdef CAIRN_PREFIXED
#define CONF_SYMBOL_NAME "cairn_malloc_conf"
#define CONF_ENV_NAME    "CAIRN_MALLOC_CONF"
#else
#define CONF_SYMBOL_NAME "malloc_conf"
#define CONF_ENV_NAME    "MALLOC_CONF"
#endif

/* Parses the compiled-in string (may be NULL), then MALLOC_CONF. Reports
 * each bad option with one line on stderr, the first 16 of them and then a
 * count of the rest; aborts afterwards if any was bad and abort_conf is
 * true. Never allocates. */
void conf_init(const char *compiled);
/* Writes "cairn: options: name:value,..." with the values in force. */
void conf_print(void);
/* Parses one "name:value,..." string; returns the number of bad options.
 * `source` names it in messages. Exposed for the unit tests. */
int conf_parse(const char *source, const char *s);
/* Prints "cairn: <source>: N more errors not shown" for the bad options
 * conf_parse counted past the 16 it reported, if any. */
void conf_report_suppressed(void);
/* Restores every default, and the count of messages (unit tests). */
void conf_reset(void);

/* Whether the n bytes at s name an option jemalloc has and cairn does not
 * (conf_jemalloc.c): its message says so, apart from a misspelt name. */
bool conf_jemalloc_option(const char *s, size_t n);
/* The option called `name` (without "opt."), or NULL. */
const struct conf_option *conf_find(const char *name);
/* The size of the value conf_read gives for an option of type `type`. */
size_t conf_type_size(enum conf_type type);
/* Reads the value in force of the option `name` (without "opt.") as mallctl reads
 * "opt.name": in the option's conf_type (bool, unsigned, size_t, ssize_t, or the name of
 * an enum value as a const char * to static storage). With out and len both non-NULL and
 * *len the size of that type, stores the value and returns 0; with another *len, copies
 * the first min(*len, size) bytes of it, sets *len to that and returns EINVAL; with out
 * or len NULL, stores nothing and returns 0. ENOENT for an unknown name. */
int conf_read(const char *name, void *out, size_t *len);

#endif
