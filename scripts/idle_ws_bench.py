#!/usr/bin/env python3
"""Idle WebSocket memory per connection (issue #17, net/BENCHMARKS.md): packwire's
`ws serve --echo` beside the tokio-tungstenite and fastwebsockets echo servers
(cli/examples/ws_peer_echo.rs), each started fresh for each count.

Python's asyncio opens N connections, completes the opening handshake on each, sends one
masked 20-byte text message and reads its echo, then holds them idle; the server's RSS
comes from /proc. The slope between two counts is what one more idle connection costs.
Connections come from 127.0.0.x blocks of 1,000 (TIME_WAIT ports of earlier runs do not
crowd the binds).

Usage: scripts/idle_ws_bench.py [COUNTS...]   (default 1000 4000; build first:
  cargo build --release -p packwire-cli && cargo build --release -p packwire-cli --example ws_peer_echo)
"""
import asyncio
import os
import resource
import subprocess
import sys
import time

BIN = "target/release/packwire"
PEER = "target/release/examples/ws_peer_echo"
UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
TEXT = b"x" * 20
# masked with a zero key: the payload goes as it is
FRAME = bytes([0x81, 0x80 | len(TEXT), 0, 0, 0, 0]) + TEXT
ECHO = bytes([0x81, len(TEXT)]) + TEXT


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold(port, n, src_base):
    conns = []
    sem = asyncio.Semaphore(200)

    async def one(i):
        src = f"127.0.0.{src_base + i // 1000}"
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))
            w.write(UPGRADE)
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            w.write(FRAME)
            await w.drain()
            got = await r.readexactly(len(ECHO))
            assert got == ECHO, got
            conns.append(w)

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns


def server(name, port):
    if name == "packwire":
        return [BIN, "ws", "serve", "--echo", "--listen", f"127.0.0.1:{port}",
                "--seconds", "120"]
    return [PEER, name, str(port)]


def run(name, n, port, src_base):
    srv = subprocess.Popen(server(name, port), stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    try:
        if name == "packwire":
            srv.stdout.readline()
        else:
            time.sleep(0.5)
        before = rss_kib(srv.pid)
        loop = asyncio.new_event_loop()
        conns = loop.run_until_complete(hold(port, n, src_base))
        time.sleep(1.0)
        after = rss_kib(srv.pid)
        for w in conns:
            w.close()
        loop.close()
        return before, after
    finally:
        srv.kill()
        srv.wait()


def main():
    counts = [int(c) for c in sys.argv[1:]] or [1000, 4000]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, src_base = 17700, 2
    rows = {}
    print("| connections | server | RSS before / after (KiB) |")
    print("|---|---|---|")
    for n in counts:
        for name in ("packwire", "tungstenite", "fastwebsockets"):
            port += 1
            blocks = (n + 999) // 1000
            if src_base + blocks > 254:
                src_base = 2
            before, after = run(name, n, port, src_base)
            src_base += blocks
            rows.setdefault(name, []).append((n, after))
            print(f"| {n} | {name} | {before} / {after} |")
            time.sleep(1)
    print()
    for name, pts in rows.items():
        for (n0, r0), (n1, r1) in zip(pts, pts[1:]):
            print(f"slope {name} {n0} -> {n1}: {(r1 - r0) * 1024 / (n1 - n0):.0f} B/conn")


if __name__ == "__main__":
    main()
