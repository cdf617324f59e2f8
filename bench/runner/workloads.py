# SPDX-License-Identifier: MIT
"""What is measured: the allocators, the outside programs, the timed
workloads and their command lines, the callgrind modes.

To add a workload: write bench/<name>.c (see harness.h for the
conventions), then add a Workload(...) line to WORKLOADS, or a mode to
CALLGRIND_MODES."""

import os
import re
import shutil
import sys

# The folder of run.py and the workloads' scripts ({bench} in a command).
BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, library to preload (None: glibc, nothing preloaded), Debian package,
# extra environment for its runs, variant. "{root}" is replaced by the
# repository root, "{profdir}" by a temporary folder of the run's own (the
# heap profiles the -prof variants write go there, are counted after each
# run and removed). A *variant* (jemalloc-bg) is an existing allocator with
# different settings: by default it only runs on the workloads that list it
# in their `variants` (it is there for a comparison the project makes on
# those), and on every selected workload when --allocators names it.
# run.py --baseline LIB adds ("cairn-base", LIB, ...) before cairn.
ALLOCATORS = [
    ("glibc", None, "libc6", {}, False),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2", {}, False),
    ("jemalloc-bg", LIBDIR + "/libjemalloc.so.2", "libjemalloc2",
     {"MALLOC_CONF": "background_thread:true"}, True),
    ("jemalloc-prof", LIBDIR + "/libjemalloc.so.2", "libjemalloc2",
     {"MALLOC_CONF": "prof:true,prof_prefix:{profdir}/jemalloc"}, True),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0", {}, False),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4",
     {}, False),
    ("cairn", "{root}/lib/libcairn.so.0", None, {}, False),
    ("cairn-prof", "{root}/lib/libcairn.so.0", None,
     {"MALLOC_CONF": "prof:true,prof_prefix:{profdir}/cairn"}, True),
]
REFERENCE = "cairn"  # ratios are peer / cairn; glibc stands in when cairn is out

# The profiling row set (--profiling): each allocator next to itself with
# heap profiling on at the default rate (one sample per 512 KiB, on
# average). cairn's prof:true also writes its default dumps (at exit, and at
# each new peak of the sampled live bytes); jemalloc's writes none unless
# asked. The cost is (profiled / plain).
PROFILING_PAIRS = [("jemalloc", "jemalloc-prof"), ("cairn", "cairn-prof")]
# The goal for cairn at the default rate: at most this much more
# time on the geometric mean, on any workload, and peak RSS on the geomean.
PROFILING_GOAL = {"time_geomean": 1.02, "time_any": 1.05, "rss_geomean": 1.02}

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
    Workload("churn-mid-1t", "churn",
             ["-t", "1", "-s", "20k", "-n", "10M", "-x", "mid"],
             ["-t", "1", "-s", "20k", "-n", "2M", "-x", "mid"],
             "churn with medium blocks: 1 thread, 20k live blocks, 70% "
             "8-128 B, 25% 129 B-4 KiB, 5% 4-64 KiB, random replacement"),
    Workload("churn-mid-2t", "churn",
             ["-t", "2", "-s", "8k", "-n", "5M", "-r", "125", "-x", "mid"],
             None,
             "churn with medium blocks: 2 threads x 8k live blocks, every "
             "8th freed block freed by the other thread"),
    Workload("phases-mid", "phases",
             ["-m", "phases", "-p", "4", "-n", "400k", "-k", "20"],
             ["-m", "phases", "-p", "2", "-n", "200k", "-k", "20"],
             "service phases with medium blocks: each allocates 400k blocks "
             "(70% 8-128 B, 25% to 4 KiB, 5% 4-64 KiB), writes their first "
             "64 bytes, frees 98% in random order"),
    Workload("window-mid", "phases",
             ["-m", "window", "-n", "2M", "-w", "100k"],
             ["-m", "window", "-n", "500k", "-w", "100k"],
             "a window of 100k live blocks of the medium mix, each new block "
             "freeing the oldest, first 64 bytes written"),
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

# The thread-scaling set (--scaling): the multi-threaded workloads at each
# of SCALING_THREADS threads, the work per thread the same at every count,
# so that on a machine with that many free cores the time would stay flat.
# Each entry: base name, program, arguments after -t N, QUICK arguments.
SCALING_THREADS = (1, 2, 4, 8, 16)
SCALING_BASES = [
    ("churn", "churn", ["-s", "20k", "-n", "2M", "-r", "100"],
     ["-s", "20k", "-n", "500k", "-r", "100"],
     "small-object churn, 20k live blocks a thread, 10% of frees by the "
     "next thread"),
    ("server", "server", ["-s", "4096", "-n", "300k", "-r", "100"],
     ["-s", "4096", "-n", "100k", "-r", "100"],
     "server simulation, 4096 live request objects a thread (16 B-512 KiB), "
     "10% freed by another thread"),
]
SCALING_WORKLOADS = [
    Workload("scale-%s-%dt" % (base, t), prog, ["-t", str(t)] + args,
             ["-t", str(t)] + quick, "%s; %d thread%s" % (
                 what, t, "" if t == 1 else "s"))
    for base, prog, args, quick, what in SCALING_BASES
    for t in SCALING_THREADS]


# redis-benchmark: fixed part of the command line (-n comes from the
# workload's args). The server runs with persistence off.
REDIS_TESTS = "set,get,lpush,lpop,incr"
REDIS_BENCH_ARGS = ["-c", "50", "-P", "16", "-r", "100000", "-d", "64",
                    "-t", REDIS_TESTS, "--csv"]

# RSS-over-time sampling interval for `series` workloads (first repetition).
SERIES_INTERVAL_MS = 20

# The workloads whose memory layout decides the TLB misses: one extra run
# per allocator under `perf stat` (see tlb.py).
TLB_WORKLOADS = ("churn-1t", "server-2t", "longrun", "ml-huge", "ml-tensors",
                 "aligned")

# fastpath modes measured under callgrind, and the harness-only modes whose
# count (allocator-independent) is reported as the loop overhead.
CALLGRIND_MODES = ["pair16", "pair64", "pair256", "pair4096", "pair131072",
                   "large-mix", "batch64", "xthread64", "live64"]
CALLGRIND_HARNESS = {"pair16": "loop-pair", "pair64": "loop-pair",
                     "pair256": "loop-pair", "pair4096": "loop-pair",
                     "pair131072": "loop-pair", "large-mix": "loop-large",
                     "batch64": "loop-pair", "xthread64": "loop-xthread",
                     "live64": "loop-live"}


def allocs_for(w, allocs, args):
    """The allocators that run workload w: all base allocators, plus the
    variants the workload lists, or that --allocators names."""
    named = set(args.allocators.split(",")) if args.allocators else set()
    return [a for a in allocs
            if not a.variant or a.name in w.variants or a.name in named]


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
        subst["bench"] = BENCH_DIR
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
