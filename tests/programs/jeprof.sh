#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jeprof.sh: cairn's heap profiles read by Debian's jeprof (libjemalloc-dev), with sampling at
# the default rate, against a program whose allocation sites are known. The program, built the
# Debian way (-O2, no frame pointers) and run with cairn preloaded and
# MALLOC_CONF=prof:true,prof_prefix:<dir>/p, keeps memory live at three sites in noinline
# functions, and dumps twice through mallctl("prof.dump", NULL, ...), as software written for
# jemalloc does:
#   phase 1: site_a keeps 24 MiB in 4 KiB blocks; site_c allocates and frees 200 MiB in 64 KiB
#            blocks (churn: nothing live); dump 1 (p.<pid>.<seq>.m.heap)
#   phase 2: site_a keeps 24 MiB more (48 MiB live); site_b keeps 16 MiB in 100 KiB blocks;
#            dump 2
# Checked, each within 10% of the truth (jeprof unbiases the samples with the interval in the
# header):
#   jeprof --text prog dump2               site_a 48 MiB, site_b 16 MiB, site_c under 1 MiB
#   jeprof --text --base=dump1 prog dump2  site_a grew 24 MiB, site_b 16 MiB
#   jeprof --collapsed prog dump2          folded stacks through site_a and site_b, 3:1
#   jeprof --svg prog dump2                an SVG document naming site_a and site_b
# jeprof's "cum" column is used: it counts the bytes of every stack through the function,
# whatever frames the unwinder keeps above it.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

JEPROF=${JEPROF:-$(command -v jeprof)}
if [[ -z $JEPROF ]]; then
	check "jeprof installed (Debian package libjemalloc-dev)" false
	finish
	exit
fi

cat >"$work/sites.c" <<'PROG'
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024 * 1024)
static void *live_a[12288], *live_b[200];
static size_t n_a, n_b;
static volatile char sink;

__attribute__((noinline)) void site_a(size_t bytes)
{
	for (size_t i = 0; i < bytes / 4096; i++) {
		char *p = malloc(4096);
		p[0] = 1;
		live_a[n_a++] = p;
	}
}

__attribute__((noinline)) void site_b(size_t bytes)
{
	for (size_t i = 0; i < bytes / (100 * 1024); i++) {
		char *p = malloc(100 * 1024);
		p[0] = 1;
		live_b[n_b++] = p;
	}
}

__attribute__((noinline)) void site_c(size_t bytes)
{
	for (size_t i = 0; i < bytes / 65536; i++) {
		char *p = malloc(65536);
		p[0] = 1;
		sink += p[0];
		free(p);
	}
}

/* As a program written for jemalloc finds it when it may run without. */
static int dump(void)
{
	int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
	    (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl == NULL) {
		fprintf(stderr, "sites: no mallctl in the process\n");
		return 1;
	}
	int r = mallctl("prof.dump", NULL, NULL, NULL, 0);
	if (r != 0) {
		fprintf(stderr, "sites: mallctl(\"prof.dump\") failed: %s\n", strerror(r));
		return 1;
	}
	return 0;
}

int main(void)
{
	site_a(24 * MiB);
	site_c(200 * MiB);
	if (dump() != 0)
		return 1;
	site_a(24 * MiB);
	site_b(16 * MiB);
	if (dump() != 0)
		return 1;
	printf("live: %zu blocks at site_a, %zu at site_b\n", n_a, n_b);
	return 0;
}
PROG

check "the program builds (-O2, no frame pointers)" \
	cc -O2 -g -fomit-frame-pointer -fno-builtin-malloc -fno-builtin-free -o "$work/sites" \
	"$work/sites.c" -ldl

run_sites() {
	LD_PRELOAD=$CAIRN_LIB MALLOC_CONF=prof:true,prof_prefix:$work/p "$work/sites" \
		>"$work/sites.out" 2>"$work/sites.err"
}
check "the program runs with prof:true and its two prof.dump calls succeed" run_sites
sed 's/^/sites: /' "$work/sites.err" >&2

# The manual dumps in seq order (the seq is the third field from the end).
mapfile -t dumps < <(ls "$work"/p.*.m.heap 2>/dev/null | awk -F. '{ print $(NF - 2), $0 }' |
	sort -n | cut -d' ' -f2-)
check "two .m.heap dumps written under the prefix (found: ${#dumps[@]})" test "${#dumps[@]}" -eq 2
if [[ ${#dumps[@]} -ne 2 ]]; then
	ls -la "$work" >&2
	finish
	exit
fi
d1=${dumps[0]}
d2=${dumps[1]}
head_ok() {
	head -1 "$1" | grep -qx 'heap_v2/524288' && grep -qx 'MAPPED_LIBRARIES:' "$1"
}
check "dump 1 is heap_v2 at the default interval, with MAPPED_LIBRARIES" head_ok "$d1"
check "dump 2 is heap_v2 at the default interval, with MAPPED_LIBRARIES" head_ok "$d2"
check "the dumps are private (0600)" test "$(stat -c %a "$d1") $(stat -c %a "$d2")" = "600 600"

# The cum column (MB) of function $2 in jeprof's text report $1; 0 when absent.
cum_mb() {
	awk -v f="$2" '$6 == f { print $4; found = 1 } END { if (!found) print 0 }' "$1" | head -1
}
# Whether $1 is within 10% of $2.
near() {
	awk -v got="$1" -v want="$2" 'BEGIN { d = got - want; if (d < 0) d = -d; exit !(d <= want * 0.10) }'
}
below() {
	awk -v got="$1" -v max="$2" 'BEGIN { exit !(got < max) }'
}

"$JEPROF" --text "$work/sites" "$d2" >"$work/text2" 2>"$work/text2.err"
check "jeprof --text reads dump 2" test -s "$work/text2"
sed 's/^/jeprof --text: /' "$work/text2" | head -15 >&2
a=$(cum_mb "$work/text2" site_a)
b=$(cum_mb "$work/text2" site_b)
c=$(cum_mb "$work/text2" site_c)
echo "jeprof --text, dump 2: site_a $a MB (true 48), site_b $b MB (true 16), site_c $c MB (true 0)" >&2
check "site_a: $a MB, 48 MiB live (within 10%)" near "$a" 48
check "site_b: $b MB, 16 MiB live (within 10%)" near "$b" 16
check "site_c: $c MB, nothing live (under 1 MB)" below "$c" 1

"$JEPROF" --text --base="$d1" "$work/sites" "$d2" >"$work/base" 2>"$work/base.err"
check "jeprof --text --base reads the two dumps" test -s "$work/base"
ga=$(cum_mb "$work/base" site_a)
gb=$(cum_mb "$work/base" site_b)
echo "jeprof --base, dump 1 to dump 2: site_a +$ga MB (true 24), site_b +$gb MB (true 16)" >&2
check "growth of site_a between the dumps: $ga MB, 24 MiB (within 10%)" near "$ga" 24
check "growth of site_b between the dumps: $gb MB, 16 MiB (within 10%)" near "$gb" 16

"$JEPROF" --collapsed "$work/sites" "$d2" >"$work/collapsed" 2>"$work/collapsed.err"
fa=$(awk '/(^|;)site_a(;| )/ { s += $NF } END { print s + 0 }' "$work/collapsed")
fb=$(awk '/(^|;)site_b(;| )/ { s += $NF } END { print s + 0 }' "$work/collapsed")
echo "jeprof --collapsed: stacks through site_a $fa, through site_b $fb" >&2
check "jeprof --collapsed has stacks through site_a and site_b" test "$fa" != 0 -a "$fb" != 0
check "jeprof --collapsed: site_a to site_b $fa:$fb, 3:1 (within 10%)" \
	awk -v a="$fa" -v b="$fb" 'BEGIN { exit !(b > 0 && a / b >= 2.7 && a / b <= 3.3) }'

if command -v dot >/dev/null; then
	"$JEPROF" --svg "$work/sites" "$d2" >"$work/profile.svg" 2>"$work/svg.err"
	svg_ok() {
		grep -q '<svg' "$work/profile.svg" && grep -q 'site_a' "$work/profile.svg" &&
			grep -q 'site_b' "$work/profile.svg"
	}
	check "jeprof --svg writes an SVG naming site_a and site_b" svg_ok
else
	check "dot (Debian package graphviz) installed: jeprof --svg needs it" false
fi

finish
