#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cairn benchmark runner (Python 3 standard library only).

Runs every workload under every allocator, each allocator LD_PRELOADed into
the same binaries (glibc: nothing preloaded), and writes

    stdout                      the report, Markdown
    bench/results/latest.md     the same report
    bench/results/latest.csv    one row per (table, workload or mode, allocator)
    bench/results/latest.json   everything, every single run included
    bench/results/time.svg      time ratio peer/cairn per workload (chart)
    bench/results/rss.svg       peak-RSS ratio peer/cairn per workload (chart)
    bench/results/rss_over_time.svg  RSS over time of the longrun workload
    bench/results/raw/          logs and callgrind files of this run (git-ignored)

A --quick run writes the same files under bench/results/quick/ (git-ignored),
so it never replaces the committed full run. Paths inside the checkout are
recorded relative to it, and those beside it (a --baseline library in
another checkout) as ../...

Two kinds of measurement:

* timed workloads (WORKLOADS): every allocator runs once, in turn
  (A B C D E, A B C D E, ...), REPS times, each run started through the
  build/bench/runwrap wrapper, which reports the wall time and, from wait4(),
  the peak RSS (and, for the first repetition of workloads marked `series`,
  samples the RSS over time). The table shows the median of the workload's
  own timed section (time_s; start-up and exit excluded) -- or, for real
  programs, of the whole command's wall time, or of a throughput -- the
  median peak RSS, and the median RSS at the end (rss_end_kb, printed by
  the program itself).
* instruction counts (CALLGRIND_MODES): build/bench/fastpath under
  `valgrind --tool=callgrind --separate-threads=no`, run with N1 and
  N2 = N1 + D iterations; (Ir(N2) - Ir(N1)) / D is the instruction count of
  one malloc+free pair with start-up cancelled out. Deterministic, so these
  runs go in parallel (one per core).
* with --profiling, the whole instruction count of each program and command
  workload under callgrind, once per allocator of each profiling pair,
  after the timed runs (in parallel too): profiled / plain, a cost figure
  that the noise of a shared machine leaves alone (--no-instructions leaves
  it out).

Progress goes to stderr, one line per run ("[server-4t] rep 2/5 jemalloc
(17/80) ..."). An allocator whose library is missing, does not define
malloc, or fails the probe is reported and left out; one that fails a
workload (crash, wrong data, timeout) gets FAILED in that row and the rest
goes on; a workload whose outside program (redis-server, sqlite3) is not
installed is reported as SKIPPED.

The parts live in bench/runner/ (see its __init__.py); this file parses the
command line and runs them in order. To add a workload: write
bench/<name>.c (see harness.h for the conventions), then add a
Workload(...) line to WORKLOADS in runner/workloads.py, or a mode to
CALLGRIND_MODES there.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

# The parts are in runner/, next to this file: found from any directory, and
# with python3 -P too (which leaves the script's folder off sys.path).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner.callgrind import run_callgrind, run_instructions
from runner.charts import write_charts, write_scaling_chart
from runner.export import write_csv, write_json
from runner.measure import (add_instructions, compute_profiling,
                            compute_ratios, machine_info, probe_allocators,
                            reference_of, run_timed, summarize_timed)
from runner.report import report
from runner.tlb import run_tlb
from runner.util import log, repo_relative
from runner.workloads import (ALLOCATORS, CALLGRIND_MODES, PROFILING_PAIRS,
                              SCALING_THREADS, SCALING_WORKLOADS, WORKLOADS,
                              allocs_for, find_tools, skip_reason)


# Environment variables that tune one allocator or another; removed from the
# environment of every run (unless --keep-env) so all run with defaults
# (jemalloc-bg then sets its own MALLOC_CONF).
TUNING_ENV_PREFIXES = ("MALLOC_", "_RJEM_", "MIMALLOC_", "TCMALLOC_",
                       "CAIRN_", "JE_MALLOC")
TUNING_ENV_NAMES = ("LD_PRELOAD", "GLIBC_TUNABLES", "MALLOC_CONF",
                    "PYTHONMALLOC")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(here),
                    help="repository root (cairn is ROOT/lib/libcairn.so.0)")
    ap.add_argument("--bin", default=None,
                    help="where the bench programs are (default ROOT/build/bench)")
    ap.add_argument("--quick", action="store_true",
                    help="short run: 3 reps, a subset of smaller workloads")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions per allocator (default 5, quick 3)")
    ap.add_argument("--allocators", default=None,
                    help="comma list, default all: %s (jemalloc-bg only on "
                    "the workloads that use it unless named here)" %
                    ",".join(a[0] for a in ALLOCATORS))
    ap.add_argument("--workloads", default=None,
                    help="comma list of timed workloads (default all, or the "
                    "QUICK subset with --quick: %s); 'none' for none"
                    % ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--profiling", action="store_true",
                    help="the profiling row set: %s, each next to itself "
                    "with MALLOC_CONF=prof:true (the allocators named by "
                    "--allocators, with their -prof variants); writes "
                    "profiling.{md,csv,json}, no charts" % ", ".join(
                        b for b, _ in PROFILING_PAIRS))
    ap.add_argument("--scaling", action="store_true",
                    help="the thread-scaling set: %s at %s threads, the work "
                    "per thread the same at each count (--workloads picks "
                    "among them); writes scaling.{md,csv,json} and the curves in "
                    "scaling.svg, "
                    "no instruction counts" % (
                        ", ".join(sorted({w.prog for w in SCALING_WORKLOADS})),
                        ", ".join(str(t) for t in SCALING_THREADS)))
    ap.add_argument("--baseline", default=None, metavar="LIB",
                    help="an earlier build of cairn (its libcairn.so.0), "
                    "measured as cairn-base beside the current build in the "
                    "same run: before and after under the same load (make "
                    "bench BASELINE=LIB)")
    ap.add_argument("--list", action="store_true",
                    help="list the workloads and exit")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the instruction counts of the fast path "
                    "(fastpath's modes)")
    ap.add_argument("--no-instructions", action="store_true",
                    help="with --profiling: skip the whole workloads' "
                    "instruction counts under callgrind (profiled / plain; "
                    "they run after the timed runs, whatever "
                    "--no-callgrind says)")
    ap.add_argument("--keep-env", action="store_true",
                    help="keep MALLOC_CONF, GLIBC_TUNABLES and the like")
    ap.add_argument("--results", default=None,
                    help="output folder (default bench/results, and "
                    "bench/results/quick for --quick, which git ignores: a "
                    "short run never replaces the committed full results)")
    args = ap.parse_args()
    if args.baseline:
        lib = os.path.abspath(args.baseline)
        if not os.path.exists(lib):
            log("error: --baseline %s: no such file" % args.baseline)
            return 1
        # Just before cairn, so that the tables read before, after.
        at = [a[0] for a in ALLOCATORS].index("cairn")
        ALLOCATORS.insert(at, ("cairn-base", lib, None, {}, False))
    if args.scaling and args.profiling:
        log("error: --scaling and --profiling are separate runs")
        return 1
    pool = SCALING_WORKLOADS if args.scaling else WORKLOADS
    if args.scaling:
        args.no_callgrind = True
    if args.list:
        for w in pool:
            print("%-19s %s%s" % (w.name, w.what, "" if w.quick_args is not None
                                  else " [not in QUICK]"))
        return 0
    args.root = os.path.abspath(args.root)
    args.bin = os.path.abspath(args.bin or os.path.join(args.root, "build",
                                                        "bench"))
    args.results = os.path.abspath(args.results or os.path.join(
        here, "results", "quick" if args.quick else ""))
    reps = args.reps or (3 if args.quick else 5)
    if reps < 1:
        log("error: --reps must be 1 or more")
        return 1

    progs = {"runwrap", "probe", "fastpath"} | {
        w.prog for w in WORKLOADS if w.kind == "program"}
    for tool in sorted(progs):
        if not os.access(os.path.join(args.bin, tool), os.X_OK):
            log("error: %s/%s is not built; run `make -C bench ROOT=<root>` first"
                % (args.bin, tool))
            return 1

    if args.profiling:
        base = (args.allocators.split(",") if args.allocators
                else [b for b, _ in PROFILING_PAIRS])
        sel = list(base)
        for b, p in PROFILING_PAIRS:
            if b in base and p not in sel:
                sel.insert(sel.index(b) + 1, p)
        if not any(p in sel for _, p in PROFILING_PAIRS):
            log("error: --profiling needs one of %s among the allocators"
                % ",".join(b for b, _ in PROFILING_PAIRS))
            return 1
        args.allocators = ",".join(sel)
    stem = ("profiling" if args.profiling else
            "scaling" if args.scaling else "latest")

    if args.allocators:
        unknown = set(args.allocators.split(",")) - {a[0] for a in ALLOCATORS}
        if unknown:
            log("error: unknown allocator(s) %s" % ",".join(sorted(unknown)))
            return 1

    if args.workloads in (None, "all"):
        workloads = [w for w in pool
                     if not args.quick or w.quick_args is not None
                     or args.workloads == "all"]
    elif args.workloads == "none":
        workloads = []
    else:
        sel = args.workloads.split(",")
        unknown = [s for s in sel if s not in {w.name for w in pool}]
        if unknown:
            log("error: unknown workload(s) %s" % ",".join(unknown))
            return 1
        workloads = [w for w in pool if w.name in sel]
    if args.quick:
        # a workload without QUICK arguments runs its full ones
        for w in workloads:
            if w.quick_args is None:
                w.quick_args = w.args

    env = dict(os.environ)
    if not args.keep_env:
        dropped = [k for k in env if k in TUNING_ENV_NAMES or
                   k.startswith(TUNING_ENV_PREFIXES)]
        for k in dropped:
            del env[k]
        if dropped:
            log("note: removed %s from the environment of the runs "
                "(--keep-env keeps them)" % ", ".join(sorted(dropped)))

    rawdir = os.path.join(args.results, "raw")
    os.makedirs(rawdir, exist_ok=True)
    for f in os.listdir(rawdir):
        if f.endswith((".res", ".log", ".out", ".txt")):
            os.unlink(os.path.join(rawdir, f))

    # Heap profiles the -prof variants write go here, never into the
    # working directory; counted and removed after each run.
    args.profdir = tempfile.mkdtemp(prefix="cairn-bench-prof-")
    try:
        return measure_and_report(args, env, workloads, reps, rawdir, stem)
    finally:
        shutil.rmtree(args.profdir, ignore_errors=True)


def measure_and_report(args, env, workloads, reps, rawdir, stem):
    meta = machine_info(args.root)
    meta["command"] = repo_relative(" ".join(["bench/run.py"] + sys.argv[1:]),
                                    args.root)
    meta["quick"] = args.quick
    meta["reps"] = reps
    t_start = time.monotonic()

    if meta["loadavg"] and meta["loadavg"][0] > 0.5 * meta["nproc"]:
        log("warning: load average %.2f on %d CPU(s): something else is "
            "running, the timings will be noisy" % (meta["loadavg"][0],
                                                     meta["nproc"]))
    allocs = probe_allocators(args, env, rawdir)
    # A variant no selected workload runs (the -prof ones, outside
    # --profiling) would only add empty columns to every table.
    allocs = [a for a in allocs
              if not a.variant or any(a in allocs_for(w, allocs, args)
                                      for w in workloads)]
    for a in allocs:
        if a.ok and a.warning:
            log("allocator %-11s WARNING: %s; measured anyway" % (a.name,
                                                                  a.warning))
        elif a.ok:
            log("allocator %-11s ok  (%s)" % (a.name, a.describe()))
        else:
            log("allocator %-11s %s" % (a.name, a.problem))
    ok = [a for a in allocs if a.ok]
    if not ok:
        log("error: no allocator can be measured")
        return 1
    missing = [a.name for a in allocs if not a.ok]
    if missing:
        log("going on without: %s" % ", ".join(missing))

    tools = find_tools()
    skipped = {}
    for w in workloads:
        why = skip_reason(w, tools)
        if why:
            skipped[w.name] = why
            log("workload %s SKIPPED: %s" % (w.name, why))

    timed = (run_timed(args, env, ok, workloads, reps, rawdir, tools, skipped)
             if workloads else {})
    summarize_timed(timed)
    tlb = run_tlb(args, env, ok, workloads, rawdir, tools, skipped)

    names = [a.name for a in ok]
    ref = reference_of(names)
    gm = compute_ratios(timed, workloads, names, ref)
    prof = compute_profiling(timed, workloads, names)

    cg = None
    want_ins = (args.profiling and prof is not None
                and not args.no_instructions)
    valgrind = (want_ins or not args.no_callgrind) and valgrind_found()
    if valgrind and not args.no_callgrind:
        named = set(args.allocators.split(",")) if args.allocators else set()
        cg = run_callgrind(args, env, [a for a in ok if not a.variant
                                       or a.name in named],
                           CALLGRIND_MODES, rawdir, max(1, meta["nproc"]))
    if valgrind and want_ins:
        add_instructions(prof, run_instructions(
            args, env, ok, prof, workloads, rawdir, tools,
            max(1, meta["nproc"])))

    meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    meta["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    os.makedirs(args.results, exist_ok=True)
    # The profiling set's files stand beside the full run's (its charts,
    # peer / cairn, would overwrite those and say nothing about its pairs).
    meta["charts"] = ([] if args.profiling else
                      write_scaling_chart(args.results, meta, args, timed,
                                          names) if args.scaling else
                      write_charts(args.results, meta, args, workloads, timed,
                                   gm, names, ref))
    for a in allocs:
        a.lib, a.malloc_from, a.problem, a.warning = (
            repo_relative(x, args.root)
            for x in (a.lib, a.malloc_from, a.problem, a.warning))
    text = report(meta, allocs, workloads, timed, skipped, gm, cg, reps, args,
                  tlb, prof)
    with open(os.path.join(args.results, stem + ".md"), "w") as f:
        f.write(text)
    write_csv(os.path.join(args.results, stem + ".csv"), meta, allocs,
              workloads, timed, skipped, gm, cg, prof)
    write_json(os.path.join(args.results, stem + ".json"), meta, allocs,
               workloads, args, skipped, timed, tlb, gm, cg, prof)
    print(text, end="")
    log("done in %.0f s; wrote %s/%s.{md,csv,json}%s"
        % (meta["elapsed_s"], os.path.relpath(args.results), stem,
           " and " + ", ".join(c[0] for c in meta["charts"])
           if meta["charts"] else ""))
    return 0


def valgrind_found():
    if shutil.which("valgrind"):
        return True
    log("valgrind not found: no instruction counts "
        "(apt-get install -y valgrind)")
    return False


if __name__ == "__main__":
    sys.exit(main())
