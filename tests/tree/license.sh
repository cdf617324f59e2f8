#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# license.sh: the tree says under which terms it may be used. LICENSE holds
# the MIT license of "the cairn authors", and every source file (C, C++,
# headers, assembly, shell, Python, Rust, Cargo manifests, make files, the
# linker map, the pkg-config and man page templates, SQL) names it in an SPDX-License-Identifier line near its top.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

grep -q '^MIT License$' LICENSE 2>/dev/null && grep -q 'the cairn authors' LICENSE
check $? "LICENSE is the MIT license of the cairn authors"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files)
else
	files=$(find . -path ./build -prune -o -path ./lib -prune -o -type f -print | sed 's|^\./||')
fi
n=0
while IFS= read -r f; do
	case $f in
	*.c | *.h | *.cc | *.def | *.sh | *.py | *.map | *.in | *.sql | *.rs | *.toml | *.bash | *.S | Makefile | */Makefile | *.mk | .ci/run) ;;
	*) continue ;;
	esac
	n=$((n + 1))
	head -3 "$f" | grep -q 'SPDX-License-Identifier: MIT'
	check $? "$f has no SPDX-License-Identifier: MIT line in its first three lines"
done <<<"$files"
[[ $n -gt 50 ]]
check $? "only $n source files found"
echo "source files with the SPDX line: $n" >&2
checks_done
