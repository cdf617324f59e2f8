# SPDX-License-Identifier: MIT
"""The flame graph page of `cairn prof flame`: one HTML file, the profile
as JSON inside it and a script that draws it as SVG, so that it opens
anywhere without a network or any other file."""

import html as htmlesc
import json
import os


def tree(rows):
    """The call tree, root first: nodes [name, bytes, objects, where,
    children] in compact JSON (a profile can hold many thousand stacks)."""
    root = {"n": "all", "v": 0.0, "o": 0.0, "w": "", "c": {}}
    for frames, o, b, _ in rows:
        node = root
        node["v"] += b
        node["o"] += o
        for f in reversed(frames):
            child = node["c"].get(f.name)
            if child is None:
                child = node["c"][f.name] = {"n": f.name, "v": 0.0, "o": 0.0,
                                             "w": f.where(), "c": {}}
            child["v"] += b
            child["o"] += o
            node = child

    def pack(n):
        kids = sorted(n["c"].values(), key=lambda k: k["n"])
        return [n["n"], round(n["v"]), round(n["o"]), n["w"], [pack(k) for k in kids]]

    return pack(root)


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cairn heap profile: @TITLE@</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; padding: 10px; color: #222; background: #fafafa; }
h1 { font-size: 15px; margin: 0 0 2px; }
#sub { color: #555; margin-bottom: 8px; }
#bar { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; }
#search { width: 260px; padding: 3px 6px; font: inherit; }
#match { color: #7a1e8c; font-weight: 600; }
button { font: inherit; padding: 2px 8px; }
#flame { display: block; width: 100%; }
#flame rect { stroke: #fafafa; stroke-width: 0.5; cursor: pointer; }
#flame text { font: 11px monospace; fill: #111; pointer-events: none; }
#flame .dim rect { fill: #ddd; }
#flame .hit rect { fill: #d43fd8; }
#tip { position: fixed; display: none; pointer-events: none; background: #fff;
       border: 1px solid #999; padding: 4px 7px; box-shadow: 1px 1px 4px #0003; max-width: 600px; }
</style>
</head>
<body>
<h1>cairn heap profile: @TITLE@</h1>
<div id="sub">@WHAT@. Width is bytes; click a frame to zoom, click the top frame to zoom out.</div>
<div id="bar"><input id="search" placeholder="search: function name (regular expression)">
<button id="reset">Reset zoom</button><span id="match"></span></div>
<svg id="flame" xmlns="http://www.w3.org/2000/svg"></svg>
<div id="tip"></div>
<script type="application/json" id="profile">@DATA@</script>
<script>
"use strict";
(function () {
  const ROW = 18, SVGNS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("profile").textContent);
  const svg = document.getElementById("flame"), tip = document.getElementById("tip");
  const input = document.getElementById("search"), match = document.getElementById("match");
  const objectsLabel = @OBJECTS@;

  // Nodes with their parents and depths, from the compact JSON.
  function build(a, parent, depth) {
    const n = { name: a[0], bytes: a[1], objects: a[2], where: a[3], parent: parent,
                depth: depth, kids: [] };
    for (const k of a[4]) n.kids.push(build(k, n, depth + 1));
    return n;
  }
  const root = build(data, null, 0);
  let zoomed = root, pattern = null;

  function human(b) {
    const u = [["GiB", 1 << 30], ["MiB", 1 << 20], ["KiB", 1 << 10]];
    for (const [name, size] of u) if (b >= size) return (b / size).toFixed(1) + " " + name;
    return b + " B";
  }
  function share(b) { return root.bytes ? (100 * b / root.bytes).toFixed(1) + "%" : "-"; }
  // Warm colours, fixed per name so that a function keeps its colour when zooming.
  function colour(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return "hsl(" + (10 + h % 40) + "," + (60 + (h >>> 8) % 30) + "%," + (55 + (h >>> 16) % 15) + "%)";
  }
  function matches(n) { return pattern !== null && n !== root && pattern.test(n.name); }
  function depthOf(n) { let d = 0; for (const k of n.kids) d = Math.max(d, depthOf(k)); return d + 1; }

  function frame(n, x, w, y, dim) {
    const g = document.createElementNS(SVGNS, "g");
    g.setAttribute("class", "frame" + (dim ? " dim" : "") + (matches(n) ? " hit" : ""));
    g.dataset.name = n.name;
    g.dataset.bytes = n.bytes;
    g.dataset.objects = n.objects;
    const r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("x", x.toFixed(2));
    r.setAttribute("y", y);
    r.setAttribute("width", w.toFixed(2));
    r.setAttribute("height", ROW - 1);
    r.setAttribute("fill", n === root ? "#e8b0a0" : colour(n.name));
    g.appendChild(r);
    const chars = Math.floor((w - 6) / 6.6);
    if (chars >= 3) {
      const t = document.createElementNS(SVGNS, "text");
      t.setAttribute("x", (x + 3).toFixed(2));
      t.setAttribute("y", y + ROW - 5);
      t.textContent = n.name.length <= chars ? n.name : n.name.slice(0, chars - 2) + "..";
      g.appendChild(t);
    }
    g.addEventListener("click", () => { zoom(n === zoomed ? (n.parent || root) : n); });
    g.addEventListener("mousemove", (e) => show(e, n));
    g.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    svg.appendChild(g);
  }

  function render() {
    const width = Math.max(200, svg.clientWidth || document.body.clientWidth - 20);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const path = [];
    for (let n = zoomed; n; n = n.parent) path.unshift(n);
    svg.setAttribute("height", (path.length - 1 + depthOf(zoomed)) * ROW);
    // The zoomed frame's callers span the width, dimmed: they hold more.
    path.forEach((n, i) => frame(n, 0, width, i * ROW, n !== zoomed));
    const scale = zoomed.bytes ? width / zoomed.bytes : 0;
    (function draw(n, x, depth) {
      let cx = x;
      for (const k of n.kids) {
        const w = k.bytes * scale;
        if (w >= 0.5) {
          frame(k, cx, w, depth * ROW, false);
          draw(k, cx, depth + 1);
        }
        cx += w;
      }
    })(zoomed, 0, path.length);
  }

  function show(e, n) {
    let where = n.where ? " (" + n.where + ")" : "";
    tip.textContent = "";
    const b = document.createElement("b");
    b.textContent = n.name + where;
    tip.appendChild(b);
    tip.appendChild(document.createElement("br"));
    tip.appendChild(document.createTextNode(human(n.bytes) + " (" + n.bytes + " bytes, " +
      share(n.bytes) + " of all), " + n.objects + " " + objectsLabel));
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 12, window.innerWidth - tip.offsetWidth - 4) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  }

  function zoom(n) { zoomed = n; update(); }

  // What the matching frames hold: a frame inside another match is not
  // counted twice.
  function matched(n) {
    if (matches(n)) return n.bytes;
    let s = 0;
    for (const k of n.kids) s += matched(k);
    return s;
  }

  function search(text) {
    pattern = null;
    if (text) {
      try { pattern = new RegExp(text); }
      catch (e) { pattern = new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")); }
    }
    update();
  }

  function update() {
    render();
    const params = [];
    if (pattern) params.push("search=" + encodeURIComponent(input.value));
    if (zoomed !== root) params.push("zoom=" + encodeURIComponent(zoomed.name));
    try {
      history.replaceState(null, "", params.length ? "#" + params.join("&") : location.pathname);
    } catch (e) { /* some browsers refuse it for file: pages; the view still works */ }
    if (pattern) {
      const m = matched(root);
      match.textContent = "matched: " + human(m) + " (" + share(m) + " of " + human(root.bytes) + ")";
      match.dataset.bytes = m;
    } else {
      match.textContent = "";
      delete match.dataset.bytes;
    }
  }

  input.addEventListener("input", () => search(input.value));
  document.getElementById("reset").addEventListener("click", () => zoom(root));
  window.addEventListener("resize", render);

  // The page's address can hold a search and a zoom (#search=...&zoom=...),
  // so that a view can be shared or reopened.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("zoom")) {
    const want = hash.get("zoom");
    (function find(n) {
      if (n.name === want && zoomed === root) { zoomed = n; return; }
      for (const k of n.kids) find(k);
    })(root);
  }
  if (hash.get("search")) { input.value = hash.get("search"); search(input.value); }
  else update();
})();
</script>
</body>
</html>
"""


def html(dump, rows, what, alloc):
    # "</" inside the JSON would end the script element early.
    data = json.dumps(tree(rows), separators=(",", ":")).replace("</", "<\\/")
    title = htmlesc.escape(os.path.basename(dump.path))
    return (PAGE.replace("@TITLE@", title)
            .replace("@WHAT@", htmlesc.escape(what[0].upper() + what[1:]))
            .replace("@OBJECTS@", json.dumps("objects allocated" if alloc else "objects live"))
            .replace("@DATA@", data))
