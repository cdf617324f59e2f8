#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme-options.sh [--check]: the options table of README.md, between the
# lines "<!-- BEGIN options table ... -->" and "<!-- END options table -->",
# is what tools/gen_options_md.c prints from src/control/options.def.
# Without --check, rewrites the table there (`make readme-options`); with
# --check, changes nothing and exits 1, showing the difference, when the
# table is not that (tests/tree/options.sh). Exits 2 when the markers are
# missing, repeated or out of order, or the generator does not build.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
readme=README.md
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

if ! ${CC:-cc} -std=gnu11 -O1 -Wall -Wextra -Werror -Isrc -o "$tmp/gen" tools/gen_options_md.c ||
	! "$tmp/gen" >"$tmp/table"; then
	echo "readme-options: tools/gen_options_md.c does not build or run" >&2
	exit 2
fi

begin=$(grep -n '^<!-- BEGIN options table' "$readme" | cut -d: -f1)
end=$(grep -n '^<!-- END options table' "$readme" | cut -d: -f1)
if [[ $(wc -w <<<"$begin") != 1 || $(wc -w <<<"$end") != 1 || $begin -ge $end ]]; then
	echo "readme-options: $readme needs one \"<!-- BEGIN options table\" line, then one" \
		"\"<!-- END options table\" line" >&2
	exit 2
fi

{
	head -n "$begin" "$readme"
	cat "$tmp/table"
	tail -n "+$end" "$readme"
} >"$tmp/README.md"

if [[ ${1:-} == --check ]]; then
	if ! diff -u "$readme" "$tmp/README.md" >"$tmp/diff"; then
		echo "readme-options: the options table of $readme is not the one" \
			"src/control/options.def gives (run make readme-options):" >&2
		cat "$tmp/diff" >&2
		exit 1
	fi
	exit 0
fi
if ! cmp -s "$readme" "$tmp/README.md"; then
	cat "$tmp/README.md" >"$readme"
	echo "readme-options: rewrote the options table of $readme" >&2
fi
