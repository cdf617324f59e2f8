/* SPDX-License-Identifier: MIT */
/* Prints the OPTIONS section of the man page cairn(3) from
 * src/control/options.def, in roff (man(7) macros): one tagged paragraph per
 * option with its type, default and meaning. The sibling of
 * tools/gen_options_md.c, which prints the README's table from the same list;
 * the Makefile puts this output into man/cairn.3.in at the @OPTIONS@ line
 * (build/man/cairn.3). */
#include <stdio.h>

#include "options_walk.h"

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

static const struct option_style roff = {
    .range_dash = "\\(en",
    .minus_one = "\\-1",
    .size_suffix = "",
    .bytes_suffix = "",
    .empty_string = "empty",
    .values_first = "",
    .values_between = ", ",
    .values_last = " or ",
    .value_open = "\\fB",
    .value_close = "\\fR",
};

int main(void)
{
	printf(".SH OPTIONS\n");
	printf("Each option is set as\n.IB name : value\n"
	       "in a comma-separated list, in the environment variable\n.B MALLOC_CONF\n"
	       "or in the program's\n.BR malloc_conf ;\n"
	       "the environment is read last and wins.\n"
	       "(A section a meaning names is one of cairn's README.)\n"
	       "A size takes a\n.BR k ,\n.B m\nor\n.B g\nsuffix (either case).\n");
	walk_options(&roff, option);
	return 0;
}
