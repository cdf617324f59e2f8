#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cairn_prof.sh: `cairn prof` (bin/cairn prof, tools/cairn/cairn_prof.py) on the heap
# profiles of a program whose allocation sites are known, built the Debian way (-O2, no frame pointers) and run with cairn
# preloaded, MALLOC_CONF=prof:true,prof_accum:true,lg_prof_sample:14 (16 KiB between samples
# on average: the estimates below deviate by under 2% from the truth, see jeprof.sh). It dumps
# through mallctl("prof.dump") between two phases:
#   phase 1: site_a keeps 24 MiB in 4 KiB blocks; site_c allocates and frees 200 MiB in 64 KiB
#            blocks (nothing live); dump 1
#   phase 2: site_a keeps 24 MiB more (48 MiB live); site_b keeps 16 MiB in 100 KiB blocks
#            (112 KiB usable each: 17.8 MiB); dump 2
# Checked, each figure within 10% of the truth the program prints:
#   top             site_a 48 MiB, site_b 17.8 MiB, site_c nothing live; --alloc: site_c 200 MiB;
#                   site_a's figure is jeprof's; progress shown on a terminal only
#   diff            site_a grew 24 MiB, site_b 17.8 MiB, and they lead the list
#   collapsed       every line "frame;...;frame bytes", summing to top's total
#   pprof           go tool pprof -top reads it: bytes, objects and allocated space per site,
#                   with our functions and, --addresses-only, with pprof's own symbolization
#   flame           headless chromium runs the page: the frames are drawn with widths in
#                   proportion to their bytes; search, zoom and the hover box work
#   --program       names the frames when the executable has moved
#   errors          a missing, empty or malformed file: one line on stderr, status 2
#   main(argv)      returns the status to the cairn command that imports it
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

PROF=("$CAIRN_ROOT/bin/cairn" prof)
export GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS= PPROF_TMPDIR=$work/pprof
export HOME=${HOME:-$work}
CHROMIUM=$(command -v chromium || command -v chromium-browser)
for tool in go:golang-go chromium:chromium addr2line:binutils; do
	if [[ $tool == chromium:* ]]; then
		found=$CHROMIUM
	else
		found=$(command -v "${tool%%:*}")
	fi
	check "${tool%%:*} installed (Debian package ${tool#*:})" test -n "$found"
	[[ -n $found ]] || {
		finish
		exit
	}
done

check "the program builds (-O2, no frame pointers)" \
	cc -O2 -g -fomit-frame-pointer -fno-builtin-malloc -fno-builtin-free -o "$work/sites" \
	"$CAIRN_ROOT/tests/programs/sites.c" -ldl

run_sites() {
	LD_PRELOAD=$CAIRN_LIB MALLOC_CONF=prof:true,prof_accum:true,lg_prof_sample:14,prof_prefix:$work/p \
		"$work/sites" >"$work/sites.out" 2>"$work/sites.err"
}
check "the program runs with prof:true and its two prof.dump calls succeed" run_sites
mapfile -t dumps < <(ls "$work"/p.*.m.heap 2>/dev/null | awk -F. '{ print $(NF - 2), $0 }' |
	sort -n | cut -d' ' -f2-)
check "two .m.heap dumps (found ${#dumps[@]})" test "${#dumps[@]}" -eq 2
if [[ ${#dumps[@]} -ne 2 ]]; then
	cat "$work/sites.err" >&2
	finish
	exit
fi
d1=${dumps[0]} d2=${dumps[1]}
read -r true_a1 < <(awk '/^dump 1:/ { print $4 }' "$work/sites.out")
read -r true_a true_b blocks_a blocks_b < <(awk '/^dump 2:/ { print $4, $6, $8, $10 }' \
	"$work/sites.out")
true_ga=$(awk -v a="$true_a" -v b="$true_a1" 'BEGIN { print a - b }')

# Whether $1 is within $3 (a fraction) of $2.
near() {
	awk -v got="$1" -v want="$2" -v tol="$3" \
		'BEGIN { d = got - want; if (d < 0) d = -d; exit !(d <= want * tol) }'
}
# "12.3 MiB" (or "+12.3 MiB") as MiB.
to_mib() {
	awk -v n="$1" -v u="$2" 'BEGIN { sub(/^\+/, "", n); f = 1 / 1048576
		if (u == "KiB") f = 1 / 1024; else if (u == "MiB") f = 1; else if (u == "GiB") f = 1024
		print n * f }'
}
# In MiB, the figure at field N (its unit at N + 1) of the row of a top or diff report whose
# field NAME is the function F: figure FILE N NAME F; 0 when no row names F. In top's rows the
# name is field 8 (self at 1, cum at 5), in diff's field 9 (self growth at 1).
figure() {
	awk -v nf="$2" -v namef="$3" -v f="$4" '$namef == f {
		n = $nf; u = $(nf + 1); sub(/^\+/, "", n); m = 1 / 1048576
		if (u == "KiB") m = 1 / 1024; else if (u == "MiB") m = 1; else if (u == "GiB") m = 1024
		print n * m; found = 1; exit } END { if (!found) print 0 }' "$1"
}

# ---------------------------------------------------------------- top
"${PROF[@]}" top "$d2" >"$work/top" 2>"$work/top.err"
check "top reads dump 2 (exit $?)" test -s "$work/top"
sed 's/^/top: /' "$work/top" | head -6 >&2
a=$(figure "$work/top" 1 8 site_a)
b=$(figure "$work/top" 1 8 site_b)
c=$(figure "$work/top" 5 8 site_c)
echo "top: site_a $a MiB (true $true_a), site_b $b MiB (true $true_b), site_c $c MiB live" >&2
check "top: site_a holds $a MiB, truly $true_a (within 10%)" near "$a" "$true_a" 0.10
check "top: site_b holds $b MiB, truly $true_b (within 10%)" near "$b" "$true_b" 0.10
check "top: site_c holds nothing live ($c MiB)" test "$c" = 0
check "top: site_a is the first row, site_b the second" \
	test "$(awk 'NR > 2 { print $8 }' "$work/top" | head -2 | xargs)" = "site_a site_b"
check "top: the sites' file:line is given" grep -q 'site_a (sites.c:[0-9]*)$' "$work/top"
check "top: main's cumulative column holds both sites" \
	near "$(figure "$work/top" 5 8 main)" "$(awk -v a="$true_a" -v b="$true_b" 'BEGIN { print a + b }')" 0.10
# The same scaling as jeprof's (AdjustSamples): its flat MB (MiB) for site_a, to its 0.1.
if command -v jeprof >/dev/null; then
	jeprof --text "$work/sites" "$d2" >"$work/jeprof" 2>/dev/null
	ja=$(awk '$6 == "site_a" { print $1 }' "$work/jeprof")
	check "top: site_a's $a MiB is jeprof's $ja MB" \
		awk -v a="$a" -v j="$ja" 'BEGIN { d = a - j; exit !(j != "" && d < 0.051 && d > -0.051) }'
else
	check "jeprof installed (Debian package libjemalloc-dev)" false
fi
check "top: nothing on stderr when it is not a terminal" test ! -s "$work/top.err"
# On a terminal (script(1) gives it one), naming the addresses shows its progress.
script -qec "$(printf '%q ' "${PROF[@]}" top "$d2")" /dev/null >"$work/top.tty" 2>&1
check "top: progress on a terminal's stderr while it names addresses" \
	grep -q 'cairn prof: symbolizing [0-9]* addresses' "$work/top.tty"
"${PROF[@]}" top --lines 1 "$d2" >"$work/top1"
check "top --lines 1 prints one row" test "$(wc -l <"$work/top1")" -eq 3
"${PROF[@]}" top --alloc "$d2" >"$work/topalloc" 2>&1
sed 's/^/top --alloc: /' "$work/topalloc" | head -4 >&2
ca=$(figure "$work/topalloc" 1 8 site_c)
check "top --alloc: site_c allocated $ca MiB, truly 200 (within 10%)" near "$ca" 200 0.10

# ---------------------------------------------------------------- diff
"${PROF[@]}" diff "$d1" "$d2" >"$work/diff" 2>"$work/diff.err"
check "diff reads the two dumps" test -s "$work/diff"
sed 's/^/diff: /' "$work/diff" | head -5 >&2
ga=$(figure "$work/diff" 1 9 site_a)
gb=$(figure "$work/diff" 1 9 site_b)
check "diff: site_a grew $ga MiB, truly $true_ga (within 10%)" near "$ga" "$true_ga" 0.10
check "diff: site_b grew $gb MiB, truly $true_b (within 10%)" near "$gb" "$true_b" 0.10
check "diff: the largest growth comes first (site_a, then site_b)" \
	test "$(awk 'NR > 2 { print $9 }' "$work/diff" | head -2 | xargs)" = "site_a site_b"

# ---------------------------------------------------------------- collapsed
"${PROF[@]}" collapsed "$d2" >"$work/collapsed" 2>"$work/collapsed.err"
check "collapsed prints stacks" test -s "$work/collapsed"
check "collapsed: every line is frames;...;frames then a byte count" \
	awk '!/^[^ ;][^;]*(;[^;]+)* [0-9]+$/ { bad = 1 } END { exit bad }' "$work/collapsed"
sum=$(awk '{ s += $NF } END { printf "%.3f", s / 1048576 }' "$work/collapsed")
total=$(awk 'NR == 1 { print $2, $3 }' "$work/top")
total=$(to_mib $total)
check "collapsed: the lines sum to top's total ($sum MiB, $total)" near "$sum" "$total" 0.002
fa=$(awk '/;site_a$|;site_a / { s += $NF } END { print s / 1048576 }' "$work/collapsed")
check "collapsed: the stacks through site_a hold $fa MiB, truly $true_a (within 10%)" \
	near "$fa" "$true_a" 0.10
check "collapsed: the stacks start at the root (_start or main) and end at the site" \
	grep -Eq '^(_start;.*)?main;site_b [0-9]+$' "$work/collapsed"

# ---------------------------------------------------------------- pprof
"${PROF[@]}" pprof -o "$work/p.pb.gz" "$d2" 2>"$work/pprof.err"
check "pprof writes a gzip file" gzip -t "$work/p.pb.gz"
# pprof's MB are MiB; the figure of a flat column ("46.66MB" or "1.2GB" or a count).
pprof_flat() {
	awk -v f="$2" '$NF == f { n = $1; m = 1
		if (n ~ /kB$/) m = 1 / 1024; else if (n ~ /GB$/) m = 1024; else if (n ~ /MB$/) m = 1
		else if (n ~ /B$/) m = 1 / 1048576
		sub(/[a-zA-Z]+$/, "", n); print n * m; found = 1; exit } END { if (!found) print 0 }' "$1"
}
go tool pprof -top "$work/p.pb.gz" >"$work/pprof.top" 2>"$work/pprof.top.err"
check "go tool pprof -top reads it" grep -q 'Type: inuse_space' "$work/pprof.top"
sed 's/^/go tool pprof -top: /' "$work/pprof.top" | sed -n '5,9p' >&2
pa=$(pprof_flat "$work/pprof.top" site_a)
pb=$(pprof_flat "$work/pprof.top" site_b)
check "pprof: site_a $pa MiB, truly $true_a (within 10%)" near "$pa" "$true_a" 0.10
check "pprof: site_b $pb MiB, truly $true_b (within 10%)" near "$pb" "$true_b" 0.10
go tool pprof -top -sample_index=inuse_space "$work/p.pb.gz" >"$work/pprof.space" 2>&1
check "pprof -sample_index=inuse_space: the same figures" \
	test "$(pprof_flat "$work/pprof.space" site_a)" = "$pa"
go tool pprof -top -sample_index=inuse_objects "$work/p.pb.gz" >"$work/pprof.objs" 2>&1
oa=$(pprof_flat "$work/pprof.objs" site_a)
ob=$(pprof_flat "$work/pprof.objs" site_b)
check "pprof inuse_objects: site_a $oa, truly $blocks_a (within 10%)" near "$oa" "$blocks_a" 0.10
check "pprof inuse_objects: site_b $ob, truly $blocks_b (within 10%)" near "$ob" "$blocks_b" 0.10
go tool pprof -top -sample_index=alloc_space "$work/p.pb.gz" >"$work/pprof.alloc" 2>&1
pc=$(pprof_flat "$work/pprof.alloc" site_c)
check "pprof alloc_space (prof_accum): site_c $pc MiB, truly 200 (within 10%)" near "$pc" 200 0.10
go tool pprof -raw "$work/p.pb.gz" >"$work/pprof.raw" 2>&1
check "pprof: the executable is the first mapping, with its build id" \
	grep -Eq "^ *1: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ $work/sites [0-9a-f]{40}" "$work/pprof.raw"
"${PROF[@]}" pprof --addresses-only -o "$work/addr.pb.gz" "$d2" 2>/dev/null
go tool pprof -top "$work/addr.pb.gz" >"$work/pprof.addr" 2>&1
check "pprof --addresses-only: pprof names site_a from the binary itself ($(pprof_flat \
	"$work/pprof.addr" site_a) MiB)" near "$(pprof_flat "$work/pprof.addr" site_a)" "$true_a" 0.10
# Go's pprof reads function names from ELF symbol tables it can match to a Go build only for
# some objects: libc's frames stay addresses when the profile carries no names of its own.
check "pprof --addresses-only: the profile carries no function names (libc's frames unnamed)" \
	grep -q '\[libc.so.6\]$' "$work/pprof.addr"
check "pprof: with cairn's names, libc's frames are named" \
	grep -q ' __libc_start_call_main$' "$work/pprof.top"

# ---------------------------------------------------------------- flame
"${PROF[@]}" flame -o "$work/flame.html" "$d2" 2>"$work/flame.err"
check "flame writes an HTML page" grep -q '^<!DOCTYPE html>' "$work/flame.html"
check "flame: the page loads nothing from elsewhere (no src=, href= or url())" \
	bash -c "! grep -Eiq '(src|href)=|url\\(|@import' '$work/flame.html'"
# The page as the browser left it after its script ran; EXTRA is script run after the page's.
render() {
	local page=$work/render.html
	sed "s|</body>|<script>$2</script></body>|" "$work/flame.html" >"$page"
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --window-size=1200,700 \
		--user-data-dir="$work/chromium" \
		--dump-dom "file://$page$1" 2>/dev/null
}
# The width of function F's frame in a dumped DOM (the first frame of that name), and its bytes.
frame_width() {
	grep -o "<g class=\"frame[^\"]*\" data-name=\"$2\"[^>]*><rect [^>]*>" "$1" | head -1 |
		sed -E 's/.* width="([0-9.]+)".*/\1/'
}
frame_bytes() {
	grep -o "<g class=\"frame[^\"]*\" data-name=\"$2\" data-bytes=\"[0-9]*\"" "$1" | head -1 |
		sed -E 's/.*data-bytes="([0-9]+)"/\1/'
}
render "" "" >"$work/dom"
wall=$(frame_width "$work/dom" all)
wa=$(frame_width "$work/dom" site_a)
wb=$(frame_width "$work/dom" site_b)
echo "flame: widths all $wall, site_a $wa, site_b $wb" >&2
check "flame: chromium drew the frames of main, site_a and site_b" \
	test -n "$wall" -a -n "$wa" -a -n "$wb" -a -n "$(frame_width "$work/dom" main)"
if [[ -n $wall && -n $wa && -n $wb ]]; then
	check "flame: site_a's width is its share, $true_a of $true_a + $true_b MiB (within 10%)" \
		near "$(awk -v a="$wa" -v w="$wall" 'BEGIN { print a / w }')" \
		"$(awk -v a="$true_a" -v b="$true_b" 'BEGIN { print a / (a + b) }')" 0.10
	check "flame: site_a to site_b in the ratio of their bytes" \
		near "$(awk -v a="$wa" -v b="$wb" 'BEGIN { print a / b }')" \
		"$(awk -v a="$(frame_bytes "$work/dom" site_a)" -v b="$(frame_bytes "$work/dom" site_b)" \
			'BEGIN { print a / b }')" 0.01
	check "flame: site_a's frame holds $(frame_bytes "$work/dom" site_a) bytes, truly $true_a MiB" \
		near "$(awk -v b="$(frame_bytes "$work/dom" site_a)" 'BEGIN { print b / 1048576 }')" \
		"$true_a" 0.10
fi
render "#search=site_b" "" >"$work/dom.search"
check "flame: a search highlights site_b" grep -q 'class="frame hit" data-name="site_b"' \
	"$work/dom.search"
check "flame: a search highlights nothing else" test "$(grep -c 'class="frame hit"' \
	<(grep -o '<g [^>]*>' "$work/dom.search"))" -eq 1
check "flame: a search gives the share of what matched" \
	grep -Eq "<span id=\"match\" data-bytes=\"$(frame_bytes "$work/dom" site_b)\">matched: [0-9.]+ MiB \\(2[0-9.]+% of" \
	"$work/dom.search"
render "" 'document.querySelector("g[data-name=site_b]").dispatchEvent(new MouseEvent("click"));' \
	>"$work/dom.zoom"
zb=$(frame_width "$work/dom.zoom" site_b)
check "flame: a click on site_b zooms it to the whole width ($zb of $wall)" test "$zb" = "$wall"
check "flame: site_a is gone from the zoomed view" test -z "$(frame_width "$work/dom.zoom" site_a)"
render "" 'document.querySelector("g[data-name=site_a]").dispatchEvent(new MouseEvent("mousemove", {clientX: 20, clientY: 20}));' \
	>"$work/dom.hover"
check "flame: hovering site_a shows its bytes and objects" \
	grep -Eq '<div id="tip" style="[^"]*display: block[^"]*"><b>site_a \(sites.c:[0-9]+\)</b><br>[0-9.]+ MiB \([0-9]+ bytes, [0-9.]+% of all\), [0-9]+ objects live' \
	"$work/dom.hover"

# ---------------------------------------------------------------- --program
mkdir -p "$work/moved"
mv "$work/sites" "$work/moved/sites"
"${PROF[@]}" top "$d2" >"$work/top.gone" 2>"$work/top.gone.err"
check "without the executable, its frames are addresses with its name" \
	grep -Eq ' 0x[0-9a-f]+ \(sites\)$' "$work/top.gone"
check "without the executable, one warning names it" \
	test "$(grep -c "$work/sites not found" "$work/top.gone.err")" -eq 1
"${PROF[@]}" top --program "$work/moved/sites" "$d2" >"$work/top.moved" 2>&1
check "top --program names site_a from the moved executable" \
	near "$(figure "$work/top.moved" 1 8 site_a)" "$true_a" 0.10

# ---------------------------------------------------------------- errors
# One line on stderr and status 2.
fails_cleanly() {
	local err rc
	err=$("${PROF[@]}" "$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 && $(printf '%s\n' "$err" | wc -l) -eq 1 && $err == "cairn prof: "* ]] || {
		echo "cairn prof $*: exit $rc, stderr: $err" >&2
		return 1
	}
}
: >"$work/empty.heap"
printf 'heap_v2/524288\n  t*: 1: 2 [0: 0]\n@ 0x12 zz\n  t*: 1: 2 [0: 0]\n' >"$work/bad.heap"
printf 'heap_v2/524288\n  t*: 1: 2 [0: 0]\n@ 0x12\n' >"$work/cut.heap"
check "a missing file: one line, status 2" fails_cleanly top "$work/none.heap"
check "an empty file: one line, status 2" fails_cleanly collapsed "$work/empty.heap"
check "a bad address: one line, status 2" fails_cleanly flame -o "$work/x.html" "$work/bad.heap"
check "a stack without counts: one line, status 2" fails_cleanly pprof -o "$work/x.pb" "$work/cut.heap"
check "not a profile (the C source): one line, status 2" fails_cleanly diff "$CAIRN_ROOT/tests/programs/sites.c" "$d2"
check "--alloc without prof_accum's counts: one line, status 2" fails_cleanly top --alloc \
	"$(printf 'heap_v2/1\n  t*: 1: 8 [0: 0]\n@ 0x10\n  t*: 1: 8 [0: 0]\n' >"$work/na.heap" &&
		echo "$work/na.heap")"
check "an unknown command: one line, status 2" fails_cleanly frobnicate "$d2"
check "--lines 0: one line, status 2" fails_cleanly top --lines 0 "$d2"

# The cairn command imports the module and calls main(argv), which returns the status.
as_module() {
	"$PYTHON" -B - "$CAIRN_ROOT/tools/cairn" "$d2" <<'PY' >/dev/null 2>&1
import sys
sys.path.insert(0, sys.argv[1])
import cairn_prof
bad = cairn_prof.main(["frobnicate"])
good = cairn_prof.main(["top", "--lines", "1", sys.argv[2]])
sys.exit(0 if (bad, good) == (2, 0) else 1)
PY
}
check "main(argv) returns 0 for a report and 2 for a usage error, exiting nothing" as_module

finish
