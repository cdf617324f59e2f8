#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# options.sh: every option is declared once, in src/control/options.def, and
# README.md's options table is the one generated from it
# (tools/readme-options.sh --check; `make readme-options` rewrites it). Also
# that each option of the list has its row there, by name, and nothing else,
# and that the fuzzer's dictionary (tests/fuzz/conf.dict) names them all.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

tools/readme-options.sh --check
check $? "README.md's options table is generated from src/control/options.def"

# The names, from the list and from the table, as a second look that needs no compiler.
listed=$(grep -oE '^CONF_(BOOL|UINT|SIZE|MS|I64|STRING|ENUM)\([a-z_]+' src/control/options.def | cut -d'(' -f2)
rows=$(sed -n '/^<!-- BEGIN options table/,/^<!-- END options table/p' README.md |
	grep -oE '^\| `[a-z_]+` \|' | tr -d '|` ')
[[ $(wc -l <<<"$listed") -ge 10 ]]
check $? "only $(wc -l <<<"$listed") options found in src/control/options.def"
[[ $listed == "$rows" ]]
check $? "README.md's rows ($(echo $rows)) are not the options of options.def ($(echo $listed))"
# The fuzzer's dictionary has every option name and every enum value.
values=$(grep -oE '^[[:space:]]*V\([A-Z_]+, "[a-z]+"\)' src/control/options.def | cut -d'"' -f2)
missing=
for word in $listed $values; do
	grep -qx "\"$word\"" tests/fuzz/conf.dict || missing="$missing $word"
done
[[ -z $missing ]]
check $? "tests/fuzz/conf.dict lacks:$missing"
# Nothing else in the tree writes an option table by hand.
[[ -z $(grep -lE '"(narenas|dirty_decay_ms)", *(OPT|CONF)_' src/*/*.c src/*/*.h) ]]
check $? "an option table by hand in src/"

echo "options: $(echo $listed)" >&2
checks_done
