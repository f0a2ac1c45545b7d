#!/usr/bin/env python3
"""How much training a `ptqbench train-group` run got through, in seconds of training alone.

Usage: group_progress.py ALONE_CSV GROUP_DIR [GROUP_DIR ...] [--at T ...]
ALONE_CSV has the columns model,epochs,seconds: each network's epochs and the seconds they took
when it trained alone on the GPU (an epoch's cost is seconds / epochs). For each group folder (one
subfolder per run, holding the run's log.csv) and each time T (seconds since the group's first
epoch began, default: the end of the shortest run's log), the runs' epochs done by T are counted
from the log's per-epoch seconds (the epoch in progress at T counts by its elapsed share), turned
into seconds alone, and summed. Sum / T is how many seconds of one-at-a-time training each second
of the shared GPU did: above 1, sharing is faster than running the networks one after another.
"""
import csv
import os
import sys


def epochs_done(log_path, t):
    """Epochs finished by time t, fractional, from log.csv's per-epoch seconds."""
    done, elapsed = 0.0, 0.0
    with open(log_path) as f:
        for row in csv.DictReader(f):
            s = float(row["seconds"])
            if elapsed + s > t:
                return done + (t - elapsed) / s
            elapsed += s
            done += 1
    return done


def log_seconds(log_path):
    with open(log_path) as f:
        return sum(float(r["seconds"]) for r in csv.DictReader(f))


def main(argv):
    times = []
    if "--at" in argv:
        i = argv.index("--at")
        times = [float(x) for x in argv[i + 1:]]
        argv = argv[:i]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        alone = {r["model"]: float(r["seconds"]) / float(r["epochs"]) for r in csv.DictReader(f)}
    for group in argv[2:]:
        runs = sorted(m for m in alone if os.path.exists(os.path.join(group, m, "log.csv")))
        if not runs:
            print(f"{group}: no run of {argv[1]}'s networks", file=sys.stderr)
            return 1
        logs = {m: os.path.join(group, m, "log.csv") for m in runs}
        for t in times or [min(log_seconds(p) for p in logs.values())]:
            work = {m: epochs_done(logs[m], t) * alone[m] for m in runs}
            total = sum(work.values())
            parts = ", ".join(f"{m} {w:.1f}" for m, w in work.items())
            print(f"{group} at {t:.0f} s: {total:.1f} s alone-equivalent ({total / t:.2f}x): "
                  f"{parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
