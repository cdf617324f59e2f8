#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# symbols.sh: nothing of cairn's internals is global in what it installs.
# The public API is the global: list of src/api/exports.map (the version
# script of the shared libraries, parsed here). The static archive
# lib/libcairn.a must define exactly those symbols as global (nm -g
# --defined-only), every other one being local, so that no internal name
# (heap_init, os_init, cairn_conf ...) can clash with one of the program
# that links it; and the dynamic symbol tables of lib/libcairn.so.0 and
# lib/libcairn-dlopen.so must hold exactly the same list. CAIRN_STATIC_LIB
# names another archive to check.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
archive=${CAIRN_STATIC_LIB:-$root/lib/libcairn.a}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-symbols.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The names between "global:" and "local:", comments and separators dropped.
sed -e 's|/\*.*\*/||g' "$root/src/api/exports.map" |
	awk '/^[ \t]*global:/ { on = 1; sub(/.*global:/, "") } /^[ \t]*local:/ { on = 0 }
	     on { gsub(/;/, " "); for (i = 1; i <= NF; i++) print $i }' | sort -u >"$work/public"
n=$(wc -l <"$work/public")
[[ $n -ge 40 ]] && grep -qx malloc "$work/public" && grep -qx _Znwm "$work/public"
check $? "exports.map parsed into $n names, malloc and _Znwm among them"
echo "public API (src/api/exports.map): $n symbols" >&2

# compare WHAT FILE: FILE (one name a line) against the public list.
compare() {
	local what=$1 file=$2 extra missing
	extra=$(comm -23 "$file" "$work/public")
	missing=$(comm -13 "$file" "$work/public")
	echo "$what: $(wc -l <"$file") global symbols" >&2
	[[ -z $extra ]]
	check $? "$what defines $(echo "$extra" | wc -l) global symbols outside the public API,\
 $(echo "$extra" | grep -vc '^cairn_') of them without the cairn_ prefix: $(echo $extra)"
	[[ -z $missing ]]
	check $? "$what lacks public symbols: $(echo $missing)"
}

# The archive: every defined global or weak symbol of every member ("V" is
# malloc_conf, a weak object); member headers and blank lines have fewer fields.
[[ -r $archive ]]
check $? "$archive exists"
nm -g --defined-only "$archive" >"$work/nm.out" 2>"$work/nm.err"
check $? "nm -g --defined-only $archive: $(head -3 "$work/nm.err")"
awk 'NF == 3 { print $3 }' "$work/nm.out" | sort -u >"$work/archive"
compare "$archive" "$work/archive"
# The same name twice would be a duplicate definition within the archive.
dups=$(awk 'NF == 3 { print $3 }' "$work/nm.out" | sort | uniq -d)
[[ -z $dups ]]
check $? "$archive defines these more than once: $(echo $dups)"

# The shared libraries' dynamic symbols (tests/api/exports.c checks the same
# for libcairn.so.0 against its own copy of the list). "A" is the version node.
for lib in "$root/lib/libcairn.so.0" "$root/lib/libcairn-dlopen.so"; do
	nm -D --defined-only "$lib" >"$work/nm.out" 2>"$work/nm.err"
	check $? "nm -D --defined-only $lib: $(head -3 "$work/nm.err")"
	awk 'NF == 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' "$work/nm.out" |
		sort -u >"$work/dynamic"
	compare "$lib" "$work/dynamic"
done

checks_done
