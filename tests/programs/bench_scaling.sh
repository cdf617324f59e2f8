#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench_scaling.sh: the benchmark suite's thread-scaling set (bench/run.py --scaling, QUICK
# sizes, one run each) with glibc and cairn preloaded, into a temporary folder. Checked: the
# report and its JSON name every thread count of both workloads for both allocators, and
# scaling.svg draws, per workload, a curve per allocator through the five thread counts whose
# heights are the report's throughput against one thread, t x T(1) / T(t), recomputed here
# from the JSON's medians, and the perfect-scaling line.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make -s -C bench all ROOT="$root" >/dev/null 2>&1
check $? "the benchmark programs build"
python3 bench/run.py --root . --bin build/bench --scaling --quick --reps 1 \
	--allocators glibc,cairn --results "$out" >"$out/log" 2>&1
check $? "bench/run.py --scaling ran ($(tail -n 3 "$out/log" | tr '\n' ' '))"
[[ -s $out/scaling.md && -s $out/scaling.json && -s $out/scaling.svg ]]
check $? "scaling.md, scaling.json and scaling.svg written"

python3 - "$out" <<'EOF'
import json, re, sys
out = sys.argv[1]
j = json.load(open(out + "/scaling.json"))
svg = open(out + "/scaling.svg").read()
threads = [1, 2, 4, 8, 16]
ok = True
def fail(msg):
    global ok
    ok = False
    print("check failed: " + msg, file=sys.stderr)
# Every curve: its title, then its points; a panel's curves follow its
# label, in the order the panels are drawn.
curves = re.findall(r'points="([^"]+)"><title>([^<]+)</title>', svg)
panels = re.findall(r'font-weight="bold"[^>]*>(churn|server)</text>', svg)
if panels != ["churn", "server"]:
    fail("panels %r, not churn and server" % panels)
per_panel = [c for c in curves if c[1] != "perfect scaling"]
perfect = [c for c in curves if c[1] == "perfect scaling"]
if len(perfect) != 2:
    fail("%d perfect-scaling lines for 2 panels" % len(perfect))
if [c[1] for c in per_panel] != ["glibc", "cairn"] * 2:
    fail("curves %r, not glibc and cairn in each panel" % [c[1] for c in per_panel])
# The chart's y axis: its gridline labels give the pixels of two values.
for i, (base, (points, name)) in enumerate(
        zip(["churn", "churn", "server", "server"], per_panel)):
    t = j["timed"]
    med = {n: t["scale-%s-%dt" % (base, n)][name]["median_s"] for n in threads}
    want = [n * med[1] / med[n] for n in threads]
    pts = [tuple(map(float, p.split(","))) for p in points.split()]
    if len(pts) != 5:
        fail("%s/%s: %d points for 5 thread counts" % (base, name, len(pts)))
        continue
    # Heights against the first point (1 thread, throughput 1 by definition).
    xs = [p[0] for p in pts]
    if xs != sorted(xs) or len(set(round(x) for x in xs)) != 5:
        fail("%s/%s: the points are not at five thread counts left to right" % (base, name))
    ys = [p[1] for p in pts]
    # y grows downwards; two points fix the scale: 1 at ys[0], want[k] at ys[k].
    bottom = re.search(r'<rect x="\d+" y="(\d+)" width="\d+" height="(\d+)" fill="none"', svg)
    top, height = float(bottom.group(1)), float(bottom.group(2))
    base_y = top + height
    for k in range(5):
        got = (base_y - ys[k]) / (base_y - ys[0])
        if abs(got - want[k]) > 0.01 * max(1.0, want[k]):
            fail("%s/%s at %d threads: drawn %.3f, the medians give %.3f"
                 % (base, name, threads[k], got, want[k]))
    print("%s/%s: %s" % (base, name, " ".join("%.2f" % w for w in want)), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
check $? "scaling.svg's curves are the JSON's throughput against one thread"
grep -q '^## Thread scaling' "$out/scaling.md"
check $? "the report has its Thread scaling section"
checks_done
