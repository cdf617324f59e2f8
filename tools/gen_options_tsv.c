/* SPDX-License-Identifier: MIT */
/* Prints src/control/options.def as the table the cairn command reads
 * (`cairn options`): one line per option, four fields separated by tabs:
 * name, type, default, meaning (Markdown, as the README has it). The sibling
 * of tools/gen_options_md.c and tools/gen_options_man.c; the Makefile writes
 * it to build/cairn/options.tsv and installs it beside the command's
 * modules. A field holding a tab or a line break would shift the columns the
 * command splits on, so such a field stops the build instead. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/conf.h"
#include "core/sizeclass_params.h"

static void field(const char *option, const char *s, const char *end)
{
	if (strpbrk(s, "\t\r\n")) {
		fprintf(stderr, "gen_options_tsv: option %s: a tab or line break in \"%s\"\n",
		        option, s);
		exit(1);
	}
	fputs(s, stdout);
	fputs(end, stdout);
}

static void row(const char *name, const char *type, const char *def, const char *help)
{
	field(name, name, "\t");
	field(name, type, "\t");
	field(name, def, "\t");
	field(name, help, "\n");
}

static void number_row(const char *name, const char *kind, int64_t def, int64_t min, int64_t max,
                       const char *suffix, const char *help)
{
	char type[128], value[32];
	snprintf(type, sizeof(type), "%s %" PRId64 "-%" PRId64 "%s", kind, min, max, suffix);
	snprintf(value, sizeof(value), "%" PRId64, def);
	row(name, type, value, help);
}

static void signed_row(const char *name, const char *type, int64_t def, const char *help)
{
	char value[32];
	snprintf(value, sizeof(value), "%" PRId64, def);
	row(name, type, value, help);
}

/* The values of one enum option, as "one of a, b, c", and the name of the
 * default. */
static char values[256];
static const char *default_name;
static unsigned value_index;
static unsigned value_default;

static void enum_value(const char *name)
{
	size_t n = strlen(values);
	snprintf(values + n, sizeof(values) - n, "%s%s", value_index ? ", " : "one of ", name);
	if (value_index++ == value_default)
		default_name = name;
}

int main(void)
{
#define CONF_BOOL(name, def, help) row(#name, "bool", (def) ? "true" : "false", help);
#define CONF_UINT(name, read_type, def, min, max, help)                                            \
	number_row(#name, "integer", def, min, max, "", help);
#define CONF_SIZE(name, def, min, max, help)                                                       \
	number_row(#name, "size", (int64_t)(def), min, (int64_t)(max), " (k, m or g suffix)", help);
#define CONF_MS(name, def, help) signed_row(#name, "milliseconds, or -1", (int64_t)(def), help);
/* An I64 option bounded by 64 is a power of two's exponent (lg_prof_interval),
 * any other counts bytes (stats_interval). */
#define I64_TYPE(max, bytes) ((max) <= 64 ? "integer, or -1" : (bytes))
#define CONF_I64(name, def, min, max, help)                                                        \
	signed_row(#name, I64_TYPE(max, "bytes, or -1 (k, m or g suffix)"), (int64_t)(def), help);
#define CONF_STRING(name, size, def, help) row(#name, "string", (def)[0] ? (def) : "\"\"", help);
#define CONF_VALUE(constant, name)         enum_value(name);
#define CONF_ENUM(name, def, list, help)                                                           \
	values[0] = '\0';                                                                          \
	default_name = "?";                                                                        \
	value_index = 0;                                                                           \
	value_default = def;                                                                       \
	list(CONF_VALUE) row(#name, values, default_name, help);
#include "control/options.def"
	return 0;
}
