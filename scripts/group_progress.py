#!/usr/bin/env python3
"""How much training a `ptqbench train-group` run got through, in seconds of training alone.

Usage: group_progress.py ALONE_CSV GROUP_DIR [GROUP_DIR ...] [--at T ...]
ALONE_CSV has the columns model,epochs,seconds: each network's epochs and the seconds they took
when it trained alone on the GPU (an epoch's cost is seconds / epochs). For each group folder (one
subfolder per run, named after its model, holding the run's log.csv) and each time T in seconds
since the group started (default: the end of the shortest log), the epochs each run had done by
T are counted from its log's per-epoch seconds (the epoch in progress at T counts by its elapsed
share), turned into seconds alone, and summed. Sum / T is how many seconds of one-at-a-time
training each second of the shared GPU did: above 1, sharing is faster than running the networks
one after another.

Where each run's first epoch began: a run's setup (network, algorithm searches) waits for the
others' under the device setup lock, so runs start late by different amounts. group.csv's ended_s
(when the run ended, its test pass included) gives the latest possible start, ended_s - (its log's
seconds); counting from there never credits a run with work it had not done, so the ratio is a
lower bound. Groups written before group.csv had ended_s give only the session's wall time (from
group_sessions.csv): a run stopped by the time limit ended shortly before it, so the script
reports the ratio both for starts at 0 (an upper bound) and for stopped runs starting at
wall - (log seconds) (a lower bound); a finished run of such a group counts from 0 in both.
A group that was resumed (more than one row in group_sessions.csv) is refused: its logs span the
sessions while ended_s and the wall time are the last session's. Every epoch of a network counts
alike: with `--val-from` (or alone runs of another --val-from) validated epochs cost more than the
others, which this average does not see.
"""
import csv
import os
import sys


def read_log(path):
    with open(path) as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def epochs_done(seconds, start, t):
    """Epochs finished by time t when the first began at `start`, fractional."""
    done, elapsed = 0.0, start
    for s in seconds:
        if elapsed + s > t:
            return done + max(0.0, t - elapsed) / s
        elapsed += s
        done += 1
    return done


def main(argv):
    times = []
    if "--at" in argv:
        i = argv.index("--at")
        times = [float(x) for x in argv[i + 1:]]
        argv = argv[:i]
    if len(argv) < 3 or any(t <= 0 for t in times):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        alone = {r["model"]: float(r["seconds"]) / float(r["epochs"]) for r in csv.DictReader(f)}
    for group in argv[2:]:
        runs = sorted(m for m in alone if os.path.exists(os.path.join(group, m, "log.csv")))
        if not runs:
            print(f"{group}: no run of {argv[1]}'s networks", file=sys.stderr)
            return 1
        with open(os.path.join(group, "group_sessions.csv")) as f:
            sessions = list(csv.DictReader(f))
        if len(sessions) != 1:
            # The logs then run across sessions while ended_s and wall_seconds are the last one's.
            print(f"{group}: {len(sessions)} sessions in group_sessions.csv; this script counts one "
                  "session from its start (use a copy of the folder as one session left it)",
                  file=sys.stderr)
            return 1
        logs = {m: read_log(os.path.join(group, m, "log.csv")) for m in runs}
        with open(os.path.join(group, "group.csv")) as f:
            rows = {r["name"]: r for r in csv.DictReader(f)}
        if all(rows.get(m, {}).get("ended_s") for m in runs):
            bounds = {"latest starts": {m: max(0.0, float(rows[m]["ended_s"]) - sum(logs[m]))
                                        for m in runs}}
        else:
            wall = float(sessions[0]["wall_seconds"])
            stopped = {m for m in runs if rows.get(m, {}).get("status") == "stopped"}
            bounds = {"starts at 0": {m: 0.0 for m in runs},
                      "latest starts": {m: max(0.0, wall - sum(logs[m])) if m in stopped else 0.0
                                        for m in runs}}
        for t in times or [min(sum(s) for s in logs.values())]:
            for label, start in bounds.items():
                work = {m: epochs_done(logs[m], start[m], t) * alone[m] for m in runs}
                total = sum(work.values())
                parts = ", ".join(f"{m} {w:.1f}" for m, w in work.items())
                print(f"{group} at {t:.0f} s ({label}): {total:.1f} s alone-equivalent "
                      f"({total / t:.2f}x): {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
