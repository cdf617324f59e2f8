# SPDX-License-Identifier: MIT
"""The report, in Markdown: what latest.md holds and run.py prints."""

import io
import re

from .measure import reference_of
from .util import geomean
from .workloads import (CALLGRIND_HARNESS, PROFILING_GOAL, REFERENCE,
                        SCALING_BASES, SCALING_THREADS,
                        allocs_for, display_cmd)


NOISY_SPREAD = 0.10  # spreads above this get flagged under the time table


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


def scaling_section(p, timed, names, nproc):
    """The thread-scaling set: per workload and allocator, the timed
    section's median at each thread count, and the throughput against one
    thread (t x T(1) / T(t)): t on t free cores scaling perfectly."""
    p("## Thread scaling")
    p()
    p("Each workload at 1 to %d threads, the work per thread the same at "
      "every count. Cells: median seconds of the timed section, and in "
      "brackets the throughput against one thread, t × T(1) / T(t): on a "
      "machine with t free cores, t is perfect scaling. This machine has "
      "%d CPU(s): past that, threads take turns and the figures say how an "
      "allocator copes with oversubscription, not how it scales."
      % (max(SCALING_THREADS), nproc))
    p()
    for base, _, _, _, what in SCALING_BASES:
        got = {t: timed.get("scale-%s-%dt" % (base, t)) for t in SCALING_THREADS}
        if not any(got.values()):
            continue
        p("**%s** (%s)" % (base, what))
        p()
        p("| threads | %s |" % " | ".join(names))
        p("|---:|" + "---:|" * len(names))
        for t in SCALING_THREADS:
            row = got[t]
            if not row:
                continue
            cells = []
            for n in names:
                slot, one = row.get(n), (got[1] or {}).get(n)
                if not slot or slot["failed"] or not slot["runs"]:
                    cells.append("failed" if slot and slot["failed"] else NOT_RUN)
                    continue
                cell = "%.3f" % slot["median_s"]
                if (one and not one["failed"] and one["runs"]
                        and slot["median_s"] > 0):
                    cell += " (%.2f)" % (t * one["median_s"] / slot["median_s"])
                cells.append(cell)
            p("| %d | %s |" % (t, " | ".join(cells)))
        p()


def profiling_section(p, prof, workloads, reps):
    """The profiling row set: profiled / plain per workload and pair."""
    pairs = prof["pairs"]
    counted = prof.get("instructions") is not None
    p("## Profiling cost")
    p()
    p("Each allocator next to itself with `MALLOC_CONF=prof:true` (default "
      "rate, one sample per 512 KiB allocated on average; `prof_prefix` in "
      "a temporary folder). Ratios **profiled / plain** of the medians of "
      "%d runs: above 1.00 profiling costs that much. *time*: the whole "
      "process's wall time, start-up and exit included, so the dumps "
      "written at exit count (redis: its throughput, plain / profiled); "
      "*best*: the same for the fastest run of each (the one least "
      "disturbed on a busy machine); *paired*: the median of profiled / "
      "plain within each repetition, whose two runs came one after the "
      "other, so that a change of the machine's load between repetitions "
      "is divided out; *section*: the workload's own timed "
      "section only (medians); %s*peak RSS*: ru_maxrss, with the difference "
      "in MiB. *dumps*: heap profiles one run wrote (median), and their "
      "size. cairn writes one at exit and one at each new peak of the "
      "sampled live bytes by default; jemalloc writes none unless asked."
      % (reps, INSTRUCTIONS_TEXT if counted else ""))
    p()
    head = ["workload"]
    for b, pr in pairs:
        head += (["%s time" % pr, "best", "paired", "section"] +
                 (["instructions"] if counted else []) +
                 ["peak RSS", "dumps"])
    p("| " + " | ".join(head) + " |")
    p("|---|" + "---:|" * (len(head) - 1))
    for w in workloads:
        row = prof["rows"].get(w.name)
        if row is None:
            continue
        cells = []
        for b, pr in pairs:
            cells += profiling_cells(row[pr], counted)
        p("| %s | %s |" % (w.name, " | ".join(cells)))
    cells = []
    for b, pr in pairs:
        cells += geomean_cells(prof["geomean"][pr], counted)
    p("| **geomean** | %s |" % " | ".join(cells))
    p()
    if counted:
        uncounted_note(p, prof)
    for b, pr in pairs:
        if b == REFERENCE and prof["geomean"][pr]["time"] is not None:
            profiling_goal(p, prof, pr, counted)


# What the profiling table's instructions column is (one sentence).
INSTRUCTIONS_TEXT = (
    "*instructions*: callgrind's count of the whole process's instructions "
    "(`valgrind --tool=callgrind --separate-threads=no`, one run each, the "
    "same arguments), start-up, exit and the dumps included: deterministic "
    "for one thread, unlike the times on a shared machine; valgrind "
    "serializes the threads, and where several run the count follows its "
    "schedule of them (how often they wait, how many peak dumps cairn "
    "writes: from 0.05% to 2% between runs); ")


def of_rows(n, rows):
    return "" if n == rows else " (%d of %d)" % (n, rows)


def geomean_cells(g, counted):
    """One pair's cells in the geomean row of the profiling table."""
    ins = (["**%s**%s" % (fmt_ratio3(g["instructions"]),
                          of_rows(g["instructions_n"], g["rows"]))]
           if counted else [])
    return (["**%s**%s" % (fmt_ratio3(g["time"]), of_rows(g["n"], g["rows"])),
             "**%s**" % fmt_ratio3(g["best"]),
             "**%s**" % fmt_ratio3(g["paired"]),
             "**%s**" % fmt_ratio3(g["section"])] + ins +
            ["**%s**" % fmt_ratio3(g["peak_rss"]), ""])


def profiling_cells(r, counted):
    """One pair's cells in a row of the profiling table."""
    if "failed" in r:
        return (["FAILED (%s)" % r["failed"].split(", see")[0]] +
                [""] * (6 if counted else 5))
    d = r.get("dumps")
    return ([fmt_ratio3(r["time"]), fmt_ratio3(r["best"]),
             fmt_ratio3(r["paired"]), fmt_ratio3(r["section"])] +
            ([instructions_cell(r)] if counted else []) +
            ["%s (%+.1f MiB)" % (fmt_ratio3(r["peak_rss"]),
                                 r["peak_rss_delta_kib"] / 1024),
             "%g, %.0f KiB" % (d, (r["dump_bytes"] or 0) / 1024)
             if d else "0"])


def instructions_cell(r):
    if r.get("instructions") is not None:
        return fmt_ratio3(r["instructions"])
    return "FAILED" if r.get("instructions_why", "").startswith(
        "FAILED") else "–"


def uncounted_note(p, prof):
    """The workloads whose instructions the table lacks, and why."""
    missing = []
    for wname, row in prof["rows"].items():
        whys = sorted({r["instructions_why"] for r in row.values()
                       if r.get("instructions_why")})
        if whys:
            missing.append("%s (%s)" % (wname, "; ".join(whys)))
    if missing:
        p("*instructions* not counted: %s." % ", ".join(missing))
        p()


def goal_misses(prof, pr, key):
    """How profiled pr's `key` ratios miss the time goal (none: met)."""
    goal = PROFILING_GOAL
    g = prof["geomean"][pr][key]
    over = ["%s %s" % (w, fmt_ratio3(r[pr][key]))
            for w, r in prof["rows"].items()
            if r[pr].get(key) is not None and r[pr][key] > goal["time_any"]]
    miss = []
    if g is not None and g > goal["time_geomean"]:
        miss.append("%s geomean %s > %.2f" % (key, fmt_ratio3(g),
                                              goal["time_geomean"]))
    if over:
        miss.append("over %.2f: %s" % (goal["time_any"], ", ".join(over)))
    return miss


def met(miss):
    return "**met**" if not miss else "**not met** — " + "; ".join(miss)


def profiling_goal(p, prof, pr, counted):
    """The goal line under the profiling table, for cairn's pair."""
    g = prof["geomean"][pr]
    miss = goal_misses(prof, pr, "time")
    if g["peak_rss"] > PROFILING_GOAL["rss_geomean"]:
        miss.append("peak RSS geomean %s > %.2f" % (
            fmt_ratio3(g["peak_rss"]), PROFILING_GOAL["rss_geomean"]))
    ins = ""
    if g.get("paired") is not None:
        ins += (" Judged on the paired ratios (geomean %s): %s." % (
            fmt_ratio3(g["paired"]), met(goal_misses(prof, pr, "paired"))))
    if counted and g.get("instructions") is not None:
        ins += (" Instructions geomean %s (the time goal judged on "
               "instructions: %s)." % (fmt_ratio3(g["instructions"]), met(
                   goal_misses(prof, pr, "instructions"))))
    p("Goal for %s (time ≤ %.2f on the geometric mean and ≤ %.2f on "
      "every workload, peak RSS ≤ %.2f on the geometric mean): %s.%s" % (
          pr, PROFILING_GOAL["time_geomean"], PROFILING_GOAL["time_any"],
          PROFILING_GOAL["rss_geomean"], met(miss), ins))
    p()


def fmt_ratio3(x):
    return "%.3f" % x if x is not None else "–"


def report(meta, allocs, workloads, timed, skipped, gm, cg, reps, args,
           tlb=None, prof=None):
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
              "statistics of INFO) reach the linked jemalloc, which "
              "otherwise stays idle, unless the preloaded allocator defines "
              "mallctl itself (cairn does); where they reach the linked "
              "jemalloc, each run checks that the data is not in it (INFO "
              "allocator_allocated). The benchmark client is not "
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

        if prof:
            profiling_section(p, prof, rows, reps)
        if getattr(args, "scaling", False):
            scaling_section(p, timed, names, meta.get("nproc") or 1)

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
          "large-mix = blocks of 32 KiB-1 MiB, four live, the oldest "
          "freed before each malloc; "
          "batch64 = 64 x malloc(64) then 64 frees in the same order; "
          "xthread64 = one thread mallocs 256 x 64 B, the other frees them, "
          "in strict turns (hand-off cost included, see harness); "
          "live64 = pair64 with 4096 x 64 B kept live on the same pages "
          "(every other block), so no free empties a page.")
        p()
    if meta.get("charts"):
        p("## Charts")
        p()
        for c in meta["charts"]:
            p("- `bench/results/%s`: %s" % c)
        p()
    return out.getvalue()
