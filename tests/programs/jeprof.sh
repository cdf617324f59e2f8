#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jeprof.sh: cairn's heap profiles read by Debian's jeprof (libjemalloc-dev), with sampling at
# the default rate, against a program whose allocation sites are known (sites.c). The program, built the
# Debian way (-O2, no frame pointers) and run with cairn preloaded and
# MALLOC_CONF=prof:true,prof_prefix:<dir>/p, keeps memory live at three sites in noinline
# functions, and dumps twice through mallctl("prof.dump", NULL, ...), as software written for
# jemalloc does:
#   phase 1: site_a keeps 24 MiB in 4 KiB blocks; site_c allocates and frees 200 MiB in 64 KiB
#            blocks (churn: nothing live); dump 1 (p.<pid>.<seq>.m.heap)
#   phase 2: site_a keeps 24 MiB more (48 MiB live); site_b keeps 16 MiB in 100 KiB blocks (112
#            KiB each, the usable size the profile counts; the program prints what it holds);
#            dump 2
# Checked, at lg_prof_sample:14 (16 KiB between samples on average), each within 10% of the
# truth (jeprof unbiases the samples with the interval in the header):
#   jeprof --text prog dump2               site_a 48 MiB, site_b 16 MiB, site_c under 1 MiB
#   jeprof --text --base=dump1 prog dump2  site_a grew 24 MiB, site_b 16 MiB
#   jeprof --collapsed prog dump2          folded stacks through site_a and site_b, in their ratio
#   jeprof --svg prog dump2                an SVG document naming site_a and site_b
# and at the default rate (512 KiB) the same sites within four standard deviations of the
# sampling itself. Byte sampling is a Poisson process: a site of S bytes in blocks of s is
# estimated with a relative deviation of sqrt((1 - q) / (q N)), q = 1 - exp(-s / 2^lg) the chance
# that a block is sampled and N = S / s blocks. At the default rate 48 MiB of 4 KiB blocks is
# 10%, and 16 MiB of 100 KiB blocks 17%: no unbiased sampler can promise 10% there from one run,
# so the 10% checks use a rate at which the deviations are 1.7% and 3%, and the default-rate run
# checks that the estimates are as close as the sampling allows (bias would show in both).
# jeprof's "cum" column is used: it counts the bytes of every stack through the function,
# whatever frames the unwinder keeps above it.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

JEPROF=${JEPROF:-$(command -v jeprof)}
if [[ -z $JEPROF ]]; then
	check "jeprof installed (Debian package libjemalloc-dev)" false
	finish
	exit
fi

check "the program builds (-O2, no frame pointers)" \
	cc -O2 -g -fomit-frame-pointer -fno-builtin-malloc -fno-builtin-free -o "$work/sites" \
	"$CAIRN_ROOT/tests/programs/sites.c" -ldl

# The cum column (MB) of function $2 in jeprof's text report $1; 0 when absent.
cum_mb() {
	awk -v f="$2" '$6 == f { print $4; found = 1 } END { if (!found) print 0 }' "$1" | head -1
}
# Whether $1 is within $3 (a fraction) of $2.
near() {
	awk -v got="$1" -v want="$2" -v tol="$3" \
		'BEGIN { d = got - want; if (d < 0) d = -d; exit !(d <= want * tol) }'
}
below() {
	awk -v got="$1" -v max="$2" 'BEGIN { exit !(got < max) }'
}
# Four standard deviations of the estimate of S MiB in blocks of s bytes at interval 2^lg.
four_sigma() {
	awk -v s="$1" -v mib="$2" -v lg="$3" 'BEGIN {
		q = 1 - exp(-s / 2 ^ lg); n = mib * 1048576 / s; print 4 * sqrt((1 - q) / (q * n)) }'
}

# check_rate LG: runs the program at lg_prof_sample LG and checks what jeprof reads.
check_rate() {
	local lg=$1 dir=$work/lg$1 ta tb tga tgb
	mkdir -p "$dir"
	if [[ $lg == 19 ]]; then
		# The 10% of the header, or four deviations where the sampling allows no better.
		ta=$(four_sigma 4096 48 19) tb=$(four_sigma 114688 17.8 19)
		tga=$(four_sigma 4096 24 19) tgb=$tb
	else
		ta=0.10 tb=0.10 tga=0.10 tgb=0.10
	fi
	run_sites() {
		LD_PRELOAD=$CAIRN_LIB MALLOC_CONF=prof:true,lg_prof_sample:$lg,prof_prefix:$dir/p \
			"$work/sites" >"$dir/sites.out" 2>"$dir/sites.err"
	}
	check "lg $lg: the program runs with prof:true and its two prof.dump calls succeed" run_sites
	sed 's/^/sites: /' "$dir/sites.err" >&2

	# The manual dumps in seq order (the seq is the third field from the end).
	local dumps
	mapfile -t dumps < <(ls "$dir"/p.*.m.heap 2>/dev/null | awk -F. '{ print $(NF - 2), $0 }' |
		sort -n | cut -d' ' -f2-)
	check "lg $lg: two .m.heap dumps written under the prefix (found: ${#dumps[@]})" \
		test "${#dumps[@]}" -eq 2
	if [[ ${#dumps[@]} -ne 2 ]]; then
		ls -la "$dir" >&2
		return
	fi
	local d1=${dumps[0]} d2=${dumps[1]} interval=$((1 << lg))
	head_ok() {
		head -1 "$1" | grep -qx "heap_v2/$interval" && grep -qx 'MAPPED_LIBRARIES:' "$1"
	}
	check "lg $lg: dump 1 is heap_v2/$interval, with MAPPED_LIBRARIES" head_ok "$d1"
	check "lg $lg: dump 2 is heap_v2/$interval, with MAPPED_LIBRARIES" head_ok "$d2"
	check "lg $lg: the dumps are private (0600)" \
		test "$(stat -c %a "$d1") $(stat -c %a "$d2")" = "600 600"

	"$JEPROF" --text "$work/sites" "$d2" >"$dir/text2" 2>"$dir/text2.err"
	check "lg $lg: jeprof --text reads dump 2" test -s "$dir/text2"
	sed 's/^/jeprof --text: /' "$dir/text2" | head -8 >&2
	local a b c ga gb fa fb ta_mib tb_mib tga_mib
	# What the program held at each dump (usable MiB); site_a's growth between them.
	read -r ta_mib tb_mib tga_mib < <(awk '/^dump 1:/ { a1 = $4 }
		/^dump 2:/ { printf "%s %s %.3f\n", $4, $6, $4 - a1 }' "$dir/sites.out")
	a=$(cum_mb "$dir/text2" site_a)
	b=$(cum_mb "$dir/text2" site_b)
	c=$(cum_mb "$dir/text2" site_c)
	echo "lg $lg, jeprof --text, dump 2: site_a $a MB (true $ta_mib), site_b $b MB" \
		"(true $tb_mib), site_c $c MB (true 0)" >&2
	check "lg $lg: site_a: $a MB, $ta_mib MiB live (within $ta)" near "$a" "$ta_mib" "$ta"
	check "lg $lg: site_b: $b MB, $tb_mib MiB live (within $tb)" near "$b" "$tb_mib" "$tb"
	check "lg $lg: site_c: $c MB, nothing live (under 1 MB)" below "$c" 1

	"$JEPROF" --text --base="$d1" "$work/sites" "$d2" >"$dir/base" 2>"$dir/base.err"
	check "lg $lg: jeprof --text --base reads the two dumps" test -s "$dir/base"
	ga=$(cum_mb "$dir/base" site_a)
	gb=$(cum_mb "$dir/base" site_b)
	echo "lg $lg, jeprof --base, dump 1 to dump 2: site_a +$ga MB (true $tga_mib)," \
		"site_b +$gb MB (true $tb_mib)" >&2
	check "lg $lg: growth of site_a: $ga MB, $tga_mib MiB (within $tga)" \
		near "$ga" "$tga_mib" "$tga"
	check "lg $lg: growth of site_b: $gb MB, $tb_mib MiB (within $tgb)" \
		near "$gb" "$tb_mib" "$tgb"

	[[ $lg == 19 ]] && return
	"$JEPROF" --collapsed "$work/sites" "$d2" >"$dir/collapsed" 2>"$dir/collapsed.err"
	# Frames read "name<address>" where jeprof knows the symbol's address.
	fa=$(awk '/(^|;)site_a[<;]/ { s += $NF } END { print s + 0 }' "$dir/collapsed")
	fb=$(awk '/(^|;)site_b[<;]/ { s += $NF } END { print s + 0 }' "$dir/collapsed")
	echo "jeprof --collapsed: bytes through site_a $fa, through site_b $fb" >&2
	check "jeprof --collapsed has stacks through site_a and site_b" test "$fa" != 0 -a "$fb" != 0
	check "jeprof --collapsed: site_a to site_b $fa:$fb, as $ta_mib:$tb_mib (within 10%)" \
		awk -v a="$fa" -v b="$fb" -v r="$ta_mib / $tb_mib" 'BEGIN { split(r, x, " / ");
			want = x[1] / x[2]; exit !(b > 0 && a / b >= want * 0.9 && a / b <= want * 1.1) }'

	if command -v dot >/dev/null; then
		"$JEPROF" --svg "$work/sites" "$d2" >"$dir/profile.svg" 2>"$dir/svg.err"
		svg_ok() {
			grep -q '<svg' "$dir/profile.svg" && grep -q 'site_a' "$dir/profile.svg" &&
				grep -q 'site_b' "$dir/profile.svg"
		}
		check "jeprof --svg writes an SVG naming site_a and site_b" svg_ok
	else
		check "dot (Debian package graphviz) installed: jeprof --svg needs it" false
	fi
}

check_rate 14
check_rate 19

finish
