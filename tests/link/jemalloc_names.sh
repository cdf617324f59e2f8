#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jemalloc_names.sh: cairn answers jemalloc's names as tools/jemalloc-names.tsv
# says. The list is every mallctl name of jemalloc(3) (the man page of
# Debian's libjemalloc-dev, which CI installs): the same names, none left
# out. For each, tests/link/jemalloc_probe.c, linked with cairn, looks the
# name up and reads it with the documented type (writing the value back
# where it is read-write); the answer must be the list's: "ok" for a name
# cairn answers, else the list's "ENOENT: ..." or "read-only: ...". Also:
# every function and variable libjemalloc.so.2 exports (its test hooks
# aside) is in cairn's public API (src/api/exports.map), and README.md's
# jemalloc table is the one made from the list.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
list=$root/tools/jemalloc-names.tsv
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-jenames.XXXXXX")
trap 'rm -rf "$work"' EXIT

man=$(find /usr/share/man/man3 -name 'jemalloc.3*' 2>/dev/null | head -n 1)
[[ -n $man ]]
check $? "jemalloc(3) is installed (apt-get install libjemalloc-dev)"
if [[ -n $man ]]; then
	# A name's entry is a line after ".PP": NAME (\fBTYPE\fR) ACCESS.
	zcat -f "$man" | awk '/^\.PP$/ { getline; print }' | grep -E '\(\\fB' |
		sed -E 's/\\&//g; s/^([^ ]+) \(.*/\1/; s/;$//' | awk '!seen[$0]++' >"$work/man"
	grep -v '^#' "$list" | cut -f1 >"$work/list"
	diff "$work/man" "$work/list" >"$work/diff"
	check $? "tools/jemalloc-names.tsv lists jemalloc(3)'s $(wc -l <"$work/man") names in order:
$(head -n 20 "$work/diff")"
fi

${CC:-cc} -std=gnu11 -O1 -Wall -Wextra -Werror -o "$work/probe" "$root/tests/link/jemalloc_probe.c" \
	-L"$root/lib" -lcairn -Wl,-rpath,"$root/lib"
check $? "tests/link/jemalloc_probe.c builds against lib/libcairn.so"
if [[ -x $work/probe ]]; then
	grep -v '^#' "$list" | "$work/probe" >"$work/answers"
	check $? "the probe runs"
	n=0 bad=0
	while IFS=$'\t' read -r name type access expected; do
		got=$(awk -F'\t' -v n="$name" '$1 == n { print $2; exit }' "$work/answers")
		want=${expected%%:*}
		[[ -z $expected ]] && want=ok
		n=$((n + 1))
		if [[ $got != "$want" ]]; then
			bad=$((bad + 1))
			check 1 "$name ($type, $access): cairn answers \"$got\", the list says \"${expected:-ok}\""
		fi
	done < <(grep -v '^#' "$list")
	answered=$(grep -c $'\tok$' "$work/answers")
	[[ $n -ge 170 && $bad == 0 ]]
	check $? "$n names probed, $bad answered otherwise than listed"
	echo "jemalloc names: $n, of which cairn answers $answered" >&2
fi

lib=$(find /usr/lib /lib -name 'libjemalloc.so.2' 2>/dev/null | head -n 1)
[[ -n $lib ]]
check $? "libjemalloc.so.2 is installed (apt-get install libjemalloc2)"
if [[ -n $lib ]]; then
	nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -v '^je_test_hooks' | sort -u >"$work/je"
	sed -e 's|/\*.*\*/||g' "$root/src/api/exports.map" |
		awk '/^[ \t]*global:/ { on = 1; sub(/.*global:/, "") } /^[ \t]*local:/ { on = 0 }
		     on { gsub(/;/, " "); for (i = 1; i <= NF; i++) print $i }' | sort -u >"$work/cairn"
	missing=$(comm -23 "$work/je" "$work/cairn")
	[[ $(wc -l <"$work/je") -ge 40 && -z $missing ]]
	check $? "cairn exports all $(wc -l <"$work/je") names libjemalloc.so.2 does; missing: $(echo $missing)"
fi

"$root/tools/readme-jemalloc.sh" --check
check $? "README.md's jemalloc table is made from tools/jemalloc-names.tsv (make readme-jemalloc)"
checks_done
