#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# python3.sh: CPython under cairn. CPython's own allocator takes small objects from arenas it
# gets through malloc, and calls malloc directly for everything larger, so big dicts, lists,
# strings, sorting, JSON and threads make it a heavy malloc/realloc/free user. The script
# prints checksums that must be the same with and without cairn preloaded.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

check "cairn starts in python3" require_cairn "$PYTHON" -c pass
check "libcairn is mapped in python3" maps_show_cairn "$PYTHON" -
# cairn's symbols are in the global scope python3 resolves malloc from.
check "cairn_version is visible in python3" env LD_PRELOAD="$CAIRN_LIB" "$PYTHON" -c '
import ctypes, sys
f = ctypes.CDLL(None).cairn_version
f.restype = ctypes.c_char_p
sys.exit(0 if f() == b"0.1.0" else 1)'

cat >"$work/workload.py" <<'EOF'
import hashlib, json, random, sys, threading

rng = random.Random(20240611)
h = hashlib.sha256()

def feed(*parts):
    for p in parts:
        h.update(repr(p).encode())

# Big dicts: insert, grow, delete half, rebuild.
d = {}
for i in range(300_000):
    d[f"key-{rng.getrandbits(40):x}-{i}"] = [i, str(i) * (i % 7), i * 0.5]
for k in list(d)[::2]:
    del d[k]
d2 = {k: v[1] + "x" for k, v in d.items()}
feed(len(d), len(d2), sum(len(v) for v in d2.values()))

# Lists and strings: build, sort, join, slice.
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 30)))
         for _ in range(200_000)]
words.sort()
feed(words[0], words[-1], words[len(words) // 2])
text = " ".join(words)
feed(len(text), text.count("abc"), text[1000:1100])
big = "".join(reversed(text)).upper()
feed(hashlib.md5(big.encode()).hexdigest())
nums = [rng.random() for _ in range(500_000)]
nums.sort(reverse=True)
feed(round(sum(nums[:1000]), 6))

# JSON round trip of a nested structure.
tree = {"items": [{"id": i, "name": words[i % len(words)], "tags": list(range(i % 13)),
                   "nested": {"a": [i] * (i % 5), "b": None}} for i in range(60_000)]}
s = json.dumps(tree, sort_keys=True)
back = json.loads(s)
feed(len(s), back == tree, hashlib.sha1(s.encode()).hexdigest())

# Four threads doing their own allocation-heavy work.
results = [None] * 4
def worker(n):
    r = random.Random(n)
    acc = {}
    for i in range(60_000):
        key = r.randrange(10_000)
        acc.setdefault(key, []).append("v" * r.randrange(1, 50))
        if i % 7 == 0:
            acc.pop(r.randrange(10_000), None)
    blob = json.dumps({str(k): v for k, v in sorted(acc.items())})
    results[n] = (len(acc), hashlib.sha256(blob.encode()).hexdigest())
threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
feed(results)

# bytearray growth (realloc of a big buffer) and slicing.
buf = bytearray()
for i in range(20_000):
    buf += bytes([i % 256]) * (i % 97)
feed(len(buf), hashlib.sha256(bytes(buf[::3])).hexdigest())

print("python checksum", h.hexdigest())
for r in results:
    print("thread", r[0], r[1][:16])
EOF

workload() {
	"$PYTHON" "$work/workload.py"
}
run_twice workload
cat "$work/cairn.out"
finish
