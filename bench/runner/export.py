# SPDX-License-Identifier: MIT
"""The machine-readable results: latest.csv and latest.json."""

import csv
import json
import re

from .workloads import CALLGRIND_HARNESS, display_cmd


def write_csv(path, meta, allocs, workloads, timed, skipped, gm, cg,
              prof=None):
    cols = ["date", "cpu", "nproc", "commit", "table", "workload",
            "allocator", "status", "reps", "median", "min", "max", "unit",
            "ratio_to_ref", "peak_rss_kib_median", "rss_ratio_to_ref",
            "rss_end_kib_median", "rss_end_ratio_to_ref",
            "anon_huge_kib_median", "throughput_rps_median", "time_basis",
            "wall_s_median", "cpu_s_median", "instructions_ratio"]
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
        if prof:
            # profiled / plain: median = whole-process time ratio, min =
            # the same of the fastest runs, ratio_to_ref = timed-section
            # ratio, rss_ratio_to_ref = peak RSS ratio, instructions_ratio
            # = whole-process instruction count ratio (callgrind)
            for wname, row in list(prof["rows"].items()) + [
                    ("(geomean)", prof["geomean"])]:
                for n, r in row.items():
                    if "failed" in r:
                        wr.writerow(base + ["profiling", wname, n, "FAILED: "
                                            + r["failed"], ""] + empty)
                        continue
                    wr.writerow(base + [
                        "profiling", wname, n, "ok", "",
                        fmt(r["time"]), fmt(r["best"]), "", "profiled/plain",
                        fmt(r["section"]), "", fmt(r["peak_rss"])] +
                        [""] * (len(cols) - 17) +
                        [fmt(r.get("instructions"))])
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


def json_text(obj):
    """Indented JSON, with lists of plain numbers (the RSS samples) kept on
    one line each, so the file stays readable and diffs stay small."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[\s+([-+\d.eE]+(?:,\s+[-+\d.eE]+)*)\s+\]",
                  lambda m: "[" + " ".join(m.group(1).split()) + "]",
                  text) + "\n"


def write_json(path, meta, allocs, workloads, args, skipped, timed, tlb, gm,
               cg, prof=None):
    """Everything, every single run included."""
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
        "profiling": prof,
        "callgrind": ({"params": cg[2], "counts": cg[0], "harness": cg[1]}
                      if cg else None),
    }
    with open(path, "w") as f:
        f.write(json_text(js))
