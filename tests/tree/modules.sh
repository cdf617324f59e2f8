#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# modules.sh: the modules of src/core/ keep the order src/core/README.md
# gives them (its table "Modules, bottom up": one row per module, its files
# in the first column). A file may use its own module and those listed
# before it, never one listed after:
#  - includes: every `#include "core/x"` in a core file names a file of a
#    module at or before the file's own;
#  - calls and data: every symbol a core object uses (nm: undefined) that
#    another core object defines is defined in a module before its own.
# Every file in src/core/ must be in the table, and every file in the table
# must exist. With a directory as its argument, checks that tree instead.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
cd "$root" || exit 1

declare -A rank name
n=0
while IFS= read -r row; do
	files=$(cut -d'|' -f2 <<<"$row")
	[[ $files == *'`'* ]] || continue
	n=$((n + 1))
	for f in $(grep -o '`[^`]*`' <<<"$files" | tr -d '`'); do
		rank[$f]=$n
		name[$f]=$files
		[[ -f src/core/$f ]]
		check $? "src/core/README.md lists $f, which is not in src/core/"
	done
done < <(sed -n '/^## Modules, bottom up/,/^## /p' src/core/README.md | grep '^| `')
[[ $n -gt 10 ]]
check $? "only $n modules found in src/core/README.md"

for f in src/core/*.[ch]; do
	b=${f#src/core/}
	[[ -n ${rank[$b]+x} ]]
	check $? "$f is in no module of src/core/README.md"
done

# Includes.
for f in src/core/*.[ch]; do
	b=${f#src/core/}
	[[ -n ${rank[$b]+x} ]] || continue
	while IFS=: read -r line inc; do
		inc=${inc#*\"core/}
		inc=${inc%%\"*}
		[[ -n ${rank[$inc]+x} ]] || continue
		[[ ${rank[$inc]} -le ${rank[$b]} ]]
		check $? "$f:$line includes core/$inc, of a module listed after its own"
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"core/' "$f")
done

# Calls and data.
objs=()
for c in src/core/*.c; do
	objs+=("build/obj/${c%.c}.o")
done
make -s "${objs[@]}" >/dev/null
check $? "make builds the objects"
declare -A defined_in
for o in "${objs[@]}"; do
	b=${o#build/obj/src/core/}
	b=${b%.o}.c
	while read -r sym; do
		defined_in[$sym]=$b
	done < <(nm --defined-only --extern-only --format=posix "$o" | awk '{ print $1 }')
done
nsyms=0
for o in "${objs[@]}"; do
	b=${o#build/obj/src/core/}
	b=${b%.o}.c
	while read -r sym; do
		to=${defined_in[$sym]-}
		[[ -n $to && $to != "$b" && -n ${rank[$to]+x} && -n ${rank[$b]+x} ]] || continue
		nsyms=$((nsyms + 1))
		[[ ${rank[$to]} -lt ${rank[$b]} ]]
		check $? "src/core/$b uses $sym of $to, a module listed after its own (or the same row)"
	done < <(nm --undefined-only --format=posix "$o" | awk '{ print $1 }')
done
[[ $nsyms -gt 30 ]]
check $? "only $nsyms uses of core symbols across core objects found"
echo "modules: $n, uses across core objects: $nsyms" >&2
checks_done
