# SPDX-License-Identifier: MIT
"""Instruction counts under `valgrind --tool=callgrind --separate-threads=no`.

* Per malloc+free pair: build/bench/fastpath run with N1 and N2 = N1 + D
  iterations; (Ir(N2) - Ir(N1)) / D is the count of one pair with start-up
  cancelled out.
* Per workload (--profiling): the whole process of each program and command
  workload, once with each allocator of a profiling pair, for the
  profiled / plain ratio that the times of a shared machine cannot give.

Deterministic, so these runs go in parallel (one per core), after the timed
runs."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from .util import log, run_cmd
from .workloads import CALLGRIND_HARNESS, workload_argv


CALLGRIND_N1 = 50000
CALLGRIND_D = {"full": 500000, "quick": 200000}
VALGRIND_TIMEOUT_S = 120
# A whole workload under callgrind runs 50-100 times slower than outside.
WORKLOAD_TIMEOUT_S = 900
# The workload kinds counted whole: redis needs its benchmark client, a
# second process that is not the one profiled.
WORKLOAD_KINDS = ("program", "command")


class CallgrindTimeout(RuntimeError):
    """A run under callgrind that took longer than it may."""


def callgrind_total(path):
    total = None
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    if total is None:
        raise ValueError("no totals line in " + path)
    return total


def callgrind_count(argv, env, tag, rawdir, timeout, cwd=None):
    """Ir of one run of argv under callgrind; its output and log (valgrind's
    and the program's) are rawdir/callgrind.<tag>.{out,log}. Raises
    RuntimeError when it fails or times out, ValueError when the output
    has no total."""
    outf = os.path.join(rawdir, "callgrind.%s.out" % tag)
    logf = os.path.join(rawdir, "callgrind.%s.log" % tag)
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=no",
           "--callgrind-out-file=" + outf] + argv
    with open(logf, "w") as f:
        try:
            r = run_cmd(cmd, env, timeout, f, subprocess.STDOUT, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise CallgrindTimeout("timeout after %d s" % timeout)
    if r.returncode != 0:
        raise RuntimeError("exit status %d, see %s" % (r.returncode, logf))
    return callgrind_total(outf)


def run_parallel(tasks, fn, workers, label, describe):
    """fn(task) for every task, `workers` at a time. Returns (values,
    failed, seconds): by task, what fn returned, why it failed (the
    RuntimeError, ValueError or OSError it raised) and how long it took.
    Logs one line a task as it ends: [label] done/total describe(task) ..."""
    values, failed, seconds = {}, {}, {}

    def timed(task):
        t0 = time.monotonic()
        try:
            return fn(task)
        finally:
            seconds[task] = time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=workers) as ex:
        futs = {ex.submit(timed, t): t for t in tasks}
        for done, fut in enumerate(as_completed(futs), 1):
            t = futs[fut]
            try:
                values[t] = fut.result()
                what = "%d Ir" % values[t]
            except (RuntimeError, ValueError, OSError) as exc:
                failed[t] = str(exc)
                what = "FAILED: %s" % exc
            log("[%s] %d/%d %s %s  [%.0f s]" % (label, done, len(tasks),
                                                describe(t), what, seconds[t]))
    return values, failed, seconds


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
        e = dict(env)
        if a and a.lib:
            e["LD_PRELOAD"] = a.lib
        if a:
            e.update(a.env)
        try:
            return callgrind_count([prog, mode, str(n)], e, tag, rawdir,
                                   VALGRIND_TIMEOUT_S)
        except CallgrindTimeout:
            if a:
                hung.add(a.name)
            raise

    ir, failed, _ = run_parallel(tasks, one, workers, "callgrind",
                                 lambda t: "%-9s %-12s N=%-7d" % (
                                     t[1].name if t[1] else "(harness)",
                                     t[0], t[2]))

    def per_pair(mode, a):
        why = failed.get((mode, a, n1)) or failed.get((mode, a, n2))
        if why:
            return {"failed": why}
        i1, i2 = ir[(mode, a, n1)], ir[(mode, a, n2)]
        # batch and cross-thread modes run whole batches: use the real counts.
        return {"n1": n1, "n2": n2, "ir1": i1, "ir2": i2,
                "ir_per_pair": (i2 - i1) / (pairs(mode, n2) - pairs(mode, n1))}

    counts = {m: {a.name: per_pair(m, a) for a in allocs} for m in modes}
    harness = {m: per_pair(m, None) for m in harness_modes}
    return counts, harness, {"n1": n1, "n2": n2, "d": d}


def pairs(mode, n):
    """Pairs fastpath really does for N (whole batches, see fastpath.c)."""
    batch = {"batch64": 64, "xthread64": 256, "loop-xthread": 256}.get(mode, 1)
    return (n + batch - 1) // batch * batch


def run_env(env, a, w):
    """The environment of a's runs of w, as runwrap gives the timed ones."""
    e = dict(env)
    e.update(a.env)
    e.update(w.env)
    if a.lib:
        e["LD_PRELOAD"] = a.lib
    else:
        e.pop("LD_PRELOAD", None)
    return e


def run_instructions(args, env, allocs, prof, workloads, rawdir, tools,
                     workers):
    """The whole process's instruction count of each workload with each
    allocator of each profiling pair whose timed runs both passed (prof:
    what compute_profiling made of them), with the timed runs' arguments
    and environment, in args.profdir (heap profiles and anything else a
    run writes land there). Returns {workload: {alloc: {"ir": n, "wall_s":
    s} or {"failed": why} or {"not_measured": why}}}."""
    by_name = {a.name: a for a in allocs}
    counts, tasks = {}, []
    for w in workloads:
        row = prof["rows"].get(w.name, {})
        for b, p in prof["pairs"]:
            if p not in row or "failed" in row[p]:
                continue
            if w.kind not in WORKLOAD_KINDS:
                why = "not measured: a %s workload needs its client" % w.kind
                counts.setdefault(w.name, {}).update({b: {"not_measured": why},
                                                      p: {"not_measured": why}})
                continue
            tasks += [(w, by_name[b]), (w, by_name[p])]

    def one(task):
        w, a = task
        return callgrind_count(workload_argv(w, args, tools),
                               run_env(env, a, w), "%s.%s" % (w.name, a.name),
                               rawdir, WORKLOAD_TIMEOUT_S, cwd=args.profdir)

    log("instruction counts of the whole workloads under callgrind: %d "
        "run(s), %d at a time" % (len(tasks), workers))
    ir, failed, secs = run_parallel(tasks, one, workers, "instructions",
                                    lambda t: "%-19s %-13s" % (t[0].name,
                                                               t[1].name))
    for w, a in tasks:
        got = ({"ir": ir[(w, a)]} if (w, a) in ir
               else {"failed": failed[(w, a)]})
        got["wall_s"] = round(secs[(w, a)], 1)
        counts.setdefault(w.name, {})[a.name] = got
    return counts
