#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme-table.sh NAME SOURCE [--check] -- COMMAND...: the table NAME of
# README.md, between the lines "<!-- BEGIN NAME table ..." and
# "<!-- END NAME table", is what COMMAND prints (generated from SOURCE).
# Without --check, rewrites the table there; with --check, changes nothing
# and exits 1, showing the difference, when the table is not that. Exits 2
# when the markers are missing, repeated or out of order, or COMMAND fails.
set -u
name=$1 source=$2
shift 2
check=
if [[ ${1:-} == --check ]]; then
	check=1
	shift
fi
[[ ${1:-} == -- ]] && shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
readme=README.md
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

if ! "$@" >"$tmp/table"; then
	echo "readme-$name: the table's generator failed" >&2
	exit 2
fi

begin=$(grep -n "^<!-- BEGIN $name table" "$readme" | cut -d: -f1)
end=$(grep -n "^<!-- END $name table" "$readme" | cut -d: -f1)
if [[ $(wc -w <<<"$begin") != 1 || $(wc -w <<<"$end") != 1 || $begin -ge $end ]]; then
	echo "readme-$name: $readme needs one \"<!-- BEGIN $name table\" line, then one" \
		"\"<!-- END $name table\" line" >&2
	exit 2
fi

{
	head -n "$begin" "$readme"
	cat "$tmp/table"
	tail -n "+$end" "$readme"
} >"$tmp/README.md"

if [[ -n $check ]]; then
	if ! diff -u "$readme" "$tmp/README.md" >"$tmp/diff"; then
		echo "readme-$name: the $name table of $readme is not the one" \
			"$source gives (run make readme-$name):" >&2
		cat "$tmp/diff" >&2
		exit 1
	fi
	exit 0
fi
if ! cmp -s "$readme" "$tmp/README.md"; then
	cat "$tmp/README.md" >"$readme"
	echo "readme-$name: rewrote the $name table of $readme" >&2
fi
