#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each test given on the command line (an executable or a .sh script)
# with a time limit, and ends with the line "N passed, M failed". A test
# passes when it exits 0. The checks inside each test are tallied too (its
# last line "checks: N passed, M failed").
#
#   tests/run.sh [-j N] TEST...
#
# -j N (or JOBS=N in the environment) runs N tests at a time; the default is
# one. Each test's result and, when it fails, the end of its output are
# printed whole once it is done, in the order given. A test whose source
# file (tests/DIR/NAME.c, .cc or .sh, whatever build folder the program is
# in) holds the tag "run.sh: alone" does not run beside others: with -j it
# runs after the rest, one at a time. The logs are in build/test-logs/.
# TEST_TIMEOUT sets the time limit of each test in seconds (default 300).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
export CAIRN_LIB="$root/lib/libcairn.so.0"
export CAIRN_ROOT="$root"
limit=${TEST_TIMEOUT:-300}
jobs=${JOBS:-1}
case ${1:-} in
-j)
	jobs=${2:-}
	shift 2
	;;
-j*)
	jobs=${1#-j}
	shift
	;;
esac
if ! [[ $jobs =~ ^[0-9]+$ && $jobs -ge 1 ]]; then
	echo "run.sh: -j wants a number of tests at a time, 1 or more (got '$jobs')" >&2
	exit 2
fi
passed=0 failed=0 checks_ok=0 checks_bad=0
failed_names=()
logdir="$root/build/test-logs"
mkdir -p "$logdir"

tests=("$@")
names=() logs=()
for t in "${tests[@]}"; do
	name=${t#"$root"/}
	name=${name#build/tests/}
	names+=("$name")
	logs+=("$logdir/$(echo "$name" | tr '/' '_').log")
done

# Whether test i is tagged to run alone.
alone() {
	local rel=${names[$1]##*tests/} src
	for src in "$root/tests/$rel" "$root/tests/$rel.c" "$root/tests/$rel.cc"; do
		[[ -f $src ]] && grep -q 'run\.sh: alone' "$src" && return 0
	done
	return 1
}

# Runs test i; its output goes to its log, "EXIT-STATUS SECONDS" to the log's .rc.
run_test() {
	local t=${tests[$1]} log=${logs[$1]} start=$EPOCHREALTIME rc
	rm -f "$log.rc"
	if [[ $t == *.sh ]]; then
		timeout -k 10 "$limit" bash "$t" >"$log" 2>&1
	else
		timeout -k 10 "$limit" "$t" >"$log" 2>&1
	fi
	rc=$?
	echo "$rc $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" \
		>"$log.tmp" && mv "$log.tmp" "$log.rc"
}

# Prints the result of test i and counts it.
report() {
	local name=${names[$1]} log=${logs[$1]} rc=125 secs=0 tally ok bad
	[[ -e $log.rc ]] && read -r rc secs <"$log.rc" # none: its runner was killed
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
}

if [[ $jobs -eq 1 ]]; then
	for i in "${!tests[@]}"; do
		run_test "$i"
		report "$i"
	done
else
	together=() by_itself=()
	for i in "${!tests[@]}"; do
		if alone "$i"; then
			by_itself+=("$i")
		else
			together+=("$i")
		fi
	done
	trap 'kill $(jobs -p) 2>/dev/null' EXIT
	pids=() started=0 shown=0 running=0
	while [[ $shown -lt ${#together[@]} ]]; do
		while [[ $running -lt $jobs && $started -lt ${#together[@]} ]]; do
			run_test "${together[$started]}" &
			pids[$started]=$!
			started=$((started + 1))
			running=$((running + 1))
		done
		wait -n
		running=$(jobs -pr | wc -l)
		# In order: each test whose runner is done, up to the first still running.
		while [[ $shown -lt $started ]]; do
			i=${together[$shown]}
			[[ -e ${logs[$i]}.rc ]] || ! kill -0 "${pids[$shown]}" 2>/dev/null || break
			report "$i"
			shown=$((shown + 1))
		done
	done
	wait
	for i in "${by_itself[@]}"; do
		run_test "$i"
		report "$i"
	done
fi
echo
echo "checks inside the tests: $checks_ok passed, $checks_bad failed"
[[ $failed -gt 0 ]] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
