#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme-jemalloc.sh [--check]: README.md's jemalloc table lists every
# mallctl name jemalloc documents, from tools/jemalloc-names.tsv, with
# cairn's answer (see tools/readme-table.sh; `make readme-jemalloc`
# rewrites it, tests/link/jemalloc_names.sh checks it and the answers).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
table() {
	echo '| name | type | access | cairn |'
	echo '| --- | --- | --- | --- |'
	grep -v '^#' "$root/tools/jemalloc-names.tsv" |
		while IFS=$'\t' read -r name type access answer; do
			echo "| \`$name\` | \`$type\` | $access | ${answer:-yes} |"
		done
}
tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
table >"$tmp"
"$root/tools/readme-table.sh" jemalloc tools/jemalloc-names.tsv ${1:+"$1"} -- cat "$tmp"
