# SPDX-License-Identifier: MIT
# The shell tests' counterpart of check.h, sourced by tests/tree/*.sh and
# tests/link/*.sh:
#   check STATUS DESCRIPTION   one check: passes when STATUS is 0, else
#                              prints "check failed: DESCRIPTION"
#   checks_done                prints the tally tests/run.sh reads and
#                              returns 0 when every check passed
passed=0
failed=0
check() {
	if [[ $1 == 0 ]]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "check failed: $2" >&2
	fi
}
checks_done() {
	echo "checks: $passed passed, $failed failed" >&2
	[[ $failed == 0 && $passed -gt 0 ]]
}
