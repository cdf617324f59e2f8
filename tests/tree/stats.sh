#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# stats.sh: every statistics counter is declared once, in src/core/stats.def,
# and README.md's statistics table is the one generated from it
# (tools/readme-stats.sh --check; `make readme-stats` rewrites it). Also
# that no statistic is declared outside the list: the structures that hold
# them (src/core/counters.h, src/core/stats.h) take their fields from it.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

tools/readme-stats.sh --check
check $? "README.md's statistics table is generated from src/core/stats.def"

n=$(grep -cE '^(TOTAL|GLOBAL|ARENA|ARENA_TOTAL|CLASS|CLASS_TOTAL|LEXTENT|LEXTENT_TOTAL)\(' src/core/stats.def)
[[ $n -ge 25 ]]
check $? "only $n statistics found in src/core/stats.def"
rows=$(sed -n '/^<!-- BEGIN stats table/,/^<!-- END stats table/p' README.md | grep -c '^| `')
[[ $rows == "$n" ]]
check $? "README.md's statistics table has $rows rows for $n statistics"
for f in src/core/counters.h src/core/stats.h; do
	grep -q '#include "core/stats.def"' "$f"
	check $? "$f takes its fields from src/core/stats.def"
done
echo "statistics: $n" >&2
checks_done
