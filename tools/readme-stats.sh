#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme-stats.sh [--check]: README.md's statistics table lists every
# statistic of src/core/stats.def, in its order, with its description
# (see tools/readme-table.sh; `make readme-stats` rewrites it,
# tests/tree/stats.sh checks it).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
table() {
	echo '| name | kind | what |'
	echo '| --- | --- | --- |'
	sed -nE 's/^(TOTAL|GLOBAL|ARENA|ARENA_TOTAL|CLASS|CLASS_TOTAL|LEXTENT|LEXTENT_TOTAL)\(([a-z_]+), "(.*)"\)$/\1 \2 \3/p' \
		"$root/src/core/stats.def" |
		while read -r kind name doc; do
			case $kind in
			TOTAL) echo "| \`$name\` | computed | $doc |" ;;
			GLOBAL) echo "| \`$name\` | counted | $doc |" ;;
			ARENA) echo "| \`$name\` | counted per arena, summed | $doc |" ;;
			ARENA_TOTAL) echo "| \`arenas.<i>.$name\` | per arena | $doc |" ;;
			CLASS | CLASS_TOTAL) echo "| \`bins.<c>.$name\` | per size class | $doc |" ;;
			LEXTENT | LEXTENT_TOTAL) echo "| \`lextents.<c>.$name\` | per large size class | $doc |" ;;
			esac
		done
}
tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
table >"$tmp"
"$root/tools/readme-table.sh" stats src/core/stats.def ${1:+"$1"} -- cat "$tmp"
