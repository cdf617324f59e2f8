# SPDX-License-Identifier: MIT
"""The cairn command: runs a program on cairn, lists cairn's options, says
which library it uses, and hosts the profile tools (`cairn prof`, in
cairn_prof.py beside this file).

bin/cairn, which the Makefile writes from tools/cairn/cairn.in, puts this
folder first on sys.path and calls main() with the library and version it was
built for: lib/libcairn.so.0 of the build tree for `make`, LIBDIR's for
`make install`. The options table comes from options.tsv in the same folder,
generated at build time from src/control/options.def
(tools/gen_options_tsv.c), so it is never written by hand.

Only the standard library: the command must run on a Debian base system.
"""

import argparse
import difflib
import os
import shutil
import stat
import struct
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIONS_FILE = os.path.join(HERE, "options.tsv")
COMPLETION_FILE = os.path.join(HERE, "completion.bash")

# The kernel follows at most this many #! interpreters before it gives up
# (ELOOP); following more here would only describe a program that cannot run.
MAX_SCRIPT_DEPTH = 4

ELF_MACHINES = {3: "i386", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}


class Refusal(Exception):
    """A reason not to run: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and status 2."""

    def error(self, message):
        sys.stderr.write("%s: %s (%s --help shows the usage)\n" % (self.prog, message, self.prog))
        sys.exit(2)


# ---------------------------------------------------------------- options


def load_options():
    """The options table: a list of (name, type, default, meaning)."""
    try:
        with open(OPTIONS_FILE, encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except OSError as e:
        raise Refusal("cannot read the options table %s: %s" % (OPTIONS_FILE, e.strerror))
    for row in rows:
        if len(row) != 4:
            raise Refusal("%s: a line without 4 fields: %r" % (OPTIONS_FILE, "\t".join(row)))
    return rows


def unknown_option(name, names):
    close = difflib.get_close_matches(name, names, n=3)
    hint = " (did you mean %s?)" % " or ".join(close) if close else ""
    return "no option %r%s; `cairn options` lists them" % (name, hint)


def show_option(row, width):
    name, kind, default, meaning = row
    body = textwrap.fill(meaning, width=max(width, 40), initial_indent="    ",
                         subsequent_indent="    ")
    return "%s (%s; default %s)\n%s\n" % (name, kind, default, body)


def cmd_options(args, install):
    rows = load_options()
    if args.names:
        sys.stdout.write("".join(row[0] + "\n" for row in rows))
        return 0
    if args.name:
        found = [row for row in rows if row[0] == args.name]
        if not found:
            raise Refusal(unknown_option(args.name, [row[0] for row in rows]))
        rows = found
    width = min(shutil.get_terminal_size((80, 24)).columns, 100) - 1
    sys.stdout.write("".join(show_option(row, width) for row in rows))
    return 0


# ---------------------------------------------------------------- ELF


def elf_header(path):
    """(class bits, machine, has PT_INTERP, file type) of an ELF file, or None
    when the file is not ELF. Only the file and program headers are read."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF":
            return None
        if len(ident) < 52 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise Refusal("%s: a broken ELF header" % path)
        order = "<" if ident[5] == 1 else ">"
        e_type, machine = struct.unpack_from(order + "HH", ident, 16)
        if ident[4] == 2:
            bits = 64
            (phoff,) = struct.unpack_from(order + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
        else:
            bits = 32
            (phoff,) = struct.unpack_from(order + "I", ident, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
        if phnum and phentsize < 4:
            raise Refusal("%s: a broken ELF header (program headers of %d bytes)"
                          % (path, phentsize))
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    if len(table) < phentsize * phnum:
        raise Refusal("%s: its ELF program headers are cut short" % path)
    PT_INTERP = 3
    interp = any(struct.unpack_from(order + "I", table, i * phentsize)[0] == PT_INTERP
                 for i in range(phnum))
    return bits, machine, interp, e_type


def elf_kind(bits, machine):
    return "%d-bit %s" % (bits, ELF_MACHINES.get(machine, "machine %d" % machine))


# ---------------------------------------------------------------- run


def find_program(name, path_var):
    """Where execvp would find NAME: itself when it holds a slash, else the
    first PATH entry holding an executable file of that name."""
    if "/" in name:
        if not os.path.lexists(name):
            raise Refusal("%s: not found" % name)
        return name
    fallback = None
    for folder in (path_var or os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            fallback = fallback or candidate
    if fallback:
        return fallback  # to be refused as not executable, by name
    raise Refusal("%s: not found in PATH" % name)


def check_program(path, path_var, library_elf, depth=0):
    """Refuses a program cairn cannot be preloaded into: one that does not
    exist or cannot be executed, one with no program interpreter (static: no
    ld.so reads LD_PRELOAD), a set-user-ID or set-group-ID one or one with
    file capabilities (ld.so ignores LD_PRELOAD in that secure mode), or one
    of another architecture than the library. A #!
    script is judged by its interpreter (through /usr/bin/env NAME, by NAME)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise Refusal("%s: %s" % (path, e.strerror.lower() if e.strerror else "cannot stat"))
    if not stat.S_ISREG(st.st_mode):
        raise Refusal("%s: not a regular file" % path)
    if not st.st_mode & 0o111 or not os.access(path, os.X_OK):
        raise Refusal("%s: not executable (mode %o)" % (path, stat.S_IMODE(st.st_mode)))
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError as e:
        raise Refusal("%s: cannot be read: %s" % (path, e.strerror))
    if head.startswith(b"#!"):
        if depth >= MAX_SCRIPT_DEPTH:
            raise Refusal("%s: more than %d #! interpreters in a row" % (path, MAX_SCRIPT_DEPTH))
        words = head[2:].split(b"\n", 1)[0].split(None, 1)
        if not words:
            raise Refusal("%s: a #! line with no interpreter" % path)
        interp = os.fsdecode(words[0])
        arg = os.fsdecode(words[1].strip()) if len(words) > 1 else ""
        if os.path.basename(interp) == "env" and arg and not arg.startswith("-") and " " not in arg:
            return check_program(find_program(arg, path_var), path_var, library_elf, depth + 1)
        return check_program(interp, path_var, library_elf, depth + 1)
    info = elf_header(path)
    if info is None:
        raise Refusal("%s: neither an ELF executable nor a #! script" % path)
    bits, machine, interp, _ = info
    if not interp:
        raise Refusal("%s is statically linked (no program interpreter), so LD_PRELOAD cannot "
                      "load cairn into it; link it with libcairn.a instead" % path)
    if st.st_mode & stat.S_ISUID or (st.st_mode & stat.S_ISGID and st.st_mode & stat.S_IXGRP):
        which = "set-user-ID" if st.st_mode & stat.S_ISUID else "set-group-ID"
        raise Refusal("%s is %s: the loader ignores LD_PRELOAD for it" % (path, which))
    if file_capabilities(path):
        raise Refusal("%s has file capabilities (%s): the loader ignores LD_PRELOAD for it"
                      % (path, "security.capability"))
    if library_elf and (bits, machine) != library_elf[:2]:
        raise Refusal("%s is %s, the library is %s: the loader would not load it"
                      % (path, elf_kind(bits, machine), elf_kind(*library_elf[:2])))


def file_capabilities(path):
    """Whether executing PATH grants capabilities, which puts the loader in
    secure mode as set-user-ID does: the permitted sets of its
    security.capability attribute (vfs_cap_data: magic, then permitted and
    inheritable for capabilities 0-31, then the same for 32-63)."""
    try:
        caps = os.getxattr(path, "security.capability")
    except (OSError, AttributeError):
        return False  # none, or a file system without extended attributes
    words = struct.unpack_from("<%dI" % (len(caps) // 4), caps)
    return any(words[i] for i in (1, 3) if i < len(words))


def conf_items(args, names):
    """The MALLOC_CONF items the flags ask for, checked: name:value, a known
    name, no comma inside a value (MALLOC_CONF could not hold it)."""
    items = []
    for group in args.conf or []:
        for item in group.split(","):
            if not item:
                continue
            name, colon, _ = item.partition(":")
            if not colon:
                raise Refusal("--conf: %r is not NAME:VALUE" % item)
            if name not in names:
                raise Refusal("--conf: " + unknown_option(name, names))
            items.append(item)
    if args.prof is not None:
        if not args.prof or any(c in args.prof for c in ", \t\n"):
            raise Refusal("--prof: %r: a prefix must be non-empty, without commas or spaces"
                          % args.prof)
        items += ["prof:true", "prof_prefix:" + args.prof]
    if args.stats:
        items.append("stats_print:true")
    return items


def cmd_run(args, install):
    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not command:
        raise Refusal("no program to run (cairn run [OPTIONS] -- PROGRAM [ARGS])")
    library = os.path.abspath(args.lib or install.library)
    if not os.path.isfile(library):
        raise Refusal("the library %s does not exist%s" % (
            library, "" if args.lib else " (was cairn moved? --lib PATH names another)"))
    if any(c in library for c in ": \t\n"):
        raise Refusal("%r: LD_PRELOAD cannot name a path with a colon or a blank" % library)
    names = [row[0] for row in load_options()]
    items = conf_items(args, names)
    library_elf = elf_header(library)
    if library_elf is None:
        raise Refusal("%s is not an ELF shared library" % library)

    env = dict(os.environ)
    path = find_program(command[0], env.get("PATH"))
    check_program(path, env.get("PATH"), library_elf)
    preload = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = library + (":" + preload if preload else "")
    if items:
        # After the user's own MALLOC_CONF: for a name given twice, the later
        # item wins, so the flags of this command line do.
        before = env.get("MALLOC_CONF", "").strip(",")
        env["MALLOC_CONF"] = ",".join(([before] if before else []) + items)
    try:
        os.execve(path, command, env)
    except OSError as e:
        raise Refusal("%s: %s" % (path, e.strerror))


# ---------------------------------------------------------------- the rest


def cmd_version(args, install):
    there = os.path.isfile(install.library)
    print("cairn %s" % install.version)
    print("library: %s%s" % (install.library, "" if there else " (missing)"))
    return 0 if there else 1


def cmd_prof(args, install):
    try:
        import cairn_prof
    except ModuleNotFoundError as e:
        if e.name != "cairn_prof":
            raise
        raise Refusal("the profile tools are not installed (no cairn_prof.py in %s)" % HERE)
    return cairn_prof.main(list(args.words))


def cmd_completion(args, install):
    try:
        with open(COMPLETION_FILE, encoding="utf-8") as f:
            sys.stdout.write(f.read())
    except OSError as e:
        raise Refusal("cannot read %s: %s" % (COMPLETION_FILE, e.strerror))
    return 0


class Install:
    def __init__(self, library, version):
        self.library = library
        self.version = version


def parser():
    top = Parser(prog="cairn", description="Run programs on the cairn allocator and inspect it.",
                 epilog="`cairn COMMAND --help` describes each command; man cairn has it all.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser(
        "run", help="run a program with cairn preloaded",
        description="Run PROGRAM with LD_PRELOAD naming cairn's library (before any the "
        "environment names) and MALLOC_CONF holding the options given (after the "
        "environment's, so they win). The program replaces this command: its signals and "
        "exit status are its own. Refused (status 2): a program not found or not "
        "executable, a static one, a set-user-ID or set-group-ID one, one of another "
        "architecture. A #! script is judged by its interpreter.",
        usage="cairn run [--conf NAME:VALUE,...] [--prof PREFIX] [--stats] [--lib PATH] "
        "[--] PROGRAM [ARGS...]")
    run.add_argument("--conf", action="append", metavar="NAME:VALUE,...",
                     help="cairn options (see `cairn options`); may be repeated")
    run.add_argument("--prof", metavar="PREFIX",
                     help="heap profiling: prof:true,prof_prefix:PREFIX")
    run.add_argument("--stats", action="store_true",
                     help="print the statistics report at exit: stats_print:true")
    run.add_argument("--lib", metavar="PATH", help="preload this libcairn.so.0 instead")
    run.add_argument("program", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_run)

    options = sub.add_parser(
        "options", help="list cairn's options (MALLOC_CONF names)",
        description="Every option MALLOC_CONF takes, with its type, default and meaning; "
        "with NAME, that one.")
    options.add_argument("name", nargs="?", metavar="NAME")
    options.add_argument("--names", action="store_true", help="the names alone, one a line")
    options.set_defaults(handler=cmd_options)

    version = sub.add_parser("version", help="cairn's version and the library `run` preloads",
                             description="Print cairn's version and the library `cairn run` "
                             "preloads; status 1 when that library is missing.")
    version.set_defaults(handler=cmd_version)

    prof = sub.add_parser("prof", help="read heap profiles (cairn prof --help)", add_help=False,
                          description="The heap profile tools (cairn_prof.py).")
    prof.add_argument("words", nargs=argparse.REMAINDER)
    prof.set_defaults(handler=cmd_prof)

    completion = sub.add_parser("completion", help="print the shell completion script",
                                description="Print the completion script for SHELL (bash): "
                                "eval \"$(cairn completion bash)\" in ~/.bashrc.")
    completion.add_argument("shell", choices=["bash"], metavar="SHELL")
    completion.set_defaults(handler=cmd_completion)
    return top


def main(argv, library, version):
    install = Install(library, version)
    if argv[:1] == ["prof"]:
        # Every word after `prof`, --help too, is the profile tools' own.
        try:
            return cmd_prof(argparse.Namespace(words=argv[1:]), install)
        except Refusal as e:
            sys.stderr.write("cairn prof: %s\n" % e)
            return 2
    top = parser()
    args = top.parse_args(argv)
    if not getattr(args, "handler", None):
        top.print_usage(sys.stderr)
        return 2
    try:
        return args.handler(args, install)
    except Refusal as e:
        sys.stderr.write("cairn %s: %s\n" % (args.command, e))
        return 2
    except BrokenPipeError:
        # `cairn options | head`: the reader left; nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        sys.stderr.write("cairn %s: %s: %s\n" % (args.command, e.filename or "", e.strerror))
        return 2
