# SPDX-License-Identifier: MIT
"""pprof's profile.proto, encoded by hand (the tools use the standard library
only): varints and length-delimited fields, gzip around the whole."""

import gzip
import os

from cairn_prof_data import estimates

# Field numbers of profile.proto (github.com/google/pprof/proto/profile.proto).
PROFILE_SAMPLE_TYPE, PROFILE_SAMPLE, PROFILE_MAPPING, PROFILE_LOCATION = 1, 2, 3, 4
PROFILE_FUNCTION, PROFILE_STRING_TABLE = 5, 6
PROFILE_PERIOD_TYPE, PROFILE_PERIOD, PROFILE_COMMENT, PROFILE_DEFAULT_SAMPLE_TYPE = 11, 12, 13, 14
VALUE_TYPE_TYPE, VALUE_TYPE_UNIT = 1, 2
SAMPLE_LOCATION_ID, SAMPLE_VALUE = 1, 2
MAPPING_ID, MAPPING_START, MAPPING_LIMIT, MAPPING_OFFSET = 1, 2, 3, 4
MAPPING_FILENAME, MAPPING_BUILD_ID = 5, 6
MAPPING_HAS_FUNCTIONS, MAPPING_HAS_FILENAMES = 7, 8
MAPPING_HAS_LINE_NUMBERS, MAPPING_HAS_INLINE_FRAMES = 9, 10
LOCATION_ID, LOCATION_MAPPING_ID, LOCATION_ADDRESS, LOCATION_LINE = 1, 2, 3, 4
LINE_FUNCTION_ID, LINE_LINE = 1, 2
FUNCTION_ID, FUNCTION_NAME, FUNCTION_SYSTEM_NAME, FUNCTION_FILENAME = 1, 2, 3, 4

WIRE_VARINT, WIRE_LEN = 0, 2


def varint(n):
    # int64 fields carry negative numbers as their two's complement in 64
    # bits: ten bytes on the wire.
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Message:
    def __init__(self):
        self.buf = bytearray()

    def uint(self, field, n):
        """A varint field; zero is the default and is left out."""
        if n:
            self.buf += varint(field << 3 | WIRE_VARINT)
            self.buf += varint(n)
        return self

    def bytes(self, field, data):
        self.buf += varint(field << 3 | WIRE_LEN)
        self.buf += varint(len(data))
        self.buf += data
        return self

    def msg(self, field, m):
        return self.bytes(field, bytes(m.buf))

    def packed(self, field, nums):
        if nums:
            self.bytes(field, b"".join(varint(n) for n in nums))
        return self


class Strings:
    """The string table: index 0 is the empty string, as the format says."""

    def __init__(self):
        self.list = [""]
        self.index = {"": 0}

    def __call__(self, s):
        if s not in self.index:
            self.index[s] = len(self.list)
            self.list.append(s)
        return self.index[s]


def encode(dump, rows, sym, with_symbols):
    """The profile of a dump as profile.proto bytes (not compressed).
    rows are cairn_prof_data.symbolized's for the live counts; the
    accumulated ones are added when the dump has them."""
    strings = Strings()
    prof = Message()
    types = [("inuse_objects", "count"), ("inuse_space", "bytes")]
    accum = {}
    if dump.has_accum:
        types += [("alloc_objects", "count"), ("alloc_space", "bytes")]
        for s, o, b in estimates(dump, alloc=True):
            accum[id(s)] = (o, b)
    for t, u in types:
        prof.msg(PROFILE_SAMPLE_TYPE,
                 Message().uint(VALUE_TYPE_TYPE, strings(t)).uint(VALUE_TYPE_UNIT, strings(u)))

    # Mappings: the executable first (pprof takes the first mapping for the
    # main binary), then every other mapping of an object file that holds
    # code, so that pprof can find each address's object.
    exe = dump.main_object()
    code = [m for m in dump.maps if "x" in m.perms and m.path.startswith("/")]
    code.sort(key=lambda m: (m.path != exe, m.start))
    map_id = {}
    symbolized_ids = set()
    pcs = set()
    for _, _, _, s in rows:
        pcs.update(s.pcs)
    if accum:
        for s in dump.stacks:
            if id(s) in accum:
                pcs.update(s.pcs)
    # Stacks with nothing live were not symbolized with the live ones.
    sym.symbolize(pcs)
    for pc in pcs:
        m = sym.mapping_of(pc - 1)
        if m is not None and with_symbols:
            if any(not f.name.startswith("0x") for f in sym.frames(pc)):
                symbolized_ids.add(m.start)

    functions = {}
    funcs_msgs = []
    for k, m in enumerate(code, 1):
        map_id[m.start] = k
        path = sym.object_path(m)
        mm = (Message().uint(MAPPING_ID, k).uint(MAPPING_START, m.start)
              .uint(MAPPING_LIMIT, m.limit).uint(MAPPING_OFFSET, m.offset)
              .uint(MAPPING_FILENAME, strings(path))
              .uint(MAPPING_BUILD_ID, strings(sym.elf_info(path).build_id)))
        if m.start in symbolized_ids:
            # pprof does not symbolize again a mapping that says it is.
            for f in (MAPPING_HAS_FUNCTIONS, MAPPING_HAS_FILENAMES,
                      MAPPING_HAS_LINE_NUMBERS, MAPPING_HAS_INLINE_FRAMES):
                mm.uint(f, 1)
        prof.msg(PROFILE_MAPPING, mm)

    # One location per return address, at the call (the address less one,
    # as pprof's own heap profiles have it).
    loc_id = {}
    for pc in sorted(pcs):
        k = len(loc_id) + 1
        loc_id[pc] = k
        m = sym.mapping_of(pc - 1)
        lm = Message().uint(LOCATION_ID, k).uint(LOCATION_ADDRESS, pc - 1)
        if m is not None and m.start in map_id:
            lm.uint(LOCATION_MAPPING_ID, map_id[m.start])
        if with_symbols and m is not None and m.start in symbolized_ids:
            for f in sym.frames(pc):
                if f.name.startswith("0x"):
                    continue
                key = (f.name, f.file)
                if key not in functions:
                    functions[key] = len(functions) + 1
                    funcs_msgs.append(
                        Message().uint(FUNCTION_ID, functions[key])
                        .uint(FUNCTION_NAME, strings(f.name))
                        .uint(FUNCTION_SYSTEM_NAME, strings(f.name))
                        .uint(FUNCTION_FILENAME, strings(f.file)))
                lm.msg(LOCATION_LINE, Message().uint(LINE_FUNCTION_ID, functions[key])
                       .uint(LINE_LINE, f.line))
        prof.msg(PROFILE_LOCATION, lm)
    for fm in funcs_msgs:
        prof.msg(PROFILE_FUNCTION, fm)

    live = {id(s): (o, b) for _, o, b, s in rows}
    for s in dump.stacks:
        if id(s) not in live and id(s) not in accum:
            continue
        o, b = live.get(id(s), (0.0, 0.0))
        values = [round(o), round(b)]
        if dump.has_accum:
            ao, ab = accum.get(id(s), (0.0, 0.0))
            values += [round(ao), round(ab)]
        prof.msg(PROFILE_SAMPLE, Message()
                 .packed(SAMPLE_LOCATION_ID, [loc_id[pc] for pc in s.pcs])
                 .packed(SAMPLE_VALUE, values))

    # What one sample stands for: the mean bytes between samples.
    prof.msg(PROFILE_PERIOD_TYPE, Message().uint(VALUE_TYPE_TYPE, strings("space"))
             .uint(VALUE_TYPE_UNIT, strings("bytes")))
    prof.uint(PROFILE_PERIOD, dump.interval)
    prof.packed(PROFILE_COMMENT, [strings("cairn heap profile %s" % os.path.basename(dump.path)),
                                  strings("values estimated from samples taken "
                                          "on average every %d bytes" % dump.interval)])
    prof.uint(PROFILE_DEFAULT_SAMPLE_TYPE, strings("inuse_space"))
    for s in strings.list:
        prof.bytes(PROFILE_STRING_TABLE, s.encode("utf-8"))
    return bytes(prof.buf)


def write(path, data):
    """Writes the profile gzipped, as pprof and the profilers that ingest
    it expect (pprof also reads it uncompressed)."""
    with open(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0))
