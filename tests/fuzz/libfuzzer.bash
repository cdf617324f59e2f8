# SPDX-License-Identifier: MIT
# Sourced by tests/fuzz/<target>.sh: runs build/fuzz/<target>, a libFuzzer binary, and reports
# the runs it made and the coverage it reached (libFuzzer's final "cov: N ft: M": N edges of
# the instrumented code, M finer features). The target name is $target, its options for a run
# in `make test` are $test_runs and $test_seconds, and any more libFuzzer flags are in
# $target_flags.
#
#   tests/fuzz/<target>.sh            (make test) from no corpus, -seed=1, at most $test_runs
#                                     inputs or $test_seconds seconds
#   tests/fuzz/<target>.sh CORPUS     (make fuzz-lib) grows CORPUS for $FUZZ_SECONDS seconds
# A crash, a leak of the model's blocks or a failed check stops it; the input is saved as
# build/fuzz/crash-* and `build/fuzz/<target> build/fuzz/crash-...` repeats it.
set -u
root=${CAIRN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=$root/build/fuzz/$target
if [[ ! -x $bin ]]; then
	echo "skipped: $bin is not built (it needs clang with the libFuzzer runtime)"
	echo "checks: 0 passed, 0 failed"
	exit 0
fi
mkdir -p "$root/build/fuzz"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [[ $# -gt 0 ]]; then
	"$bin" -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 \
		-artifact_prefix="$root/build/fuzz/" $target_flags "$1" >"$log" 2>&1
else
	"$bin" -seed=1 -runs="$test_runs" -max_total_time="$test_seconds" -print_final_stats=1 \
		-artifact_prefix="$root/build/fuzz/" $target_flags >"$log" 2>&1
fi
rc=$?
grep -vE '^(INFO|#[0-9]+\s+(NEW|REDUCE|pulse))' "$log" | tail -n 40
final=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
secs=$(sed -nE 's/^stat::slowest_unit_time_sec.*//; s/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log")
cov=$(sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov: \1 ft: \2 corp: \3/p' <<<"$final")
echo "libfuzzer $target: ${runs:-?} runs in ${secs:-?} s, ${cov:-no coverage line}, exit $rc"
if [[ $rc -eq 0 && -n $cov ]]; then
	echo "checks: 1 passed, 0 failed"
	exit 0
fi
echo "checks: 0 passed, 1 failed"
exit 1
