#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install.sh: make install and make uninstall as a distribution's package
# build runs them, and the build flags a packager passes.
#   - make install DESTDIR=stage PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu
#     MANDIR=/usr/share/man puts exactly the expected files there, with their
#     modes, the libraries identical to lib/'s; PREFIX alone puts them under
#     PREFIX/lib, PREFIX/include, PREFIX/share/man;
#   - a C program builds against the stage with pkg-config (the stage as its
#     sysroot) and with CMake's find_package(cairn) (cairn::cairn and
#     cairn::static), and runs on cairn: malloc is defined by the staged
#     libcairn.so.0 (dladdr), or by the program itself when linked static,
#     and MALLOC_CONF=confirm_conf:true prints cairn's options line; one
#     builds against the prefixed library (pkg-config cairn-prefixed,
#     cairn::prefixed and cairn::prefixed_static) and runs cairn_malloc
#     beside the C library's malloc;
#   - the man page cairn(3) renders with groff without a warning, lists every
#     option of src/control/options.def and every function of the headers;
#     cairn(1) renders too;
#   - the cairn command names the installed library and its module folder
#     (tests/link/cairn_command.sh runs an installed one);
#   - make uninstall with the same variables removes all of it and leaves
#     the files of other packages in the same folders;
#   - a header made newer (make -n -W) rebuilds exactly the objects whose
#     sources include it (the compiler's own -MM says which);
#   - CPPFLAGS and CFLAGS reach the compile lines, LDFLAGS the link lines.
# cmake, pkg-config and groff must be installed (.ci/run installs them).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
show() { # FILE: its last lines, indented
	tail -n 25 "$1" | sed 's/^/    | /' >&2
}
# A make of this tree, not of whatever make runs the tests (its jobserver and
# command-line variables stay out).
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u CPPFLAGS -u LDFLAGS \
		make --no-print-directory -C "$root" "$@"
}
for tool in cmake pkg-config groff; do
	command -v $tool >/dev/null
	check $? "$tool is installed (.ci/run installs it)"
done

stage=$work/stage
libdir=usr/lib/x86_64-linux-gnu
dirs=(DESTDIR="$stage" PREFIX=/usr LIBDIR=/$libdir MANDIR=/usr/share/man)

# Other packages' files in the same folders, which make uninstall must keep.
others=("$libdir/libother.so.1" usr/include/other.h "$libdir/pkgconfig/other.pc"
	"$libdir/cmake/other/otherConfig.cmake" usr/share/man/man3/other.3 usr/bin/other)
for f in "${others[@]}"; do
	mkdir -p "$(dirname "$stage/$f")" && echo "$f" >"$stage/$f"
done

mk -s install "${dirs[@]}" >"$work/install.log" 2>&1
rc=$?
check $rc "make install ${dirs[*]#DESTDIR=*}"
[[ $rc == 0 ]] || show "$work/install.log"

# What is there besides the other packages' files: mode, type, path.
listing() {
	(cd "$1" && find . \( -type f -o -type l \) -printf '%m %y %P\n') |
		grep -vE ' (usr/include/other\.h|.*/libother\.so\.1|.*/other\.pc|.*/otherConfig\.cmake|.*/other\.3|usr/bin/other)$' |
		sort -k3
}
listing "$stage" >"$work/installed"
sort -k3 >"$work/expected" <<EOF
644 f usr/include/cairn.h
644 f usr/include/cairn/jemalloc.h
755 f $libdir/libcairn.so.0
777 l $libdir/libcairn.so
755 f $libdir/libcairn-dlopen.so
644 f $libdir/libcairn.a
755 f $libdir/libcairn-prefixed.so.0
777 l $libdir/libcairn-prefixed.so
644 f $libdir/libcairn-prefixed.a
644 f $libdir/pkgconfig/cairn.pc
644 f $libdir/pkgconfig/cairn-prefixed.pc
644 f $libdir/cmake/cairn/cairnConfig.cmake
644 f $libdir/cmake/cairn/cairnConfigVersion.cmake
644 f usr/share/man/man3/cairn.3
644 f usr/share/man/man1/cairn.1
755 f usr/bin/cairn
644 f $libdir/cairn/options.tsv
644 f $libdir/cairn/completion.bash
644 f usr/share/bash-completion/completions/cairn
$(cd "$root/tools/cairn" && for f in *.py; do echo "644 f $libdir/cairn/$f"; done)
EOF
diff "$work/expected" "$work/installed" >"$work/listing.diff"
check $? "make install puts exactly the expected files, with their modes"
[[ -s $work/listing.diff ]] && show "$work/listing.diff"
[[ $(readlink "$stage/$libdir/libcairn.so") == libcairn.so.0 ]]
check $? "libcairn.so is a link to libcairn.so.0"
[[ $(readlink "$stage/$libdir/libcairn-prefixed.so") == libcairn-prefixed.so.0 ]]
check $? "libcairn-prefixed.so is a link to libcairn-prefixed.so.0"
for f in libcairn.so.0 libcairn-dlopen.so libcairn.a libcairn-prefixed.so.0 libcairn-prefixed.a; do
	cmp -s "$root/lib/$f" "$stage/$libdir/$f"
	check $? "the installed $f is lib/$f"
done
cmp -s "$root/include/cairn.h" "$stage/usr/include/cairn.h" &&
	cmp -s "$root/include/cairn/jemalloc.h" "$stage/usr/include/cairn/jemalloc.h"
check $? "the installed headers are include/'s"
grep -qx 'libdir=${prefix}/lib/x86_64-linux-gnu' "$stage/$libdir/pkgconfig/cairn.pc" &&
	grep -qx 'includedir=${prefix}/include' "$stage/$libdir/pkgconfig/cairn.pc" &&
	grep -qx 'prefix=/usr' "$stage/$libdir/pkgconfig/cairn.pc"
check $? "cairn.pc's prefix, libdir and includedir follow PREFIX and LIBDIR"

# PREFIX alone, and an INCLUDEDIR outside it.
mk -s install DESTDIR="$work/opt" PREFIX=/opt/cairn INCLUDEDIR=/opt/include/cairn0 \
	>"$work/install-opt.log" 2>&1
check $? "make install PREFIX=/opt/cairn INCLUDEDIR=/opt/include/cairn0"
for f in opt/cairn/lib/libcairn.so.0 opt/cairn/lib/libcairn.a opt/include/cairn0/cairn.h \
	opt/include/cairn0/cairn/jemalloc.h opt/cairn/lib/pkgconfig/cairn.pc \
	opt/cairn/lib/cmake/cairn/cairnConfig.cmake opt/cairn/share/man/man3/cairn.3; do
	[[ -f $work/opt/$f ]]
	check $? "PREFIX=/opt/cairn installs $f"
done
grep -qx 'includedir=/opt/include/cairn0' "$work/opt/opt/cairn/lib/pkgconfig/cairn.pc"
check $? "cairn.pc's includedir is INCLUDEDIR when it is outside PREFIX"

# A program on the staged cairn. It prints the file that defines the malloc
# it calls, and allocates through both headers' functions.
cat >"$work/app.c" <<'EOF'
#define _GNU_SOURCE
#include <cairn.h>
#include <cairn/jemalloc.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	void *(*volatile alloc)(size_t) = malloc;
	Dl_info info;
	if (!dladdr((void *)alloc, &info) || !info.dli_fname)
		return 2;
	char *p = malloc(100), *q = mallocx(100, MALLOCX_ZERO);
	if (!p || !q || strcmp(cairn_version(), CAIRN_VERSION) != 0 || q[99] != 0)
		return 3;
	if (malloc_usable_size(p) != nallocx(100, 0))
		return 4;
	free(p);
	dallocx(q, 0);
	printf("malloc from %s\n", info.dli_fname);
	return 0;
}
EOF
staged_lib=$(realpath "$stage/$libdir/libcairn.so.0")
# runs NAME EXE WHERE [ENV...]: EXE exits 0, says malloc came from WHERE,
# and prints cairn's options line with confirm_conf.
runs() {
	local name=$1 exe=$2 where=$3 from
	shift 3
	env "$@" MALLOC_CONF=confirm_conf:true "$exe" >"$work/$name.out" 2>"$work/$name.err"
	check $? "$name runs"
	from=$(sed -n 's/^malloc from //p' "$work/$name.out")
	[[ -n $from && $(realpath "$from") == "$(realpath "$where")" ]]
	check $? "$name: malloc is defined by $where (dladdr: ${from:-nothing})"
	grep -q '^cairn: options: narenas:' "$work/$name.err"
	check $? "$name: MALLOC_CONF=confirm_conf:true prints cairn's options line"
}

export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_LIBDIR=$stage/$libdir/pkgconfig
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
flags=$(pkg-config --cflags --libs cairn 2>"$work/pc.err")
check $? "pkg-config --cflags --libs cairn: $(cat "$work/pc.err")"
[[ $(echo $flags) == "-I$stage/usr/include -L$stage/$libdir -lcairn" ]]
check $? "pkg-config gives the staged folders: $flags"
[[ $(pkg-config --modversion cairn) == "$(sed -n 's/^#define CAIRN_VERSION *"\(.*\)"$/\1/p' "$root/include/cairn.h")" ]]
check $? "pkg-config --modversion cairn is CAIRN_VERSION"
# shellcheck disable=SC2086
"$CC" -O1 -Wall -Wextra -Werror -o "$work/app-pc" "$work/app.c" $flags -ldl >"$work/pc.log" 2>&1
rc=$?
check $rc "cc app.c \$(pkg-config --cflags --libs cairn) builds"
[[ $rc == 0 ]] && runs pkg-config "$work/app-pc" "$staged_lib" LD_LIBRARY_PATH="$stage/$libdir"
[[ $rc == 0 ]] || show "$work/pc.log"

# The prefixed library: cairn_malloc is cairn's, malloc stays the C
# library's, and CAIRN_MALLOC_CONF is read at the first call.
cat >"$work/app-prefixed.c" <<'EOF'
#define _GNU_SOURCE
#include <cairn.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static const char *defined_in(void *fn)
{
	Dl_info info;
	return dladdr(fn, &info) && info.dli_fname ? info.dli_fname : "nothing";
}

int main(void)
{
	void *(*volatile libc_alloc)(size_t) = malloc, *(*volatile alloc)(size_t) = cairn_malloc;
	char *p = cairn_malloc(100), *q = malloc(100);
	if (!p || !q || cairn_usable_size(p) < 100)
		return 3;
	cairn_free(p);
	free(q);
	printf("cairn_malloc from %s\nmalloc from %s\n", defined_in((void *)alloc),
	       defined_in((void *)libc_alloc));
	return 0;
}
EOF
staged_prefixed=$(realpath "$stage/$libdir/libcairn-prefixed.so.0")
# runs_prefixed NAME EXE WHERE [ENV...]: EXE exits 0, says cairn_malloc came
# from WHERE and malloc from the C library, and prints cairn's options line
# with CAIRN_MALLOC_CONF=confirm_conf:true.
runs_prefixed() {
	local name=$1 exe=$2 where=$3 from libc
	shift 3
	env "$@" CAIRN_MALLOC_CONF=confirm_conf:true "$exe" >"$work/$name.out" 2>"$work/$name.err"
	check $? "$name runs"
	from=$(sed -n 's/^cairn_malloc from //p' "$work/$name.out")
	libc=$(sed -n 's/^malloc from //p' "$work/$name.out")
	[[ -n $from && $(realpath "$from") == "$(realpath "$where")" ]]
	check $? "$name: cairn_malloc is defined by $where (dladdr: ${from:-nothing})"
	[[ $libc == */libc.so.6 ]]
	check $? "$name: malloc is the C library's (dladdr: ${libc:-nothing})"
	grep -q '^cairn: options: narenas:' "$work/$name.err"
	check $? "$name: CAIRN_MALLOC_CONF=confirm_conf:true prints cairn's options line"
}
flags=$(pkg-config --cflags --libs cairn-prefixed 2>"$work/pc.err")
check $? "pkg-config --cflags --libs cairn-prefixed: $(cat "$work/pc.err")"
[[ $(echo $flags) == "-I$stage/usr/include -L$stage/$libdir -lcairn-prefixed" ]]
check $? "pkg-config cairn-prefixed gives the staged folders: $flags"
# shellcheck disable=SC2086
"$CC" -O1 -Wall -Wextra -Werror -o "$work/app-pc-prefixed" "$work/app-prefixed.c" $flags -ldl \
	>"$work/pc.log" 2>&1
rc=$?
check $rc "cc app-prefixed.c \$(pkg-config --cflags --libs cairn-prefixed) builds"
[[ $rc == 0 ]] && runs_prefixed pkg-config-prefixed "$work/app-pc-prefixed" "$staged_prefixed" \
	LD_LIBRARY_PATH="$stage/$libdir"
[[ $rc == 0 ]] || show "$work/pc.log"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS

# CMake: a version too new is refused, then the four targets.
mkdir -p "$work/cm"
cp "$work/app.c" "$work/app-prefixed.c" "$work/cm/"
cat >"$work/cm/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(app C)
find_package(cairn 1.0 QUIET)
if(cairn_FOUND)
	message(FATAL_ERROR "find_package(cairn 1.0) accepted cairn ${cairn_VERSION}")
endif()
find_package(cairn 0.1 REQUIRED)
foreach(t cairn static prefixed prefixed_static)
	if(NOT TARGET cairn::${t})
		message(FATAL_ERROR "no cairn::${t}")
	endif()
endforeach()
add_executable(app-shared app.c)
target_link_libraries(app-shared PRIVATE cairn::cairn ${CMAKE_DL_LIBS})
add_executable(app-static app.c)
target_link_libraries(app-static PRIVATE cairn::static ${CMAKE_DL_LIBS})
add_executable(app-prefixed app-prefixed.c)
target_link_libraries(app-prefixed PRIVATE cairn::prefixed ${CMAKE_DL_LIBS})
add_executable(app-prefixed-static app-prefixed.c)
target_link_libraries(app-prefixed-static PRIVATE cairn::prefixed_static ${CMAKE_DL_LIBS})
EOF
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$stage/usr" \
	-DCMAKE_C_COMPILER="$CC" >"$work/cmake.log" 2>&1 &&
	cmake --build "$work/cm/build" >>"$work/cmake.log" 2>&1
rc=$?
check $rc "find_package(cairn) and its four targets build with CMake"
[[ $rc == 0 ]] || show "$work/cmake.log"
if [[ $rc == 0 ]]; then
	grep -q "$stage/$libdir/cmake/cairn" "$work/cm/build/CMakeCache.txt"
	check $? "CMake found the staged cairnConfig.cmake"
	runs cmake-shared "$work/cm/build/app-shared" "$staged_lib"
	runs cmake-static "$work/cm/build/app-static" "$work/cm/build/app-static"
	! LC_ALL=C readelf -d "$work/cm/build/app-static" | grep -q 'NEEDED.*libcairn'
	check $? "the cairn::static program does not need libcairn.so"
	runs_prefixed cmake-prefixed "$work/cm/build/app-prefixed" "$staged_prefixed"
	runs_prefixed cmake-prefixed-static "$work/cm/build/app-prefixed-static" \
		"$work/cm/build/app-prefixed-static"
fi

# The man page.
page=$stage/usr/share/man/man3/cairn.3
groff -man -Tutf8 -ww -z "$page" >"$work/groff.err" 2>&1 && [[ ! -s $work/groff.err ]]
check $? "groff renders cairn(3) without a warning: $(head -c 300 "$work/groff.err")"
grep -q '^\.TH CAIRN 3 ' "$page" && grep -q '^\.SH SYNOPSIS' "$page" && grep -q '^\.SH OPTIONS' "$page"
check $? "cairn(3) has its title, SYNOPSIS and OPTIONS"
missing=
for name in $(grep -oE '^CONF_(BOOL|UINT|SIZE|MS|I64|STRING|ENUM)\([a-z_]+' \
	"$root/src/control/options.def" | cut -d'(' -f2); do
	grep -q "^\.BR $name \" (" "$page" || missing="$missing $name"
done
[[ -z $missing ]]
check $? "cairn(3)'s OPTIONS lack:$missing"
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$page")
missing=
for fn in $(cat "$root/include/cairn.h" "$root/include/cairn/jemalloc.h" |
	grep -oE '^[a-z_ ]+[ *]\(?\*?([a-z_0-9]+)\(' | grep -oE '[a-z_0-9]+\($' | tr -d '('); do
	grep -qE "(^|[ *])$fn\(" <<<"$synopsis" || missing="$missing $fn"
done
[[ -z $missing ]]
check $? "cairn(3)'s SYNOPSIS lacks functions of the headers:$missing"

page1=$stage/usr/share/man/man1/cairn.1
groff -man -Tutf8 -ww -z "$page1" >"$work/groff1.err" 2>&1 && [[ ! -s $work/groff1.err ]] &&
	grep -q '^\.TH CAIRN 1 ' "$page1"
check $? "groff renders cairn(1) without a warning: $(head -c 300 "$work/groff1.err")"

# The command, written for the paths it will have once installed.
grep -qF 'library="/'"$libdir"'/libcairn.so.0"' "$stage/usr/bin/cairn" &&
	grep -qF 'sys.path.insert(0, "/'"$libdir"'/cairn")' "$stage/usr/bin/cairn" &&
	[[ $(head -n 1 "$stage/usr/bin/cairn") == '#!/usr/bin/python3' ]]
check $? "usr/bin/cairn names /$libdir/libcairn.so.0 and /$libdir/cairn, not the stage's"
cmp -s "$root/build/cairn/options.tsv" "$stage/$libdir/cairn/options.tsv"
check $? "the installed options table is build/cairn/options.tsv"

# make uninstall.
mk -s uninstall "${dirs[@]}" >"$work/uninstall.log" 2>&1
check $? "make uninstall ${dirs[*]#DESTDIR=*}"
listing "$stage" >"$work/left"
[[ ! -s $work/left ]]
check $? "make uninstall leaves none of cairn's files: $(head -c 300 "$work/left")"
for f in "${others[@]}"; do
	[[ $(cat "$stage/$f" 2>/dev/null) == "$f" ]]
	check $? "make uninstall keeps another package's $f"
done
[[ ! -e $stage/usr/include/cairn && ! -e $stage/$libdir/cmake/cairn && ! -e $stage/$libdir/cairn ]]
check $? "make uninstall removes include/cairn, cmake/cairn and the command's folder"

# Header dependencies, on an up-to-date tree.
mk -q all
check $? "the tree is built (make -q all)"
objs=$(cd "$root" && ls src/*/*.c | sed 's/\.c$//')
# rebuilds HEADER: the objects make -n -W HEADER would compile, in one folder.
rebuilds() {
	mk -n -W "$1" all | grep -oE " -c -o build/$2/src/[a-z_/0-9]+\.o" |
		sed "s| -c -o build/$2/||; s|\.o$||" | sort
}
for header in include/cairn/jemalloc.h src/core/stats.h src/core/util.h build/gen/sizeclass_table.h; do
	want=$(for o in $objs; do
		(cd "$root" && "$CC" -MM -Iinclude -Isrc -Ibuild/gen "$o.c") | tr -d '\\\n' |
			grep -qE "[ ]$header( |$)" && echo "$o"
	done | sort)
	[[ -n $want && $(wc -l <<<"$want") -lt $(wc -l <<<"$objs") ]]
	check $? "$header is included by some objects, not all ($(wc -l <<<"$want"))"
	for dir in obj obj-dlopen; do
		got=$(rebuilds "$header" "$dir")
		[[ $got == "$want" ]]
		check $? "a newer $header rebuilds in build/$dir exactly: $(echo $want) (make: $(echo $got))"
	done
done

# The packager's flags.
lines=$(mk -n -W src/core/util.c CPPFLAGS=-DCAIRN_TEST_CPPFLAGS CFLAGS=-DCAIRN_TEST_CFLAGS \
	LDFLAGS=-Wl,--cairn-test-ldflags all)
plain=$(mk -n -W src/core/util.c all)
for dir in obj obj-dlopen; do
	compile=$(grep -E -- "-c -o build/$dir/src/core/util\.o" <<<"$lines")
	grep -qE -- '-DCAIRN_TEST_CPPFLAGS .*-fno-builtin-malloc.* -DCAIRN_TEST_CFLAGS' <<<"$compile"
	check $? "CPPFLAGS before cairn's flags and CFLAGS after them in build/$dir's compile line"
done
for out in lib/libcairn.so.0 lib/libcairn-dlopen.so; do
	grep -E -- "-o $out " <<<"$lines" | grep -q -- '-Wl,--cairn-test-ldflags'
	check $? "LDFLAGS reach the link line of $out"
done
! grep -q 'CAIRN_TEST\|cairn-test' <<<"$plain"
check $? "without them, the lines have none of them"

checks_done
