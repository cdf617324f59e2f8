/* SPDX-License-Identifier: MIT */
/* Prints the options table of README.md from src/control/options.def: one
 * Markdown row per option (name, type, default, meaning) under the header.
 * `make readme-options` puts it into README.md between the two marker
 * comments; tests/tree/options.sh fails when README.md holds anything else
 * there. */
#include <inttypes.h>
#include <stdio.h>

#include "control/conf.h"
#include "core/sizeclass_params.h"

/* The meaning, with any | escaped so that it stays in its cell. */
static void cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			putchar('\\');
		putchar(*s);
	}
}

static void row(const char *name, const char *type, const char *def, const char *help)
{
	printf("| `%s` | %s | %s | ", name, type, def);
	cell(help);
	printf(" |\n");
}

static void number_row(const char *name, const char *kind, int64_t def, int64_t min, int64_t max,
                       const char *suffix, const char *help)
{
	char type[128], value[32];
	snprintf(type, sizeof(type), "%s %" PRId64 "–%" PRId64 "%s", kind, min, max, suffix);
	snprintf(value, sizeof(value), "%" PRId64, def);
	row(name, type, value, help);
}

/* The values of one enum option, as "`a`, `b`, `c`", and the name of the default. */
static char values[256];
static const char *default_name;
static unsigned value_index;
static unsigned value_default;

static void enum_value(const char *name)
{
	int n = 0;
	while (values[n])
		n++;
	snprintf(values + n, sizeof(values) - (size_t)n, "%s`%s`", n ? ", " : "", name);
	if (value_index++ == value_default)
		default_name = name;
}

int main(void)
{
	printf("| option | type | default | meaning |\n");
	printf("| --- | --- | --- | --- |\n");
#define CONF_BOOL(name, def, help) row(#name, "bool", (def) ? "true" : "false", help);
#define CONF_UINT(name, read_type, def, min, max, help)                                            \
	number_row(#name, "integer", def, min, max, "", help);
#define CONF_SIZE(name, def, min, max, help)                                                       \
	number_row(#name, "size", (int64_t)(def), min, (int64_t)(max), " (`k` suffix allowed)",    \
	           help);
#define CONF_MS(name, def, help)                                                                   \
	{                                                                                          \
		char value[32];                                                                    \
		snprintf(value, sizeof(value), "%" PRId64, (int64_t)(def));                        \
		row(#name, "milliseconds, or -1", value, help);                                    \
	}
/* An I64 option bounded by 64 is a power of two's exponent (lg_prof_interval),
 * any other counts bytes (stats_interval). */
#define I64_TYPE(max, bytes) ((max) <= 64 ? "integer, or -1" : (bytes))
#define CONF_I64(name, def, min, max, help)                                                        \
	{                                                                                          \
		char value[32];                                                                    \
		snprintf(value, sizeof(value), "%" PRId64, (int64_t)(def));                        \
		row(#name, I64_TYPE(max, "bytes, or -1 (`k` suffix allowed)"), value, help);       \
	}
#define CONF_STRING(name, size, def, help) row(#name, "string", "\"" def "\"", help);
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
