#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cairn prof: reads cairn's heap profiles (jemalloc's heap_v2 files).

    cairn prof top [--lines N] [--inuse|--alloc] [--program EXE] DUMP
    cairn prof diff [--lines N] [--inuse|--alloc] [--program EXE] OLD NEW
    cairn prof collapsed [--inuse|--alloc] [--program EXE] DUMP
    cairn prof flame [-o FILE.html] [--inuse|--alloc] [--program EXE] DUMP
    cairn prof pprof [-o FILE.pb.gz] [--addresses-only] [--program EXE] DUMP

The figures are estimates from the samples, scaled as jeprof scales them;
frames are named by addr2line from the object files the dump's
MAPPED_LIBRARIES section lists (--program names the executable when it is
no longer where the profiled process ran it from)."""

import argparse
import os
import sys

# The modules beside this one, and no bytecode left in an installed tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cairn_prof_data import ProfError, read_dump, symbolized  # noqa: E402

USAGE_STATUS = 2


def human(n):
    """Bytes with a binary unit, one decimal, as people read sizes."""
    a = abs(n)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if a >= size:
            return "%.1f %s" % (n / size, unit)
    return "%.0f B" % n


def pct(part, whole):
    return "%5.1f%%" % (100.0 * part / whole) if whole else "    -"


class Table:
    """Per-function figures of one profile: the bytes allocated by the
    function itself (the innermost frame), by it and what it calls
    (counted once per stack, however often the function recurs), and the
    file:line holding most of them."""

    def __init__(self, rows):
        self.self_b, self.cum_b = {}, {}
        self.where = {}
        self.total_b = self.total_o = 0.0
        for frames, o, b, _ in rows:
            self.total_b += b
            self.total_o += o
            if not frames:
                continue
            leaf = frames[0].name
            self.self_b[leaf] = self.self_b.get(leaf, 0.0) + b
            seen = set()
            for f in frames:
                places = self.where.setdefault(f.name, {})
                places[f.place] = places.get(f.place, 0.0) + b
                if f.name in seen:
                    continue
                seen.add(f.name)
                self.cum_b[f.name] = self.cum_b.get(f.name, 0.0) + b

    def location(self, name):
        places = self.where.get(name, {})
        best = max(places.items(), key=lambda kv: kv[1], default=("", 0))[0]
        return " (%s)" % best if best else ""


def load(path, alloc, program):
    dump = read_dump(path)
    if alloc and not dump.has_accum:
        raise ProfError("%s: no allocation counts in this profile: they need "
                        "MALLOC_CONF=prof_accum:true" % path)
    rows, sym = symbolized(dump, alloc, program)
    return dump, rows, sym


def what(dump, alloc):
    return "%s, estimated from samples taken on average every %s" % (
        "allocated since start" if alloc else "in use", human(dump.interval))


def cmd_top(a):
    dump, rows, _ = load(a.dump, a.alloc, a.program)
    t = Table(rows)
    print("Total: %s in %.0f objects (%s)" % (human(t.total_b), t.total_o, what(dump, a.alloc)))
    print("%11s %6s %6s %11s %6s  %s" % ("self", "self%", "sum%", "cum", "cum%",
                                         "function (file:line)"))
    names = sorted(t.cum_b, key=lambda n: (-t.self_b.get(n, 0.0), -t.cum_b[n], n))
    running = 0.0
    for n in names[: a.lines]:
        s = t.self_b.get(n, 0.0)
        running += s
        print("%11s %6s %6s %11s %6s  %s%s" % (
            human(s), pct(s, t.total_b), pct(running, t.total_b),
            human(t.cum_b[n]), pct(t.cum_b[n], t.total_b), n, t.location(n)))
    return 0


def signed(n):
    return ("+" if n >= 0 else "-") + human(abs(n))


def cmd_diff(a):
    _, old_rows, _ = load(a.old, a.alloc, a.program)
    new_dump, new_rows, _ = load(a.new, a.alloc, a.program)
    old, new = Table(old_rows), Table(new_rows)
    print("Growth: %s, from %s to %s (%s)" % (
        signed(new.total_b - old.total_b), human(old.total_b), human(new.total_b),
        what(new_dump, a.alloc)))
    print("%12s %12s %11s %11s  %s" % ("self growth", "cum growth", "self now", "cum now",
                                       "function (file:line)"))
    names = set(old.cum_b) | set(new.cum_b)

    def grow(which, n):
        return getattr(new, which).get(n, 0.0) - getattr(old, which).get(n, 0.0)

    rows = [(grow("self_b", n), grow("cum_b", n), n) for n in names]
    rows = [r for r in rows if abs(r[0]) >= 0.5 or abs(r[1]) >= 0.5]
    rows.sort(key=lambda r: (-r[0], -r[1], r[2]))
    for ds, dc, n in rows[: a.lines]:
        loc = new.location(n) if n in new.where else old.location(n)
        print("%12s %12s %11s %11s  %s%s" % (signed(ds), signed(dc), human(new.self_b.get(n, 0.0)),
                                             human(new.cum_b.get(n, 0.0)), n, loc))
    return 0


def folded(rows):
    """{"root;...;leaf": bytes}: stacks that name the same functions merge."""
    out = {}
    for frames, _, b, _ in rows:
        key = ";".join(f.name.replace(";", ":") for f in reversed(frames))
        out[key] = out.get(key, 0.0) + b
    return out


def cmd_collapsed(a):
    _, rows, _ = load(a.dump, a.alloc, a.program)
    for key, b in sorted(folded(rows).items(), key=lambda kv: -kv[1]):
        if round(b) > 0:
            print("%s %d" % (key, round(b)))
    return 0


def cmd_flame(a):
    from cairn_prof_flame import html

    dump, rows, _ = load(a.dump, a.alloc, a.program)
    out = a.output or os.path.basename(a.dump) + ".html"
    page = html(dump, rows, what(dump, a.alloc), alloc=a.alloc)
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)
    sys.stderr.write("cairn prof: wrote %s\n" % out)
    return 0


def cmd_pprof(a):
    import cairn_prof_pprof

    dump = read_dump(a.dump)
    rows, sym = symbolized(dump, False, a.program)
    data = cairn_prof_pprof.encode(dump, rows, sym, with_symbols=not a.addresses_only)
    out = a.output or os.path.basename(a.dump) + ".pb.gz"
    cairn_prof_pprof.write(out, data)
    sys.stderr.write("cairn prof: wrote %s\n" % out)
    return 0


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("cairn prof: %s (see cairn prof --help)\n" % message)
        sys.exit(USAGE_STATUS)


def parser():
    p = Parser(prog="cairn prof", description="Read cairn's heap profiles (heap_v2 files).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(sp, counts=True):
        sp.add_argument("--program", metavar="EXE",
                        help="the profiled executable, where the dump's path is no longer right")
        if counts:
            g = sp.add_mutually_exclusive_group()
            g.add_argument("--inuse", dest="alloc", action="store_false",
                           help="memory live at the dump (the default)")
            g.add_argument("--alloc", dest="alloc", action="store_true",
                           help="memory allocated since start (needs prof_accum:true)")
            sp.set_defaults(alloc=False)

    def positive(s):
        try:
            n = int(s)
        except ValueError:
            n = 0
        if n <= 0:
            raise argparse.ArgumentTypeError("--lines takes a positive number, not %r" % s)
        return n

    sp = sub.add_parser("top", help="the sites holding the most memory")
    sp.add_argument("--lines", type=positive, default=20, metavar="N")
    common(sp)
    sp.add_argument("dump", metavar="DUMP")
    sp.set_defaults(run=cmd_top)

    sp = sub.add_parser("diff", help="growth per site between two dumps")
    sp.add_argument("--lines", type=positive, default=20, metavar="N")
    common(sp)
    sp.add_argument("old", metavar="OLD")
    sp.add_argument("new", metavar="NEW")
    sp.set_defaults(run=cmd_diff)

    sp = sub.add_parser("collapsed", help="folded stacks (main;f;g bytes)")
    common(sp)
    sp.add_argument("dump", metavar="DUMP")
    sp.set_defaults(run=cmd_collapsed)

    sp = sub.add_parser("flame", help="an interactive flame graph in one HTML file")
    sp.add_argument("-o", "--output", metavar="FILE.html")
    common(sp)
    sp.add_argument("dump", metavar="DUMP")
    sp.set_defaults(run=cmd_flame)

    sp = sub.add_parser("pprof", help="pprof's protobuf format (gzip)")
    sp.add_argument("-o", "--output", metavar="FILE.pb.gz")
    sp.add_argument("--addresses-only", action="store_true",
                    help="leave the functions out: pprof names them from the binaries")
    common(sp, counts=False)
    sp.add_argument("dump", metavar="DUMP")
    sp.set_defaults(run=cmd_pprof)
    return p


def main(argv: list[str]) -> int:
    """Runs `cairn prof ARGV...` and returns the exit status (0, or 2 for a
    usage error or a file it cannot read): the cairn command calls this
    and exits itself, so nothing here ends the process."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already reported
        return e.code if isinstance(e.code, int) else USAGE_STATUS
    try:
        return args.run(args)
    except ProfError as e:
        sys.stderr.write("cairn prof: %s\n" % e)
        return USAGE_STATUS
    except BrokenPipeError:
        # A reader that stopped early (| head): nothing more to say.
        sys.stderr.close()
        return 0
    except OSError as e:
        sys.stderr.write("cairn prof: %s: %s\n" % (e.filename or "", e.strerror or e))
        return USAGE_STATUS


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
