#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# redis_memory.sh: redis-server's memory reports tell the truth with cairn preloaded. Debian's
# redis is linked with jemalloc and reads the allocator through mallctl ("stats.allocated",
# "stats.active", "stats.resident", "arenas.narenas", "arena.<i>.purge") and prints its report
# with malloc_stats_print; preloaded, cairn answers those. One server on 127.0.0.1 at a free
# port, without persistence, is filled by DEBUG POPULATE with 1,000,000 values of 128 bytes
# (about 230 MB), then:
#   - INFO memory: allocator_allocated within 10% of used_memory (redis's own count of what it
#     holds, through malloc_usable_size), allocator_resident within 10% of the process's VmRSS
#     (/proc/PID/status, read at the same moment), allocated <= active <= resident;
#   - MEMORY STATS: parses; its allocator figures agree with each other (the fragmentation and
#     RSS ratios and byte counts are the quotients and differences of allocated, active and
#     resident) and allocator.allocated is within 10% of total.allocated;
#   - MEMORY DOCTOR: the sentence redis prints for a healthy instance (src/object.c,
#     memoryDoctorReport), no false alarm;
#   - every key deleted (DEL from a Lua loop; not FLUSHALL, after which redis purges by itself),
#     then MEMORY PURGE: the server runs with MALLOC_CONF=dirty_decay_ms:-1 so that nothing but
#     the purge gives the freed pages back; RSS with the keys deleted must still hold most of
#     the data (else the drop after the purge would prove nothing), and after MEMORY PURGE at
#     least 75% of what the data added to RSS must be gone (the rest: what redis keeps, such as
#     its emptied tables before they shrink, and partly used slabs), allocator_resident too;
#   - MEMORY MALLOC-STATS: cairn's report ("___ Begin cairn statistics ___"), and the server
#     still alive after it.
# The figures are printed for the log. The server is always shut down (exit trap).
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"
cleanup_hooks+=(stop_leftover_servers)

KEYS=1000000
VALUE_BYTES=128
HEALTHY="Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."

check "cairn starts in redis-server" require_cairn redis-server --version

# within A B PERCENT: |A - B| <= PERCENT% of B.
within() {
	local a=$1 b=$2 pct=$3 d
	d=$((a > b ? a - b : b - a))
	[[ $b -gt 0 && $((d * 100)) -le $((b * pct)) ]]
}

# field NAME FILE: the value of "NAME:value" in an INFO reply.
field() {
	tr -d '\r' <"$2" | awk -F: -v k="$1" '$1 == k { print $2 }'
}

vmrss_bytes() {
	awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$pid/status"
}

# INFO's allocator figures are sampled by redis's cron (hz 10): waits for a fresh sample.
settle() {
	sleep 0.3
}

# session ALLOCATOR: the checks on a server running on ALLOCATOR (cairn, preloaded, or jemalloc,
# which Debian's redis is linked with: the reference that shows the checks themselves are right).
session() {
	local allocator=$1
	echo "--- redis-server on $allocator"
	export MALLOC_CONF=dirty_decay_ms:-1
	[[ $allocator == cairn ]] && export LD_PRELOAD=$CAIRN_LIB
	start_server --enable-debug-command local || {
		echo "redis-server did not start" >&2
		cat redis.log >&2
		return 1
	}
	unset LD_PRELOAD MALLOC_CONF
	local mapped=no want=no
	grep -q libcairn "/proc/$pid/maps" && mapped=yes
	[[ $allocator == cairn ]] && want=yes
	check "libcairn mapped in redis-server: $mapped" [ "$mapped" = "$want" ]
	local cli=(redis-cli -h 127.0.0.1 -p "$port")
	local rss_start
	rss_start=$(vmrss_bytes)

	timeout 60 "${cli[@]}" debug populate "$KEYS" key "$VALUE_BYTES" >populate.out
	check "DEBUG POPULATE: $(cat populate.out)" grep -qx OK populate.out
	alive || return 1
	check "dbsize is $KEYS" [ "$("${cli[@]}" dbsize)" = "$KEYS" ]
	settle

	# INFO memory.
	"${cli[@]}" info memory >info.txt
	local rss used allocated active resident
	rss=$(vmrss_bytes)
	used=$(field used_memory info.txt)
	allocated=$(field allocator_allocated info.txt)
	active=$(field allocator_active info.txt)
	resident=$(field allocator_resident info.txt)
	echo "mem_allocator: $(field mem_allocator info.txt) (redis's compile-time name)"
	echo "used_memory $used, allocator_allocated $allocated, allocator_active $active"
	echo "allocator_resident $resident, VmRSS $rss, used_memory_rss $(field used_memory_rss info.txt)"
	check "INFO memory has the allocator fields" \
		[ -n "$used" -a -n "$allocated" -a -n "$active" -a -n "$resident" ]
	check "used_memory $used holds the data" [ "${used:-0}" -gt $((KEYS * VALUE_BYTES)) ]
	check "allocator_allocated $allocated within 10% of used_memory $used" \
		within "${allocated:-0}" "${used:-0}" 10
	check "allocator_resident $resident within 10% of VmRSS $rss" \
		within "${resident:-0}" "${rss:-0}" 10
	check "allocated $allocated <= active $active <= resident $resident" \
		[ "${allocated:-1}" -le "${active:-0}" -a "${active:-1}" -le "${resident:-0}" ]

	# MEMORY STATS: a name on a line, its value on the next (db.0's value is a nested list,
	# whose names are not read here).
	"${cli[@]}" memory stats | tr -d '\r' >stats.txt
	stat() {
		awk -v k="$1" 'prev == k { print; exit } { prev = $0 }' stats.txt
	}
	local s_total s_alloc s_active s_resident
	s_total=$(stat total.allocated)
	s_alloc=$(stat allocator.allocated)
	s_active=$(stat allocator.active)
	s_resident=$(stat allocator.resident)
	check "MEMORY STATS parses: $(head -c 200 stats.txt)" \
		[ -n "$s_total" -a -n "$s_alloc" -a -n "$s_active" -a -n "$s_resident" ]
	check "MEMORY STATS keys.count is $KEYS" [ "$(stat keys.count)" = "$KEYS" ]
	check "MEMORY STATS allocator.allocated $s_alloc within 10% of total.allocated $s_total" \
		within "${s_alloc:-0}" "${s_total:-0}" 10
	check "MEMORY STATS allocator-fragmentation.bytes is active - allocated" \
		[ "$(stat allocator-fragmentation.bytes)" = $((s_active - s_alloc)) ]
	check "MEMORY STATS allocator-rss.bytes is resident - active" \
		[ "$(stat allocator-rss.bytes)" = $((s_resident - s_active)) ]
	# The ratios, to within a thousandth.
	awk -v r="$(stat allocator-fragmentation.ratio)" -v a="$s_active" -v b="$s_alloc" \
		'BEGIN { exit !(b > 0 && r - a / b < 0.001 && a / b - r < 0.001) }'
	check "MEMORY STATS allocator-fragmentation.ratio is active / allocated" [ $? -eq 0 ]
	awk -v r="$(stat allocator-rss.ratio)" -v a="$s_resident" -v b="$s_active" \
		'BEGIN { exit !(b > 0 && r - a / b < 0.001 && a / b - r < 0.001) }'
	check "MEMORY STATS allocator-rss.ratio is resident / active" [ $? -eq 0 ]

	# MEMORY DOCTOR.
	"${cli[@]}" memory doctor | tr -d '\r' >doctor.txt
	check "MEMORY DOCTOR finds nothing wrong: $(cat doctor.txt)" \
		[ "$(cat doctor.txt)" = "$HEALTHY" ]

	# Every key deleted, then MEMORY PURGE. Not FLUSHALL: redis purges by itself after a
	# synchronous FLUSHALL, and the purge under test would then find nothing left to do.
	local rss_full=$rss rss_deleted rss_purged purge resident_purged
	"${cli[@]}" eval "for i = 0, $((KEYS - 1)) do redis.call('DEL', 'key:' .. i) end return 1" 0 \
		>/dev/null
	check "every key deleted" [ "$("${cli[@]}" dbsize)" = 0 ]
	rss_deleted=$(vmrss_bytes)
	purge=$("${cli[@]}" memory purge | tr -d '\r')
	rss_purged=$(vmrss_bytes)
	settle
	"${cli[@]}" info memory >info2.txt
	resident_purged=$(field allocator_resident info2.txt)
	echo "VmRSS: at start $rss_start, full $rss_full, keys deleted $rss_deleted, after MEMORY PURGE $rss_purged"
	echo "after MEMORY PURGE: allocator_resident $resident_purged, used_memory $(field used_memory info2.txt)"
	local added=$((rss_full - rss_start))
	check "the data added to RSS ($added bytes)" [ "$added" -gt $((KEYS * VALUE_BYTES)) ]
	check "RSS with the keys deleted ($rss_deleted) still holds most of the data (decay is off)" \
		[ "$rss_deleted" -ge $((rss_start + added / 2)) ]
	check "MEMORY PURGE answers OK: $purge" [ "$purge" = OK ]
	check "RSS after MEMORY PURGE ($rss_purged) gave back 75% of the $added bytes the data added" \
		[ "$rss_purged" -le $((rss_start + added / 4)) ]
	# Small now against the process's code and libraries: a bound, not a ratio.
	check "allocator_resident after MEMORY PURGE ($resident_purged) at most VmRSS ($(vmrss_bytes))" \
		[ "${resident_purged:-1}" -le "$(vmrss_bytes)" ]
	check "allocator_resident after MEMORY PURGE fell to a quarter ($resident_purged, was $resident)" \
		[ "${resident_purged:-$resident}" -le $((resident / 4)) ]

	# MEMORY MALLOC-STATS: cairn's report; the server lives on.
	timeout 30 "${cli[@]}" memory malloc-stats | tr -d '\r' >malloc-stats.txt
	echo "MEMORY MALLOC-STATS begins: $(head -n 1 malloc-stats.txt)"
	check "MEMORY MALLOC-STATS prints $allocator's report" \
		grep -qx "___ Begin $allocator statistics ___" malloc-stats.txt
	check "redis-server is alive after MEMORY MALLOC-STATS" alive
	kill -0 "$pid" 2>/dev/null || return 0
	stop_server
	check "redis-server exits 0 on SHUTDOWN (exit $?)" [ $? -eq 0 ]
}

for allocator in jemalloc cairn; do
	check_on=$allocator
	mkdir -p "$work/$allocator"
	cd "$work/$allocator" || exit 1
	session "$allocator"
done
finish
