#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each test given on the command line (an executable or a .sh script),
# one at a time, with a time limit, and ends with the line "N passed, M failed".
# A test passes when it exits 0. The checks inside each test are tallied too.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
export CAIRN_LIB="$root/lib/libcairn.so.0"
export CAIRN_ROOT="$root"
limit=${TEST_TIMEOUT:-300}
passed=0 failed=0 checks_ok=0 checks_bad=0
failed_names=()
logdir="$root/build/test-logs"
mkdir -p "$logdir"
for t in "$@"; do
	name=${t#"$root"/}
	name=${name#build/tests/}
	log="$logdir/$(echo "$name" | tr '/' '_').log"
	start=$EPOCHREALTIME
	if [[ $t == *.sh ]]; then
		timeout -k 10 "$limit" bash "$t" >"$log" 2>&1
	else
		timeout -k 10 "$limit" "$t" >"$log" 2>&1
	fi
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	tally=$(grep -E '^checks: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -n $tally ]]; then
		read -r _ ok _ bad _ <<<"$tally"
		checks_ok=$((checks_ok + ok))
		checks_bad=$((checks_bad + bad))
	fi
	if [[ $rc -eq 0 ]]; then
		passed=$((passed + 1))
		printf 'PASS  %-40s %6.2fs  %s\n' "$name" "$secs" "${tally#checks: }"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		printf 'FAIL  %-40s %6.2fs  exit %d  %s\n' "$name" "$secs" "$rc" "${tally#checks: }"
		sed -e 's/^/      | /' "$log" | tail -n 40
	fi
done
echo
echo "checks inside the tests: $checks_ok passed, $checks_bad failed"
[[ $failed -gt 0 ]] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
