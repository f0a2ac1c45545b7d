#!/usr/bin/env python3
"""Markdown table of a Google Benchmark JSON run: median time, GB/s and % of the copy baseline.

Usage: bench_table.py RUN.json [BASELINE_NAME]   (baseline default: copy)
Rows are the median aggregates in run order; GB/s = bytes_per_second / 1e9.
"""
import json
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run = json.load(open(sys.argv[1]))
    base_name = sys.argv[2] if len(sys.argv) > 2 else "copy"
    medians = [b for b in run["benchmarks"] if b.get("aggregate_name") == "median"]
    name = lambda b: b["run_name"].split("/min_time")[0]
    base = next((b for b in medians if name(b) == base_name), None)
    if base is None:
        sys.exit(f"no median row named {base_name}")
    print(f"Device: {run['context'].get('device', '?')}; {run['context'].get('date', '')}\n")
    print("| benchmark | median time (us) | GB/s | % of copy |")
    print("|---|---:|---:|---:|")
    for b in medians:
        gbs = b.get("bytes_per_second", 0) / 1e9
        pct = 100 * b.get("bytes_per_second", 0) / base["bytes_per_second"]
        print(f"| {name(b)} | {b['real_time']:.1f} | {gbs:.0f} | {pct:.1f} |")


if __name__ == "__main__":
    main()
