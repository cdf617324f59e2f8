# SPDX-License-Identifier: MIT
"""Reading cairn's heap_v2 dumps: the parser, jeprof's scaling of the
samples, the object files of MAPPED_LIBRARIES (ELF load segments and build
ids) and the symbolization of return addresses through addr2line."""

import math
import os
import re
import struct
import subprocess
import sys
from bisect import bisect_right


class ProfError(Exception):
    """A problem with the user's input: reported as one line, status 2."""


class Mapping:
    """One line of /proc/PID/maps as the dump copied it."""

    def __init__(self, start, limit, perms, offset, path):
        self.start = start
        self.limit = limit
        self.perms = perms
        self.offset = offset
        self.path = path


class Stack:
    """One "@ ..." record: return addresses, innermost first, and its
    sampled counts (live objects, live bytes, accumulated objects, bytes)."""

    def __init__(self, pcs, counts):
        self.pcs = pcs
        self.counts = counts


class Dump:
    def __init__(self, path, interval, totals, stacks, maps):
        self.path = path
        self.interval = interval
        self.totals = totals
        self.stacks = stacks
        self.maps = maps

    @property
    def has_accum(self):
        # cairn zeroes the header's accumulated totals unless prof_accum is
        # on (stacks with nothing live are dropped then, so their own
        # accumulated counts are not a full record of what was allocated).
        return self.totals[2] != 0 or self.totals[3] != 0

    def main_object(self):
        """The executable: the first file-backed mapping, as the loader
        maps the program before any library."""
        for m in self.maps:
            if m.path.startswith("/"):
                return m.path
        return None


_COUNTS = re.compile(r"^\s*t\*:\s*(\d+):\s*(\d+)\s*\[\s*(\d+):\s*(\d+)\s*\]\s*$")
_THREAD = re.compile(r"^\s*t\d+:")
_MAPS = re.compile(
    r"^([0-9a-fA-F]+)-([0-9a-fA-F]+)\s+(\S{4})\s+([0-9a-fA-F]+)\s+\S+\s+\d+\s*(.*)$"
)


def read_dump(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ProfError("%s: %s" % (path, e.strerror or e))
    text = raw.decode("utf-8", "replace")
    lines = text.split("\n")

    def bad(n, what):
        return ProfError("%s:%d: not a heap_v2 profile: %s" % (path, n, what))

    m = re.match(r"^heap_v2/(\d+)\s*$", lines[0] if lines else "")
    if not m:
        raise bad(1, 'the first line is not "heap_v2/<interval>"')
    interval = int(m.group(1))
    if len(lines) < 2 or not _COUNTS.match(lines[1]):
        raise bad(2, 'no "t*: <objects>: <bytes> [<objects>: <bytes>]" totals line')
    totals = tuple(int(x) for x in _COUNTS.match(lines[1]).groups())

    stacks, maps = [], []
    i, n = 2, len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("@"):
            words = line[1:].split()
            try:
                pcs = tuple(int(w, 16) for w in words)
            except ValueError:
                raise bad(i + 1, "an address that is not hexadecimal")
            if not pcs:
                raise bad(i + 1, "a stack without addresses")
            i += 1
            if i >= n:
                raise bad(i, "a stack without counts")
            c = _COUNTS.match(lines[i])
            if not c:
                raise bad(i + 1, 'expected the stack\'s "t*:" counts line')
            stacks.append(Stack(pcs, tuple(int(x) for x in c.groups())))
            i += 1
            # Per-thread lines (jemalloc writes them; cairn does not).
            while i < n and _THREAD.match(lines[i]):
                i += 1
        elif line.strip() == "":
            i += 1
        elif line.strip() == "MAPPED_LIBRARIES:":
            for j in range(i + 1, n):
                mm = _MAPS.match(lines[j])
                if mm:
                    p = mm.group(5).strip()
                    if p.endswith(" (deleted)"):
                        p = p[: -len(" (deleted)")]
                    maps.append(
                        Mapping(int(mm.group(1), 16), int(mm.group(2), 16),
                                mm.group(3), int(mm.group(4), 16), p))
                elif lines[j].strip():
                    raise bad(j + 1, "a MAPPED_LIBRARIES line that is not a maps line")
            break
        else:
            raise bad(i + 1, "unexpected line %r" % line[:60])
    maps.sort(key=lambda m: m.start)
    return Dump(path, interval, totals, stacks, maps)


def scale(objs, nbytes, interval):
    """Unbiases a stack's sampled counts as jeprof's AdjustSamples does for
    heap_v2: a block of s bytes is sampled with probability 1 - exp(-s/R),
    R the mean interval, so the counts are divided by that probability
    taken at the stack's mean block size."""
    if objs == 0 or interval <= 0:
        return float(objs), float(nbytes)
    p = 1.0 - math.exp(-(nbytes / objs) / interval)
    if p <= 0.0:
        return float(objs), float(nbytes)
    return objs / p, nbytes / p


def estimates(dump, alloc):
    """(stack, estimated objects, estimated bytes) for every stack with
    something to count: live blocks, or with alloc every sampled one."""
    out = []
    for s in dump.stacks:
        o, b = (s.counts[2], s.counts[3]) if alloc else (s.counts[0], s.counts[1])
        if o == 0 and b == 0:
            continue
        eo, eb = scale(o, b, dump.interval)
        out.append((s, eo, eb))
    return out


# ---------------------------------------------------------------- ELF

class ElfInfo:
    """What the tools need of an object file: its loadable segments (file
    offset to link-time address) and its GNU build id."""

    def __init__(self, path):
        self.loads = []
        self.build_id = ""
        self.ok = False
        try:
            with open(path, "rb") as f:
                self._read(f)
            self.ok = True
        except (OSError, ValueError, struct.error):
            pass

    def _read(self, f):
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise ValueError("not ELF")
        is64 = ident[4] == 2
        end = "<" if ident[5] == 1 else ">"
        if is64:
            hdr = struct.unpack(end + "HHIQQQIHHHHHH", f.read(48))
            phoff, phentsize, phnum = hdr[4], hdr[8], hdr[9]
            phfmt = end + "IIQQQQQQ"
        else:
            hdr = struct.unpack(end + "HHIIIIIHHHHHH", f.read(36))
            phoff, phentsize, phnum = hdr[4], hdr[8], hdr[9]
            phfmt = end + "IIIIIIII"
        notes = []
        for k in range(phnum):
            f.seek(phoff + k * phentsize)
            ph = struct.unpack(phfmt, f.read(struct.calcsize(phfmt)))
            if is64:
                p_type, _flags, p_offset, p_vaddr, _pa, p_filesz, _ms, _al = ph
            else:
                p_type, p_offset, p_vaddr, _pa, p_filesz, _ms, _flags, _al = ph
            if p_type == 1:  # PT_LOAD
                self.loads.append((p_offset, p_vaddr, p_filesz))
            elif p_type == 4:  # PT_NOTE
                notes.append((p_offset, p_filesz))
        for off, size in notes:
            f.seek(off)
            data = f.read(size)
            pos = 0
            while pos + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack(end + "III", data[pos:pos + 12])
                name_at = pos + 12
                desc_at = name_at + ((namesz + 3) & ~3)
                if ntype == 3 and data[name_at:name_at + namesz].rstrip(b"\0") == b"GNU":
                    self.build_id = data[desc_at:desc_at + descsz].hex()
                    return
                pos = desc_at + ((descsz + 3) & ~3)

    def file_to_vaddr(self, off):
        for p_offset, p_vaddr, p_filesz in self.loads:
            if p_offset <= off < p_offset + p_filesz:
                return off - p_offset + p_vaddr
        return off


# ---------------------------------------------------------------- symbols

class Frame:
    """A function with its file and line; frames are shared by every stack
    through the same address, so the short place is formatted once."""

    __slots__ = ("name", "file", "line", "place")

    def __init__(self, name, file="", line=0):
        self.name = name
        self.file = file
        self.line = line
        base = os.path.basename(file)
        self.place = ("%s:%d" % (base, line) if line else base) if file else ""

    def where(self):
        return self.place


def _progress(msg):
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[Kcairn prof: " + msg)
        sys.stderr.flush()


def _progress_done():
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


_warned = set()


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        sys.stderr.write("cairn prof: warning: %s\n" % msg)


def _addr2line(obj, addrs):
    """{address: [Frame, innermost first]} for the link-time addresses of
    one object, in one addr2line run; -a prints each address before its
    frames, which is how the inline chains (-i) are told apart."""
    if not addrs:
        return {}
    try:
        r = subprocess.run(
            ["addr2line", "-f", "-C", "-i", "-a", "-e", obj],
            input="".join("0x%x\n" % a for a in addrs),
            capture_output=True, text=True, errors="replace")
    except FileNotFoundError:
        _warn_once("addr2line", "addr2line not found (Debian package binutils): "
                   "frames are shown as addresses")
        return {}
    if r.returncode != 0:
        _warn_once(obj, "addr2line could not read %s: frames are shown as addresses" % obj)
        return {}
    lines = r.stdout.split("\n")
    out, i = {}, 0
    for a in addrs:
        while i < len(lines) and not _is_addr_line(lines[i], a):
            i += 1
        i += 1
        frames = []
        while i + 1 < len(lines) and not (
                lines[i].startswith("0x") and _hexline(lines[i])):
            name, loc = lines[i], lines[i + 1]
            i += 2
            file, line = "", 0
            loc = re.sub(r"\s*\(discriminator \d+\)$", "", loc)
            if ":" in loc:
                file, _, ln = loc.rpartition(":")
                line = int(ln) if ln.isdigit() else 0
                if file == "??":
                    file = ""
            if name == "??":
                name = ""
            frames.append(Frame(name, file, line))
        out[a] = frames
    return out


def _hexline(s):
    try:
        int(s, 16)
        return True
    except ValueError:
        return False


def _is_addr_line(s, a):
    return s.startswith("0x") and _hexline(s) and int(s, 16) == a


class Symbolizer:
    """Turns the dump's return addresses into frames. An address is found in
    MAPPED_LIBRARIES, turned into an offset in its object file and then into
    the object's own address through its load segments, as jeprof does;
    one addr2line run per object names them all. program replaces the
    executable's path (a binary moved or copied from another machine)."""

    def __init__(self, dump, program=None):
        self.maps = dump.maps
        self.starts = [m.start for m in self.maps]
        self.exe = dump.main_object()
        self.program = program
        self.elf = {}
        self.cache = {}

    def object_path(self, m):
        if self.program and m.path == self.exe:
            return self.program
        return m.path

    def mapping_of(self, addr):
        k = bisect_right(self.starts, addr) - 1
        if k >= 0 and self.maps[k].start <= addr < self.maps[k].limit:
            return self.maps[k]
        return None

    def elf_info(self, path):
        if path not in self.elf:
            self.elf[path] = ElfInfo(path)
        return self.elf[path]

    def object_address(self, addr):
        """(object path, address in the object) or (None, addr)."""
        m = self.mapping_of(addr)
        if m is None or not m.path.startswith("/"):
            return None, addr
        path = self.object_path(m)
        off = addr - m.start + m.offset
        info = self.elf_info(path)
        return path, (info.file_to_vaddr(off) if info.ok else off)

    def symbolize(self, pcs):
        """Frames for the call sites of the return addresses pcs (each less
        one, so that a call at the end of a function is not taken for the
        next function's first line), innermost first per address."""
        todo = {}
        for pc in pcs:
            if pc in self.cache:
                continue
            obj, oaddr = self.object_address(pc - 1)
            todo.setdefault(obj, []).append((pc, oaddr))
        total = sum(len(v) for v in todo.values())
        done = 0
        for obj, items in todo.items():
            names = {}
            if obj is not None and os.path.isfile(obj):
                _progress("symbolizing %d addresses (%d done): %s" %
                          (total, done, os.path.basename(obj)))
                names = _addr2line(obj, sorted({a for _, a in items}))
            elif obj is not None:
                _warn_once(obj, "%s not found: its frames are shown as addresses" % obj)
            for pc, oaddr in items:
                frames = [f for f in names.get(oaddr, []) if f.name]
                if not frames:
                    base = os.path.basename(obj) if obj else "?"
                    frames = [Frame("0x%x (%s)" % (oaddr, base))]
                self.cache[pc] = frames
            done += len(items)
        _progress_done()

    def frames(self, pc):
        return self.cache[pc]

    def stack_frames(self, pcs):
        """The symbolized frames of a whole stack, innermost first."""
        out = []
        for pc in pcs:
            out.extend(self.cache[pc])
        return out


def symbolized(dump, alloc, program=None):
    """[(frames innermost first, objects, bytes)] estimated for each stack,
    with the symbolizer (for pprof's mappings and addresses)."""
    rows = estimates(dump, alloc)
    sym = Symbolizer(dump, program)
    sym.symbolize({pc for s, _, _ in rows for pc in s.pcs})
    return [(sym.stack_frames(s.pcs), o, b, s) for s, o, b in rows], sym
