# SPDX-License-Identifier: MIT
"""The measurements: the machine, the allocators (found and probed), the
timed runs through runwrap, and what the report makes of them (medians,
ratios to the reference, their geometric means)."""

import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import time

from .redis import run_redis
from .util import geomean, log, median_of, parse_kv, run_cmd
from .workloads import (ALLOCATORS, PROFILING_PAIRS, REFERENCE,
                        SERIES_INTERVAL_MS, allocs_for, workload_argv)


# A timed run may take at most RUN_TIMEOUT_S, or, once another allocator has
# finished the same workload, RUN_TIMEOUT_FACTOR times the slowest such run
# (at least RUN_TIMEOUT_MIN_S), so that a hanging allocator costs little.
RUN_TIMEOUT_S = 300
RUN_TIMEOUT_FACTOR = 20
RUN_TIMEOUT_MIN_S = 30


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
    thp = None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            m = re.search(r"\[(\w+)\]", f.read())
            thp = m.group(1) if m else None
    except OSError:
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
        "thp": thp,
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


class Allocator:
    def __init__(self, name, lib, pkg, env, variant):
        self.name, self.lib, self.pkg = name, lib, pkg
        self.env, self.variant = env, variant
        self.ok = False
        self.problem = None   # why it is not measured
        self.warning = None   # measured, but the probe found a problem
        self.version = None
        self.malloc_from = None  # the file malloc resolved to in the probe
        self.mallctl_from = None  # and mallctl ("?": not defined)

    def describe(self):
        s = self.lib or "no preload (glibc malloc)"
        if self.env:
            s += " with " + " ".join("%s=%s" % kv for kv in self.env.items())
        return s


def install_hint(a):
    if a.name == "cairn":
        return "build it with `make` at the repository root"
    return "install it with `apt-get install -y %s`" % a.pkg


def probe_allocators(args, env, rawdir):
    """Checks each allocator: library present, malloc really comes from it,
    a little traffic works. Returns the list of Allocator objects."""
    allocs = []
    wanted = set(args.allocators.split(",")) if args.allocators else None
    for name, lib, pkg, aenv, variant in ALLOCATORS:
        if wanted is not None and name not in wanted:
            continue
        a = Allocator(name, lib.format(root=args.root) if lib else None, pkg,
                      {k: v.replace("{profdir}", args.profdir)
                       for k, v in aenv.items()}, variant)
        allocs.append(a)
        a.version = package_version(pkg) if name != "cairn" else None
        if a.lib and not os.path.exists(a.lib):
            a.problem = "MISSING: %s not found; %s" % (a.lib, install_hint(a))
            continue
        res = os.path.join(rawdir, "probe-%s.res" % name)
        cmd = [os.path.join(args.bin, "runwrap"), "-p", a.lib or "",
               "-o", res, "--", os.path.join(args.bin, "probe")]
        e = dict(env)
        e.update(a.env)
        try:
            r = run_cmd(cmd, e, 60, subprocess.PIPE, subprocess.PIPE)
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
        a.malloc_from = got
        a.mallctl_from = kv.get("mallctl_from")
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


def run_program(args, env, w, a, argv, res, out, limit, sample):
    """One run of a program or command through runwrap. Returns (run, why):
    the run's dict, or None and why it failed."""
    runwrap = os.path.join(args.bin, "runwrap")
    cmd = [runwrap, "-p", a.lib or "", "-o", res]
    if sample:
        cmd += ["-s", sample, "-i", str(SERIES_INTERVAL_MS)]
    cmd += ["--"] + argv
    e = dict(env)
    e.update(a.env)
    e.update(w.env)
    try:
        with open(out, "w") as f:
            r = run_cmd(cmd, e, limit, subprocess.PIPE, f)
            f.write(r.stdout)
    except subprocess.TimeoutExpired:
        return None, "timeout after %.0f s" % limit
    wr = parse_kv(open(res).read()) if os.path.exists(res) else {}
    kv = parse_kv(r.stdout)
    status = wr.get("status", "no result")
    rel = os.path.relpath(out)
    if kv.get("errors", "0") != "0":
        extra = (", %s misaligned" % kv["misaligned"]
                 if kv.get("misaligned", "0") != "0" else "")
        return None, "%s data errors%s (%s), see %s" % (kv["errors"], extra,
                                                        status, rel)
    if status != "exit:0":
        return None, "%s, see %s" % (status, rel)
    if w.kind == "program" and "time_s" not in kv:
        return None, "no time_s in the output, see %s" % rel
    if w.kind == "command" and "errors" not in kv:
        return None, "no result line (errors=) in the output, see %s" % rel
    run = {
        "time_s": float(kv["time_s"]) if w.kind == "program"
        else float(wr["wall_s"]),
        "wall_s": float(wr["wall_s"]),
        "user_s": float(wr["user_s"]),
        "sys_s": float(wr["sys_s"]),
        "maxrss_kib": int(wr["maxrss_kib"]),
        "rss_end_kib": kv_kib(kv, "rss_end_kb"),
        "anon_huge_kib": kv_kib(kv, "anon_huge_kb"),
        "output": kv,
    }
    if sample and os.path.exists(sample):
        series = []
        with open(sample) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    series.append([float(p[0]), int(p[1])])
        run["series"] = series
    return run, None


def kv_kib(kv, key):
    """kv[key] as a non-negative int, or None (missing, -1: unreadable)."""
    v = kv.get(key, "")
    return int(v) if v.isdigit() else None


def fmt_mib(kib):
    return "%.1f MiB" % (kib / 1024) if kib is not None else "?"


def take_dumps(profdir):
    """(files, bytes) of the heap profiles a run left in profdir, which is
    emptied for the next run."""
    n = size = 0
    for f in os.listdir(profdir):
        path = os.path.join(profdir, f)
        try:
            size += os.path.getsize(path)
            os.unlink(path)
            n += 1
        except OSError:
            pass
    return n, size


def run_timed(args, env, allocs, workloads, reps, rawdir, tools, skipped):
    """Returns {workload: {alloc: {"runs": [...], "failed": str|None}}}."""
    results = {}
    plan = [(w, allocs_for(w, allocs, args)) for w in workloads
            if w.name not in skipped]
    total = sum(len(al) * reps for _, al in plan)
    done = 0
    t_start = time.monotonic()
    for w, al in plan:
        argv = workload_argv(w, args, tools)
        results[w.name] = {a.name: {"runs": [], "failed": None} for a in al}
        for rep in range(1, reps + 1):
            for a in al:
                done += 1
                slot = results[w.name][a.name]
                head = "[%s] rep %d/%d %-11s (%d/%d)" % (
                    w.name, rep, reps, a.name, done, total)
                if slot["failed"]:
                    log("%s skipped: failed before" % head)
                    continue
                log(head + " ", end="")
                tag = "%s.%s.%d" % (w.name, a.name, rep)
                res = os.path.join(rawdir, tag + ".res")
                out = os.path.join(rawdir, tag + ".log")
                if os.path.exists(res):
                    os.unlink(res)
                walls = [r["wall_s"] for s in results[w.name].values()
                         for r in s["runs"]]
                limit = (max(RUN_TIMEOUT_MIN_S, RUN_TIMEOUT_FACTOR * max(walls))
                         if walls else RUN_TIMEOUT_S)
                sample = (os.path.join(rawdir, "%s.%s.rss.txt" % (w.name, a.name))
                          if w.series and rep == 1 else None)
                take_dumps(args.profdir)
                if w.kind == "redis":
                    run, why = run_redis(args, env, w, a, argv, res, out,
                                         limit, tools)
                else:
                    run, why = run_program(args, env, w, a, argv, res, out,
                                           limit, sample)
                dumps, dump_bytes = take_dumps(args.profdir)
                if run is not None:
                    run["dumps"], run["dump_bytes"] = dumps, dump_bytes
                elapsed = time.monotonic() - t_start
                if why:
                    slot["failed"] = why
                    log("FAILED: %s  [%.0f s]" % (why, elapsed))
                    continue
                slot["runs"].append(run)
                fig = ("%.0f req/s" % run["throughput"] if "throughput" in run
                       else "%.3f s" % run["time_s"])
                log("%s  peak %s  end %s%s  [%.0f s]" % (
                    fig, fmt_mib(run["maxrss_kib"]), fmt_mib(run["rss_end_kib"]),
                    "  %d dump(s), %.0f KiB" % (dumps, dump_bytes / 1024)
                    if dumps else "", elapsed))
    return results


CHECKPOINT = re.compile(r"^rss_(phase\d+|idle)_kb$")


def summarize_timed(results):
    """Adds medians (and min/max of the time) to each slot."""
    for per_alloc in results.values():
        for slot in per_alloc.values():
            runs = slot["runs"]
            if not runs or slot["failed"]:
                continue
            ts = [r["time_s"] for r in runs]
            slot["median_s"] = statistics.median(ts)
            slot["min_s"] = min(ts)
            slot["max_s"] = max(ts)
            slot["median_wall_s"] = median_of(runs, "wall_s")
            slot["median_dumps"] = median_of(runs, "dumps")
            slot["median_dump_bytes"] = median_of(runs, "dump_bytes")
            slot["median_cpu_s"] = statistics.median(
                r["user_s"] + r["sys_s"] for r in runs)
            slot["median_rss_kib"] = median_of(runs, "maxrss_kib")
            slot["max_rss_kib"] = max(r["maxrss_kib"] for r in runs)
            slot["median_rss_end_kib"] = median_of(runs, "rss_end_kib")
            slot["median_anon_huge_kib"] = median_of(runs, "anon_huge_kib")
            if "throughput" in runs[0]:
                slot["median_throughput"] = statistics.median(
                    r["throughput"] for r in runs)
            cps = {}
            for k in runs[0]["output"]:
                if CHECKPOINT.match(k):
                    vals = [int(r["output"][k]) for r in runs
                            if k in r["output"]]
                    cps[k] = statistics.median(vals)
            if cps:
                slot["checkpoints"] = cps


def reference_of(names):
    return REFERENCE if REFERENCE in names else ("glibc" if "glibc" in names
                                                 else None)


def compute_ratios(timed, workloads, names, ref):
    """Sets ratio_time, ratio_rss, ratio_rss_end (peer / reference) in each
    slot, and returns the geometric means per allocator:
    {"time": {alloc: (geomean, n)}, "peak_rss": ..., "rss_end": ...}."""
    keys = {"time": ("median_s", "ratio_time"),
            "peak_rss": ("median_rss_kib", "ratio_rss"),
            "rss_end": ("median_rss_end_kib", "ratio_rss_end")}
    gm = {}
    for table, (mk, rk) in keys.items():
        vals = {n: [] for n in names}
        rows = 0
        for w in workloads:
            row = timed.get(w.name)
            if not row:
                continue
            rows += 1
            rs = row.get(ref) if ref else None
            for n, s in row.items():
                base = rs.get(mk) if rs and not rs["failed"] else None
                mine = s.get(mk) if not s["failed"] else None
                r = mine / base if mine is not None and base else None
                s[rk] = r
                if r is not None:
                    vals[n].append(r)
        gm[table] = {n: {"geomean": geomean(vals[n]), "n": len(vals[n]),
                         "rows": rows} for n in names}
    return gm


def cost_time(w, slot):
    """The time a profiled run is charged with: for programs and commands
    the whole process's wall time (the dumps cairn writes at exit are part
    of what profiling costs, and the timed section ends before them); for
    redis the time its throughput gives (the same requests, served)."""
    return slot["median_s"] if w.kind == "redis" else slot["median_wall_s"]


def best_time(w, slot):
    """cost_time of the fastest run: on a busy machine the run least
    disturbed by others (the median's counterpart, not a replacement)."""
    return min(r["time_s"] if w.kind == "redis" else r["wall_s"]
               for r in slot["runs"])


def paired_time(w, sb, sp):
    """The median over repetitions of profiled / plain of the same
    repetition's runs, which ran one after the other (allocators take
    turns within a repetition): what the machine's load did to both is
    divided out, where the ratio of medians takes each from other
    moments. None where the two ran a different number of times."""
    if len(sb["runs"]) != len(sp["runs"]):
        return None
    key = "time_s" if w.kind == "redis" else "wall_s"
    return statistics.median(p[key] / b[key]
                             for b, p in zip(sb["runs"], sp["runs"]))


def compute_profiling(timed, workloads, names):
    """The profiling row set: for each (plain, profiled) pair of
    PROFILING_PAIRS that ran, per workload, profiled / plain of the time
    (whole process), of the timed section, and of the peak RSS; and their
    geometric means; "best": the same time ratio of the fastest runs;
    "paired": paired_time's. Above 1.00: profiling costs that much.
    Returns {"pairs": [(plain, prof)], "rows": {workload: {prof: {...}}},
    "geomean": {prof: {"time": g, "section": g, "peak_rss": g, "n": n}}}
    or None when no pair ran."""
    pairs = [(b, p) for b, p in PROFILING_PAIRS if b in names and p in names]
    if not pairs:
        return None
    rows = {}
    acc = {p: {"time": [], "best": [], "paired": [], "section": [],
               "peak_rss": []} for _, p in pairs}
    for w in workloads:
        row = timed.get(w.name)
        if not row:
            continue
        rows[w.name] = {}
        for b, p in pairs:
            sb, sp = row.get(b), row.get(p)
            if (not sb or not sp or sb["failed"] or sp["failed"]
                    or not sb["runs"] or not sp["runs"]):
                rows[w.name][p] = {"failed": (sp or {}).get("failed") or
                                   (sb or {}).get("failed") or "not run"}
                continue
            r = {"time": cost_time(w, sp) / cost_time(w, sb),
                 "best": best_time(w, sp) / best_time(w, sb),
                 "paired": paired_time(w, sb, sp),
                 "peak_rss_delta_kib": sp["median_rss_kib"] -
                 sb["median_rss_kib"],
                 "section": sp["median_s"] / sb["median_s"],
                 "peak_rss": sp["median_rss_kib"] / sb["median_rss_kib"],
                 "dumps": sp.get("median_dumps"),
                 "dump_bytes": sp.get("median_dump_bytes")}
            rows[w.name][p] = r
            for k in acc[p]:
                if r[k] is not None:
                    acc[p][k].append(r[k])
    gm = {p: dict({k: geomean(v) for k, v in acc[p].items()},
                  n=len(acc[p]["time"]), rows=len(rows)) for _, p in pairs}
    return {"pairs": pairs, "rows": rows, "geomean": gm}


def add_instructions(prof, counts):
    """Adds run_instructions' counts to the profiling row set: per workload
    and pair, "instructions", profiled / plain of the whole process's
    instruction count (None, and "instructions_why", where either was not
    counted), and its geometric mean per pair ("instructions", over
    "instructions_n" workloads); the counts themselves as
    prof["instructions"]."""
    prof["instructions"] = counts
    for b, p in prof["pairs"]:
        vals = []
        for wname, row in prof["rows"].items():
            r = row[p]
            if "failed" in r:
                continue
            got = counts.get(wname, {})
            cb, cp = got.get(b, {}), got.get(p, {})
            why = [uncounted(s) for s in (cp, cb) if "ir" not in s]
            r["instructions"] = None if why else cp["ir"] / cb["ir"]
            if why:
                r["instructions_why"] = why[0]
            else:
                vals.append(r["instructions"])
        prof["geomean"][p]["instructions"] = geomean(vals)
        prof["geomean"][p]["instructions_n"] = len(vals)


def uncounted(slot):
    """Why a run_instructions slot has no count."""
    if "failed" in slot:
        return "FAILED: " + slot["failed"]
    return slot.get("not_measured", "not run")
