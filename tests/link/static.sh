#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# static.sh: programs link lib/libcairn.a statically, and their own global
# names do not clash with cairn's internals. tests/link/clash.c and clash.cc
# define functions named heap_init, os_init, purge_all, meta_lock ... (and
# clash.c a variable cairn_conf); each is linked with the archive into a
# dynamic executable (cc prog.c lib/libcairn.a -lpthread) and into a fully
# static one (-static, where the C library's static archive is installed).
# Each must link without a multiple definition, take malloc (and for C++
# operator new) from the archive (the linker's -y trace says where each
# symbol's definition came from), and run: the programs check that their
# own functions are the ones called, and that their blocks are cairn's;
# with MALLOC_CONF=confirm_conf:true cairn prints its options line.
# CAIRN_STATIC_LIB names another archive to check.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
archive=${CAIRN_STATIC_LIB:-$root/lib/libcairn.a}
CC=${CC:-cc}
CXX=${CXX:-c++}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-static.XXXXXX")
trap 'rm -rf "$work"' EXIT
show() { # FILE: its last lines, indented
	tail -n 25 "$1" | sed 's/^/    | /' >&2
}

# try NAME COMPILER SOURCE [FLAG...]: links SOURCE with the archive into
# $work/NAME, then runs it twice (plainly, and printing cairn's options).
try() {
	local name=$1 compiler=$2 src=$3 exe=$work/$1 rc
	shift 3
	"$compiler" "$@" -O1 -g -Wall -Wextra -I"$root/include" -I"$root/tests" -pthread \
		-Wl,-y,malloc -Wl,-y,_Znwm -o "$exe" "$src" "$archive" -lpthread \
		>"$exe.link" 2>&1
	rc=$?
	check $rc "$name: $compiler $* ${src#"$root"/} libcairn.a links"
	if [[ $rc != 0 ]]; then
		echo "    multiple definitions: $(grep -c 'multiple definition' "$exe.link")" >&2
		grep -vE ': (reference to|definition of) ' "$exe.link" >"$exe.errors"
		show "$exe.errors"
		return
	fi
	# "-y malloc" prints each file that refers to malloc and the one that
	# defines it: that must be the archive, and only the archive.
	local defs
	defs=$(grep -E 'definition of (malloc|_Znwm)$' "$exe.link")
	grep -qE "libcairn[^/]*\\.a\\(.*\\): definition of malloc$" <<<"$defs" &&
		[[ $(grep -c 'definition of malloc$' <<<"$defs") == 1 ]]
	check $? "$name: malloc is defined by the archive alone: $defs"
	if [[ $compiler == "$CXX" ]]; then
		grep -qE "libcairn[^/]*\\.a\\(.*\\): definition of _Znwm$" <<<"$defs" &&
			[[ $(grep -c 'definition of _Znwm$' <<<"$defs") == 1 ]]
		check $? "$name: operator new is defined by the archive alone: $defs"
	fi
	env -u MALLOC_CONF -u LD_PRELOAD "$exe" >"$exe.out" 2>"$exe.err"
	rc=$?
	check $rc "$name runs and passes its checks (exit $rc)"
	[[ $rc == 0 ]] || show "$exe.err"
	grep -q '^cairn ' "$exe.out"
	check $? "$name prints cairn's version"
	! grep -q '^cairn: options:' "$exe.err"
	check $? "$name without confirm_conf prints no options line"
	env -u LD_PRELOAD MALLOC_CONF=confirm_conf:true "$exe" >"$exe.out" 2>"$exe.err"
	rc=$?
	check $rc "$name with MALLOC_CONF=confirm_conf:true (exit $rc)"
	grep -q '^cairn: options: .*confirm_conf:true' "$exe.err"
	check $? "$name: cairn prints its options line, so it is the allocator"
	[[ $rc == 0 ]] || show "$exe.err"
	# Every allocation sampled, from the first (the C library's own
	# start-up, before the unwinder can run in a static program), with
	# the final profile written.
	mkdir -p "$work/prof-$name"
	env -u LD_PRELOAD MALLOC_CONF="prof:true,lg_prof_sample:0,prof_prefix:$work/prof-$name/p" \
		"$exe" >"$exe.out" 2>"$exe.err"
	rc=$?
	check $rc "$name with every allocation sampled (exit $rc)"
	[[ $rc == 0 ]] || show "$exe.err"
	head -1 "$work/prof-$name"/p.*.f.heap 2>/dev/null | grep -qx 'heap_v2/1'
	check $? "$name wrote its final heap profile"
	if [[ $* == *-static* ]]; then
		! LC_ALL=C readelf -d "$exe" 2>/dev/null | grep -q NEEDED
		check $? "$name is fully static (no NEEDED entries)"
	fi
}

[[ -r $archive ]]
check $? "$archive exists"
try c-dynamic "$CC" "$root/tests/link/clash.c" -std=gnu11
try cxx-dynamic "$CXX" "$root/tests/link/clash.cc" -std=gnu++17
# Fully static where the C library's archive is installed (Debian: libc6-dev).
libc_a=$("$CC" -print-file-name=libc.a)
if [[ $libc_a == /* && -r $libc_a ]]; then
	try c-static "$CC" "$root/tests/link/clash.c" -std=gnu11 -static
	try cxx-static "$CXX" "$root/tests/link/clash.cc" -std=gnu++17 -static
else
	echo "no libc.a for $CC: the fully static links are left out" >&2
fi

checks_done
