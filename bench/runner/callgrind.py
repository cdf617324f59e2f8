# SPDX-License-Identifier: MIT
"""Instruction counts: build/bench/fastpath under `valgrind --tool=callgrind
--separate-threads=no`, run with N1 and N2 = N1 + D iterations; (Ir(N2) -
Ir(N1)) / D is the count of one malloc+free pair with start-up cancelled
out. Deterministic, so these runs go in parallel (one per core)."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed

from .util import log, run_cmd
from .workloads import CALLGRIND_HARNESS


CALLGRIND_N1 = 50000
CALLGRIND_D = {"full": 500000, "quick": 200000}
VALGRIND_TIMEOUT_S = 120


def callgrind_total(path):
    total = None
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    if total is None:
        raise ValueError("no totals line in " + path)
    return total


def run_callgrind(args, env, allocs, modes, rawdir, workers):
    """Returns (counts, harness, params): counts[mode][alloc] and
    harness[harness_mode] are dicts with ir_per_pair (or failed)."""
    d = CALLGRIND_D["quick" if args.quick else "full"]
    n1, n2 = CALLGRIND_N1, CALLGRIND_N1 + d
    prog = os.path.join(args.bin, "fastpath")
    tasks = []  # (mode, alloc or None for harness, n)
    for a in allocs:
        for m in modes:
            tasks += [(m, a, n1), (m, a, n2)]
    harness_modes = sorted({CALLGRIND_HARNESS[m] for m in modes})
    for m in harness_modes:
        tasks += [(m, None, n1), (m, None, n2)]

    hung = set()  # allocators that timed out once: not run again

    def one(task):
        mode, a, n = task
        if a and a.name in hung:
            raise RuntimeError("skipped: an earlier run with it timed out")
        tag = "%s.%s.%d" % (mode, a.name if a else "harness", n)
        outf = os.path.join(rawdir, "callgrind.%s.out" % tag)
        logf = os.path.join(rawdir, "callgrind.%s.log" % tag)
        e = dict(env)
        if a and a.lib:
            e["LD_PRELOAD"] = a.lib
        if a:
            e.update(a.env)
        cmd = ["valgrind", "--tool=callgrind", "--separate-threads=no",
               "--callgrind-out-file=" + outf, prog, mode, str(n)]
        with open(logf, "w") as f:
            try:
                r = run_cmd(cmd, e, VALGRIND_TIMEOUT_S, f, subprocess.STDOUT)
            except subprocess.TimeoutExpired:
                if a:
                    hung.add(a.name)
                raise RuntimeError("timeout after %d s" % VALGRIND_TIMEOUT_S)
        if r.returncode != 0:
            raise RuntimeError("exit status %d, see %s" % (r.returncode, logf))
        return callgrind_total(outf)

    ir = {}
    failed = {}
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as ex:
        futs = {ex.submit(one, t): t for t in tasks}
        for fut in as_completed(futs):
            mode, a, n = futs[fut]
            who = a.name if a else "(harness)"
            done += 1
            try:
                ir[(mode, who, n)] = fut.result()
                log("[callgrind] %d/%d %-9s %-12s N=%-7d %d Ir"
                    % (done, len(tasks), who, mode, n, ir[(mode, who, n)]))
            except (RuntimeError, ValueError, OSError) as exc:
                failed[(mode, who)] = str(exc)
                log("[callgrind] %d/%d %-9s %-12s N=%-7d FAILED: %s"
                    % (done, len(tasks), who, mode, n, exc))

    def per_pair(mode, who):
        if (mode, who) in failed:
            return {"failed": failed[(mode, who)]}
        i1, i2 = ir[(mode, who, n1)], ir[(mode, who, n2)]
        # batch and cross-thread modes run whole batches: use the real counts.
        return {"n1": n1, "n2": n2, "ir1": i1, "ir2": i2,
                "ir_per_pair": (i2 - i1) / (pairs(mode, n2) - pairs(mode, n1))}

    counts = {m: {a.name: per_pair(m, a.name) for a in allocs} for m in modes}
    harness = {m: per_pair(m, "(harness)") for m in harness_modes}
    return counts, harness, {"n1": n1, "n2": n2, "d": d}


def pairs(mode, n):
    """Pairs fastpath really does for N (whole batches, see fastpath.c)."""
    batch = {"batch64": 64, "xthread64": 256, "loop-xthread": 256}.get(mode, 1)
    return (n + batch - 1) // batch * batch
