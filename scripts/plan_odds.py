#!/usr/bin/env python3
"""How likely one run of a training plan brings every network within 2 points of the study.

Usage: plan_odds.py PLAN_TXT ACCURACY_CSV [ACCURACY_CSV ...] [--reference CSV] [--margin M]
PLAN_TXT holds one `ptqbench train` option line per network (scripts/train_fast.sh writes it as
OUT/plan.txt). Each ACCURACY_CSV is a table scripts/train_summary_csv.py wrote (accuracy.csv:
model, epochs, test_acc, batch, lr, weight_decay, ...). A row counts as a run of a plan line when
its model, epochs, batch, lr and weight decay are the line's; rows without a test accuracy (a run
that did not finish) are left out. The study's accuracy of each network is full_acc in the
reference rows (default ../shared/reference/seed_sgd_m95_results.csv beside the repository).

Per network: the runs found, their mean, sample standard deviation and range, the target (the
study's accuracy minus M, default 2), and the chance that one more run reaches the target if test
accuracy is normal with that mean and deviation (needs two runs or more). The product of those
chances is the chance that one run of the whole plan brings all of them within M points, if the
runs are independent. With a handful of runs per network this is a rough figure, not a bound.
"""
import csv
import math
import os
import shlex
import statistics
import sys

DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                 "reference", "seed_sgd_m95_results.csv")
KEYS = {"--epochs": "epochs", "--batch": "batch", "--lr": "lr", "--weight-decay": "weight_decay"}


def read_plan(path):
    """[(model, {epochs, batch, lr, weight_decay})] in the file's order."""
    lines = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            opts = {}
            for i, w in enumerate(words[:-1]):
                if w == "--model" or w in KEYS:
                    opts[w] = words[i + 1]
            if "--model" not in opts:
                sys.exit(f"plan_odds.py: {path} line {n} has no --model")
            missing = [k for k in KEYS if k not in opts]
            if missing:
                sys.exit(f"plan_odds.py: {path} line {n} does not set {', '.join(missing)}")
            lines.append((opts["--model"], {KEYS[k]: float(opts[k]) for k in KEYS}))
    return lines


def same(a, b):
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def normal_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def main(argv):
    args, reference, margin = [], DEFAULT_REFERENCE, 2.0
    i = 1
    while i < len(argv):
        if argv[i] in ("--reference", "--margin") and i + 1 < len(argv):
            if argv[i] == "--reference":
                reference = argv[i + 1]
            else:
                margin = float(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) < 2:
        sys.exit(__doc__.split("\n\n")[1])
    if not os.path.exists(args[0]):
        sys.exit(f"plan_odds.py: no plan at {args[0]}")
    plan = read_plan(args[0])
    if not os.path.exists(reference):
        sys.exit(f"plan_odds.py: no reference rows at {reference} (--reference CSV)")
    study = {}
    with open(reference) as f:
        for r in csv.DictReader(f):
            study[r["model"]] = float(r["full_acc"])

    runs = {model: [] for model, _ in plan}
    for path in args[1:]:
        if not os.path.exists(path):
            sys.exit(f"plan_odds.py: no table at {path}")
        with open(path) as f:
            for r in csv.DictReader(f):
                if not r.get("test_acc"):
                    continue
                for model, want in plan:
                    if r["model"] == model and all(same(float(r[k]), v) for k, v in want.items()):
                        runs[model].append(float(r["test_acc"]))

    print(f"{'network':13s} {'runs':>4s} {'mean':>6s} {'sd':>5s} {'min':>6s} {'max':>6s} "
          f"{'target':>6s} {'P(pass)':>7s}")
    joint, unknown = 1.0, []
    for model, _ in plan:
        if model not in study:
            sys.exit(f"plan_odds.py: {model} has no full_acc in {reference}")
        target = study[model] - margin
        acc = runs[model]
        if len(acc) < 2:
            unknown.append(model)
            shown = f"{acc[0]:6.2f}" if acc else "     -"
            print(f"{model:13s} {len(acc):4d} {shown} {'-':>5s} {'-':>6s} {'-':>6s} {target:6.2f} "
                  f"{'-':>7s}")
            continue
        mean, sd = statistics.mean(acc), statistics.stdev(acc)
        p = normal_cdf((mean - target) / sd) if sd > 0 else float(mean >= target)
        joint *= p
        print(f"{model:13s} {len(acc):4d} {mean:6.2f} {sd:5.2f} {min(acc):6.2f} {max(acc):6.2f} "
              f"{target:6.2f} {p:7.2f}")
    print(f"all within {margin:g} points in one run: {joint:.3f}" +
          (f" (without {', '.join(unknown)}: fewer than two runs)" if unknown else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
