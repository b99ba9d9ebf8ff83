#!/usr/bin/env python3
"""Print criterion results as Markdown tables: median time, median throughput, and the
ratio of packwire's throughput to each peer's (>= 1.0 means packwire is at least as fast).

Usage: scripts/bench_table.py GROUP [GROUP ...]   (reads target/criterion/GROUP/...)
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def rows(group):
    """{(function, parameter): (median ns, bytes per iteration)}"""
    out = {}
    for est in (root / group).glob("**/new/estimates.json"):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        median = json.loads(est.read_text())["median"]["point_estimate"]
        thr = (bench.get("throughput") or {}).get("Bytes")
        out[(bench["function_id"], bench.get("value_str") or "")] = (median, thr)
    return out


def human_time(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


def human_rate(b, ns):
    if not b:
        return "-"
    rate = b / (ns / 1e9)
    for unit, div in (("GiB/s", 1 << 30), ("MiB/s", 1 << 20), ("KiB/s", 1 << 10)):
        if rate >= div:
            return f"{rate / div:.3g} {unit}"
    return f"{rate:.3g} B/s"


def sort_key(param):
    parts = param.split("/")
    return [int(p) if p.isdigit() else p for p in parts]


for group in sys.argv[1:]:
    data = rows(group)
    funcs = sorted({f for f, _ in data}, key=lambda f: (f != "packwire", f))
    peers = [f for f in funcs if f != "packwire"]
    params = sorted({p for _, p in data}, key=sort_key)
    print(f"### {group}\n")
    head = ["input", "packwire"] + peers + [f"ratio vs {p}" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in params:
        ours = data.get(("packwire", p))
        cells = [p]
        for f in funcs:
            v = data.get((f, p))
            cells.append(f"{human_time(v[0])} ({human_rate(v[1], v[0])})" if v else "-")
        for f in peers:
            v = data.get((f, p))
            cells.append(f"{v[0] / ours[0]:.2f}" if v and ours else "-")
        print("| " + " | ".join(cells) + " |")
    print()
