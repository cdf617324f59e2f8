/* SPDX-License-Identifier: MIT */
/* The walk of src/control/options.def that the three generators share
 * (tools/gen_options_md.c: README's table, gen_options_man.c: cairn(3)'s
 * OPTIONS, gen_options_tsv.c: the cairn command's table). For each option
 * it works out the type's words, the default and the meaning, and hands
 * them to the generator's own row function; the generator says only how
 * its format writes the few things that differ (struct option_style). */
#ifndef CAIRN_TOOLS_OPTIONS_WALK_H
#define CAIRN_TOOLS_OPTIONS_WALK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "control/conf.h"
#include "core/sizeclass_params.h"

struct option_style {
	const char *range_dash;   /* between a number's least and largest value */
	const char *minus_one;    /* -1, as the format writes it */
	const char *size_suffix;  /* after a size's range: the suffixes it takes */
	const char *bytes_suffix; /* after "bytes, or -1": the same */
	/* A string option's default: quoted always (quote set), or as it is
	 * with empty_string for an empty one. */
	const char *quote;
	const char *empty_string;
	/* An enum option's values: before the first, between two, before the
	 * last (between for all when NULL), and around each. */
	const char *values_first, *values_between, *values_last;
	const char *value_open, *value_close;
};

typedef void option_row_fn(const char *name, const char *type, const char *def, const char *help);

static const struct option_style *walk_style;
static option_row_fn *walk_row;

static void walk_number(const char *name, const char *kind, int64_t def, int64_t min, int64_t max,
                        const char *suffix, const char *help)
{
	char type[128], value[32];
	snprintf(type, sizeof(type), "%s %" PRId64 "%s%" PRId64 "%s", kind, min,
	         walk_style->range_dash, max, suffix);
	snprintf(value, sizeof(value), "%" PRId64, def);
	walk_row(name, type, value, help);
}

static void walk_signed(const char *name, const char *kind, const char *suffix, int64_t def,
                        const char *help)
{
	char type[128], value[32];
	snprintf(type, sizeof(type), "%s, or %s%s", kind, walk_style->minus_one, suffix);
	snprintf(value, sizeof(value), "%" PRId64, def);
	walk_row(name, type, value, help);
}

static void walk_string(const char *name, const char *def, const char *help)
{
	char value[256];
	if (walk_style->quote != NULL)
		snprintf(value, sizeof(value), "%s%s%s", walk_style->quote, def, walk_style->quote);
	else
		snprintf(value, sizeof(value), "%s", def[0] ? def : walk_style->empty_string);
	walk_row(name, "string", value, help);
}

/* The values of one enum option, gathered one by one, and the name of its
 * default. */
static char walk_values[256];
static const char *walk_default_name;
static unsigned walk_value_index, walk_value_count, walk_value_default;

static void walk_count_value(const char *name)
{
	(void)name;
	walk_value_count++;
}

static void walk_enum_value(const char *name)
{
	const struct option_style *st = walk_style;
	size_t n = strlen(walk_values);
	const char *sep = walk_value_index == 0 ? st->values_first
	                  : st->values_last != NULL && walk_value_index + 1 == walk_value_count
	                      ? st->values_last
	                      : st->values_between;
	snprintf(walk_values + n, sizeof(walk_values) - n, "%s%s%s%s", sep, st->value_open, name,
	         st->value_close);
	if (walk_value_index++ == walk_value_default)
		walk_default_name = name;
}

/* Calls row for every option of options.def, in its order. */
static void walk_options(const struct option_style *style, option_row_fn *row)
{
	walk_style = style;
	walk_row = row;
#define CONF_BOOL(name, def, help) row(#name, "bool", (def) ? "true" : "false", help);
#define CONF_UINT(name, read_type, def, min, max, help)                                            \
	walk_number(#name, "integer", def, min, max, "", help);
#define CONF_SIZE(name, def, min, max, help)                                                       \
	walk_number(#name, "size", (int64_t)(def), min, (int64_t)(max), style->size_suffix, help);
#define CONF_MS(name, def, help) walk_signed(#name, "milliseconds", "", (int64_t)(def), help);
/* An I64 option bounded by 64 is a power of two's exponent (lg_prof_interval),
 * any other counts bytes (stats_interval). */
#define CONF_I64(name, def, min, max, help)                                                        \
	walk_signed(#name, (max) <= 64 ? "integer" : "bytes",                                      \
	            (max) <= 64 ? "" : style->bytes_suffix, (int64_t)(def), help);
#define CONF_STRING(name, size, def, help) walk_string(#name, def, help);
#define CONF_COUNT(constant, name)         walk_count_value(name);
#define CONF_VALUE(constant, name)         walk_enum_value(name);
#define CONF_ENUM(name, def, list, help)                                                           \
	walk_values[0] = '\0';                                                                     \
	walk_default_name = "?";                                                                   \
	walk_value_count = 0;                                                                      \
	list(CONF_COUNT) walk_value_index = 0;                                                     \
	walk_value_default = def;                                                                  \
	list(CONF_VALUE) row(#name, walk_values, walk_default_name, help);
#include "control/options.def"
#undef CONF_COUNT
#undef CONF_VALUE
}

#endif
