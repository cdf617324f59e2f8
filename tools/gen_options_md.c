/* SPDX-License-Identifier: MIT */
/* Prints the options table of README.md from src/control/options.def: one
 * Markdown row per option (name, type, default, meaning) under the header.
 * `make readme-options` puts it into README.md between the two marker
 * comments; tests/tree/options.sh fails when README.md holds anything else
 * there. */
#include <stdio.h>

#include "options_walk.h"

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

static const struct option_style markdown = {
    .range_dash = "–",
    .minus_one = "-1",
    .size_suffix = " (`k` suffix allowed)",
    .bytes_suffix = " (`k` suffix allowed)",
    .quote = "\"",
    .values_first = "",
    .values_between = ", ",
    .value_open = "`",
    .value_close = "`",
};

int main(void)
{
	printf("| option | type | default | meaning |\n");
	printf("| --- | --- | --- | --- |\n");
	walk_options(&markdown, row);
	return 0;
}
