#!/usr/bin/env python3
"""Idle memory per connection over TLS next to plain TCP (issue #16, net/BENCHMARKS.md).

Starts `packwire serve --codec length:strip=4 --echo` fresh for each count, plain and with
a certificate from `packwire cert new`, opens N connections to it with Python's asyncio
(TLS through the ssl module), exchanges one 64-byte frame on each, and reads the server's
RSS from /proc. The slope between two counts is what one more idle connection costs
(fixed costs cancel out). Connections come from 127.0.0.x blocks of 1,000 so that earlier
runs' TIME_WAIT ports do not crowd the binds.

Usage: scripts/idle_tls_bench.py [COUNTS...]   (default 1000 4000)
"""
import asyncio
import os
import resource
import ssl
import struct
import subprocess
import sys
import time

BIN = "target/release/packwire"
CERTS = "target/bench-tls"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold(port, n, tls, src_base):
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=f"{CERTS}/ca.pem")
    frame = struct.pack(">I", 64) + b"x" * 64
    conns = []
    sem = asyncio.Semaphore(200)

    async def one(i):
        src = f"127.0.0.{src_base + i // 1000}"
        async with sem:
            r, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx,
                server_hostname="localhost" if tls else None,
                local_addr=(src, 0))
            w.write(frame)
            await w.drain()
            got = await r.readexactly(len(frame))
            assert got == frame
            conns.append(w)

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns


def run(n, tls, port, src_base):
    args = [BIN, "serve", "--codec", "length:strip=4", "--echo",
            "--listen", f"127.0.0.1:{port}", "--seconds", "120", "--max-per-ip", "20000"]
    if tls:
        args += ["--tls-cert", f"{CERTS}/server.pem", "--tls-key", f"{CERTS}/server.key"]
    srv = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        srv.stdout.readline()
        before = rss_kib(srv.pid)
        loop = asyncio.new_event_loop()
        t = time.time()
        conns = loop.run_until_complete(hold(port, n, tls, src_base))
        took = time.time() - t
        time.sleep(1.0)
        after = rss_kib(srv.pid)
        for w in conns:
            w.close()
        loop.close()
        return before, after, took
    finally:
        srv.kill()
        srv.wait()


def main():
    counts = [int(c) for c in sys.argv[1:]] or [1000, 4000]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.makedirs(CERTS, exist_ok=True)
    subprocess.run([BIN, "cert", "new", "--out", CERTS], check=True, stdout=subprocess.DEVNULL)
    port, src_base = 17600, 2
    rows = {}
    print("| connections | transport | server RSS before / after (KiB) | B per connection | connect s |")
    print("|---|---|---|---|---|")
    for n in counts:
        for tls in (False, True):
            port += 1
            blocks = (n + 999) // 1000
            if src_base + blocks > 254:
                src_base = 2
            before, after, took = run(n, tls, port, src_base)
            src_base += blocks
            name = "TLS" if tls else "TCP"
            rows.setdefault(name, []).append((n, after))
            print(f"| {n} | {name} | {before} / {after} | {(after - before) * 1024 // n} | {took:.1f} |")
            time.sleep(1)
    print()
    slopes = {}
    for name, pts in rows.items():
        for (n0, r0), (n1, r1) in zip(pts, pts[1:]):
            slopes[name] = (r1 - r0) * 1024 / (n1 - n0)
            print(f"slope {name} {n0} -> {n1}: {slopes[name]:.0f} B/conn")
    if "TLS" in slopes and "TCP" in slopes and slopes["TCP"] > 0:
        print(f"TLS / TCP: {slopes['TLS'] / slopes['TCP']:.2f}")


if __name__ == "__main__":
    main()
