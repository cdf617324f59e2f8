#!/usr/bin/env python3
"""cairn benchmark runner (Python 3 standard library only).

Runs every workload under every allocator, each allocator LD_PRELOADed into
the same binaries (glibc: nothing preloaded), and writes

    stdout                   the report, Markdown
    bench/results/latest.md  the same report
    bench/results/latest.csv one row per (table, workload or mode, allocator)
    bench/results/latest.json everything, raw runs included
    bench/results/raw/       logs and callgrind files of this run (git-ignored)

Two kinds of measurement:

* timed workloads (WORKLOADS below): every allocator runs once, in turn
  (A B C D E, A B C D E, ...), REPS times, each run started through the
  build/bench/runwrap wrapper, which reports the wall time and, from wait4(),
  the peak RSS. The table shows the median of the workload's own timed
  section (time_s; start-up and exit excluded) and the median peak RSS.
* instruction counts (CALLGRIND_MODES): build/bench/fastpath under
  `valgrind --tool=callgrind --separate-threads=no`, run with N1 and
  N2 = N1 + D iterations; (Ir(N2) - Ir(N1)) / D is the instruction count of
  one malloc+free pair with start-up cancelled out. Deterministic, so these
  runs go in parallel (one per core).

Progress goes to stderr, one line per run. An allocator whose library is
missing, does not define malloc, or fails the probe is reported and left out;
one that fails a workload (crash, wrong data, timeout) gets FAILED in that
row and the rest goes on.

To add a workload: write bench/<name>.c (see common.h for the conventions),
then add a Workload(...) line to WORKLOADS, or a mode to CALLGRIND_MODES.
"""

import argparse
import csv
import datetime
import io
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, library to preload (None: glibc, nothing preloaded), Debian package.
# "{root}" is replaced by the repository root.
ALLOCATORS = [
    ("glibc", None, "libc6"),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("cairn", "{root}/lib/libcairn.so.0", None),
]
REFERENCE = "cairn"  # ratios are peer / cairn; glibc stands in when cairn is out


class Workload:
    """A timed workload: a program in build/bench and its arguments."""

    def __init__(self, name, prog, args, quick_args, what):
        self.name, self.prog, self.args, self.quick_args, self.what = (
            name, prog, args, quick_args, what)


WORKLOADS = [
    Workload("churn-1t", "churn",
             ["-t", "1", "-s", "50k", "-n", "30M"],
             ["-t", "1", "-s", "50k", "-n", "20M"],
             "1 thread, 50k live blocks (~13 MB), random replacement"),
    Workload("churn-1t-10k", "churn",
             ["-t", "1", "-s", "10k", "-n", "30M"],
             ["-t", "1", "-s", "10k", "-n", "20M"],
             "1 thread, 10k live blocks (~2.5 MB, cache-resident)"),
    Workload("churn-2t", "churn",
             ["-t", "2", "-s", "50k", "-n", "15M", "-r", "100"],
             ["-t", "2", "-s", "50k", "-n", "10M", "-r", "100"],
             "2 threads x 50k live blocks, 10% of frees cross-thread"),
]

# fastpath modes measured under callgrind, and the harness-only modes whose
# count (allocator-independent) is reported as the loop overhead.
CALLGRIND_MODES = ["pair16", "pair64", "pair256", "pair4096", "batch64",
                   "xthread64"]
CALLGRIND_HARNESS = {"pair16": "loop-pair", "pair64": "loop-pair",
                     "pair256": "loop-pair", "pair4096": "loop-pair",
                     "batch64": "loop-pair", "xthread64": "loop-xthread"}
CALLGRIND_N1 = 50000
CALLGRIND_D = {"full": 500000, "quick": 200000}

# Environment variables that tune one allocator or another; removed from the
# environment of every run (unless --keep-env) so all run with defaults.
TUNING_ENV_PREFIXES = ("MALLOC_", "_RJEM_", "MIMALLOC_", "TCMALLOC_",
                       "CAIRN_", "JE_MALLOC")
TUNING_ENV_NAMES = ("LD_PRELOAD", "GLIBC_TUNABLES", "MALLOC_CONF")

# A timed run may take at most RUN_TIMEOUT_S, or, once another allocator has
# finished the same workload, RUN_TIMEOUT_FACTOR times the slowest such run
# (at least RUN_TIMEOUT_MIN_S), so that a hanging allocator costs little.
NOISY_SPREAD = 0.10  # spreads above this get flagged under the time table

RUN_TIMEOUT_S = 300
RUN_TIMEOUT_FACTOR = 20
RUN_TIMEOUT_MIN_S = 30
VALGRIND_TIMEOUT_S = 120


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_kv(text):
    """Parses the last line of key=value pairs in text."""
    for line in reversed(text.strip().splitlines()):
        if "=" in line:
            out = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    out[k] = v
            return out
    return {}


def run_cmd(cmd, env, timeout, stdout=None, stderr=None):
    """subprocess.run in a session of its own, so that a timeout (or ^C)
    kills the whole process tree (runwrap and the benchmark under it, or
    valgrind and its tool), not just the direct child. Raises
    subprocess.TimeoutExpired after killing."""
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


# ------------------------------------------------------------------ machine

def machine_info(root):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count() or 1
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except (OSError, ValueError):
        pass
    commit = None
    try:
        r = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            commit = r.stdout.strip()
            d = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10)
            if d.returncode == 0 and d.stdout.strip():
                commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        libc = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu,
        "nproc": nproc,
        "mem_gib": round(mem_kib / 1048576, 1) if mem_kib else None,
        "kernel": platform.release(),
        "libc": libc,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "commit": commit,
    }


def package_version(pkg):
    if not pkg or not shutil.which("dpkg-query"):
        return None
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------- allocators

class Allocator:
    def __init__(self, name, lib, pkg):
        self.name, self.lib, self.pkg = name, lib, pkg
        self.ok = False
        self.problem = None   # why it is not measured
        self.warning = None   # measured, but the probe found a problem
        self.version = None


def install_hint(a):
    if a.name == "cairn":
        return "build it with `make` at the repository root"
    return "install it with `apt-get install -y %s`" % a.pkg


def probe_allocators(args, env, rawdir):
    """Checks each allocator: library present, malloc really comes from it,
    a little traffic works. Returns the list of Allocator objects."""
    allocs = []
    wanted = set(args.allocators.split(",")) if args.allocators else None
    for name, lib, pkg in ALLOCATORS:
        if wanted is not None and name not in wanted:
            continue
        a = Allocator(name, lib.format(root=args.root) if lib else None, pkg)
        allocs.append(a)
        a.version = package_version(pkg) if name != "cairn" else None
        if a.lib and not os.path.exists(a.lib):
            a.problem = "MISSING: %s not found; %s" % (a.lib, install_hint(a))
            continue
        res = os.path.join(rawdir, "probe-%s.res" % name)
        cmd = [os.path.join(args.bin, "runwrap"), "-p", a.lib or "",
               "-o", res, "--", os.path.join(args.bin, "probe")]
        try:
            r = run_cmd(cmd, env, 60, subprocess.PIPE, subprocess.PIPE)
        except subprocess.TimeoutExpired:
            a.problem = "BROKEN: the probe program hung with it preloaded"
            continue
        wr = parse_kv(open(res).read()) if os.path.exists(res) else {}
        kv = parse_kv(r.stdout)
        status = wr.get("status", "?")
        errs = [l for l in r.stderr.strip().splitlines() if l.strip()]
        got = kv.get("malloc_from")
        if got is None:
            a.problem = ("BROKEN: the probe program failed before main with "
                         "it preloaded (%s)%s" % (status, ": " + errs[-1][:200]
                                                  if errs else ""))
            continue
        if a.lib:
            if os.path.realpath(got) != os.path.realpath(a.lib):
                a.problem = ("NOT IN USE: %s is preloaded but malloc still "
                             "comes from %s (does the library define "
                             "malloc?)" % (a.lib, got))
                continue
        elif not os.path.basename(got).startswith("libc.so"):
            a.problem = "NOT IN USE: malloc comes from %s, not glibc" % got
            continue
        if status != "exit:0" or kv.get("ok") != "1":
            # In use but failing a check: measured anyway (the workloads
            # check their own data and a crash only fails that row), and
            # the problem is shown with the results.
            a.warning = ("the preload probe failed (%s)%s" % (
                status, ": " + errs[0][:200] if errs else ""))
        a.ok = True
    return allocs


# ----------------------------------------------------------- timed workloads

def run_timed(args, env, allocs, workloads, reps, rawdir):
    """Returns {workload: {alloc: {"runs": [...], "failed": str|None}}}."""
    results = {}
    runwrap = os.path.join(args.bin, "runwrap")
    for w in workloads:
        wargs = w.quick_args if args.quick else w.args
        prog = os.path.join(args.bin, w.prog)
        results[w.name] = {a.name: {"runs": [], "failed": None} for a in allocs}
        for rep in range(1, reps + 1):
            for a in allocs:
                slot = results[w.name][a.name]
                if slot["failed"]:
                    continue
                res = os.path.join(rawdir, "%s.%s.%d.res" % (w.name, a.name, rep))
                out = os.path.join(rawdir, "%s.%s.%d.log" % (w.name, a.name, rep))
                cmd = [runwrap, "-p", a.lib or "", "-o", res, "--", prog] + wargs
                if os.path.exists(res):
                    os.unlink(res)
                walls = [r["wall_s"] for s in results[w.name].values()
                         for r in s["runs"]]
                limit = (max(RUN_TIMEOUT_MIN_S, RUN_TIMEOUT_FACTOR * max(walls))
                         if walls else RUN_TIMEOUT_S)
                try:
                    with open(out, "w") as f:
                        r = run_cmd(cmd, env, limit, subprocess.PIPE, f)
                        f.write(r.stdout)
                    wr = parse_kv(open(res).read()) if os.path.exists(res) else {}
                    kv = parse_kv(r.stdout)
                    status = wr.get("status", "no result")
                    if kv.get("errors", "0") != "0":
                        slot["failed"] = "%s data errors, see %s" % (
                            kv["errors"], out)
                    elif status != "exit:0" or "time_s" not in kv:
                        slot["failed"] = "%s, see %s" % (status, out)
                except subprocess.TimeoutExpired:
                    slot["failed"] = "timeout after %.0f s" % limit
                if slot["failed"]:
                    log("[%s] rep %d/%d %-9s FAILED: %s"
                        % (w.name, rep, reps, a.name, slot["failed"]))
                    continue
                run = {
                    "time_s": float(kv["time_s"]),
                    "wall_s": float(wr["wall_s"]),
                    "user_s": float(wr["user_s"]),
                    "sys_s": float(wr["sys_s"]),
                    "maxrss_kib": int(wr["maxrss_kib"]),
                    "output": kv,
                }
                slot["runs"].append(run)
                log("[%s] rep %d/%d %-9s %.3f s  %.1f MiB"
                    % (w.name, rep, reps, a.name, run["time_s"],
                       run["maxrss_kib"] / 1024))
    return results


def summarize_timed(results):
    """Adds median/min/max to each slot."""
    for per_alloc in results.values():
        for slot in per_alloc.values():
            runs = slot["runs"]
            if runs and not slot["failed"]:
                ts = [r["time_s"] for r in runs]
                rs = [r["maxrss_kib"] for r in runs]
                slot["median_s"] = statistics.median(ts)
                slot["min_s"] = min(ts)
                slot["max_s"] = max(ts)
                slot["median_wall_s"] = statistics.median(r["wall_s"] for r in runs)
                slot["median_cpu_s"] = statistics.median(
                    r["user_s"] + r["sys_s"] for r in runs)
                slot["median_rss_kib"] = statistics.median(rs)
                slot["max_rss_kib"] = max(rs)


# ---------------------------------------------------------------- callgrind

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


# ------------------------------------------------------------------ report

def fmt_ratio(x):
    return "%.2f" % x if x is not None else "–"


def spread(slot):
    """Half the min-max range, relative to the median."""
    if slot["median_s"] <= 0:
        return 0.0
    return 0.5 * (slot["max_s"] - slot["min_s"]) / slot["median_s"]


def fmt_spread(slot):
    return "±%.0f%%" % (100 * spread(slot))


def report(meta, allocs, workloads, timed, cg, reps, args):
    ok = [a for a in allocs if a.ok]
    names = [a.name for a in ok]
    ref = REFERENCE if REFERENCE in names else ("glibc" if "glibc" in names
                                                else None)
    out = io.StringIO()
    p = lambda s="": print(s, file=out)
    p("# cairn benchmarks%s" % (" (QUICK)" if args.quick else ""))
    p()
    p("- date: %s" % meta["date"])
    p("- machine: %s, %d CPU(s) available, %s GiB RAM, Linux %s, %s; "
      "load average at start %s"
      % (meta["cpu"], meta["nproc"], meta["mem_gib"], meta["kernel"],
         meta["libc"], " ".join("%.2f" % x for x in meta["loadavg"] or [])))
    p("- cairn: %s (commit %s)" % (
        next((a.lib for a in allocs if a.name == "cairn"), "not selected"),
        meta["commit"] or "none yet"))
    p("- command: `%s`" % meta["command"])
    p()
    p("Allocators:")
    p()
    for a in allocs:
        if a.ok:
            p("- %s: %s%s%s" % (a.name, a.lib or "no preload (glibc malloc)",
                                ", package %s %s" % (a.pkg, a.version)
                                if a.version else "",
                                " — **warning: %s**" % a.warning
                                if a.warning else ""))
        else:
            p("- %s: **not measured** — %s" % (a.name, a.problem))
    p()
    if ref != REFERENCE:
        p("**cairn was not measured; ratios below are to %s instead.**"
          % (ref or "nothing"))
        p()

    if timed:
        p("## Timed workloads")
        p()
        p("Median of %d runs of the timed section, in seconds, ± half the "
          "min–max range; in brackets **%s time / %s time — above 1.00 %s is "
          "faster**, below 1.00 the peer is faster. Runs alternate between "
          "allocators (A B C D E, A B C D E, ...)." % (reps, "peer", ref, ref))
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        ratios = {n: [] for n in names}
        for w in workloads:
            row = timed[w.name]
            rs = row.get(ref) if ref else None
            cells = []
            for n in names:
                s = row[n]
                if s["failed"]:
                    cells.append("FAILED (%s)" % s["failed"].split(",")[0])
                    continue
                r = (s["median_s"] / rs["median_s"]
                     if rs and not rs["failed"] else None)
                s["ratio_time"] = r
                if r is not None:
                    ratios[n].append(r)
                cells.append("%.3f %s (%s)" % (s["median_s"], fmt_spread(s),
                                                fmt_ratio(r)))
            p("| %s | %s |" % (w.name, " | ".join(cells)))
        p("| **geomean of ratios** | %s |" % " | ".join(
            "**%s**%s" % (fmt_ratio(geomean(ratios[n])),
                          "" if len(ratios[n]) == len(workloads)
                          else " (%d of %d)" % (len(ratios[n]), len(workloads)))
            for n in names))
        p()
        noisy = ["%s/%s %s" % (w.name, n, fmt_spread(timed[w.name][n]))
                 for w in workloads for n in names
                 if not timed[w.name][n]["failed"]
                 and spread(timed[w.name][n]) > NOISY_SPREAD]
        if noisy:
            p("*Noisy:* the runs of %s varied by more than ±%.0f%% (the "
              "machine was busy?); trust those figures less, or rerun with "
              "more repetitions (`BENCH_ARGS='--reps 9'`) on a quiet machine."
              % (", ".join(noisy), 100 * NOISY_SPREAD))
            p()
        p("Peak RSS (median of the runs, MiB, whole process from wait4); in "
          "brackets **peer RSS / %s RSS — above 1.00 %s uses less memory**."
          % (ref, ref))
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        ratios = {n: [] for n in names}
        for w in workloads:
            row = timed[w.name]
            rs = row.get(ref) if ref else None
            cells = []
            for n in names:
                s = row[n]
                if s["failed"]:
                    cells.append("FAILED")
                    continue
                r = (s["median_rss_kib"] / rs["median_rss_kib"]
                     if rs and not rs["failed"] else None)
                s["ratio_rss"] = r
                if r is not None:
                    ratios[n].append(r)
                cells.append("%.1f (%s)" % (s["median_rss_kib"] / 1024,
                                            fmt_ratio(r)))
            p("| %s | %s |" % (w.name, " | ".join(cells)))
        p("| **geomean of ratios** | %s |" % " | ".join(
            "**%s**" % fmt_ratio(geomean(ratios[n])) for n in names))
        p()
        p("Workloads:")
        p()
        for w in workloads:
            p("- %s: %s; `%s %s`" % (w.name, w.what, w.prog, " ".join(
                w.quick_args if args.quick else w.args)))
        p()

    if cg:
        counts, harness, nn = cg
        p("## Instructions per malloc+free pair (callgrind)")
        p()
        p("(Ir(N2) − Ir(N1)) / (N2 − N1) with N1 = %d, N2 = %d, under "
          "`valgrind --tool=callgrind --separate-threads=no` (all threads "
          "counted). Deterministic: one run each. In brackets **peer / %s — "
          "above 1.00 %s executes fewer instructions**. Figures include the "
          "benchmark loop itself (row *harness*, same for every allocator)."
          % (nn["n1"], nn["n2"], ref, ref))
        p()
        p("| mode | " + " | ".join(names) + " | harness |")
        p("|---|" + "---:|" * (len(names) + 1))
        ratios = {n: [] for n in names}
        for m, row in counts.items():
            rs = row.get(ref) if ref else None
            cells = []
            for n in names:
                s = row[n]
                if "failed" in s:
                    cells.append("FAILED")
                    continue
                r = (s["ir_per_pair"] / rs["ir_per_pair"]
                     if rs and "failed" not in rs else None)
                s["ratio"] = r
                if r is not None:
                    ratios[n].append(r)
                cells.append("%.1f (%s)" % (s["ir_per_pair"], fmt_ratio(r)))
            h = harness[CALLGRIND_HARNESS[m]]
            cells.append("%.1f" % h["ir_per_pair"] if "failed" not in h
                         else "FAILED")
            p("| %s | %s |" % (m, " | ".join(cells)))
        p("| **geomean of ratios** | %s | |" % " | ".join(
            "**%s**" % fmt_ratio(geomean(ratios[n])) for n in names))
        p()
        p("Modes (bench/fastpath.c): pairN = malloc(N) then free at once; "
          "batch64 = 64 x malloc(64) then 64 frees in the same order; "
          "xthread64 = one thread mallocs 256 x 64 B, the other frees them, "
          "in strict turns (hand-off cost included, see harness).")
        p()
    return out.getvalue()


def write_csv(path, meta, allocs, workloads, timed, cg, reps):
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["date", "cpu", "nproc", "commit", "table", "workload",
                     "allocator", "status", "reps", "median", "min", "max",
                     "unit", "ratio_to_ref", "peak_rss_kib_median",
                     "rss_ratio_to_ref", "wall_s_median", "cpu_s_median"])
        base = [meta["date"], meta["cpu"], meta["nproc"], meta["commit"] or ""]
        for a in allocs:
            if not a.ok or a.warning:
                wr.writerow(base + ["allocator", "", a.name, a.problem or
                                    "measured; WARNING: " + a.warning] +
                            [""] * 10)
        if timed:
            for w in workloads:
                for n, s in timed[w.name].items():
                    if s["failed"]:
                        wr.writerow(base + ["time", w.name, n, "FAILED: " +
                                            s["failed"], len(s["runs"])] +
                                    [""] * 9)
                        continue
                    wr.writerow(base + [
                        "time", w.name, n, "ok", len(s["runs"]),
                        "%.6f" % s["median_s"], "%.6f" % s["min_s"],
                        "%.6f" % s["max_s"], "s",
                        "%.4f" % s["ratio_time"] if s.get("ratio_time") else "",
                        "%d" % s["median_rss_kib"],
                        "%.4f" % s["ratio_rss"] if s.get("ratio_rss") else "",
                        "%.6f" % s["median_wall_s"],
                        "%.6f" % s["median_cpu_s"]])
        if cg:
            counts, harness, _ = cg
            for m, row in counts.items():
                for n, s in list(row.items()) + [
                        ("(harness)", harness[CALLGRIND_HARNESS[m]])]:
                    if "failed" in s:
                        wr.writerow(base + ["callgrind", m, n, "FAILED: " +
                                            s["failed"], 1] + [""] * 9)
                        continue
                    v = "%.2f" % s["ir_per_pair"]
                    wr.writerow(base + [
                        "callgrind", m, n, "ok", 1, v, v, v, "Ir/pair",
                        "%.4f" % s["ratio"] if s.get("ratio") else "",
                        "", "", "", ""])


# -------------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(here),
                    help="repository root (cairn is ROOT/lib/libcairn.so.0)")
    ap.add_argument("--bin", default=None,
                    help="where the bench programs are (default ROOT/build/bench)")
    ap.add_argument("--quick", action="store_true",
                    help="short run: 3 reps, smaller workloads")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions per allocator (default 5, quick 3)")
    ap.add_argument("--allocators", default=None,
                    help="comma list, default all: " +
                    ",".join(a[0] for a in ALLOCATORS))
    ap.add_argument("--workloads", default=None,
                    help="comma list of timed workloads (default all: %s); "
                    "'none' for none" % ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the instruction counts")
    ap.add_argument("--keep-env", action="store_true",
                    help="keep MALLOC_CONF, GLIBC_TUNABLES and the like")
    ap.add_argument("--results", default=os.path.join(here, "results"),
                    help="output folder (default bench/results)")
    args = ap.parse_args()
    args.root = os.path.abspath(args.root)
    args.bin = os.path.abspath(args.bin or os.path.join(args.root, "build",
                                                        "bench"))
    reps = args.reps or (3 if args.quick else 5)

    for tool in ("runwrap", "probe", "fastpath", "churn"):
        if not os.access(os.path.join(args.bin, tool), os.X_OK):
            log("error: %s/%s is not built; run `make -C bench ROOT=<root>` first"
                % (args.bin, tool))
            return 1

    if args.allocators:
        unknown = set(args.allocators.split(",")) - {a[0] for a in ALLOCATORS}
        if unknown:
            log("error: unknown allocator(s) %s" % ",".join(sorted(unknown)))
            return 1

    if args.workloads in (None, "all"):
        workloads = WORKLOADS
    elif args.workloads == "none":
        workloads = []
    else:
        sel = args.workloads.split(",")
        unknown = [s for s in sel if s not in {w.name for w in WORKLOADS}]
        if unknown:
            log("error: unknown workload(s) %s" % ",".join(unknown))
            return 1
        workloads = [w for w in WORKLOADS if w.name in sel]

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
        if f.endswith((".res", ".log", ".out")):
            os.unlink(os.path.join(rawdir, f))

    meta = machine_info(args.root)
    meta["command"] = " ".join(["bench/run.py"] + sys.argv[1:])
    meta["quick"] = args.quick
    meta["reps"] = reps
    t_start = time.monotonic()

    if meta["loadavg"] and meta["loadavg"][0] > 0.5 * meta["nproc"]:
        log("warning: load average %.2f on %d CPU(s): something else is "
            "running, the timings will be noisy" % (meta["loadavg"][0],
                                                     meta["nproc"]))
    allocs = probe_allocators(args, env, rawdir)
    for a in allocs:
        if a.ok and a.warning:
            log("allocator %-9s WARNING: %s; measured anyway" % (a.name, a.warning))
        elif a.ok:
            log("allocator %-9s ok  (%s)" % (a.name, a.lib or "no preload"))
        else:
            log("allocator %-9s %s" % (a.name, a.problem))
    ok = [a for a in allocs if a.ok]
    if not ok:
        log("error: no allocator can be measured")
        return 1
    missing = [a.name for a in allocs if not a.ok]
    if missing:
        log("going on without: %s" % ", ".join(missing))

    timed = run_timed(args, env, ok, workloads, reps, rawdir) if workloads else {}
    summarize_timed(timed)

    cg = None
    if not args.no_callgrind:
        if shutil.which("valgrind"):
            cg = run_callgrind(args, env, ok, CALLGRIND_MODES, rawdir,
                               max(1, meta["nproc"]))
        else:
            log("valgrind not found: no instruction counts "
                "(apt-get install -y valgrind)")

    text = report(meta, allocs, workloads, timed, cg, reps, args)
    meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "latest.md"), "w") as f:
        f.write(text)
    write_csv(os.path.join(args.results, "latest.csv"), meta, allocs,
              workloads, timed, cg, reps)
    js = {
        "meta": meta,
        "allocators": [{"name": a.name, "lib": a.lib, "package": a.pkg,
                        "version": a.version, "ok": a.ok,
                        "problem": a.problem, "warning": a.warning}
                       for a in allocs],
        "workloads": [{"name": w.name, "program": w.prog,
                       "args": w.quick_args if args.quick else w.args,
                       "what": w.what} for w in workloads],
        "timed": timed,
        "callgrind": ({"params": cg[2], "counts": cg[0], "harness": cg[1]}
                      if cg else None),
    }
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        json.dump(js, f, indent=1)
        f.write("\n")
    print(text, end="")
    log("done in %.0f s; wrote %s/latest.{md,csv,json}"
        % (meta["elapsed_s"], os.path.relpath(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
