#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# musl.sh: cairn built with musl (make musl: lib/musl/) replaces musl's
# allocator in a real program, tests/port/wordfreq.c, three ways:
#  - static: linked with lib/musl/libcairn.a into a fully static program
#    (-static; the linker's -y trace must show malloc from the archive alone);
#  - linked: a dynamic musl program linked with -lcairn;
#  - preloaded: a dynamic musl program that knows nothing of cairn, run with
#    LD_PRELOAD (musl's loader honours it), and run without it as musl's own.
# Each run must print what a reference run on the system's allocator (glibc,
# no cairn) prints, and name its allocator: cairn where it is there, which
# the program proves by the bytes cairn counts for the C library's own
# strdup and open_memstream. musl lets a program's malloc replace its own
# only when the loaded objects define the whole set its libc calls
# through (malloc, calloc, realloc, free, aligned_alloc, posix_memalign,
# memalign, malloc_usable_size): libcairn.so.0 must export each.
# The api, death, stress and unit tests built with musl run apart, from make
# test (port.mk).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
MUSL_CC=${MUSL_CC:-musl-gcc}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-musl.XXXXXX")
trap 'rm -rf "$work"' EXIT
show() { # FILE: its last lines, indented
	tail -n 15 "$1" | sed 's/^/    | /' >&2
}

command -v "$MUSL_CC" >/dev/null
check $? "$MUSL_CC is installed (Debian: musl-tools)"
make -s musl >"$work/make.log" 2>&1
rc=$?
check $rc "make musl"
[[ $rc == 0 ]] || {
	show "$work/make.log"
	checks_done
	exit
}

for sym in malloc calloc realloc free aligned_alloc posix_memalign memalign malloc_usable_size; do
	nm -D --defined-only lib/musl/libcairn.so.0 | grep -qE " T $sym\$"
	check $? "lib/musl/libcairn.so.0 exports $sym"
done

# The input: the sources and the manual, a few MB of words.
cat README.md src/*/*.c src/*/*.h tests/*/*.c >"$work/input"
for _ in 1 2 3; do cat "$work/input" "$work/input" >"$work/input2" && mv "$work/input2" "$work/input"; done

src=tests/port/wordfreq.c
flags=(-std=gnu11 -O1 -g -Wall -Wextra -Iinclude -pthread)
${CC:-cc} "${flags[@]}" -o "$work/ref" "$src" -ldl
check $? "reference build with ${CC:-cc}"
"$work/ref" "$work/input" >"$work/ref.out" 2>"$work/ref.err"
check $? "reference run"
grep -q "^allocator: the C library's" "$work/ref.err"
check $? "the reference runs on the system's allocator"

# run NAME [ENV...] -- EXE: runs EXE on the input with confirm_conf, checks its
# output against the reference and its allocator against WANT (cairn|libc).
run() {
	local name=$1 want=$2 exe=$3
	shift 3
	env "$@" MALLOC_CONF=confirm_conf:true "$exe" "$work/input" >"$work/$name.out" \
		2>"$work/$name.err"
	local rc=$?
	check $rc "$name runs and passes its checks (exit $rc)"
	[[ $rc == 0 ]] || show "$work/$name.err"
	cmp -s "$work/ref.out" "$work/$name.out"
	check $? "$name prints what the reference prints"
	if [[ $want == cairn ]]; then
		grep -q '^allocator: cairn ' "$work/$name.err" &&
			grep -q '^cairn: options: .*confirm_conf:true' "$work/$name.err"
		check $? "$name runs on cairn (its options line, mallctl)"
	else
		grep -q "^allocator: the C library's" "$work/$name.err" &&
			! grep -q '^cairn: ' "$work/$name.err"
		check $? "$name runs on musl's own allocator"
	fi
}

# Static: malloc from the archive alone, no loader.
"$MUSL_CC" "${flags[@]}" -static -Wl,-y,malloc -o "$work/static" "$src" lib/musl/libcairn.a \
	>"$work/static.link" 2>&1
check $? "static: $MUSL_CC -static wordfreq.c lib/musl/libcairn.a links"
defs=$(grep -E 'definition of malloc$' "$work/static.link")
grep -qE 'libcairn\.a\(.*\): definition of malloc$' <<<"$defs" &&
	[[ $(grep -c . <<<"$defs") == 1 ]]
check $? "static: malloc is defined by the archive alone: $defs"
! readelf -lW "$work/static" | grep -q INTERP
check $? "static: no program interpreter (fully static)"
run static cairn "$work/static"

# Linked with -lcairn.
"$MUSL_CC" "${flags[@]}" -o "$work/linked" "$src" -Llib/musl -lcairn \
	-Wl,-rpath,"$root/lib/musl"
check $? "linked: $MUSL_CC wordfreq.c -lcairn links"
readelf -lW "$work/linked" | grep -q 'ld-musl'
check $? "linked: musl's loader is the interpreter"
run linked cairn "$work/linked"

# A musl program that knows nothing of cairn, preloaded and not.
"$MUSL_CC" "${flags[@]}" -o "$work/plain" "$src"
check $? "plain: $MUSL_CC wordfreq.c links"
run musl_own libc "$work/plain"
run preloaded cairn "$work/plain" LD_PRELOAD="$root/lib/musl/libcairn.so.0"

checks_done
