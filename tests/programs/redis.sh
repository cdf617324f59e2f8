#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# redis.sh: redis-server under cairn, a long-running threaded server (it has I/O and background
# threads). Debian's redis is linked with jemalloc, but its malloc/free/realloc calls bind to
# cairn when cairn is preloaded (its statistics calls still reach jemalloc, so INFO keeps naming
# jemalloc). Each run starts a server on 127.0.0.1 at a free port without persistence, runs
# redis-benchmark (20,000 requests from 20 clients), mass-inserts keys, runs a Lua script and
# reads back strings, lists, hashes, sorted sets and a big value; what it reads back must be the
# same with and without cairn (the benchmark's timings are only printed). The server always gets
# shut down, and killed by the exit trap if anything goes wrong.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"
cleanup_hooks+=(stop_leftover_servers)

check "cairn starts in redis-server" require_cairn redis-server --version
check "cairn starts in redis-cli" require_cairn redis-cli --version

# Everything printed on stdout here must be the same in both runs; the rest goes to stderr.
session() {
	start_server || {
		echo "redis-server did not start" >&2
		cat redis.log >&2
		return 1
	}
	if [[ -n ${LD_PRELOAD:-} ]] && ! grep -q libcairn "/proc/$pid/maps"; then
		echo "libcairn is not mapped in redis-server" >&2
		stop_server
		return 1
	fi
	local cli=(redis-cli -h 127.0.0.1 -p "$port")

	timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -c 20 -q \
		-t set,get,lpush,lpop,incr 2>&1 | tr '\r' '\n' | grep -E 'requests per second' >&2
	alive || return 1
	echo "benchmark counter: $("${cli[@]}" get counter:__rand_int__)"
	echo "benchmark list length: $("${cli[@]}" llen mylist)"
	"${cli[@]}" flushall

	# Mass insertion: 100,000 strings, then lists, hashes and sorted sets.
	awk 'BEGIN {
		for (i = 0; i < 100000; i++)
			printf "SET key:%d value-%d-%s\r\n", i, i * 7, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26)
		for (i = 0; i < 20000; i++)
			printf "RPUSH list:%d item-%d\r\n", i % 100, i
		for (i = 0; i < 20000; i++)
			printf "HSET hash:%d field-%d %d\r\n", i % 50, i, i * i % 1000
		for (i = 0; i < 20000; i++)
			printf "ZADD zset:%d %d member-%d\r\n", i % 10, (i * 7919) % 100000, i
	}' | "${cli[@]}" --pipe | tail -n 1
	alive || return 1
	"${cli[@]}" dbsize
	"${cli[@]}" mget key:0 key:12345 key:99999
	"${cli[@]}" lrange list:7 0 5
	"${cli[@]}" llen list:99
	"${cli[@]}" hlen hash:3
	"${cli[@]}" hget hash:3 field-1003
	"${cli[@]}" zrange zset:4 0 4 withscores
	"${cli[@]}" zcard zset:9
	"${cli[@]}" sort list:5 by nosort limit 0 3 alpha

	# A value that grows to a few MiB, appended to in pieces (reallocs in the server).
	local piece
	piece=$(head -c 65536 /dev/zero | tr '\0' 'x')
	for ((i = 0; i < 48; i++)); do
		"${cli[@]}" append big "$piece" >/dev/null
	done
	alive || return 1
	"${cli[@]}" strlen big
	"${cli[@]}" getrange big 1000 1010
	"${cli[@]}" setrange big 2000000 "marker" >/dev/null
	"${cli[@]}" getrange big 1999998 2000007

	# Lua allocates through the server's allocator too.
	"${cli[@]}" eval '
		local t = {}
		for i = 1, 50000 do t[i] = string.rep("z", i % 50) .. i end
		local s = table.concat(t, ",")
		local n = 0
		for i = 1, #t do n = n + #t[i] end
		return {#s, n, redis.call("GET", "key:42")}' 0

	alive || return 1
	# Deletes and counts again.
	"${cli[@]}" eval 'for i = 0, 99999, 2 do redis.call("DEL", "key:" .. i) end return 1' 0
	"${cli[@]}" dbsize
	"${cli[@]}" info memory | grep -E '^(mem_allocator|used_memory):' >&2
	local used
	used=$("${cli[@]}" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
	[[ $used -gt 1000000 ]] && echo "used_memory above 1 MB"
	"${cli[@]}" flushall
	alive || return 1
	stop_server
}

run_twice session
echo "benchmark with cairn:"
grep -E 'requests per second|mem_allocator|used_memory' "$work/cairn.err"
head -n 3 "$work/cairn.out"
finish
