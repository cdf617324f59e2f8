# SPDX-License-Identifier: MIT
"""The redis workload: redis-server under the allocator, driven by
redis-benchmark, through a minimal client of its own."""

import os
import re
import signal
import socket
import subprocess
import time

from .util import kill_tree, parse_kv, run_cmd
from .workloads import REDIS_TESTS


REDIS_START_TIMEOUT_S = 15
REDIS_BENCH_TIMEOUT_S = 180


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
        # INFO's allocator_* figures come from mallctl, which goes to the
        # jemalloc redis is linked with unless the preloaded allocator
        # defines mallctl itself (cairn does; then the figures are its own):
        # if the linked jemalloc holds most of the data, the preloaded
        # malloc was not the one in use.
        m = re.search(r"allocator_allocated:(\d+)", mem)
        je = int(m.group(1)) if m else 0
        own_mallctl = (a.lib and a.mallctl_from and os.path.realpath(
            a.mallctl_from) == os.path.realpath(a.lib))
        kv["linked_jemalloc_allocated_kb" if not own_mallctl else
           "mallctl_allocated_kb"] = str(je // 1024)
        if (not (a.lib and "jemalloc" in os.path.basename(a.lib))
                and not own_mallctl
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
