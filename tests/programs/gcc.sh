#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gcc.sh: the compiler under cairn. cc1 is one of the heaviest malloc users there is (GC pages,
# obstacks, hash tables, the optimisers' bitmaps), and the gcc driver, as and ld all run
# preloaded too. A generated C file of a few thousand lines is compiled at -O2 into objects and
# a program; the objects and assembly must be byte-identical with and without cairn, and the
# program must print the same.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

check "cairn starts in gcc" require_cairn gcc --version
check "libcairn is mapped in gcc" maps_show_cairn gcc -x c -fsyntax-only -

# A program of $1 functions: loops, switches, structs, recursion, floating point, strings.
generate() {
	awk -v nf="$1" 'BEGIN {
		print "#include <stdio.h>"
		print "#include <string.h>"
		print "#include <stdlib.h>"
		print "struct rec { int a; long b; double c; char name[16]; struct rec *next; };"
		print "static unsigned long mix(unsigned long x) { x ^= x >> 13; x *= 0x9E3779B97F4A7C15ul; return x ^ (x >> 29); }"
		for (f = 0; f < nf; f++) {
			printf "static unsigned long f%d(unsigned long x, struct rec *r)\n{\n", f
			printf "\tunsigned long acc = %d;\n\tint arr[%d];\n", f * 17 + 3, 8 + f % 24
			printf "\tfor (int i = 0; i < %d; i++)\n\t\tarr[i] = (int)(mix(x + (unsigned long)i) %% %d);\n", 8 + f % 24, 100 + f
			printf "\tfor (int i = 0; i < %d; i++) {\n", 8 + f % 24
			printf "\t\tswitch ((arr[i] + %d) %% 5) {\n", f
			printf "\t\tcase 0: acc += (unsigned long)arr[i] * %d; break;\n", f + 1
			printf "\t\tcase 1: acc ^= mix(acc + (unsigned long)i); break;\n"
			printf "\t\tcase 2: acc = acc * 31 + (unsigned long)(r->a + i); break;\n"
			printf "\t\tcase 3: r->c += arr[i] * 0.5; acc += (unsigned long)r->c; break;\n"
			printf "\t\tdefault: acc -= (unsigned long)r->b; r->b += i; break;\n"
			printf "\t\t}\n\t}\n"
			printf "\tsnprintf(r->name, sizeof r->name, \"f%d-%%lu\", acc %% 1000);\n", f
			printf "\tacc += strlen(r->name);\n"
			if (f > 0)
				printf "\tif (x %% 3 == 0)\n\t\tacc += f%d(x / 3, r) %% 1000;\n", f - 1
			printf "\treturn acc;\n}\n\n"
		}
		print "int main(void)\n{"
		print "\tstruct rec *head = NULL;"
		print "\tunsigned long total = 0;"
		print "\tfor (int i = 0; i < 50; i++) {"
		print "\t\tstruct rec *r = calloc(1, sizeof *r);"
		print "\t\tr->a = i; r->b = i * 3; r->next = head; head = r;"
		print "\t}"
		for (f = 0; f < nf; f++)
			printf "\ttotal += f%d(%d, head);\n", f, f * 7 + 1
		print "\tfor (struct rec *r = head; r; r = r->next)"
		print "\t\ttotal += (unsigned long)r->b + (unsigned long)r->c + strlen(r->name);"
		print "\tprintf(\"total %lu last %s\\n\", total, head->name);"
		print "\twhile (head) { struct rec *n = head->next; free(head); head = n; }"
		print "\treturn 0;\n}"
	}'
}

workload() {
	set -e
	generate 150 >prog.c
	wc -l <prog.c
	gcc -O2 -c -o prog.o prog.c
	gcc -O2 -S -o prog.s prog.c
	gcc -o prog prog.o
	./prog
	md5sum prog.o prog.s
	# Two compilations at once.
	local i pids=()
	for i in 1 2; do
		generate $((30 * i)) >"part$i.c"
		gcc -O2 -c -o "part$i.o" "part$i.c" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	md5sum part*.o
}

run_twice workload
cat "$work/cairn.out"
finish
