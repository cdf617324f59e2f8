#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rust.sh: the Rust crates in bindings/rust (README, "Rust") pass their
# tests, `cargo test --offline`, with the default features (the prefixed
# archive, cairn beside the system allocator) and with `override` (libcairn.a,
# cairn as the process's malloc). cairn-sys builds cairn itself with make,
# into the cargo target folder, build/rust. Every test must run (at least one
# passed in each test binary that has tests), and the run must leave the
# committed Cargo.lock alone, in the format Debian 12's cargo (1.63) reads.
# A machine without cargo fails: .ci/run installs Debian's. CARGO names
# another cargo (CARGO=/usr/bin/cargo, to try the oldest supported).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cargo=${CARGO:-cargo}
ws=$root/bindings/rust
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-rust.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! command -v "$cargo" >/dev/null 2>&1; then
	echo "rust.sh: no $cargo on PATH: install Rust's cargo (Debian: apt-get install cargo)" >&2
	check 1 "cargo is installed"
	checks_done
	exit 1
fi
echo "$("$cargo" --version) with $(rustc --version 2>/dev/null)" >&2
lock_before=$(cat "$ws/Cargo.lock")

# run NAME ARGS...: cargo test with ARGS; its output in $work/NAME.
run() {
	local name=$1 rc with_tests empty
	shift
	(cd "$ws" && CARGO_TARGET_DIR=$root/build/rust "$cargo" test --offline "$@") \
		>"$work/$name" 2>&1
	rc=$?
	[[ $rc == 0 ]]
	check $? "cargo test --offline $* (exit $rc)"
	[[ $rc == 0 ]] || tail -n 40 "$work/$name" | sed 's/^/    | /' >&2
	# Test binaries with tests: the integration tests and the doctests
	# (the unit test binaries have none).
	with_tests=$(grep -c '^test result: ok\. [1-9][0-9]* passed' "$work/$name")
	empty=$(grep -c '^test result: ok\. 0 passed' "$work/$name")
	echo "$name: $with_tests test binaries passed, $empty without tests" >&2
	[[ $with_tests -ge 7 ]]
	check $? "$name: the 6 integration tests and the doctests ran (found $with_tests with tests)"
	grep -q '^test dump_writes_a_heap_profile \.\.\. ok$' "$work/$name" &&
		grep -q '^test c_malloc_block_is_cairns_only_with_override \.\.\. ok$' "$work/$name"
	check $? "$name: the profiler's and the C malloc's tests passed by name"
}

run prefixed
run override --features cairn/override

[[ $(cat "$ws/Cargo.lock") == "$lock_before" ]]
check $? "cargo left bindings/rust/Cargo.lock as committed"
grep -qx 'version = 3' "$ws/Cargo.lock"
check $? "bindings/rust/Cargo.lock is version 3, which cargo 1.63 reads"
checks_done
