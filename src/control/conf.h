/* SPDX-License-Identifier: MIT */
/* Options: one table (conf.c) of every option with its type, default, range
 * and one-line description drives the parser of MALLOC_CONF and of the
 * malloc_conf symbol, and the confirm_conf printout. Option names and
 * meanings follow jemalloc's where they match. */
#ifndef CAIRN_CONF_H
#define CAIRN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum junk_mode { JUNK_NONE = 0, JUNK_ALLOC = 1, JUNK_FREE = 2, JUNK_BOTH = 3 };
enum thp_mode { THP_DEFAULT = 0, THP_ALWAYS = 1, THP_NEVER = 2 };
enum metadata_thp_mode {
	METADATA_THP_DISABLED = 0,
	METADATA_THP_AUTO = 1,
	METADATA_THP_ALWAYS = 2
};

struct conf {
	unsigned narenas; /* 0: one per CPU the process may use */
	bool tcache;
	size_t tcache_max;
	unsigned junk; /* enum junk_mode */
	bool zero;
	bool abort_conf;
	bool confirm_conf;
	int64_t dirty_decay_ms; /* -1: never */
	int64_t muzzy_decay_ms; /* -1: never */
	bool retain;
	bool background_thread;
	unsigned max_background_threads;
	unsigned thp;          /* enum thp_mode */
	unsigned metadata_thp; /* enum metadata_thp_mode */
};

extern struct conf cairn_conf __attribute__((visibility("hidden")));

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

#endif
