# SPDX-License-Identifier: MIT
"""py_work: a real program, CPython, doing ordinary object-heavy work.

Pattern modelled: a Python service or script -- build a large dictionary of
records (dicts, lists, strings, ints, floats), sort it, serialise it to JSON
and parse it back, regroup it, drop most of it and build something else.
Everything in CPython is a heap object: this is the allocation pattern of
an interpreter, millions of small objects with mixed lifetimes plus the
large buffers of lists, dict tables and JSON strings.

bench/run.py runs it as a whole command, timed from outside, with
PYTHONMALLOC=malloc, so that every object -- not only those over 512 bytes
-- goes to the allocator under test (by default CPython's own pymalloc
serves the small ones from 1 MiB arenas it maps itself, and the allocator
would see little of the program). Fixed inputs, no randomness; the results
are checked, and the last line is the usual key=value line with errors=,
rss_end_kb= and anon_huge_kb= (read from /proc/self at the end, after the
data was dropped).

Usage: python3 py_work.py [N_RECORDS]   (default 200000)
"""

import json
import sys
import time


def proc_kb(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    t0 = time.perf_counter()
    errors = 0

    # 1. a dictionary of records
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta",
             "theta", "iota", "kappa", "lambda", "mu"]
    db = {}
    for i in range(n):
        k = (i * 7919) % 1000003
        db["user:%07d" % k] = {
            "id": k,
            "name": "%s-%s-%d" % (words[i % 12], words[(i * 7) % 12], i),
            "score": (i * 37 % 1000) / 10.0,
            "tags": [words[(i + j) % 12] for j in range(i % 6)],
            "hist": list(range(i % 9)),
        }

    # 2. sort records in two orders
    by_score = sorted(db.values(), key=lambda r: (-r["score"], r["id"]))
    by_name = sorted(db, key=lambda key: db[key]["name"])
    if by_score[0]["score"] != 99.9 or len(by_name) != n:
        errors += 1

    # 3. JSON round trip of the whole thing, in chunks, as a service would
    total_len = 0
    back = {}
    chunk = 5000
    keys = by_name
    for s in range(0, n, chunk):
        part = {key: db[key] for key in keys[s:s + chunk]}
        text = json.dumps(part, sort_keys=True)
        total_len += len(text)
        back.update(json.loads(text))
    if back != db:
        errors += 1

    # 4. regroup: an index from tag to the ids carrying it, counts per name
    index = {}
    for r in back.values():
        for t in r["tags"]:
            index.setdefault(t, []).append(r["id"])
    counts = {}
    for r in back.values():
        first = r["name"].split("-", 1)[0]
        counts[first] = counts.get(first, 0) + 1
    if sum(counts.values()) != n:
        errors += 1
    tagged = sum(len(v) for v in index.values())

    # 5. drop most of it, keep a summary, build strings from what is left
    del by_score, back
    keep = {key: db[key] for key in by_name[::20]}
    del db, by_name, keys
    lines = ["%s:%s:%.1f" % (key, r["name"], r["score"])
             for key, r in sorted(keep.items())]
    blob = "\n".join(lines)
    checksum = (sum(len(l) for l in lines) * 31 + tagged + total_len) % (1 << 32)
    del lines, index, counts

    t = time.perf_counter() - t0
    rss = proc_kb("/proc/self/status", "VmRSS:")
    huge = proc_kb("/proc/self/smaps_rollup", "AnonHugePages:")
    print("workload=python n=%d time_in_s=%.6f json_bytes=%d kept=%d blob=%d "
          "checksum=%x errors=%d rss_end_kb=%d anon_huge_kb=%d"
          % (n, t, total_len, len(keep), len(blob), checksum, errors, rss,
             huge))
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
