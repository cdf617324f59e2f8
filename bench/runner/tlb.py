# SPDX-License-Identifier: MIT
"""TLB misses, counted by `perf stat` where the machine's PMU exposes them
(virtual machines often do not): one extra run per allocator of the
workloads listed in TLB_WORKLOADS."""

import os
import shutil
import subprocess

from .measure import RUN_TIMEOUT_S
from .util import log, run_cmd
from .workloads import TLB_WORKLOADS, allocs_for, workload_argv


TLB_EVENTS = ("dTLB-load-misses", "dTLB-store-misses", "iTLB-load-misses")


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
