# SPDX-License-Identifier: MIT
"""Small helpers shared by the runner's parts: logging, the key=value
parser, running a command that can be killed as a whole, medians and
geometric means."""

import math
import os
import re
import signal
import statistics
import subprocess
import sys


def repo_relative(text, root):
    """`text` with every path under the checkout `root` written relative to
    it, and every other path in the folder that holds it (a baseline's
    checkout beside this one) as ../..., so that committed results do not
    record where the checkouts were."""
    if not isinstance(text, str) or not root:
        return text
    root = os.path.abspath(root).rstrip("/")
    text = re.sub(re.escape(root) + r"(?=/|\b|$)/?", lambda m: "" if
                  m.group(0).endswith("/") else ".", text)
    parent = os.path.dirname(root)
    if parent != "/":
        text = re.sub(r"(?<![\w./-])" + re.escape(parent) + "/", "../", text)
    return text


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


def run_cmd(cmd, env, timeout, stdout=None, stderr=None, cwd=None):
    """subprocess.run in a session of its own, so that a timeout (or ^C)
    kills the whole process tree (runwrap and the benchmark under it, or
    valgrind and its tool), not just the direct child. Raises
    subprocess.TimeoutExpired after killing."""
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr,
                         text=True, start_new_session=True, cwd=cwd)
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
