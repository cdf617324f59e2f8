/* SPDX-License-Identifier: MIT */
/* Prints src/control/options.def as the table the cairn command reads
 * (`cairn options`): one line per option, four fields separated by tabs:
 * name, type, default, meaning (Markdown, as the README has it). The sibling
 * of tools/gen_options_md.c and tools/gen_options_man.c; the Makefile writes
 * it to build/cairn/options.tsv and installs it beside the command's
 * modules. A field holding a tab or a line break would shift the columns the
 * command splits on, so such a field stops the build instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options_walk.h"

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

static const struct option_style plain = {
    .range_dash = "-",
    .minus_one = "-1",
    .size_suffix = " (k, m or g suffix)",
    .bytes_suffix = " (k, m or g suffix)",
    .empty_string = "\"\"",
    .values_first = "one of ",
    .values_between = ", ",
    .value_open = "",
    .value_close = "",
};

int main(void)
{
	walk_options(&plain, row);
	return 0;
}
