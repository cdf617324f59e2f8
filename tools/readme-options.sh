#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# readme-options.sh [--check]: README.md's options table is what
# tools/gen_options_md.c prints from src/control/options.def (see
# tools/readme-table.sh; `make readme-options` rewrites it,
# tests/tree/options.sh checks it).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
if ! ${CC:-cc} -std=gnu11 -O1 -Wall -Wextra -Werror -I"$root/src" -o "$tmp/gen" \
	"$root/tools/gen_options_md.c"; then
	echo "readme-options: tools/gen_options_md.c does not build" >&2
	exit 2
fi
"$root/tools/readme-table.sh" options src/control/options.def ${1:+"$1"} -- "$tmp/gen"
