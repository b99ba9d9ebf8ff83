#!/usr/bin/env python3
"""Hostile peers against `packwire serve --codec length:strip=4 --echo` with the CLI's
defaults (issue #14): the server's peak RSS under each attack, whether a normal client
is served meanwhile, and how the attacker's connections end. Loopback only; every
server it starts is stopped by PID.

Usage: scripts/hostile_bench.py [PACKWIRE_BINARY]   (default target/release/packwire)
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/packwire"
MAX_FRAME = 8 * 1024 * 1024  # the length codec's default limit, on the wire


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, *extra):
        self.p = subprocess.Popen(
            [BIN, "serve", "--codec", "length:strip=4", "--echo", "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.p.stdout.readline()
        host, port = line.strip().rsplit(" ", 1)[1].rsplit(":", 1)
        self.addr = (host, int(port))
        self.peak = rss_kib(self.p.pid)
        self.base = self.peak
        self.stop_sampling = False
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self):
        while not self.stop_sampling and self.p.poll() is None:
            try:
                self.peak = max(self.peak, rss_kib(self.p.pid))
            except OSError:
                return
            time.sleep(0.05)

    def stop(self):
        self.stop_sampling = True
        self.p.terminate()  # SIGTERM: graceful stop, statistics on stdout
        try:
            out, _ = self.p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        return out


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class NormalClient(threading.Thread):
    """Echoes a small frame every 100 ms; counts the round trips that worked."""

    def __init__(self, addr, src="127.0.0.9"):
        super().__init__(daemon=True)
        self.addr, self.src = addr, src
        self.ok = self.failed = 0
        self.worst = 0.0
        self.running = True

    def run(self):
        while self.running:
            try:
                s = socket.create_connection(self.addr, timeout=5, source_address=(self.src, 0))
                while self.running:
                    t = time.time()
                    s.sendall(frame(b"ping"))
                    got = b""
                    while len(got) < 8:
                        chunk = s.recv(8 - len(got))
                        if not chunk:
                            raise OSError("closed")
                        got += chunk
                    self.worst = max(self.worst, time.time() - t)
                    self.ok += 1
                    time.sleep(0.1)
            except OSError:
                self.failed += 1
                time.sleep(0.1)


def report(name, server, normal, extra):
    print(f"| {name} | {server.base / 1024:.0f} | {server.peak / 1024:.0f} | "
          f"{normal.ok} ok, {normal.failed} failed, slowest {normal.worst * 1000:.0f} ms | {extra} |")


def non_reader():
    """One peer writes maximal frames and never reads its echoes."""
    srv = Server()
    normal = NormalClient(srv.addr)
    normal.start()
    s = socket.create_connection(srv.addr)
    s.settimeout(1)
    big = frame(b"\x07" * (MAX_FRAME - 4))
    sent = 0
    start = time.time()
    closed_after = None
    while time.time() - start < 50:
        try:
            s.sendall(big)
            sent += 1
        except socket.timeout:
            pass  # the server stopped reading: back-pressure
        except OSError:
            closed_after = time.time() - start
            break
    normal.running = False
    out = srv.stop()
    closed = [l.strip() for l in out.splitlines() if "slow_consumer" in l]
    report("one peer sends 8 MiB frames, never reads", srv, normal,
           f"{sent} frames taken in; closed after {closed_after and round(closed_after)} s ({closed[0] if closed else '?'})")


def holders(n=200):
    """n peers each send all but one byte of a maximal frame and hold it."""
    srv = Server()
    normal = NormalClient(srv.addr)
    normal.start()
    socks = []
    payload = b"\x01" * (MAX_FRAME - 4 - 1)
    for i in range(n):
        s = socket.create_connection(srv.addr, source_address=(f"127.0.1.{1 + i % 200}", 0))
        s.settimeout(10)
        try:
            s.sendall(struct.pack(">I", MAX_FRAME - 4) + payload)
        except OSError:
            pass
        socks.append(s)
    time.sleep(3)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)  # b"": the server closed it
        except BlockingIOError:
            alive += 1  # still held
        except OSError:
            pass
    for s in socks:
        s.close()
    time.sleep(0.5)
    normal.running = False
    out = srv.stop()
    over = [l.strip() for l in out.splitlines() if "over_budget" in l]
    report(f"{n} peers each hold all but one byte of an 8 MiB frame", srv, normal,
           f"{alive} held, the rest closed ({over[0] if over else '?'})")


def slowloris(idle="3s"):
    srv = Server("--idle-timeout", idle)
    normal = NormalClient(srv.addr)
    normal.start()
    s = socket.create_connection(srv.addr)
    s.sendall(struct.pack(">I", 100))
    start = time.time()
    gone = None
    while time.time() - start < 30:
        time.sleep(1)
        try:
            s.sendall(b"x")
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    gone = time.time() - start
                    break
            except BlockingIOError:
                pass
            s.setblocking(True)
        except OSError:
            gone = time.time() - start
            break
    normal.running = False
    out = srv.stop()
    ft = [l.strip() for l in out.splitlines() if "frame_timeout" in l]
    report(f"slowloris, one byte a second, --idle-timeout {idle}", srv, normal,
           f"gone after {gone and round(gone, 1)} s ({ft[0] if ft else '?'})")


def one_address_takes_slots(n=3000):
    srv = Server()
    normal = NormalClient(srv.addr, src="127.0.0.9")
    normal.start()
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(srv.addr, source_address=("127.0.0.2", 0)))
        except OSError:
            break
    time.sleep(2)
    for s in socks:
        s.close()
    normal.running = False
    out = srv.stop()
    per_ip = [l.strip() for l in out.splitlines() if "per_ip_limit" in l]
    report(f"{n} idle connections from one address", srv, normal, f"{per_ip[0] if per_ip else '?'}")


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    print("| attack | server RSS before MiB | peak MiB | a normal client meanwhile | how it ended |")
    print("|---|---|---|---|---|")
    for attack in (non_reader, holders, slowloris, one_address_takes_slots):
        attack()
        sys.stdout.flush()
