/* SPDX-License-Identifier: MIT */
/* Prints the OPTIONS section of the man page cairn(3) from
 * src/control/options.def, in roff (man(7) macros): one tagged paragraph per
 * option with its type, default and meaning. The sibling of
 * tools/gen_options_md.c, which prints the README's table from the same list;
 * the Makefile puts this output into man/cairn.3.in at the @OPTIONS@ line
 * (build/man/cairn.3). */
#include <inttypes.h>
#include <stdio.h>

#include "control/conf.h"
#include "core/sizeclass_params.h"

/* The meaning is Markdown: `code` becomes bold, and what roff would take as
 * markup is escaped (a backslash, a dot or quote starting the line, a minus
 * in code or before a digit, which must not break or turn into a hyphen). */
static void text(const char *s)
{
	int code = 0;
	const char *start = s;
	for (; *s; s++) {
		if (s == start && (*s == '.' || *s == '\''))
			fputs("\\&", stdout);
		if (*s == '`') {
			fputs(code ? "\\fR" : "\\fB", stdout);
			code = !code;
		} else if (*s == '\\') {
			fputs("\\e", stdout);
		} else if (*s == '-' && (code || (s[1] >= '0' && s[1] <= '9'))) {
			fputs("\\-", stdout);
		} else {
			putchar(*s);
		}
	}
	if (code)
		fputs("\\fR", stdout);
}

/* type is roff already; def and help are plain text and Markdown. */
static void option(const char *name, const char *type, const char *def, const char *help)
{
	printf(".TP\n.BR %s \" (%s; default \" ", name, type);
	text(def);
	printf(" )\n");
	text(help);
	printf(".\n");
}

static void number(const char *name, const char *kind, int64_t def, int64_t min, int64_t max,
                   const char *suffix, const char *help)
{
	char type[128], value[32];
	snprintf(type, sizeof(type), "%s %" PRId64 "\\(en%" PRId64 "%s", kind, min, max, suffix);
	snprintf(value, sizeof(value), "%" PRId64, def);
	option(name, type, value, help);
}

static void signed_value(const char *name, const char *type, int64_t def, const char *help)
{
	char value[32];
	snprintf(value, sizeof(value), "%" PRId64, def);
	option(name, type, value, help);
}

/* The values of one enum option, as "a, b or c" in bold, and the name of the
 * default. */
static char values[256];
static const char *default_name;
static unsigned value_index;
static unsigned value_count;
static unsigned value_default;

static void count_value(const char *name)
{
	(void)name;
	value_count++;
}

static void enum_value(const char *name)
{
	int n = 0;
	while (values[n])
		n++;
	const char *sep = value_index == 0 ? "" : value_index + 1 == value_count ? " or " : ", ";
	snprintf(values + n, sizeof(values) - (size_t)n, "%s\\fB%s\\fR", sep, name);
	if (value_index++ == value_default)
		default_name = name;
}

int main(void)
{
	printf(".SH OPTIONS\n");
	printf("Each option is set as\n.IB name : value\n"
	       "in a comma-separated list, in the environment variable\n.B MALLOC_CONF\n"
	       "or in the program's\n.BR malloc_conf ;\n"
	       "the environment is read last and wins.\n"
	       "(A section a meaning names is one of cairn's README.)\n"
	       "A size takes a\n.BR k ,\n.B m\nor\n.B g\nsuffix (either case).\n");
#define CONF_BOOL(name, def, help) option(#name, "bool", (def) ? "true" : "false", help);
#define CONF_UINT(name, read_type, def, min, max, help)                                            \
	number(#name, "integer", def, min, max, "", help);
#define CONF_SIZE(name, def, min, max, help)                                                       \
	number(#name, "size", (int64_t)(def), min, (int64_t)(max), "", help);
#define CONF_MS(name, def, help) signed_value(#name, "milliseconds, or \\-1", (int64_t)(def), help);
/* An I64 option bounded by 64 is a power of two's exponent (lg_prof_interval),
 * any other counts bytes (stats_interval). */
#define I64_TYPE(max, bytes) ((max) <= 64 ? "integer, or \\-1" : (bytes))
#define CONF_I64(name, def, min, max, help)                                                        \
	signed_value(#name, I64_TYPE(max, "bytes, or \\-1"), (int64_t)(def), help);
#define CONF_STRING(name, size, def, help)                                                         \
	option(#name, "string", (def)[0] ? (def) : "empty", help);
#define CONF_COUNT(constant, name) count_value(name);
#define CONF_VALUE(constant, name) enum_value(name);
#define CONF_ENUM(name, def, list, help)                                                           \
	values[0] = '\0';                                                                          \
	default_name = "?";                                                                        \
	value_count = 0;                                                                           \
	list(CONF_COUNT) value_index = 0;                                                          \
	value_default = def;                                                                       \
	list(CONF_VALUE) option(#name, values, default_name, help);
#include "control/options.def"
	return 0;
}
