#!/usr/bin/env python3
"""Prints the ratio table of the peer benches in Markdown, from criterion's estimates.

Reads every `target/criterion/**/new/{benchmark,estimates}.json` under the directory given (default:
this file's directory), takes each benchmark's median, and for every `<work>/<case>` that has a
`vnet` result prints vnet's median, each peer's median and the ratio peer / vnet (above 1: vnet is
faster). One table per work, so that the README's numbers are generated, never typed.

    cargo bench --manifest-path bench/Cargo.toml --bench peers && python3 bench/ratios.py
"""

import json
import pathlib
import re
import sys


def fmt_time(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def case_key(case):
    """Sorts numeric cases by their numbers (`40` before `576`, `40+1` after `40`)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", case)]


def load(root):
    results = {}  # work -> case -> implementation -> median ns
    for est in sorted(root.glob("target/criterion/**/new/estimates.json")):
        meta = json.loads((est.parent / "benchmark.json").read_text())
        parts = meta["full_id"].split("/")
        if len(parts) != 3:
            continue
        work, case, implementation = parts
        median = json.loads(est.read_text())["median"]["point_estimate"]
        results.setdefault(work, {}).setdefault(case, {})[implementation] = median
    return results


def main():
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent
    results = load(root)
    if not results:
        sys.exit(f"no criterion estimates under {root / 'target/criterion'}")
    order = ["checksum", "gso", "gro", "meta", "check"]
    for work in sorted(results, key=lambda w: (order.index(w) if w in order else len(order), w)):
        cases = results[work]
        peers = sorted({i for impls in cases.values() for i in impls if i != "vnet"})
        header = ["case", "vnet"] + [f"{p} (×)" for p in peers]
        print(f"### {work}\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for case in sorted(cases, key=case_key):
            impls = cases[case]
            vnet = impls.get("vnet")
            row = [case, fmt_time(vnet) if vnet else "—"]
            for p in peers:
                t = impls.get(p)
                if t is None:
                    row.append("—")
                elif vnet:
                    row.append(f"{fmt_time(t)} ({t / vnet:.2f})")
                else:
                    row.append(fmt_time(t))
            print("| " + " | ".join(row) + " |")
        print()
    print("Medians; (×) = peer time / vnet time, above 1 means vnet is faster.")


if __name__ == "__main__":
    main()
