# SPDX-License-Identifier: MIT
"""The charts, SVG written by hand (no plotting library): time and peak-RSS
ratios per workload, RSS over time of the `series` workload, and the
thread-scaling set's throughput curves."""

import html
import math
import os
import re
import statistics

from .workloads import (REFERENCE, SCALING_BASES, SCALING_THREADS,
                        SERIES_INTERVAL_MS)


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


def svg_scaling_chart(path, title, subtitle, panels, names, nproc, note):
    """Thread scaling: a panel per workload, the throughput against one
    thread (t x T(1) / T(t)) over the thread counts (log2 axis), a line per
    allocator, perfect scaling (y = t) dashed and the machine's CPU count
    marked. panels: [(label, {alloc: [(t, y)]})]."""
    threads = SCALING_THREADS
    left, right, top, pw, ph, gap = 64, 170, 84, 330, 280, 56
    width = left + len(panels) * (pw + gap) - gap + right
    height = top + ph + 60 + 14 * len(note)
    ymax = max([v for _, d in panels for pts in d.values() for _, v in pts]
               + [1.0])
    ys = nice_step(ymax * 1.1)
    ymax = math.ceil(ymax * 1.1 / ys) * ys
    lx = math.log2(threads[-1])
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" %s>' % (width, height, width, height, FONT),
         '<rect width="100%" height="100%" fill="white"/>',
         svg_text(left, 26, title, 17, weight="bold"),
         svg_text(left, 46, subtitle, 11, fill="#555")]
    for i, (label, data) in enumerate(panels):
        x0 = left + i * (pw + gap)
        X = lambda t: x0 + pw * math.log2(t) / lx
        Y = lambda v: top + ph * (1 - min(v, ymax) / ymax)
        o.append(svg_text(x0, top - 10, label, 13, weight="bold"))
        y = 0.0
        while y <= ymax + 1e-9:
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" '
                     'stroke="#e3e3e3"/>' % (x0, Y(y), x0 + pw, Y(y)))
            o.append(svg_text(x0 - 6, Y(y) + 4, "%g" % round(y, 3), 11,
                              "end"))
            y += ys
        for t in threads:
            o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" '
                     'stroke="#e3e3e3"/>' % (X(t), top, X(t), top + ph))
            o.append(svg_text(X(t), top + ph + 16, str(t), 11, "middle"))
        if 1 <= nproc <= threads[-1]:
            o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" '
                     'stroke-dasharray="2,3"/>' % (X(nproc), top, X(nproc),
                                                   top + ph))
            o.append(svg_text(X(nproc) + 4, top + 14, "%d CPU%s here" % (
                nproc, "" if nproc == 1 else "s"), 10, fill="#777"))
        perfect = " ".join("%.1f,%.1f" % (X(t), Y(t)) for t in threads
                           if t <= ymax)
        o.append('<polyline fill="none" stroke="#bbb" stroke-width="1.2" '
                 'stroke-dasharray="5,4" points="%s"><title>perfect scaling'
                 '</title></polyline>' % perfect)
        o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
                 'stroke="#888"/>' % (x0, top, pw, ph))
        o.append(svg_text(x0 + pw / 2, top + ph + 34, "threads", 12,
                          "middle"))
        for n in names:
            pts = data.get(n)
            if not pts:
                continue
            o.append('<polyline fill="none" stroke="%s" stroke-width="%s" '
                     'points="%s"><title>%s</title></polyline>' % (
                         color_of(n, names),
                         "2.5" if n == REFERENCE else "1.6",
                         " ".join("%.1f,%.1f" % (X(t), Y(v)) for t, v in pts),
                         esc(n)))
    o.append(svg_text(20, top + ph / 2, "throughput against 1 thread", 12,
                      "middle", rotate=-90))
    lx0 = left + len(panels) * (pw + gap) - gap + 16
    ly = top + 10
    for n in names + ["perfect scaling"]:
        dash = ' stroke-dasharray="5,4"' if n == "perfect scaling" else ""
        c = "#bbb" if n == "perfect scaling" else color_of(n, names)
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                 'stroke-width="3"%s/>' % (lx0, ly, lx0 + 24, ly, c, dash))
        o.append(svg_text(lx0 + 30, ly + 4, n, 11))
        ly += 20
    for i, line in enumerate(note):
        o.append(svg_text(left, height - 18 + 14 * (i - len(note) + 1),
                          line, 11, fill="#444"))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def write_scaling_chart(resdir, meta, args, timed, names):
    """Writes scaling.svg from the thread-scaling set; returns [(file,
    what)]."""
    panels = []
    for base, _, _, _, what in SCALING_BASES:
        got = {t: timed.get("scale-%s-%dt" % (base, t)) or {}
               for t in SCALING_THREADS}
        data = {}
        for n in names:
            one = got[1].get(n)
            if not one or one["failed"] or not one["runs"]:
                continue
            pts = [(t, t * one["median_s"] / got[t][n]["median_s"])
                   for t in SCALING_THREADS
                   if got[t].get(n) and not got[t][n]["failed"]
                   and got[t][n]["runs"] and got[t][n]["median_s"] > 0]
            if pts:
                data[n] = pts
        if data:
            panels.append((base, data))
    if not panels:
        return []
    nproc = meta.get("nproc") or 1
    svg_scaling_chart(
        os.path.join(resdir, "scaling.svg"),
        "cairn benchmarks: thread scaling", subtitle_of(meta, args), panels,
        [n for n in names if any(n in d for _, d in panels)], nproc,
        ["Throughput against one thread, t x T(1) / T(t), the work per "
         "thread the same at every count: on t free cores, t is perfect.",
         "Past the machine's CPU count (dotted) threads take turns: the "
         "curve says how an allocator copes with oversubscription."])
    return [("scaling.svg", "throughput against one thread per allocator, "
             "each scaling workload")]
