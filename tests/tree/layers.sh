#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# layers.sh: the layers of src/ hold. The folders are the layers, bottom up:
# os < core < prof < control < api. A file may use its own layer and those below,
# never one above:
#  - includes: every `#include "dir/..."` in src/<layer>/ names a layer at
#    or below <layer>. A bare `#include "name.h"` is allowed to every layer
#    only for the public header (include/name.h) and for headers the build
#    generates (build/gen/name.h, listed in the Makefile); anything else is
#    a violation.
#  - calls and data: every symbol an object build/obj/src/<layer>/*.o uses
#    (nm: undefined) that another cairn object defines is defined in <layer>
#    or one below.
#  - the kernel: only src/os/ includes the headers of system calls and of
#    Linux (sys/mman.h, sys/syscall.h, linux/..., listed below) and calls
#    the kernel's interface (mmap, madvise, syscall, readlink ..., from the
#    objects), so that a port replaces src/os/ alone (PORTING.md).
# Each violation is printed with the file, the include or symbol and the two
# layers. make brings the objects up to date first (nothing to do after
# `make all`).
# With a directory as its argument, checks that tree instead of this one.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
cd "$root" || exit 1

layers=(os core prof control api)
declare -A rank
for i in "${!layers[@]}"; do
	rank[${layers[$i]}]=$i
done

# Includes.
nfiles=0
for layer in "${layers[@]}"; do
	for f in src/"$layer"/*; do
		[[ -f $f ]] || continue
		nfiles=$((nfiles + 1))
		while IFS=: read -r line inc; do
			inc=${inc#*\"}
			inc=${inc%%\"*}
			if [[ $inc == */* ]]; then
				to=${inc%%/*}
				if [[ -z ${rank[$to]+x} ]]; then
					check 1 "$f:$line includes \"$inc\", in no layer"
				else
					[[ ${rank[$to]} -le ${rank[$layer]} ]]
					check $? "$f:$line includes \"$inc\": $layer includes $to, a layer above it"
				fi
			else
				[[ -f include/$inc ]] || grep -q "build/gen/$inc" Makefile
				check $? "$f:$line includes \"$inc\", neither the public header nor a generated one"
			fi
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	done
done
[[ $nfiles -gt 10 ]]
check $? "only $nfiles files found under src/<layer>/"

# Calls and data, from the objects.
objs=()
for layer in "${layers[@]}"; do
	for c in src/"$layer"/*.c; do
		[[ -f $c ]] || continue
		objs+=("build/obj/${c%.c}.o")
	done
done
make -s "${objs[@]}" >/dev/null
check $? "make builds the objects"

# The kernel's headers and calls, outside src/os/.
kernel_headers='sys/mman\.h|sys/syscall\.h|sys/random\.h|sys/prctl\.h|sys/auxv\.h|sys/stat\.h|fcntl\.h|linux/[a-z_/]+\.h|asm/[a-z_/]+\.h|sys/sysinfo\.h'
kernel_calls='mmap|mmap64|munmap|mremap|madvise|mprotect|syscall|prctl|getauxval|readlink|open|open64|openat|fstat|fstat64|stat|lstat|sched_getaffinity|sched_setaffinity|gettid|getrandom|secure_getenv|getenv|pthread_setname_np|sysconf|getpagesize|write|read|close'
nkernel=0
for layer in "${layers[@]}"; do
	[[ $layer == os ]] && continue
	for f in src/"$layer"/*; do
		[[ -f $f ]] || continue
		while IFS=: read -r line inc; do
			inc=${inc#*<}
			check 1 "$f:$line includes <${inc%%>*}>: only src/os/ talks to the kernel"
		done < <(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*<($kernel_headers)>" "$f")
	done
done
for o in build/obj/src/{core,prof,control,api}/*.o; do
	[[ -f $o ]] || continue
	nkernel=$((nkernel + 1))
	while read -r sym; do
		check 1 "${o#build/obj/} calls $sym: only src/os/ talks to the kernel"
	done < <(nm --undefined-only --format=posix "$o" | awk '{ print $1 }' | grep -xE "$kernel_calls")
done
[[ $nkernel -gt 10 ]]
check $? "only $nkernel objects outside src/os/ checked for kernel calls"
declare -A defined_in
for o in "${objs[@]}"; do
	layer=${o#build/obj/src/}
	layer=${layer%%/*}
	while read -r sym; do
		defined_in[$sym]=$layer
	done < <(nm --defined-only --extern-only --format=posix "$o" | awk '{ print $1 }')
done
nsyms=0
for o in "${objs[@]}"; do
	layer=${o#build/obj/src/}
	layer=${layer%%/*}
	while read -r sym; do
		to=${defined_in[$sym]-}
		[[ -n $to ]] || continue
		nsyms=$((nsyms + 1))
		[[ ${rank[$to]} -le ${rank[$layer]} ]]
		check $? "${o#build/obj/} uses $sym, defined in $to: $layer reaches up into $to"
	done < <(nm --undefined-only --format=posix "$o" | awk '{ print $1 }')
done
[[ $nsyms -gt 50 ]]
check $? "only $nsyms uses of cairn's own symbols found"
echo "files: $nfiles, uses of cairn symbols across objects: $nsyms" >&2
checks_done
