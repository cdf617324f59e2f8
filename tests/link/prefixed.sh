#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# prefixed.sh: the prefixed library, libcairn-prefixed (make prefixed),
# lives beside the system allocator. Its shared library and its archive
# define exactly the names of src/api/exports-prefixed.map, none of the
# system allocator's (malloc, free, the __libc_ names, operator new and
# delete, malloc_usable_size, mallinfo ...) nor jemalloc's unprefixed ones,
# and refer to no allocation function of the C library either.
# tests/link/prefixed_client.c is linked with each (-lcairn-prefixed, and
# the archive) and run: malloc is glibc's, cairn_malloc's blocks are cairn's,
# threads and fork work; cairn_free of a block of malloc's stops the program
# with cairn's report. The options come from CAIRN_MALLOC_CONF and
# not from MALLOC_CONF, and a program that never calls cairn does not
# initialise it.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
so=$root/lib/libcairn-prefixed.so.0
archive=$root/lib/libcairn-prefixed.a
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-prefixed.XXXXXX")
trap 'rm -rf "$work"' EXIT
show() { # FILE: its last lines, indented
	tail -n 25 "$1" | sed 's/^/    | /' >&2
}

sed -e 's|/\*.*\*/||g' -e '/\/\*/,/\*\//d' "$root/src/api/exports-prefixed.map" |
	awk '/^[ \t]*global:/ { on = 1; sub(/.*global:/, "") } /^[ \t]*local:/ { on = 0 }
	     on { gsub(/;/, " "); for (i = 1; i <= NF; i++) print $i }' | sort -u >"$work/public"
n=$(wc -l <"$work/public")
[[ $n -ge 30 ]] && grep -qx cairn_malloc "$work/public" && grep -qx cairn_mallctl "$work/public" &&
	! grep -qv '^cairn_' "$work/public"
check $? "exports-prefixed.map parsed into $n names, all cairn_, cairn_malloc and cairn_mallctl among them"

# The system allocator's names, and jemalloc's: the prefixed library must define none.
forbidden='^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|free_sized|free_aligned_sized|cfree|__libc_.*|__posix_memalign|malloc_trim|mallinfo2?|malloc_stats|malloc_conf|_Zn[wa].*|_Zd[la].*|mallocx|rallocx|xallocx|sallocx|dallocx|sdallocx|nallocx|mallctl.*|malloc_stats_print|malloc_message)$'

# compare WHAT FILE: the defined global names in FILE against the list.
compare() {
	local what=$1 file=$2 extra missing bad
	extra=$(comm -23 "$file" "$work/public")
	missing=$(comm -13 "$file" "$work/public")
	bad=$(grep -E "$forbidden" "$file")
	echo "$what: $(wc -l <"$file") global symbols" >&2
	[[ -z $bad ]]
	check $? "$what defines the system allocator's or jemalloc's names: $(echo $bad)"
	[[ -z $extra ]]
	check $? "$what defines names outside exports-prefixed.map: $(echo $extra)"
	[[ -z $missing ]]
	check $? "$what lacks: $(echo $missing)"
}

[[ -r $so && -r $archive ]]
check $? "$so and $archive exist (make prefixed)"
nm -D --defined-only "$so" >"$work/nm.out" 2>&1
check $? "nm -D $so"
awk 'NF == 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' "$work/nm.out" | sort -u >"$work/dynamic"
compare "$so" "$work/dynamic"
nm -g --defined-only "$archive" >"$work/nm.out" 2>&1
check $? "nm -g $archive"
awk 'NF == 3 { print $3 }' "$work/nm.out" | sort -u >"$work/static"
compare "$archive" "$work/static"
# Nothing in cairn calls the C library's allocator: no undefined reference to it.
nm -D --undefined-only "$so" | awk '{ print $NF }' | sed 's/@.*//' >"$work/undefined"
calls=$(grep -E "$forbidden" "$work/undefined")
[[ -z $calls && -s $work/undefined ]]
check $? "$so refers to the system allocator: $(echo $calls)"
readelf -d "$so" | grep -q 'SONAME.*\[libcairn-prefixed\.so\.0\]'
check $? "$so's soname is libcairn-prefixed.so.0"

flags=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -DCAIRN_PREFIXED -I"$root/include" -I"$root/tests"
	-pthread)
src=$root/tests/link/prefixed_client.c
"$CC" "${flags[@]}" -o "$work/shared" "$src" -L"$root/lib" -lcairn-prefixed \
	-Wl,-rpath,"$root/lib" -ldl >"$work/shared.link" 2>&1
check $? "the client links with -lcairn-prefixed: $(head -c 300 "$work/shared.link")"
"$CC" "${flags[@]}" -o "$work/static" "$src" "$archive" -ldl >"$work/static.link" 2>&1
check $? "the client links with libcairn-prefixed.a: $(head -c 300 "$work/static.link")"
LC_ALL=C readelf -d "$work/shared" | grep -q 'NEEDED.*\[libcairn-prefixed\.so\.0\]'
check $? "the -lcairn-prefixed client needs libcairn-prefixed.so.0"
! LC_ALL=C readelf -d "$work/static" | grep -q 'NEEDED.*libcairn'
check $? "the archive's client needs no libcairn"

for exe in shared static; do
	env -u LD_PRELOAD -u MALLOC_CONF -u CAIRN_MALLOC_CONF "$work/$exe" >"$work/$exe.out" \
		2>"$work/$exe.err"
	rc=$?
	check $rc "$exe client runs and passes its checks (exit $rc)"
	[[ $rc == 0 ]] || show "$work/$exe.err"
	# The options: CAIRN_MALLOC_CONF is cairn's; MALLOC_CONF is not.
	env -u LD_PRELOAD -u MALLOC_CONF CAIRN_MALLOC_CONF=confirm_conf:true "$work/$exe" \
		>/dev/null 2>"$work/$exe.conf"
	rc=$?
	[[ $rc == 0 ]] && grep -q '^cairn: options: .*confirm_conf:true' "$work/$exe.conf"
	check $? "$exe with CAIRN_MALLOC_CONF=confirm_conf:true prints cairn's options (exit $rc)"
	env -u LD_PRELOAD -u CAIRN_MALLOC_CONF MALLOC_CONF=confirm_conf:true "$work/$exe" \
		>/dev/null 2>"$work/$exe.conf"
	rc=$?
	[[ $rc == 0 ]] && ! grep -q '^cairn: options:' "$work/$exe.conf"
	check $? "$exe with MALLOC_CONF=confirm_conf:true: cairn does not read it (exit $rc)"
	env -u LD_PRELOAD -u MALLOC_CONF CAIRN_MALLOC_CONF=no_such_option:1 "$work/$exe" \
		>/dev/null 2>"$work/$exe.conf"
	grep -q 'CAIRN_MALLOC_CONF' "$work/$exe.conf"
	check $? "$exe: a bad option is reported as CAIRN_MALLOC_CONF's: $(head -c 200 "$work/$exe.conf")"
	env -u LD_PRELOAD -u MALLOC_CONF -u CAIRN_MALLOC_CONF "$work/$exe" foreign >/dev/null \
		2>"$work/$exe.foreign"
	rc=$?
	[[ $rc != 0 ]] && grep -q '^cairn: cairn_free(): invalid pointer' "$work/$exe.foreign"
	check $? "$exe: cairn_free of malloc's block is reported as cairn_free's and stops (exit $rc: \
$(head -c 200 "$work/$exe.foreign"))"
	# Lazily: a run that never calls cairn does not initialise it.
	env -u LD_PRELOAD -u MALLOC_CONF CAIRN_MALLOC_CONF=confirm_conf:true "$work/$exe" idle \
		>/dev/null 2>"$work/$exe.idle"
	rc=$?
	[[ $rc == 0 && ! -s $work/$exe.idle ]]
	check $? "$exe calling no cairn function initialises nothing (exit $rc, stderr: $(head -c 200 \
		"$work/$exe.idle"))"
done

checks_done
