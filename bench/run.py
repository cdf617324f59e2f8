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

Two kinds of measurement:

* timed workloads (WORKLOADS below): every allocator runs once, in turn
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

Progress goes to stderr, one line per run ("[server-4t] rep 2/5 jemalloc
(17/80) ..."). An allocator whose library is missing, does not define
malloc, or fails the probe is reported and left out; one that fails a
workload (crash, wrong data, timeout) gets FAILED in that row and the rest
goes on; a workload whose outside program (redis-server, sqlite3) is not
installed is reported as SKIPPED.

To add a workload: write bench/<name>.c (see common.h for the conventions),
then add a Workload(...) line to WORKLOADS, or a mode to CALLGRIND_MODES.
"""

import argparse
import csv
import datetime
import html
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, library to preload (None: glibc, nothing preloaded), Debian package,
# extra environment for its runs, variant. "{root}" is replaced by the
# repository root. A *variant* (jemalloc-bg) is an existing allocator with
# different settings: by default it only runs on the workloads that list it
# in their `variants` (it is there for a comparison the project makes on
# those), and on every selected workload when --allocators names it.
ALLOCATORS = [
    ("glibc", None, "libc6", {}, False),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2", {}, False),
    ("jemalloc-bg", LIBDIR + "/libjemalloc.so.2", "libjemalloc2",
     {"MALLOC_CONF": "background_thread:true"}, True),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0", {}, False),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4",
     {}, False),
    ("cairn", "{root}/lib/libcairn.so.0", None, {}, False),
]
REFERENCE = "cairn"  # ratios are peer / cairn; glibc stands in when cairn is out

# The outside programs some workloads run, and their Debian packages.
TOOLS = {
    "redis-server": "redis-server",
    "redis-benchmark": "redis-tools",
    "sqlite3": "sqlite3",
    "python3": "python3",
}


class Workload:
    """A timed workload.

    kind "program": a program in build/bench (prog) run with args; its own
        time_s is the figure.
    kind "command": an outside command (prog: a list with {python},
        {sqlite3}, {bench} placeholders, then args), timed as a whole from
        outside (wall time, start-up and exit included).
    kind "redis": redis-server under the allocator, driven by
        redis-benchmark (not preloaded); args go to redis-benchmark; the
        figure is the throughput.
    quick_args None: not part of the QUICK subset.
    """

    def __init__(self, name, prog, args, quick_args, what, kind="program",
                 series=False, variants=(), env=None, needs=()):
        self.name, self.prog, self.args, self.quick_args, self.what = (
            name, prog, args, quick_args, what)
        self.kind, self.series, self.variants = kind, series, variants
        self.env, self.needs = env or {}, needs

    @property
    def basis(self):
        return {"program": "timed section", "command": "whole command",
                "redis": "throughput"}[self.kind]


WORKLOADS = [
    Workload("churn-1t", "churn",
             ["-t", "1", "-s", "50k", "-n", "30M"],
             ["-t", "1", "-s", "50k", "-n", "5M"],
             "small-object churn, 1 thread, 50k live blocks (~13 MB), "
             "random replacement"),
    Workload("churn-1t-10k", "churn",
             ["-t", "1", "-s", "10k", "-n", "30M"], None,
             "small-object churn, 1 thread, 10k live blocks (~2.5 MB, "
             "cache-resident)"),
    Workload("churn-2t", "churn",
             ["-t", "2", "-s", "50k", "-n", "15M", "-r", "100"], None,
             "small-object churn, 2 threads x 50k live blocks, 10% of frees "
             "cross-thread"),
    Workload("server-2t", "server",
             ["-t", "2", "-s", "4096", "-n", "2M", "-r", "100"], None,
             "server simulation, 2 threads x 4096 live request objects "
             "(16 B-512 KiB, mean ~10 KiB), 10% freed by another thread"),
    Workload("server-4t", "server",
             ["-t", "4", "-s", "4096", "-n", "1M", "-r", "100"],
             ["-t", "4", "-s", "4096", "-n", "300k", "-r", "100"],
             "server simulation, 4 threads x 4096 live request objects, "
             "10% freed by another thread"),
    Workload("prodcons", "prodcons",
             ["-n", "10M", "-q", "1024"], ["-n", "3M", "-q", "1024"],
             "producer/consumer: one thread mallocs 16-512 B blocks, another "
             "frees them, bounded queue of 1024"),
    Workload("falseshare-active", "falseshare",
             ["-m", "active", "-t", "2", "-n", "1M", "-r", "1000"], None,
             "active false sharing (Hoard cache-thrash): 2 threads malloc "
             "8 B objects concurrently and write each 1000 times"),
    Workload("falseshare-passive", "falseshare",
             ["-m", "passive", "-t", "2", "-n", "1M", "-r", "1000"],
             ["-m", "passive", "-t", "2", "-n", "300k", "-r", "1000"],
             "passive false sharing (Hoard cache-scratch): objects malloced "
             "by the main thread, freed by 2 workers which then malloc and "
             "write their own"),
    Workload("longrun", "longrun",
             ["-p", "10", "-m", "160", "-k", "50", "-g", "100", "-i", "3000"],
             ["-p", "4", "-m", "100", "-k", "50", "-g", "50", "-i", "1000"],
             "long-running service: phases (-p) each allocating -m MiB of "
             "mixed objects, 95% freed in random order, 5% survive "
             "scattered; then idle for -i ms", series=True,
             variants=("jemalloc-bg",)),
    Workload("ml-huge", "ml",
             ["-m", "huge", "-s", "8M:48,64M:8,256M:2,1G:2"],
             ["-m", "huge", "-s", "8M:16,64M:4,256M:1"],
             "ML: huge buffers 8 MiB-1 GiB allocated, every page written, "
             "freed, one at a time"),
    Workload("ml-realloc", "ml",
             ["-m", "realloc", "-x", "1G", "-r", "2"], None,
             "ML: a vector grown by realloc doubling from 64 KiB to 1 GiB, "
             "new half written at each step (2 rounds)"),
    Workload("ml-tensors", "ml",
             ["-m", "tensors", "-k", "16", "-n", "150"], None,
             "ML: pool of 16 tensors of 1-64 MiB with random lifetimes, "
             "150 replacements, every page written"),
    Workload("realloc-buffers", "ml",
             ["-m", "buffers", "-k", "256", "-n", "20k", "-x", "1M"],
             ["-m", "buffers", "-k", "256", "-n", "5k", "-x", "1M"],
             "buffers grown by realloc: 256 live, each replacement grows a "
             "new one by doubling from 16 KiB to 128 KiB-1 MiB, every page "
             "written"),
    Workload("threads", "threads",
             ["-n", "2000", "-a", "4", "-b", "1000"],
             ["-n", "500", "-a", "4", "-b", "1000"],
             "thread churn: 2000 short-lived threads, 4 alive at a time, each "
             "leaving half its blocks for later threads to free"),
    Workload("aligned", "aligned",
             ["-s", "20k", "-n", "5M"], ["-s", "20k", "-n", "1M"],
             "posix_memalign (64-4096) mixed 50/50 with malloc, 20k live "
             "blocks, random replacement"),
    Workload("redis", "redis-server",
             ["-n", "100000"], ["-n", "50000"],
             "redis-server 7 under the allocator, redis-benchmark "
             "set,get,lpush,lpop,incr, 50 clients, pipeline 16, 100k random "
             "keys, 64 B values", kind="redis",
             needs=("redis-server", "redis-benchmark")),
    Workload("sqlite", ["{sqlite3}", ":memory:",
                        ".read {bench}/sqlite_work.sql"], [], None,
             "sqlite3 shell, in-memory database: 300k-row CTE insert, 2 "
             "indexes, GROUP BY, UPDATE, DELETE, self-join, ORDER BY",
             kind="command", needs=("sqlite3",)),
    Workload("python", ["{python3}", "{bench}/py_work.py"], ["50000"], None,
             "CPython with PYTHONMALLOC=malloc: 50k records in dicts, sorted, "
             "JSON round trip, regrouped, mostly dropped", kind="command",
             env={"PYTHONMALLOC": "malloc"}, needs=("python3",)),
]

# redis-benchmark: fixed part of the command line (-n comes from the
# workload's args). The server runs with persistence off.
REDIS_TESTS = "set,get,lpush,lpop,incr"
REDIS_BENCH_ARGS = ["-c", "50", "-P", "16", "-r", "100000", "-d", "64",
                    "-t", REDIS_TESTS, "--csv"]
REDIS_START_TIMEOUT_S = 15
REDIS_BENCH_TIMEOUT_S = 180

# RSS-over-time sampling interval for `series` workloads (first repetition).
SERIES_INTERVAL_MS = 20

# fastpath modes measured under callgrind, and the harness-only modes whose
# count (allocator-independent) is reported as the loop overhead.
# TLB misses, counted by `perf stat` where the machine's PMU exposes them
# (virtual machines often do not): one extra run per allocator of the
# workloads whose memory layout decides them.
TLB_EVENTS = ("dTLB-load-misses", "dTLB-store-misses", "iTLB-load-misses")
TLB_WORKLOADS = ("churn-1t", "server-2t", "longrun", "ml-huge", "ml-tensors",
                 "aligned")

CALLGRIND_MODES = ["pair16", "pair64", "pair256", "pair4096", "batch64",
                   "xthread64"]
CALLGRIND_HARNESS = {"pair16": "loop-pair", "pair64": "loop-pair",
                     "pair256": "loop-pair", "pair4096": "loop-pair",
                     "batch64": "loop-pair", "xthread64": "loop-xthread"}
CALLGRIND_N1 = 50000
CALLGRIND_D = {"full": 500000, "quick": 200000}

# Environment variables that tune one allocator or another; removed from the
# environment of every run (unless --keep-env) so all run with defaults
# (jemalloc-bg then sets its own MALLOC_CONF).
TUNING_ENV_PREFIXES = ("MALLOC_", "_RJEM_", "MIMALLOC_", "TCMALLOC_",
                       "CAIRN_", "JE_MALLOC")
TUNING_ENV_NAMES = ("LD_PRELOAD", "GLIBC_TUNABLES", "MALLOC_CONF",
                    "PYTHONMALLOC")

NOISY_SPREAD = 0.10  # spreads above this get flagged under the time table

# A timed run may take at most RUN_TIMEOUT_S, or, once another allocator has
# finished the same workload, RUN_TIMEOUT_FACTOR times the slowest such run
# (at least RUN_TIMEOUT_MIN_S), so that a hanging allocator costs little.
RUN_TIMEOUT_S = 300
RUN_TIMEOUT_FACTOR = 20
RUN_TIMEOUT_MIN_S = 30
VALGRIND_TIMEOUT_S = 120


def log(msg, end="\n"):
    print(msg, file=sys.stderr, end=end, flush=True)


def parse_kv(text):
    """All key=value tokens of all lines of text, later ones winning; plus
    `VmRSS:` / `AnonHugePages:` lines (as /proc prints them) as rss_end_kb
    and anon_huge_kb when the program did not print those keys itself."""
    out = {}
    proc = {}
    for line in text.splitlines():
        m = re.match(r"\s*(VmRSS|AnonHugePages):\s+(\d+)\s*kB", line)
        if m:
            proc[{"VmRSS": "rss_end_kb",
                  "AnonHugePages": "anon_huge_kb"}[m.group(1)]] = m.group(2)
            continue
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                if k:
                    out[k] = v
    for k, v in proc.items():
        out.setdefault(k, v)
    return out


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
        kill_tree(p)
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def kill_tree(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


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


# --------------------------------------------------------------- allocators

class Allocator:
    def __init__(self, name, lib, pkg, env, variant):
        self.name, self.lib, self.pkg = name, lib, pkg
        self.env, self.variant = env, variant
        self.ok = False
        self.problem = None   # why it is not measured
        self.warning = None   # measured, but the probe found a problem
        self.version = None
        self.malloc_from = None  # the file malloc resolved to in the probe

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
                      aenv, variant)
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


def allocs_for(w, allocs, args):
    """The allocators that run workload w: all base allocators, plus the
    variants the workload lists, or that --allocators names."""
    named = set(args.allocators.split(",")) if args.allocators else set()
    return [a for a in allocs
            if not a.variant or a.name in w.variants or a.name in named]


# -------------------------------------------------------------------- tools

def find_tools():
    found = {}
    for t in TOOLS:
        if t == "python3":
            # The system interpreter, not a wrapper script (pyenv shims are
            # shell scripts: the allocator would be preloaded into bash).
            for cand in ("/usr/bin/python3", sys.executable):
                if cand and os.access(cand, os.X_OK):
                    found[t] = os.path.realpath(cand)
                    break
            else:
                found[t] = None
        else:
            found[t] = shutil.which(t)
    return found


def skip_reason(w, tools):
    missing = [t for t in w.needs if not tools.get(t)]
    if not missing:
        return None
    pkgs = sorted({TOOLS[t] for t in missing})
    return "%s not found; install with `apt-get install -y %s`" % (
        " and ".join(missing), " ".join(pkgs))


def workload_argv(w, args, tools):
    wargs = w.quick_args if args.quick else w.args
    if w.kind == "program":
        return [os.path.join(args.bin, w.prog)] + wargs
    if w.kind == "command":
        subst = dict(tools)
        subst["bench"] = os.path.dirname(os.path.abspath(__file__))
        return [re.sub(r"\{([\w-]+)\}", lambda m: subst[m.group(1)], x)
                for x in w.prog] + wargs
    # redis: what redis-benchmark gets
    return REDIS_BENCH_ARGS + wargs


def display_cmd(w, args):
    wargs = w.quick_args if args.quick else w.args
    if w.kind == "program":
        return "%s %s" % (w.prog, " ".join(wargs))
    if w.kind == "command":
        env = "".join("%s=%s " % kv for kv in w.env.items())
        return env + " ".join(
            [x.replace("{bench}", "bench").strip("{}") for x in w.prog] + wargs)
    return ("redis-server --save '' --appendonly no; redis-benchmark %s"
            % " ".join(REDIS_BENCH_ARGS + wargs))


# ----------------------------------------------------------- timed workloads

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


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Resp:
    """A minimal Redis client (RESP2), enough for PING, INFO, SET, GET,
    LPUSH, LRANGE, DBSIZE and SHUTDOWN."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def cmd(self, *parts):
        enc = [p if isinstance(p, bytes) else str(p).encode() for p in parts]
        msg = b"*%d\r\n" % len(enc) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in enc)
        self.sock.sendall(msg)
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:].rstrip(b"\r\n")
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line[:40])


def proc_kib(pid, path, key):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_redis(args, env, w, a, argv, res, out, limit, tools):
    """One run of the redis workload: start redis-server through runwrap
    with the allocator preloaded, wait for it, run redis-benchmark (not
    preloaded) against it, check a few commands, read the server's RSS,
    shut it down -- and kill it in every case. Returns (run, why)."""
    runwrap = os.path.join(args.bin, "runwrap")
    # Debian's redis-server is linked with libjemalloc, so with nothing
    # preloaded its malloc is jemalloc's: for "glibc", preload glibc
    # itself (the libc the probe found), which puts its malloc first.
    lib = a.lib or (a.malloc_from if a.malloc_from and
                    os.path.basename(a.malloc_from).startswith("libc.so")
                    else "")
    rawdir = os.path.dirname(res)
    e = dict(env)
    e.update(a.env)
    rel = os.path.relpath(out)
    f = open(out, "w")
    server = conn = None

    def start(port):
        f.seek(0)
        f.truncate()
        f.flush()
        return subprocess.Popen(
            [runwrap, "-p", lib, "-o", res, "--", tools["redis-server"],
             "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", "",
             "--dir", rawdir], env=e, stdout=f, stderr=subprocess.STDOUT,
            start_new_session=True)

    try:
        attempt = 0
        port = free_port()
        server = start(port)
        t0 = time.monotonic()
        while True:
            if server.poll() is not None:
                # the free port was taken in between: try another one
                if attempt < 3 and "already in use" in open(out).read():
                    attempt += 1
                    port = free_port()
                    server = start(port)
                    continue
                return None, "redis-server exited at start, see %s" % rel
            try:
                conn = Resp(port)
                if conn.cmd("PING") == "PONG":
                    break
            except (OSError, RuntimeError, ConnectionError):
                if conn:
                    conn.close()
                conn = None
            if time.monotonic() - t0 > REDIS_START_TIMEOUT_S:
                return None, ("redis-server did not answer within %d s, see %s"
                              % (REDIS_START_TIMEOUT_S, rel))
            time.sleep(0.05)
        info = conn.cmd("INFO", "server").decode()
        m = re.search(r"process_id:(\d+)", info)
        pid = int(m.group(1)) if m else None
        benv = dict(env)  # the client runs on its own (glibc) malloc
        try:
            b = run_cmd([tools["redis-benchmark"], "-h", "127.0.0.1", "-p",
                         str(port)] + argv, benv,
                        min(limit, REDIS_BENCH_TIMEOUT_S), subprocess.PIPE,
                        subprocess.PIPE)
        except subprocess.TimeoutExpired:
            return None, "redis-benchmark timed out (server hung?), see %s" % rel
        f.write("\n--- redis-benchmark %s\n%s%s" % (" ".join(argv), b.stdout,
                                                     b.stderr))
        f.flush()
        rps = {}
        for line in b.stdout.splitlines():
            p = [x.strip('"') for x in line.split(",")]
            if len(p) >= 2 and p[0] != "test":
                try:
                    rps[p[0].upper()] = float(p[1])
                except ValueError:
                    pass
        want = [t.upper() for t in REDIS_TESTS.split(",")]
        if server.poll() is not None:
            return None, "redis-server died during the benchmark, see %s" % rel
        if b.returncode != 0 or any(t not in rps or rps[t] <= 0 for t in want):
            return None, "redis-benchmark failed (exit %d), see %s" % (
                b.returncode, rel)
        # A few checked commands: the data must come back as written.
        errors = 0
        try:
            val = bytes(range(256)) * 40
            conn.cmd("SET", "bench:check", val)
            errors += conn.cmd("GET", "bench:check") != val
            conn.cmd("DEL", "bench:list")
            conn.cmd("LPUSH", "bench:list", "a", "bb", "ccc")
            errors += conn.cmd("LRANGE", "bench:list", 0, -1) != [
                b"ccc", b"bb", b"a"]
            errors += not conn.cmd("DBSIZE") > 2
            mem = conn.cmd("INFO", "memory").decode()
        except (OSError, RuntimeError, ConnectionError) as exc:
            return None, "redis-server stopped answering (%s), see %s" % (
                exc, rel)
        if errors:
            return None, "%d data errors (GET/LRANGE returned something " \
                "else), see %s" % (errors, rel)
        kv = {"rps_" + t: "%.0f" % rps[t] for t in want}
        m = re.search(r"used_memory:(\d+)", mem)
        used = int(m.group(1)) if m else 0
        kv["used_memory_kb"] = str(used // 1024)
        # INFO's allocator_* figures come from mallctl, which always goes to
        # the jemalloc redis is linked with: if that jemalloc holds most of
        # the data, the preloaded malloc was not the one in use.
        m = re.search(r"allocator_allocated:(\d+)", mem)
        je = int(m.group(1)) if m else 0
        kv["linked_jemalloc_allocated_kb"] = str(je // 1024)
        if (not (a.lib and "jemalloc" in os.path.basename(a.lib))
                and used > 4 << 20 and je > used // 2):
            return None, ("NOT IN USE: redis-server's data is in its linked "
                          "jemalloc (%d of %d KiB), not in %s, see %s"
                          % (je // 1024, used // 1024, a.name, rel))
        rss = proc_kib(pid, "status", "VmRSS:") if pid else None
        huge = proc_kib(pid, "smaps_rollup", "AnonHugePages:") if pid else None
        n = int(argv[argv.index("-n") + 1]) if "-n" in argv else 100000
        t_total = sum(n / rps[t] for t in want)
        try:
            conn.sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
        except OSError:
            pass
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            return None, "redis-server did not shut down, see %s" % rel
        wr = parse_kv(open(res).read()) if os.path.exists(res) else {}
        status = wr.get("status", "no result")
        if status not in ("exit:0",):
            return None, "redis-server ended with %s, see %s" % (status, rel)
        kv.update({"errors": "0", "throughput_rps": "%.0f" % (
            n * len(want) / t_total)})
        run = {
            "time_s": t_total,
            "throughput": n * len(want) / t_total,
            "wall_s": float(wr["wall_s"]),
            "user_s": float(wr["user_s"]),
            "sys_s": float(wr["sys_s"]),
            "maxrss_kib": int(wr["maxrss_kib"]),
            "rss_end_kib": rss,
            "anon_huge_kib": huge,
            "output": kv,
        }
        return run, None
    finally:
        if conn:
            conn.close()
        if server is None:
            pass
        elif server.poll() is None:
            kill_tree(server)
        else:
            try:
                os.killpg(server.pid, signal.SIGKILL)  # strays, if any
            except OSError:
                pass
        f.close()


def fmt_mib(kib):
    return "%.1f MiB" % (kib / 1024) if kib is not None else "?"


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
                if w.kind == "redis":
                    run, why = run_redis(args, env, w, a, argv, res, out,
                                         limit, tools)
                else:
                    run, why = run_program(args, env, w, a, argv, res, out,
                                           limit, sample)
                elapsed = time.monotonic() - t_start
                if why:
                    slot["failed"] = why
                    log("FAILED: %s  [%.0f s]" % (why, elapsed))
                    continue
                slot["runs"].append(run)
                fig = ("%.0f req/s" % run["throughput"] if "throughput" in run
                       else "%.3f s" % run["time_s"])
                log("%s  peak %s  end %s  [%.0f s]" % (
                    fig, fmt_mib(run["maxrss_kib"]), fmt_mib(run["rss_end_kib"]),
                    elapsed))
    return results


def perf_stat_values(text):
    """{event: count} from `perf stat -x,` output; events it could not count
    are left out."""
    vals = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) >= 3 and f[2] in TLB_EVENTS and f[0].isdigit():
            vals[f[2]] = int(f[0])
    return vals


def tlb_support(env):
    """(events, why): the TLB events `perf stat` counts on this machine, or
    an empty list and why none."""
    perf = shutil.which("perf")
    if not perf:
        return [], "perf is not installed (apt-get install -y linux-perf)"
    try:
        r = subprocess.run([perf, "stat", "-x,", "-e", ",".join(TLB_EVENTS),
                            "--", "true"], env=env, capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], "perf stat did not run: %s" % e
    events = [e for e in TLB_EVENTS if e in perf_stat_values(r.stderr)]
    if not events:
        return [], ("perf stat counts no TLB event on this machine (%s: "
                    "the hardware counters are not exposed, as in many "
                    "virtual machines)" % ", ".join(
                        "%s %s" % (e, "<not supported>") for e in TLB_EVENTS))
    return events, None


def run_tlb(args, env, allocs, workloads, rawdir, tools, skipped):
    """{"events": [...], "why": str|None, "counts": {workload: {alloc:
    {event: n}}}}: one run per allocator under perf stat."""
    events, why = tlb_support(env)
    result = {"events": events, "why": why, "counts": {}}
    if not events:
        log("TLB misses not measured: %s" % why)
        return result
    runwrap = os.path.join(args.bin, "runwrap")
    for w in workloads:
        if w.name not in TLB_WORKLOADS or w.name in skipped or w.kind != "program":
            continue
        argv = workload_argv(w, args, tools)
        row = result["counts"][w.name] = {}
        for a in allocs_for(w, allocs, args):
            if a.variant:
                continue
            tag = "%s.%s.tlb" % (w.name, a.name)
            res = os.path.join(rawdir, tag + ".res")
            stat = os.path.join(rawdir, tag + ".txt")
            cmd = ["perf", "stat", "-x,", "-o", stat, "-e", ",".join(events),
                   "--", runwrap, "-p", a.lib or "", "-o", res, "--"] + argv
            e = dict(env)
            e.update(a.env)
            e.update(w.env)
            log("[%s] TLB misses %-11s " % (w.name, a.name), end="")
            try:
                r = run_cmd(cmd, e, RUN_TIMEOUT_S, subprocess.DEVNULL,
                            subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                log("timeout")
                continue
            vals = (perf_stat_values(open(stat).read())
                    if os.path.exists(stat) else {})
            if r.returncode != 0 or not vals:
                log("FAILED (exit %d)" % r.returncode)
                continue
            row[a.name] = vals
            log(", ".join("%s %.1fM" % (k, v / 1e6) for k, v in vals.items()))
    return result


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


def fmt_rate(x):
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e3:
        return "%.0fk" % (x / 1e3)
    return "%.0f" % x


def fmt_gm(g):
    s = "**%s**" % fmt_ratio(g["geomean"])
    if g["n"] != g["rows"]:
        s += " (%d of %d)" % (g["n"], g["rows"])
    return s


NOT_RUN = "·"


def report(meta, allocs, workloads, timed, skipped, gm, cg, reps, args,
           tlb=None):
    ok = [a for a in allocs if a.ok]
    names = [a.name for a in ok]
    ref = reference_of(names)
    rows = [w for w in workloads if w.name in timed or w.name in skipped]
    out = io.StringIO()
    p = lambda s="": print(s, file=out)
    p("# cairn benchmarks%s" % (" (QUICK)" if args.quick else ""))
    p()
    p("- date: %s; the run took %.0f s" % (meta["date"], meta["elapsed_s"]))
    p("- machine: %s, %d CPU(s) available, %s GiB RAM, Linux %s, %s, "
      "transparent huge pages `%s`; load average at start %s, at end %s"
      % (meta["cpu"], meta["nproc"], meta["mem_gib"], meta["kernel"],
         meta["libc"], meta["thp"],
         " ".join("%.2f" % x for x in meta["loadavg"] or []),
         " ".join("%.2f" % x for x in meta.get("loadavg_end") or [])))
    p("- cairn: %s (commit %s)" % (
        next((a.lib for a in allocs if a.name == "cairn"), "not selected"),
        meta["commit"] or "none yet"))
    p("- command: `%s`" % meta["command"])
    p()
    p("Allocators:")
    p()
    for a in allocs:
        if a.ok:
            p("- %s: %s%s%s%s" % (
                a.name, a.describe(),
                ", package %s %s" % (a.pkg, a.version) if a.version else "",
                " (a variant: run on %s only)" % ", ".join(
                    w.name for w in workloads
                    if a in allocs_for(w, ok, args)) if a.variant else "",
                " — **warning: %s**" % a.warning if a.warning else ""))
        else:
            p("- %s: **not measured** — %s" % (a.name, a.problem))
    p()
    if ref != REFERENCE:
        p("**cairn was not measured; ratios below are to %s instead.**"
          % (ref or "nothing"))
        p()
    for w in workloads:
        if w.name in skipped:
            p("**Workload %s SKIPPED**: %s." % (w.name, skipped[w.name]))
            p()

    def row_cells(w, fn):
        row = timed.get(w.name)
        if row is None:
            return ["SKIPPED" if i == 0 else "" for i in range(len(names))]
        cells = []
        for n in names:
            s = row.get(n)
            if s is None:
                cells.append(NOT_RUN)
            elif s["failed"]:
                cells.append("FAILED (%s)" % s["failed"].split(", see")[0])
            else:
                cells.append(fn(s))
        return cells

    if rows:
        p("## Time")
        p()
        p("Median of %d runs, ± half the min–max range; in brackets **peer / "
          "%s — above 1.00 %s is faster**, below 1.00 the peer is faster. "
          "Runs alternate between allocators (A B C D E, A B C D E, ...). "
          "Seconds of the workload's timed section, except: *whole command* "
          "rows (sqlite, python) time the whole process from outside; the "
          "*redis* row gives the server's throughput in requests/s (all "
          "five tests together), and its ratio is **%s throughput / peer "
          "throughput**, so that above 1.00 still means %s is better. "
          "`%s`: not run with that allocator." % (reps, ref, ref, ref, ref,
                                                   NOT_RUN))
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        for w in rows:
            def cell(s):
                if "median_throughput" in s:
                    v = "%s req/s" % fmt_rate(s["median_throughput"])
                else:
                    v = "%.3f" % s["median_s"]
                return "%s %s (%s)" % (v, fmt_spread(s),
                                       fmt_ratio(s.get("ratio_time")))
            p("| %s | %s |" % (w.name, " | ".join(row_cells(w, cell))))
        p("| **geomean of ratios** | %s |" % " | ".join(
            fmt_gm(gm["time"][n]) for n in names))
        p()
        if any(w.kind == "redis" for w in rows if w.name in timed):
            p("*redis:* Debian's redis-server is linked with libjemalloc, so "
              "with nothing preloaded it would run on jemalloc: the glibc "
              "column preloads glibc's own libc.so.6, which puts glibc's "
              "malloc first. redis's jemalloc-only calls (mallctl, for the "
              "statistics of INFO) still reach the linked jemalloc, which "
              "otherwise stays idle; each run checks that the data is not in "
              "it (INFO allocator_allocated). The benchmark client is not "
              "preloaded. The server's figure, not the client's, is "
              "compared, on 2 cores shared by both.")
            p()
        noisy = ["%s/%s %s" % (w.name, n, fmt_spread(s))
                 for w in rows for n, s in timed.get(w.name, {}).items()
                 if not s["failed"] and s["runs"]
                 and spread(s) > NOISY_SPREAD]
        if noisy:
            p("*Noisy:* the runs of %s varied by more than ±%.0f%% (the "
              "machine was busy?); trust those figures less, or rerun with "
              "more repetitions (`BENCH_ARGS='--reps 9'`) on a quiet machine."
              % (", ".join(noisy), 100 * NOISY_SPREAD))
            p()

        p("## Memory")
        p()
        p("**Peak RSS**: median of the runs, MiB, the whole process's "
          "maximum resident set (wait4 `ru_maxrss`; for redis, the "
          "server's). In brackets **peer / %s — above 1.00 %s uses less "
          "memory**." % (ref, ref))
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        for w in rows:
            p("| %s | %s |" % (w.name, " | ".join(row_cells(
                w, lambda s: "%.1f (%s)" % (s["median_rss_kib"] / 1024,
                                            fmt_ratio(s.get("ratio_rss")))))))
        p("| **geomean of ratios** | %s |" % " | ".join(
            fmt_gm(gm["peak_rss"][n]) for n in names))
        p()
        p("**RSS at the end**: median, MiB: VmRSS just before exit, after the "
          "program freed what it allocated (longrun: its survivors too) — "
          "what the allocator keeps. Printed by each program from "
          "/proc/self/status (sqlite: read by a shell command it runs; redis: "
          "read by the runner from /proc/<server> after the benchmark, "
          "with the data still in it). In brackets **peer / %s**." % ref)
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        for w in rows:
            def endcell(s):
                if s.get("median_rss_end_kib") is None:
                    return "?"
                return "%.1f (%s)" % (s["median_rss_end_kib"] / 1024,
                                      fmt_ratio(s.get("ratio_rss_end")))
            p("| %s | %s |" % (w.name, " | ".join(row_cells(w, endcell))))
        p("| **geomean of ratios** | %s |" % " | ".join(
            fmt_gm(gm["rss_end"][n]) for n in names))
        p()
        p("**Transparent huge pages at the end**: AnonHugePages of "
          "/proc/self/smaps_rollup just before exit (redis: of the server "
          "after the benchmark), median, MiB. THP mode of this machine: "
          "`%s`%s." % (meta["thp"], " (only memory an allocator marks with "
                       "madvise(MADV_HUGEPAGE) gets huge pages)"
                       if meta["thp"] == "madvise" else ""))
        p()
        p("| workload | " + " | ".join(names) + " |")
        p("|---|" + "---:|" * len(names))
        for w in rows:
            p("| %s | %s |" % (w.name, " | ".join(row_cells(
                w, lambda s: "?" if s.get("median_anon_huge_kib") is None
                else "%.1f" % (s["median_anon_huge_kib"] / 1024)))))
        p()

        if tlb is not None:
            p("**TLB misses** (`perf stat`, one run each, millions; in "
              "brackets peer / cairn, above 1.00 cairn misses less):")
            p()
            if not tlb["events"]:
                p("Not measured: %s." % tlb["why"])
            else:
                for ev in tlb["events"]:
                    p("| %s | %s |" % (ev, " | ".join(names)))
                    p("|---|" + "---:|" * len(names))
                    for wname, row in tlb["counts"].items():
                        base = row.get(ref, {}).get(ev)
                        cells = []
                        for n in names:
                            v = row.get(n, {}).get(ev)
                            cells.append("·" if v is None else "%.2f%s" % (
                                v / 1e6, " (%.2f)" % (v / base)
                                if base and n != ref else ""))
                        p("| %s | %s |" % (wname, " | ".join(cells)))
                    p()
            p()

        for w in rows:
            row = timed.get(w.name)
            if not row:
                continue
            cps = []
            for s in row.values():
                for k in s.get("checkpoints", {}):
                    if k not in cps:
                        cps.append(k)
            if not cps:
                continue
            cps.sort(key=lambda k: (k == "rss_idle_kb", int(re.sub(
                r"\D", "", k) or 0)))
            wnames = [n for n in names if n in row]
            p("### RSS during %s" % w.name)
            p()
            p("Median VmRSS, MiB, at the end of each phase (after its "
              "frees) and after the idle period (the program sleeps, the "
              "allocator may give memory back meanwhile); `live`: the bytes "
              "the program still holds (asked-for sizes). In brackets, for "
              "the idle row: peer / %s." % ref)
            p()
            p("| checkpoint | live | " + " | ".join(wnames) + " |")
            p("|---|---:|" + "---:|" * len(wnames))
            out0 = next((row[n]["runs"][0]["output"] for n in wnames
                         if row[n]["runs"]), {})
            live = {k: int(out0["live_" + k[4:]]) for k in cps
                    if "live_" + k[4:] in out0}
            for k in cps:
                label = ("after idle" if k == "rss_idle_kb" else
                         "phase %s" % re.sub(r"\D", "", k))
                cells = []
                base = row.get(ref, {}).get("checkpoints", {}).get(k) \
                    if ref in row and not row[ref]["failed"] else None
                for n in wnames:
                    s = row[n]
                    v = s.get("checkpoints", {}).get(k)
                    if s["failed"]:
                        cells.append("FAILED")
                    elif v is None:
                        cells.append("?")
                    elif k == "rss_idle_kb" and base:
                        cells.append("%.1f (%s)" % (v / 1024,
                                                    fmt_ratio(v / base)))
                    else:
                        cells.append("%.1f" % (v / 1024))
                lv = live.get(k)
                if k == "rss_idle_kb":
                    lv = max(live.values(), default=None)
                p("| %s | %s | %s |" % (label, "%.1f" % (lv / 1024)
                                        if lv else "", " | ".join(cells)))
            thr = {n: row[n]["runs"][0]["output"].get("threads_idle")
                   for n in wnames if row[n]["runs"]}
            p()
            p("Threads in the process during the idle period: %s (more than "
              "1: the allocator runs threads of its own)." % ", ".join(
                  "%s %s" % (n, t) for n, t in thr.items() if t))
            p()

        p("## Workloads")
        p()
        p("What each models is in bench/README.md and at the top of each "
          "source file.")
        p()
        for w in rows:
            p("- **%s** (%s): %s; `%s`" % (w.name, w.basis, w.what,
                                          display_cmd(w, args)))
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
        cnames = [n for n in names if n in next(iter(counts.values()))]
        p("| mode | " + " | ".join(cnames) + " | harness |")
        p("|---|" + "---:|" * (len(cnames) + 1))
        ratios = {n: [] for n in cnames}
        for m, row in counts.items():
            rs = row.get(ref) if ref else None
            cells = []
            for n in cnames:
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
            "**%s**" % fmt_ratio(geomean(ratios[n])) for n in cnames))
        p()
        p("Modes (bench/fastpath.c): pairN = malloc(N) then free at once; "
          "batch64 = 64 x malloc(64) then 64 frees in the same order; "
          "xthread64 = one thread mallocs 256 x 64 B, the other frees them, "
          "in strict turns (hand-off cost included, see harness).")
        p()
    if meta.get("charts"):
        p("## Charts")
        p()
        for c in meta["charts"]:
            p("- `bench/results/%s`: %s" % c)
        p()
    return out.getvalue()


def write_csv(path, meta, allocs, workloads, timed, skipped, gm, cg):
    cols = ["date", "cpu", "nproc", "commit", "table", "workload",
            "allocator", "status", "reps", "median", "min", "max", "unit",
            "ratio_to_ref", "peak_rss_kib_median", "rss_ratio_to_ref",
            "rss_end_kib_median", "rss_end_ratio_to_ref",
            "anon_huge_kib_median", "throughput_rps_median", "time_basis",
            "wall_s_median", "cpu_s_median"]
    empty = [""] * (len(cols) - 9)

    def fmt(x, f="%.4f"):
        return f % x if x is not None else ""

    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        base = [meta["date"], meta["cpu"], meta["nproc"], meta["commit"] or ""]
        for a in allocs:
            if not a.ok or a.warning:
                wr.writerow(base + ["allocator", "", a.name, a.problem or
                                    "measured; WARNING: " + a.warning, ""] +
                            empty)
        for w in workloads:
            if w.name in skipped:
                wr.writerow(base + ["time", w.name, "", "SKIPPED: " +
                                    skipped[w.name], 0] + empty)
                continue
            if w.name not in timed:
                continue
            for n, s in timed[w.name].items():
                if s["failed"]:
                    wr.writerow(base + ["time", w.name, n, "FAILED: " +
                                        s["failed"], len(s["runs"])] + empty)
                    continue
                wr.writerow(base + [
                    "time", w.name, n, "ok", len(s["runs"]),
                    "%.6f" % s["median_s"], "%.6f" % s["min_s"],
                    "%.6f" % s["max_s"], "s",
                    fmt(s.get("ratio_time")),
                    "%d" % s["median_rss_kib"],
                    fmt(s.get("ratio_rss")),
                    fmt(s.get("median_rss_end_kib"), "%d"),
                    fmt(s.get("ratio_rss_end")),
                    fmt(s.get("median_anon_huge_kib"), "%d"),
                    fmt(s.get("median_throughput"), "%.0f"),
                    w.basis,
                    "%.6f" % s["median_wall_s"],
                    "%.6f" % s["median_cpu_s"]])
                for k, v in s.get("checkpoints", {}).items():
                    wr.writerow(base + ["rss_checkpoint", "%s:%s" % (
                        w.name, k), n, "ok", len(s["runs"]), "%d" % v, "", "",
                        "KiB"] + [""] * (len(cols) - 13))
        for table, per in gm.items():
            for n, g in per.items():
                if g["geomean"] is None:
                    continue
                v = "%.4f" % g["geomean"]
                wr.writerow(base + ["geomean", table, n, "ok (%d of %d rows)"
                                    % (g["n"], g["rows"]), g["n"], v, "", "",
                                    "ratio to ref"] + [""] * (len(cols) - 13))
        if cg:
            counts, harness, _ = cg
            for m, row in counts.items():
                for n, s in list(row.items()) + [
                        ("(harness)", harness[CALLGRIND_HARNESS[m]])]:
                    if "failed" in s:
                        wr.writerow(base + ["callgrind", m, n, "FAILED: " +
                                            s["failed"], 1] + empty)
                        continue
                    v = "%.2f" % s["ir_per_pair"]
                    wr.writerow(base + [
                        "callgrind", m, n, "ok", 1, v, v, v, "Ir/pair",
                        fmt(s.get("ratio"))] + [""] * (len(cols) - 14))


# -------------------------------------------------------------------- SVG

COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "jemalloc-bg": "#17becf",
          "mimalloc": "#2ca02c", "tcmalloc": "#d62728", "cairn": "#ff7f0e"}
EXTRA_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def color_of(name, names):
    if name in COLORS:
        return COLORS[name]
    return EXTRA_COLORS[names.index(name) % len(EXTRA_COLORS)]


def esc(s):
    return html.escape(str(s), quote=True)


def svg_text(x, y, s, size=12, anchor="start", weight="normal", fill="#222",
             rotate=None, extra=""):
    tr = ' transform="rotate(%g %.1f %.1f)"' % (rotate, x, y) if rotate else ""
    return ('<text x="%.1f" y="%.1f" font-size="%g" text-anchor="%s" '
            'font-weight="%s" fill="%s"%s %s>%s</text>'
            % (x, y, size, anchor, weight, fill, tr, extra, esc(s)))


def subtitle_of(meta, args):
    return "%s%s, %d CPU(s), Linux %s, %s, cairn %s, %d reps%s" % (
        meta["date"][:16].replace("T", " "), " " + meta["host"]
        if meta.get("host") else "", meta["nproc"], meta["kernel"],
        meta["cpu"], meta["commit"] or "?", meta["reps"],
        ", QUICK" if args.quick else "")


def svg_ratio_chart(path, title, subtitle, ylabel, note, groups, peers,
                    ref):
    """Grouped bars of ratios on a log2 axis, one group per workload (plus a
    geomean group), one bar per peer, starting at 1.0 (the reference).
    groups: [(label, {peer: ratio | None | "FAILED"})]."""
    vals = [v for _, g in groups for v in g.values()
            if isinstance(v, float) and v > 0]
    lo = min(vals + [1 / 1.5])
    hi = max(vals + [1.5])
    lo_e = max(-5, math.floor(math.log2(lo) * 2) / 2)
    hi_e = min(5, math.ceil(math.log2(hi) * 2) / 2)
    bw, gap = 10, 16
    gw = len(peers) * bw + gap
    left, right, top, ph = 78, 30, 104, 330
    width = max(900, left + right + gw * len(groups))
    height = top + ph + 150
    yv = lambda v: top + ph * (hi_e - math.log2(v)) / (hi_e - lo_e)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" %s>' % (width, height, width, height, FONT),
         '<rect width="100%" height="100%" fill="white"/>',
         svg_text(left, 26, title, 17, weight="bold"),
         svg_text(left, 46, subtitle, 11, fill="#555")]
    # legend
    x = left
    for n in peers:
        o.append('<rect x="%.1f" y="58" width="12" height="12" fill="%s"/>'
                 % (x, color_of(n, peers)))
        o.append(svg_text(x + 16, 69, n, 12))
        x += 30 + 7.5 * len(n)
    o.append('<line x1="%.1f" y1="64" x2="%.1f" y2="64" stroke="#000" '
             'stroke-width="1.5" stroke-dasharray="6,3"/>' % (x, x + 28))
    o.append(svg_text(x + 34, 69, "%s = 1.0 (reference)" % ref, 12))
    # grid and y ticks
    cands = [2.0 ** e for e in range(-5, 6)] + [0.67, 0.8, 1.25, 1.5, 3, 6]
    ticks = sorted(t for t in cands if lo_e - 1e-9 <= math.log2(t) <= hi_e + 1e-9)
    if len(ticks) > 12:
        ticks = [t for t in ticks if float(math.log2(t)).is_integer()]
    for t in ticks:
        y = yv(t)
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e3e3"/>'
                 % (left, y, width - right, y))
        o.append(svg_text(left - 6, y + 4, ("%g" % round(t, 3)), 11, "end"))
    o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>'
             % (left, top, left, top + ph))
    o.append(svg_text(22, top + ph / 2, ylabel, 12, "middle", rotate=-90))
    o.append(svg_text(left + 4, top + 14, "↑ %s better" % ref, 11,
                      fill="#2a7"))
    o.append(svg_text(left + 4, top + ph - 6, "↓ peer better", 11,
                      fill="#c44"))
    # bars
    y1 = yv(1.0)
    for gi, (label, g) in enumerate(groups):
        gx = left + gi * gw + gap / 2
        if label == "geomean":
            o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#bbb" '
                     'stroke-dasharray="3,3"/>' % (gx - gap / 2, top,
                                                   gx - gap / 2, top + ph))
        for i, n in enumerate(peers):
            v = g.get(n)
            bx = gx + i * bw
            c = color_of(n, peers)
            if v == "FAILED":
                o.append('<text x="%.1f" y="%.1f" font-size="10" '
                         'text-anchor="middle" font-weight="bold" fill="%s">F'
                         '<title>%s, %s: FAILED</title></text>'
                         % (bx + bw / 2, y1 - 3, c, esc(label), n))
                continue
            if not isinstance(v, float) or v <= 0:
                continue
            vc = min(max(v, 2.0 ** lo_e), 2.0 ** hi_e)
            yb = yv(vc)
            ytop, hgt = min(y1, yb), max(abs(yb - y1), 1.0)
            o.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" '
                     'fill="%s"><title>%s, %s: %.2f</title></rect>'
                     % (bx, ytop, bw - 1, hgt, c, esc(label), n, v))
            ly = yb - 3 if v >= 1 else yb + 3
            o.append(svg_text(bx + bw / 2 + 3, ly, "%.2f" % v, 8,
                              "start" if v >= 1 else "end", fill="#333",
                              rotate=-90))
        o.append(svg_text(gx + len(peers) * bw / 2, top + ph + 14, label, 11,
                          "end", "bold" if label == "geomean" else "normal",
                          rotate=-40))
    o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" '
             'stroke-width="1.5" stroke-dasharray="6,3"/>'
             % (left, y1, width - right, y1))
    for i, line in enumerate(note):
        o.append(svg_text(left, height - 30 + 14 * i, line, 11, fill="#444"))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def nice_step(span, n=6):
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def svg_series_chart(path, title, subtitle, series, names, marks, ends,
                     note):
    """RSS over time: one line per allocator. series: {alloc: [[t, kib]]};
    marks: [(t0, t1, label)] shaded spans; ends: [(phase, t)] dotted lines
    at the end of each phase."""
    left, right, top, ph, pw = 78, 230, 84, 360, 760
    width, height = left + pw + right, top + ph + 80
    tmax = max((s[-1][0] for s in series.values() if s), default=1.0)
    ymax = max((v for s in series.values() for _, v in s), default=1024) / 1024
    xs, ys = nice_step(tmax), nice_step(ymax * 1.05)
    tmax = math.ceil(tmax / xs) * xs
    ymax = math.ceil(ymax * 1.05 / ys) * ys
    X = lambda t: left + pw * t / tmax
    Y = lambda mib: top + ph * (1 - mib / ymax)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" %s>' % (width, height, width, height, FONT),
         '<rect width="100%" height="100%" fill="white"/>',
         svg_text(left, 26, title, 17, weight="bold"),
         svg_text(left, 46, subtitle, 11, fill="#555")]
    for t0, t1, label in marks:
        if t1 > t0:
            o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                     'fill="#f2f2f2"/>' % (X(t0), top, X(t1) - X(t0), ph))
        o.append(svg_text(X(t0) + 4, top + 14, label, 11, fill="#777"))
    for pn, t in ends:
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#bbb" '
                 'stroke-dasharray="2,3"/>' % (X(t), top + 36, X(t), top + ph))
        o.append(svg_text(X(t), top + 32, str(pn), 9, "middle", fill="#777"))
    if ends:
        o.append(svg_text(left + 4, top + 14, "end of phase:", 11,
                          fill="#777"))
    t = 0.0
    while t <= tmax + 1e-9:
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3"/>'
                 % (X(t), top, X(t), top + ph))
        o.append(svg_text(X(t), top + ph + 16, "%g" % round(t, 3), 11,
                          "middle"))
        t += xs
    y = 0.0
    while y <= ymax + 1e-9:
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e3e3"/>'
                 % (left, Y(y), left + pw, Y(y)))
        o.append(svg_text(left - 6, Y(y) + 4, "%g" % round(y, 3), 11, "end"))
        y += ys
    o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
             'stroke="#888"/>' % (left, top, pw, ph))
    o.append(svg_text(left + pw / 2, top + ph + 36,
                      "seconds since the process started", 12, "middle"))
    o.append(svg_text(24, top + ph / 2, "resident set (RSS), MiB", 12,
                      "middle", rotate=-90))
    ly = top + 10
    for n in names:
        s = series.get(n)
        if not s:
            continue
        c = color_of(n, names)
        pts = " ".join("%.1f,%.1f" % (X(t), Y(v / 1024)) for t, v in s)
        o.append('<polyline fill="none" stroke="%s" stroke-width="%s" '
                 'points="%s"><title>%s</title></polyline>'
                 % (c, "2.5" if n == REFERENCE else "1.6", pts, n))
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                 'stroke-width="3"/>' % (left + pw + 14, ly, left + pw + 38,
                                         ly, c))
        o.append(svg_text(left + pw + 44, ly + 4, "%s (last %.0f MiB)"
                          % (n, s[-1][1] / 1024), 11))
        ly += 20
    for i, line in enumerate(note):
        o.append(svg_text(left, height - 18 + 14 * i, line, 11, fill="#444"))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def write_charts(resdir, meta, args, workloads, timed, gm, names, ref):
    """Writes time.svg, rss.svg, rss_over_time.svg; returns [(file, what)]."""
    charts = []
    peers = [n for n in names if n != ref]
    rows = [w for w in workloads if w.name in timed]
    if not rows or not ref or not peers:
        return charts
    sub = subtitle_of(meta, args)

    def groups(rk, gkey, unit_note):
        g = []
        for w in rows:
            row = timed[w.name]
            d = {}
            for n in peers:
                s = row.get(n)
                if s is None:
                    continue
                d[n] = "FAILED" if s["failed"] else s.get(rk)
            label = w.name + (" (req/s)" if unit_note and w.kind == "redis"
                              else "")
            rs = row.get(ref)
            if rs is not None and rs["failed"]:
                label += " (%s FAILED)" % ref
            g.append((label, d))
        g.append(("geomean", {n: gm[gkey][n]["geomean"] for n in peers}))
        return g

    svg_ratio_chart(
        os.path.join(resdir, "time.svg"),
        "cairn benchmarks: time, peer / %s" % ref, sub,
        "time ratio peer / %s (log scale)" % ref,
        ["Median time of each peer divided by %s's (above 1: %s is faster). "
         "redis: %s's throughput divided by the peer's, same sense." % (
             ref, ref, ref),
         "F: the run failed with that allocator (see latest.md). Each "
         "workload's own timed section, except sqlite and python (whole "
         "command)."],
        groups("ratio_time", "time", True), peers, ref)
    charts.append(("time.svg", "time ratio peer / %s per workload" % ref))
    svg_ratio_chart(
        os.path.join(resdir, "rss.svg"),
        "cairn benchmarks: peak RSS, peer / %s" % ref, sub,
        "peak RSS ratio peer / %s (log scale)" % ref,
        ["Median peak resident set (wait4 ru_maxrss) of each peer divided "
         "by %s's (above 1: %s uses less memory)." % (ref, ref),
         "F: the run failed with that allocator (see latest.md)."],
        groups("ratio_rss", "peak_rss", False), peers, ref)
    charts.append(("rss.svg", "peak-RSS ratio peer / %s per workload" % ref))
    for w in rows:
        if not w.series:
            continue
        row = timed[w.name]
        series = {n: s["runs"][0]["series"] for n, s in row.items()
                  if s["runs"] and s["runs"][0].get("series")}
        if not series:
            continue
        marks = []
        idle_from = [float(s["runs"][0]["output"]["idle_from_s"])
                     for s in row.values() if s["runs"]
                     and "idle_from_s" in s["runs"][0]["output"]]
        idle_len = [float(s["runs"][0]["output"]["idle_s"])
                    for s in row.values() if s["runs"]
                    and "idle_s" in s["runs"][0]["output"]]
        if idle_from and idle_len:
            t0 = statistics.median(idle_from)
            marks.append((t0, t0 + statistics.median(idle_len),
                          "idle (program sleeps)"))
        out0 = next((s["runs"][0]["output"] for n, s in row.items()
                     if n == ref and s["runs"]), None) or next(
            (s["runs"][0]["output"] for s in row.values() if s["runs"]), {})
        ends = sorted((int(m.group(1)), float(v)) for k, v in out0.items()
                      for m in [re.match(r"end_phase(\d+)_s$", k)] if m)
        wargs = w.quick_args if args.quick else w.args
        svg_series_chart(
            os.path.join(resdir, "rss_over_time.svg"),
            "cairn benchmarks: RSS over time, %s" % w.name, sub, series,
            [n for n in names if n in series], marks, ends,
            ["%s %s; first repetition, RSS sampled every %d ms from outside "
             "(/proc/<pid>/statm)." % (w.prog, " ".join(wargs),
                                       SERIES_INTERVAL_MS)])
        charts.append(("rss_over_time.svg", "RSS over time of %s, one line "
                       "per allocator" % w.name))
        break  # one series chart
    return charts


def json_text(obj):
    """Indented JSON, with lists of plain numbers (the RSS samples) kept on
    one line each, so the file stays readable and diffs stay small."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[\s+([-+\d.eE]+(?:,\s+[-+\d.eE]+)*)\s+\]",
                  lambda m: "[" + " ".join(m.group(1).split()) + "]",
                  text) + "\n"


# -------------------------------------------------------------------- main

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
    ap.add_argument("--list", action="store_true",
                    help="list the workloads and exit")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the instruction counts")
    ap.add_argument("--keep-env", action="store_true",
                    help="keep MALLOC_CONF, GLIBC_TUNABLES and the like")
    ap.add_argument("--results", default=os.path.join(here, "results"),
                    help="output folder (default bench/results)")
    args = ap.parse_args()
    if args.list:
        for w in WORKLOADS:
            print("%-19s %s%s" % (w.name, w.what, "" if w.quick_args is not None
                                  else " [not in QUICK]"))
        return 0
    args.root = os.path.abspath(args.root)
    args.bin = os.path.abspath(args.bin or os.path.join(args.root, "build",
                                                        "bench"))
    args.results = os.path.abspath(args.results)
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

    if args.allocators:
        unknown = set(args.allocators.split(",")) - {a[0] for a in ALLOCATORS}
        if unknown:
            log("error: unknown allocator(s) %s" % ",".join(sorted(unknown)))
            return 1

    if args.workloads in (None, "all"):
        workloads = [w for w in WORKLOADS
                     if not args.quick or w.quick_args is not None
                     or args.workloads == "all"]
    elif args.workloads == "none":
        workloads = []
    else:
        sel = args.workloads.split(",")
        unknown = [s for s in sel if s not in {w.name for w in WORKLOADS}]
        if unknown:
            log("error: unknown workload(s) %s" % ",".join(unknown))
            return 1
        workloads = [w for w in WORKLOADS if w.name in sel]
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

    cg = None
    if not args.no_callgrind:
        if shutil.which("valgrind"):
            named = set(args.allocators.split(",")) if args.allocators \
                else set()
            cg = run_callgrind(args, env, [a for a in ok if not a.variant
                                           or a.name in named],
                               CALLGRIND_MODES, rawdir, max(1, meta["nproc"]))
        else:
            log("valgrind not found: no instruction counts "
                "(apt-get install -y valgrind)")

    names = [a.name for a in ok]
    ref = reference_of(names)
    gm = compute_ratios(timed, workloads, names, ref)
    meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    meta["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    os.makedirs(args.results, exist_ok=True)
    meta["charts"] = write_charts(args.results, meta, args, workloads, timed,
                                  gm, names, ref)
    text = report(meta, allocs, workloads, timed, skipped, gm, cg, reps, args,
                  tlb)
    with open(os.path.join(args.results, "latest.md"), "w") as f:
        f.write(text)
    write_csv(os.path.join(args.results, "latest.csv"), meta, allocs,
              workloads, timed, skipped, gm, cg)
    js = {
        "meta": meta,
        "allocators": [{"name": a.name, "lib": a.lib, "env": a.env,
                        "variant": a.variant, "package": a.pkg,
                        "version": a.version, "ok": a.ok,
                        "malloc_from": a.malloc_from,
                        "problem": a.problem, "warning": a.warning}
                       for a in allocs],
        "workloads": [{"name": w.name, "kind": w.kind, "basis": w.basis,
                       "program": w.prog, "command": display_cmd(w, args),
                       "args": w.quick_args if args.quick else w.args,
                       "env": w.env, "what": w.what,
                       "skipped": skipped.get(w.name)} for w in workloads],
        "timed": timed,
        "tlb": tlb,
        "geomean": gm,
        "callgrind": ({"params": cg[2], "counts": cg[0], "harness": cg[1]}
                      if cg else None),
    }
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        f.write(json_text(js))
    print(text, end="")
    log("done in %.0f s; wrote %s/latest.{md,csv,json}%s"
        % (meta["elapsed_s"], os.path.relpath(args.results),
           " and " + ", ".join(c[0] for c in meta["charts"])
           if meta["charts"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
