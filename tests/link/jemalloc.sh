#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jemalloc.sh: a program written for jemalloc runs on cairn unchanged. tests/link/jemalloc_client.c
# (mallocx, rallocx, xallocx, sallocx, nallocx, sdallocx, dallocx, free, malloc_usable_size and
# mallctl, checked as it goes) is built two ways:
#   (a) against Debian's <jemalloc/jemalloc.h>, linked -ljemalloc (libjemalloc-dev): run once
#       as it is, on jemalloc, expecting jemalloc's version from mallctl("version"), which shows
#       that the program itself is right; then with cairn preloaded, expecting cairn's version;
#       and once more on jemalloc expecting cairn's, which must fail (the version check tells
#       the two apart);
#   (b) against cairn's <cairn/jemalloc.h> (-DUSE_CAIRN_HEADER), linked -lcairn with the build's
#       lib/ as its run path.
# Each run must exit 0 and print nothing on stderr. Where libjemalloc-dev is not installed the
# (a) runs are left out with a message, and the test fails (.ci/run installs it).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lib=${CAIRN_LIB:-$root/lib/libcairn.so.0}
src=$root/tests/link/jemalloc_client.c
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-jemalloc.XXXXXX")
trap 'rm -rf "$work"' EXIT
flags=(-std=gnu11 -O1 -g -Wall -Wextra -Werror)

cairn_version=$(sed -n 's/^#define CAIRN_VERSION[ \t]*"\(.*\)"$/\1/p' "$root/include/cairn.h")
[[ -n $cairn_version ]]
check $? "include/cairn.h defines CAIRN_VERSION"

# clean NAME EXPECTED-VERSION [ENV...] -- COMMAND: runs it; exit 0 and an empty stderr.
clean() {
	local name=$1 want=$2 rc
	shift 2
	env "$@" "$work/$name" "$want" >"$work/$name.$want.out" 2>"$work/$name.$want.err"
	rc=$?
	check $rc "$name ($*) expecting version $want: exit $rc"
	[[ ! -s $work/$name.$want.err ]]
	check $? "$name ($*) expecting version $want: nothing on stderr"
	grep -q '^jemalloc_client: [0-9]* checks, 0 failed$' "$work/$name.$want.out"
	check $? "$name ($*) reports its checks: $(head -c 200 "$work/$name.$want.out")"
	if [[ $rc != 0 || -s $work/$name.$want.err ]]; then
		tail -n 20 "$work/$name.$want.err" | sed 's/^/    | /' >&2
	fi
}

# (a) Debian's jemalloc header and library.
header=$("$CC" -E -x c - <<<'#include <jemalloc/jemalloc.h>' 2>/dev/null |
	sed -n 's|^# [0-9]* "\(/[^"]*jemalloc/jemalloc\.h\)".*|\1|p' | head -n 1)
if [[ -z $header ]]; then
	echo "no <jemalloc/jemalloc.h>: install libjemalloc-dev (.ci/run does)" >&2
	check 1 "libjemalloc-dev is installed"
else
	jemalloc_version=$(sed -n 's/^#define JEMALLOC_VERSION "\(.*\)"$/\1/p' "$header")
	[[ $jemalloc_version == [0-9]* ]]
	check $? "$header defines JEMALLOC_VERSION ($jemalloc_version)"
	"$CC" "${flags[@]}" -o "$work/with-jemalloc" "$src" -ljemalloc -ldl >"$work/build-a.log" 2>&1
	rc=$?
	check $rc "cc jemalloc_client.c -ljemalloc builds"
	[[ $rc == 0 ]] || sed 's/^/    | /' "$work/build-a.log" >&2
	if [[ $rc == 0 ]]; then
		LC_ALL=C readelf -d "$work/with-jemalloc" | grep -q 'NEEDED.*libjemalloc'
		check $? "the -ljemalloc build needs libjemalloc"
		clean with-jemalloc "$jemalloc_version" -u LD_PRELOAD -u MALLOC_CONF
		clean with-jemalloc "$cairn_version" -u MALLOC_CONF LD_PRELOAD="$lib"
		# Without cairn the program must notice that mallctl is not cairn's.
		env -u LD_PRELOAD "$work/with-jemalloc" "$cairn_version" >/dev/null 2>"$work/neg.err"
		rc=$?
		[[ $rc == 1 ]] && grep -q 'version "' "$work/neg.err"
		check $? "on jemalloc alone, expecting cairn's version fails (exit $rc)"
	fi
fi

# (b) cairn's header and library.
"$CC" "${flags[@]}" -DUSE_CAIRN_HEADER -I"$root/include" -o "$work/with-cairn" "$src" \
	-L"$root/lib" -lcairn -Wl,-rpath,"$root/lib" -ldl >"$work/build-b.log" 2>&1
rc=$?
check $rc "cc -DUSE_CAIRN_HEADER jemalloc_client.c -lcairn builds"
[[ $rc == 0 ]] || sed 's/^/    | /' "$work/build-b.log" >&2
if [[ $rc == 0 ]]; then
	! LC_ALL=C readelf -d "$work/with-cairn" | grep -q 'NEEDED.*libjemalloc'
	check $? "the -lcairn build does not need libjemalloc"
	clean with-cairn "$cairn_version" -u LD_PRELOAD -u MALLOC_CONF
fi

checks_done
