#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cairn_command.sh: the cairn command (tools/cairn/cairn.py, bin/cairn).
#   - cairn run puts cairn into the program: the program's malloc is defined
#     by lib/libcairn.so.0 (dladdr), it sees LD_PRELOAD with cairn first and
#     MALLOC_CONF with the flags' items after its own (the later wins, as
#     confirm_conf's line shows), it is the process cairn started (exec, same
#     pid), and its exit status and death by signal are the shell's to see;
#     --prof writes a profile, --stats the report, --lib preloads another;
#   - run refuses, one line on stderr and status 2, and runs nothing: a static
#     program, a set-user-ID and a set-group-ID copy, a program not found, not
#     executable, a folder, another architecture's (an ELF header made to say
#     AArch64), a script whose interpreter is static (directly and through
#     env), an unknown option, an item without a colon, no program; a
#     program with file capabilities (its security.capability attribute
#     faked in the command's process: setting one takes root);
#     a #! script with a dynamic interpreter runs;
#   - cairn options lists every option of src/control/options.def, in order,
#     with its type and default; cairn options NAME shows one; an unknown
#     name is refused;
#   - cairn version is the Makefile's VERSION and names the library;
#   - --help for the command and each subcommand; the bash completion
#     completes commands, option names inside --conf and for options;
#   - make install PREFIX=<temp> (no DESTDIR: the paths written into the
#     command are real) gives a bin/cairn that runs programs on the installed
#     library, says `cairn prof` is missing when cairn_prof.py is, leaves no
#     byte code behind, and make uninstall removes all of it.
# run.sh: alone (its make install writes build/install/, as install.sh's does).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CC=${CC:-cc}
cairn=$root/bin/cairn
lib=$root/lib/libcairn.so.0
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-command.XXXXXX")
trap 'rm -rf "$work"' EXIT
show() { # FILE: its last lines, indented
	tail -n 25 "$1" | sed 's/^/    | /' >&2
}
[[ -x $cairn ]]
check $? "bin/cairn is built (make)"

# The probe: where its malloc comes from, its environment, its pid; then it
# exits with the status its first argument names, or dies of SIGTERM.
cat >"$work/probe.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void *(*volatile alloc)(size_t) = malloc;
	Dl_info info;
	char *p = malloc(1000);
	if (!p || !dladdr((void *)alloc, &info) || !info.dli_fname)
		return 99;
	free(p);
	printf("malloc from %s\n", info.dli_fname);
	printf("LD_PRELOAD=%s\n", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(unset)");
	printf("MALLOC_CONF=%s\n", getenv("MALLOC_CONF") ? getenv("MALLOC_CONF") : "(unset)");
	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "term") == 0)
		raise(SIGTERM);
	return argc > 1 ? atoi(argv[1]) : 0;
}
EOF
"$CC" -O1 -o "$work/probe" "$work/probe.c" -ldl >"$work/cc.log" 2>&1
check $? "the probe builds"
"$CC" -shared -fPIC -o "$work/libempty.so" -x c /dev/null >>"$work/cc.log" 2>&1
check $? "an empty library builds"
printf '#include <stdio.h>\nint main(void) { puts("static ran"); return 0; }\n' >"$work/static.c"
"$CC" -static -O1 -o "$work/static" "$work/static.c" >>"$work/cc.log" 2>&1
check $? "a static program builds (gcc -static)"
[[ -s $work/cc.log ]] && show "$work/cc.log"

# field NAME FILE: the value the probe printed as NAME=... or NAME ...
field() { sed -n "s/^$1[= ]//p" "$2"; }

# run: the probe on cairn, with a MALLOC_CONF and an LD_PRELOAD of its own.
env MALLOC_CONF=narenas:5 LD_PRELOAD="$work/libempty.so" \
	"$cairn" run --conf narenas:7,confirm_conf:true --stats -- "$work/probe" 42 \
	>"$work/run.out" 2>"$work/run.err" &
pid=$!
wait $pid
rc=$?
check $((rc == 42 ? 0 : 1)) "cairn run passes the exit status through ($rc, expected 42)"
[[ $(realpath "$(field 'malloc from' "$work/run.out")") == "$(realpath "$lib")" ]]
check $? "the program's malloc is lib/libcairn.so.0's ($(field 'malloc from' "$work/run.out"))"
[[ $(field LD_PRELOAD "$work/run.out") == "$lib:$work/libempty.so" ]]
check $? "LD_PRELOAD is cairn's library, then the environment's: $(field LD_PRELOAD "$work/run.out")"
[[ $(field MALLOC_CONF "$work/run.out") == narenas:5,narenas:7,confirm_conf:true,stats_print:true ]]
check $? "MALLOC_CONF is the environment's, then the flags': $(field MALLOC_CONF "$work/run.out")"
grep -q '^cairn: options: narenas:7,.*,stats_print:true,' "$work/run.err"
check $? "cairn's options line shows the flags' narenas:7 and stats_print:true"
grep -q '^___ Begin cairn statistics ___$' "$work/run.err"
check $? "--stats: the statistics report at exit"
[[ $(field pid "$work/run.out") == "$pid" ]]
check $? "the program is the process cairn run started (pid $(field pid "$work/run.out"), started $pid)"
"$cairn" run "$work/probe" term >/dev/null 2>&1
check $(($? == 128 + 15 ? 0 : 1)) "a program that dies of SIGTERM: the shell sees 143"
"$cairn" run "$work/probe" 0 >"$work/plain.out" 2>&1
check $? "cairn run PROGRAM without -- runs it"
[[ $(field MALLOC_CONF "$work/plain.out") == "(unset)" ]]
check $? "with no flags and none in the environment, MALLOC_CONF stays unset"
(cd "$work" && "$cairn" run --prof "$work/prof" -- "$work/probe" 0 >"$work/prof.out" 2>&1)
check $? "cairn run --prof runs"
[[ $(field MALLOC_CONF "$work/prof.out") == "prof:true,prof_prefix:$work/prof" ]]
check $? "--prof P is prof:true,prof_prefix:P: $(field MALLOC_CONF "$work/prof.out")"
compgen -G "$work/prof.*.f.heap" >/dev/null
check $? "--prof: the final profile $work/prof.*.f.heap is written"

# --lib: another copy of the library, preloaded instead.
cp "$lib" "$work/libcairn-copy.so.0"
"$cairn" run --lib "$work/libcairn-copy.so.0" -- "$work/probe" 0 >"$work/lib.out" 2>&1
check $? "cairn run --lib runs"
[[ $(field 'malloc from' "$work/lib.out") == "$work/libcairn-copy.so.0" ]]
check $? "--lib PATH: malloc is that library's ($(field 'malloc from' "$work/lib.out"))"

# A #! script runs, its interpreter judged.
printf '#!/bin/sh\nexec "%s" 5\n' "$work/probe" >"$work/script.sh"
chmod 755 "$work/script.sh"
"$cairn" run -- "$work/script.sh" >"$work/script.out" 2>&1
check $(($? == 5 ? 0 : 1)) "a #!/bin/sh script runs on cairn, its exit status passed through"
[[ $(realpath "$(field 'malloc from' "$work/script.out")") == "$(realpath "$lib")" ]]
check $? "the script's program has cairn's malloc"

# refused WHAT PATTERN ARGS...: status 2, one line on stderr matching
# PATTERN, nothing run (no output on stdout).
refused() {
	local what=$1 pattern=$2 rc
	shift 2
	"$cairn" "$@" >"$work/ref.out" 2>"$work/ref.err"
	rc=$?
	[[ $rc == 2 && $(wc -l <"$work/ref.err") == 1 && ! -s $work/ref.out ]] &&
		grep -qE "$pattern" "$work/ref.err"
	check $? "$what: status 2 ($rc), one line matching '$pattern': $(head -c 300 "$work/ref.err")"
}
refused "a static program" "^cairn run: .*/static is statically linked" run -- "$work/static"
cp "$work/probe" "$work/suid" && chmod u+s "$work/suid"
refused "a set-user-ID copy" "^cairn run: .*/suid is set-user-ID" run -- "$work/suid"
cp "$work/probe" "$work/sgid" && chmod g+s,g+x "$work/sgid"
refused "a set-group-ID copy" "^cairn run: .*/sgid is set-group-ID" run -- "$work/sgid"
refused "a program not in PATH" "^cairn run: cairn-no-such-program: not found in PATH$" \
	run -- cairn-no-such-program
refused "a missing path" "^cairn run: $work/missing: not found$" run -- "$work/missing"
cp "$work/probe" "$work/noexec" && chmod 644 "$work/noexec"
refused "a file without x bits" "^cairn run: .*/noexec: not executable \(mode 644\)$" \
	run -- "$work/noexec"
refused "a folder" "^cairn run: $work: not a regular file$" run -- "$work"
# Another architecture: the probe with e_machine (offset 18) made AArch64 (183).
cp "$work/probe" "$work/foreign"
printf '\267\000' | dd of="$work/foreign" bs=1 seek=18 conv=notrunc status=none
refused "another architecture's program" "^cairn run: .*/foreign is 64-bit AArch64, the library is" \
	run -- "$work/foreign"
printf '#!%s\n' "$work/static" >"$work/static-script"
chmod 755 "$work/static-script"
refused "a script whose interpreter is static" "^cairn run: .*/static is statically linked" \
	run -- "$work/static-script"
printf '#!/usr/bin/env static\n' >"$work/env-script"
chmod 755 "$work/env-script"
PATH="$work:$PATH" refused "#!/usr/bin/env NAME, NAME static" "^cairn run: .*/static is statically" \
	run -- "$work/env-script"
refused "an unknown option" "^cairn run: --conf: no option 'narena' \(did you mean narenas\?\)" \
	run --conf narena:2 -- "$work/probe"
refused "an item without a colon" "^cairn run: --conf: 'narenas' is not NAME:VALUE$" \
	run --conf narenas -- "$work/probe"
refused "a prefix with a comma" "^cairn run: --prof: " run --prof a,b -- "$work/probe"
refused "no program" "^cairn run: no program to run" run --stats --
refused "a missing --lib" "^cairn run: the library $work/nolib.so does not exist$" \
	run --lib "$work/nolib.so" -- "$work/probe"
refused "no command" "^usage: cairn " # argparse's usage line

# File capabilities: the attribute as the kernel stores it (version 2,
# cap_net_raw permitted) makes the program refused; one that grants none
# does not.
PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - "$root/build/cairn" "$work/probe" \
	>"$work/caps.out" 2>&1 <<'EOF'
import os, struct, sys
sys.path.insert(0, sys.argv[1])
import cairn
for permitted, want in ((1 << 13, True), (0, False)):
    attr = struct.pack("<5I", 0x02000001, permitted, 0, 0, 0)
    cairn.os.getxattr = lambda path, name: attr if name == "security.capability" else b""
    try:
        cairn.check_program(sys.argv[2], os.environ["PATH"], None)
        refused = False
    except cairn.Refusal as e:
        print(e)
        refused = "has file capabilities" in str(e)
    if refused != want:
        sys.exit("permitted %#x: refused %s, expected %s" % (permitted, refused, want))
EOF
check $? "a program with file capabilities is refused, one without is not: $(cat "$work/caps.out")"

# cairn options: every option of options.def, in its order.
listed=$(grep -oE '^CONF_(BOOL|UINT|SIZE|MS|I64|STRING|ENUM)\([a-z_]+' \
	"$root/src/control/options.def" | cut -d'(' -f2)
[[ $(wc -l <<<"$listed") -ge 20 ]]
check $? "options.def lists $(wc -l <<<"$listed") options"
"$cairn" options >"$work/options.out" 2>&1
check $? "cairn options"
shown=$(grep -oE '^[a-z_]+ \(' "$work/options.out" | tr -d ' (')
[[ $shown == "$listed" ]]
check $? "cairn options shows every option of options.def, in order: $(echo $shown)"
[[ $("$cairn" options --names) == "$listed" ]]
check $? "cairn options --names is the list of names"
[[ $(grep -c '^    [^ ]' "$work/options.out") -ge $(wc -l <<<"$listed") ]]
check $? "every option has its meaning, indented, under it"
"$cairn" options tcache >"$work/one.out" 2>&1 &&
	[[ $(head -n 1 "$work/one.out") == "tcache (bool; default true)" ]] &&
	grep -q 'per-thread heaps' "$work/one.out" && ! grep -q '^narenas' "$work/one.out"
check $? "cairn options tcache shows that one: $(head -n 1 "$work/one.out")"
"$cairn" options dirty_decay_ms | grep -qx 'dirty_decay_ms (milliseconds, or -1; default 10000)'
check $? "cairn options dirty_decay_ms has its type and default"
"$cairn" options thp | grep -qx 'thp (one of default, always, never; default default)'
check $? "an enum option lists its values"
refused "an unknown option name" "^cairn options: no option 'tcach' \(did you mean tcache" options tcach

# cairn version.
version=$(sed -n 's/^VERSION *:= *//p' "$root/Makefile")
"$cairn" version >"$work/version.out" 2>&1
check $? "cairn version"
[[ $(cat "$work/version.out") == "cairn $version"$'\n'"library: $lib" ]]
check $? "cairn version says cairn $version and library $lib: $(cat "$work/version.out")"

# --help everywhere.
"$cairn" --help >"$work/help.out" 2>&1 && grep -q '^usage: cairn ' "$work/help.out" &&
	grep -q 'run ' "$work/help.out" && grep -q 'options ' "$work/help.out"
check $? "cairn --help lists the commands"
for sub in run options version completion; do
	"$cairn" $sub --help >"$work/help.out" 2>&1 && grep -q "^usage: cairn $sub" "$work/help.out"
	check $? "cairn $sub --help: $(head -n 1 "$work/help.out")"
done

# The bash completion, as bash would call it (COMP_WORDS split at colons).
"$cairn" completion bash >"$work/completion.bash"
cmp -s "$work/completion.bash" "$root/tools/cairn/completion.bash"
check $? "cairn completion bash prints tools/cairn/completion.bash"
# complete_line LINE WORD...: what _cairn answers for LINE, which bash split
# into these words.
complete_line() {
	PATH="$root/bin:$PATH" bash -c '
		. "$1"; shift
		COMP_LINE=$1; COMP_POINT=${#COMP_LINE}; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cairn; printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$work/completion.bash" "$@"
}
[[ $(complete_line "cairn ru" cairn ru) == run ]]
check $? "completion: cairn ru -> run"
[[ $(complete_line "cairn options dirty_" cairn options dirty_) == dirty_decay_ms ]]
check $? "completion: cairn options dirty_ -> dirty_decay_ms"
# bash splits `narenas:4,tcache_m` at the colon; the answer is the part after it.
got=$(complete_line "cairn run --conf narenas:4,tcache_m" cairn run --conf narenas : 4,tcache_m)
[[ $got == "4,tcache_max:" ]]
check $? "completion: --conf narenas:4,tcache_m -> 4,tcache_max: ($got)"

# An installed command, from a PREFIX in the temporary folder.
prefix=$work/prefix
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u CPPFLAGS -u LDFLAGS \
		make --no-print-directory -C "$root" "$@"
}
mk -s install PREFIX="$prefix" >"$work/install.log" 2>&1
check $? "make install PREFIX=$prefix"
"$prefix/bin/cairn" version >"$work/iversion.out" 2>&1 &&
	grep -qx "library: $prefix/lib/libcairn.so.0" "$work/iversion.out"
check $? "the installed cairn names the installed library: $(tail -n 1 "$work/iversion.out")"
"$prefix/bin/cairn" run --conf confirm_conf:true -- "$work/probe" 0 >"$work/irun.out" 2>"$work/irun.err"
check $? "the installed cairn runs a program"
[[ $(field 'malloc from' "$work/irun.out") == "$prefix/lib/libcairn.so.0" ]] &&
	grep -q '^cairn: options: narenas:' "$work/irun.err"
check $? "on the installed library: $(field 'malloc from' "$work/irun.out")"
[[ $("$prefix/bin/cairn" options --names) == "$listed" ]]
check $? "the installed cairn options lists every option"
rm -f "$prefix/lib/cairn/cairn_prof.py"
"$prefix/bin/cairn" prof top x >"$work/prof.out" 2>"$work/prof.err"
rc=$?
[[ $rc == 2 && $(wc -l <"$work/prof.err") == 1 && ! -s $work/prof.out ]] &&
	grep -q "^cairn prof: the profile tools are not installed (no cairn_prof.py in $prefix/lib/cairn)$" \
		"$work/prof.err"
check $? "cairn prof without cairn_prof.py: status 2 ($rc), one line: $(cat "$work/prof.err")"
[[ ! -e $prefix/lib/cairn/__pycache__ ]]
check $? "running the installed cairn leaves no __pycache__"
mk -s uninstall PREFIX="$prefix" >"$work/uninstall.log" 2>&1
check $? "make uninstall PREFIX=$prefix"
left=$(cd "$prefix" && find . -type f -o -type l)
[[ -z $left && ! -e $prefix/lib/cairn ]]
check $? "make uninstall leaves nothing of the command: $(echo $left)"

checks_done
