#!/usr/bin/env python3
"""How likely one run of a training plan brings every network within 2 points of the study.

Usage: plan_odds.py PLAN_TXT ACCURACY_CSV [ACCURACY_CSV ...] [--reference CSV] [--margin M]
                   [--close MODEL=LO-HI ...]
PLAN_TXT holds one `ptqbench train` option line per network (scripts/train_fast.sh writes it as
OUT/plan.txt). Each ACCURACY_CSV is a table scripts/train_summary_csv.py wrote (accuracy.csv:
model, epochs, test_acc, math, optimizer, dataset, batch, lr, schedule, warmup_epochs, momentum,
weight_decay, bn, run). A row counts as a run of a plan line when its model, epochs (the epochs it
ran: an early-stopped run does not count), batch, lr and weight decay are the line's, and so are
its optimizer, schedule, warmup and momentum where the line sets them, its math (tf32 unless the
line says --math), its dataset (cifar10 unless --dataset) and its batch-norm mode (spatial unless
--bn; a table without the bn column was written before the mode was an option: spatial).
`--close MODEL=LO-HI` pools that network's close runs instead: a row counts when its model,
optimizer, dataset and weight decay are the line's and its epochs are within LO..HI (batch, lr,
warmup, momentum, math and batch-norm mode are not compared), e.g. `--close VGG_16=120-140` takes
VGG_16's runs at batch 128 and 256 alike. Rows without a test accuracy (a run
that did not finish) are left out, and a table given twice counts once. The study's accuracy of
each network is full_acc in the reference rows (default ../shared/reference/
seed_sgd_m95_results.csv beside the repository).

Per plan line: the runs found, their mean, sample standard deviation and range, the target (the
study's accuracy minus M, default 2), and the chance that one more run reaches the target: the
Student-t prediction from those runs (n - 1 degrees of freedom, scale sd * sqrt(1 + 1/n)), which
allows for the mean and the deviation being estimates (needs two runs or more). The product of
those chances is the chance that one run of the whole plan brings all of them within M points,
if the runs are independent. With a handful of runs per network this is a rough figure.
"""
import csv
import math
import os
import shlex
import statistics
import sys

DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                 "reference", "seed_sgd_m95_results.csv")
# Options every plan line must set (numbers), options matched when set (numbers, then words),
# and the accuracy.csv column of each.
REQUIRED = {"--epochs": "epochs", "--batch": "batch", "--lr": "lr", "--weight-decay": "weight_decay"}
OPTIONAL_NUMBERS = {"--warmup": "warmup_epochs", "--momentum": "momentum"}
OPTIONAL_WORDS = {"--optimizer": "optimizer", "--schedule": "schedule"}
DEFAULT_WORDS = {"--math": ("math", "tf32"), "--dataset": ("dataset", "cifar10"),
                 "--bn": ("bn", "spatial")}
# Columns older tables lack, and what their runs did.
ROW_DEFAULTS = {"bn": "spatial"}


def read_plan(path):
    """[(name, model, {column: number}, {column: word})] in the file's order."""
    lines = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            opts = {words[i]: words[i + 1] for i in range(len(words) - 1)
                    if words[i].startswith("--")}
            if "--model" not in opts:
                sys.exit(f"plan_odds.py: {path} line {n} has no --model")
            missing = [k for k in REQUIRED if k not in opts]
            if missing:
                sys.exit(f"plan_odds.py: {path} line {n} does not set {', '.join(missing)}")
            try:
                numbers = {c: float(opts[k]) for k, c in REQUIRED.items()}
                numbers.update({c: float(opts[k]) for k, c in OPTIONAL_NUMBERS.items() if k in opts})
            except ValueError as e:
                sys.exit(f"plan_odds.py: {path} line {n}: {e}")
            texts = {c: opts[k] for k, c in OPTIONAL_WORDS.items() if k in opts}
            texts.update({c: opts.get(k, default) for k, (c, default) in DEFAULT_WORDS.items()})
            lines.append((opts.get("--name", opts["--model"]), opts["--model"], numbers, texts))
    return lines


def matches(row, model, numbers, texts, close=None):
    """Whether an accuracy.csv row is a run of the plan line; close = (lo, hi) epochs or None."""
    if row.get("model") != model:
        return False
    if close is not None:
        try:
            if not close[0] <= int(row["epochs"]) <= close[1]:
                return False
        except (KeyError, ValueError):
            return False
        numbers = {"weight_decay": numbers["weight_decay"]}
        texts = {c: v for c, v in texts.items() if c in ("optimizer", "dataset")}
    try:
        if not all(math.isclose(float(row[c]), v, rel_tol=1e-6, abs_tol=1e-12)
                   for c, v in numbers.items()):
            return False
    except (KeyError, ValueError):
        return False
    return all((row.get(c) or ROW_DEFAULTS.get(c)) == v for c, v in texts.items())


def betacf(a, b, x):
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def betai(a, b, x):
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) +
                     a * math.log(x) + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * betacf(a, b, x) / a
    return 1.0 - front * betacf(b, a, 1.0 - x) / b


def student_t_cdf(t, dof):
    tail = 0.5 * betai(dof / 2.0, 0.5, dof / (dof + t * t))
    return 1.0 - tail if t > 0 else tail


def main(argv):
    args, reference, margin, close = [], DEFAULT_REFERENCE, 2.0, {}
    i = 1
    while i < len(argv):
        if argv[i] in ("--reference", "--margin", "--close") and i + 1 < len(argv):
            if argv[i] == "--reference":
                reference = argv[i + 1]
            elif argv[i] == "--margin":
                margin = float(argv[i + 1])
            else:
                model, _, span = argv[i + 1].partition("=")
                lo, _, hi = span.partition("-")
                if not (model and lo.isdigit() and hi.isdigit() and int(lo) <= int(hi)):
                    sys.exit(f"plan_odds.py: --close takes MODEL=LO-HI (epochs), got '{argv[i + 1]}'")
                close[model] = (int(lo), int(hi))
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) < 2:
        sys.exit(__doc__.split("\n\n")[1])
    if not os.path.exists(args[0]):
        sys.exit(f"plan_odds.py: no plan at {args[0]}")
    plan = read_plan(args[0])
    unplanned = sorted(set(close) - {model for _, model, _, _ in plan})
    if unplanned:
        sys.exit(f"plan_odds.py: --close names {', '.join(unplanned)}, which the plan does not have")
    if not os.path.exists(reference):
        sys.exit(f"plan_odds.py: no reference rows at {reference} (--reference CSV)")
    study = {}
    with open(reference) as f:
        for r in csv.DictReader(f):
            study[r["model"]] = float(r["full_acc"])

    runs = [[] for _ in plan]
    tables = []
    for path in args[1:]:
        if not os.path.exists(path):
            sys.exit(f"plan_odds.py: no table at {path}")
        if os.path.realpath(path) not in tables:
            tables.append(os.path.realpath(path))
    for path in tables:
        with open(path) as f:
            for r in csv.DictReader(f):
                if not r.get("test_acc"):
                    continue
                for k, (_, model, numbers, texts) in enumerate(plan):
                    if matches(r, model, numbers, texts, close.get(model)):
                        runs[k].append(float(r["test_acc"]))

    print(f"{'network':13s} {'runs':>4s} {'mean':>6s} {'sd':>5s} {'min':>6s} {'max':>6s} "
          f"{'target':>6s} {'P(pass)':>7s}")
    joint, unknown = 1.0, []
    for k, (name, model, _, _) in enumerate(plan):
        if model not in study:
            sys.exit(f"plan_odds.py: {model} has no full_acc in {reference}")
        target = study[model] - margin
        acc = runs[k]
        if len(acc) < 2:
            unknown.append(name)
            shown = f"{acc[0]:6.2f}" if acc else "     -"
            print(f"{name:13s} {len(acc):4d} {shown} {'-':>5s} {'-':>6s} {'-':>6s} {target:6.2f} "
                  f"{'-':>7s}")
            continue
        mean, sd = statistics.mean(acc), statistics.stdev(acc)
        if sd > 0:
            p = student_t_cdf((mean - target) / (sd * math.sqrt(1.0 + 1.0 / len(acc))),
                              len(acc) - 1)
        else:
            p = float(mean >= target)
        joint *= p
        print(f"{name:13s} {len(acc):4d} {mean:6.2f} {sd:5.2f} {min(acc):6.2f} {max(acc):6.2f} "
              f"{target:6.2f} {p:7.2f}")
    if len(unknown) == len(plan):
        print(f"all within {margin:g} points in one run: not estimated (no network has two runs)")
    else:
        print(f"all within {margin:g} points in one run: {joint:.3f}" +
              (f" (without {', '.join(unknown)}: fewer than two runs)" if unknown else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
