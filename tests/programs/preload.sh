#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# preload.sh: cairn really loads into programs through LD_PRELOAD; and the helpers that the
# other scripts in this folder source.
#
# Run as a test, it checks for a few basic programs (cat, sh, python3, perl) that preloading
# $CAIRN_LIB takes effect: cairn prints its "cairn: options:" line at start-up when
# MALLOC_CONF=confirm_conf:true, and the library shows in the program's /proc/PID/maps. Each
# program script then runs its workload once without and once with cairn and compares the
# outputs; the helpers below do the bookkeeping:
#   check DESCRIPTION COMMAND...   one check: passes when COMMAND exits 0
#   require_cairn COMMAND...       COMMAND, preloaded, prints cairn's start-up line
#   maps_show_cairn COMMAND...     COMMAND, preloaded and waiting on its stdin, maps libcairn
#   run_twice FUNCTION             FUNCTION without cairn, then with it, in fresh directories;
#                                  checks that both exit 0 and print the same
#   finish                         prints the tally, removes the work folder, sets the exit code
#   start_server [ARGS...], stop_server, alive, stop_leftover_servers, free_port
#                                  redis-server on 127.0.0.1 for the redis scripts (below)
# $work is a fresh temporary folder, removed on exit.

set -u
CAIRN_ROOT=${CAIRN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CAIRN_LIB=${CAIRN_LIB:-$CAIRN_ROOT/lib/libcairn.so.0}
export CAIRN_ROOT CAIRN_LIB
unset LD_PRELOAD MALLOC_CONF
# Debian's python3 over any other on the PATH (a version manager's shim is a script).
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)

checks_passed=0
checks_failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-programs.XXXXXX")
cleanup_hooks=()
cleanup() {
	local hook
	for hook in "${cleanup_hooks[@]}"; do
		$hook
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# check WHAT COMMAND...: one check, passing when COMMAND succeeds. A script
# that runs the same checks on several allocators sets check_on to the one
# running, and a failure names it.
check() {
	local what=$1
	shift
	if "$@"; then
		checks_passed=$((checks_passed + 1))
	else
		checks_failed=$((checks_failed + 1))
		echo "check failed${check_on:+ on $check_on}: $what" >&2
	fi
}

require_cairn() {
	LD_PRELOAD=$CAIRN_LIB MALLOC_CONF=confirm_conf:true "$@" </dev/null 2>&1 >/dev/null |
		grep -q '^cairn: options:'
}

# Starts COMMAND with cairn preloaded and its stdin on a fifo, waits until its
# /proc/PID/maps lists libcairn (up to 5 s), then closes the fifo so that it ends.
maps_show_cairn() {
	local fifo="$work/stdin.$$.fifo" pid fd found=1 i
	mkfifo "$fifo" || return 1
	LD_PRELOAD=$CAIRN_LIB "$@" <"$fifo" >/dev/null 2>&1 &
	pid=$!
	exec {fd}>"$fifo"
	for ((i = 0; i < 100; i++)); do
		if grep -q 'libcairn' "/proc/$pid/maps" 2>/dev/null; then
			found=0
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	exec {fd}>&-
	wait "$pid"
	rm -f "$fifo"
	return $found
}

# run_twice FUNCTION: FUNCTION runs in $work/plain and then in $work/cairn (with LD_PRELOAD
# for everything it starts); its stdout goes to $work/MODE.out, its stderr to $work/MODE.err.
run_twice() {
	local fn=$1 mode rc_plain rc_cairn
	for mode in plain cairn; do
		rm -rf "${work:?}/$mode"
		mkdir -p "$work/$mode"
		(
			cd "$work/$mode" || exit 1
			[[ $mode == cairn ]] && export LD_PRELOAD=$CAIRN_LIB
			"$fn"
		) >"$work/$mode.out" 2>"$work/$mode.err"
		printf -v "rc_$mode" '%d' $?
	done
	check "$fn exits 0 without cairn (exit $rc_plain)" [ "$rc_plain" -eq 0 ]
	check "$fn exits 0 with cairn (exit $rc_cairn)" [ "$rc_cairn" -eq 0 ]
	check "$fn prints something" [ -s "$work/plain.out" ]
	check "$fn prints the same with and without cairn" cmp -s "$work/plain.out" "$work/cairn.out"
	if [[ $rc_plain -ne 0 || $rc_cairn -ne 0 ]] || ! cmp -s "$work/plain.out" "$work/cairn.out"; then
		echo "--- stderr without cairn" >&2
		tail -n 20 "$work/plain.err" >&2
		echo "--- stderr with cairn" >&2
		tail -n 20 "$work/cairn.err" >&2
		echo "--- output diff (without < > with)" >&2
		diff "$work/plain.out" "$work/cairn.out" | head -n 20 >&2
	fi
}

finish() {
	echo "checks: $checks_passed passed, $checks_failed failed"
	[[ $checks_failed -eq 0 && $checks_passed -gt 0 ]]
}

# ---------------------------------------------------------------- redis-server
# For redis.sh and redis_memory.sh: a server on 127.0.0.1 without persistence, run in the
# current directory (its pid file there, for stop_leftover_servers, which those scripts add to
# cleanup_hooks).

# Kills any server a run left behind (the runs write their pid files under $work).
stop_leftover_servers() {
	local f pid
	for f in "$work"/*/redis.pid; do
		[[ -f $f ]] || continue
		pid=$(<"$f")
		kill -9 "$pid" 2>/dev/null
	done
}

# A port on 127.0.0.1 that nothing listens on, from 21000 up.
free_port() {
	local p
	for ((p = ${1:-21000}; p < 22000; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Starts redis-server in the current directory, with ARGS added to its options; sets port and
# pid. Retries on another port if the server cannot bind (another process may have taken the
# port meanwhile).
start_server() {
	local try i
	port=20999
	for ((try = 0; try < 5; try++)); do
		port=$(free_port $((port + 1))) || return 1
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--daemonize no --dir "$PWD" --logfile "$PWD/redis.log" "$@" &
		pid=$!
		echo "$pid" >redis.pid
		for ((i = 0; i < 100; i++)); do
			# The server that answers must be this one: another test
			# running beside this one may have taken the same free
			# port first, and this server then exits on its bind.
			if redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
				grep -qx "process_id:$pid"$'\r'; then
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	return 1
}

stop_server() {
	local i
	redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	local rc=$?
	rm -f redis.pid
	return $rc
}

# Fails the session at once if the server has died.
alive() {
	kill -0 "$pid" 2>/dev/null && return 0
	echo "redis-server died; the end of its log:" >&2
	tail -n 20 redis.log >&2
	wait "$pid"
	echo "its exit status: $?" >&2
	rm -f redis.pid
	return 1
}

# ---------------------------------------------------------------- run as a test
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	check "$CAIRN_LIB exists" [ -r "$CAIRN_LIB" ]
	check "cairn starts in cat" require_cairn cat /dev/null
	check "cairn starts in sh" require_cairn sh -c 'echo hello'
	check "cairn starts in python3" require_cairn "$PYTHON" -c pass
	check "cairn starts in perl" require_cairn perl -e 1
	check "libcairn is mapped in cat" maps_show_cairn cat
	check "libcairn is mapped in python3" maps_show_cairn "$PYTHON" -
	check "without confirm_conf cairn prints nothing" \
		[ -z "$(LD_PRELOAD=$CAIRN_LIB sh -c 'echo ok >/dev/null' 2>&1)" ]
	# A pipeline of preloaded programs passing data along.
	check "a preloaded pipeline works" [ "$(seq 1 100000 | LD_PRELOAD=$CAIRN_LIB sort -r |
		LD_PRELOAD=$CAIRN_LIB awk '{ s += $1 } END { printf "%.0f\n", s }')" = 5000050000 ]
	finish
	exit $?
fi
