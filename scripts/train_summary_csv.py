#!/usr/bin/env python3
"""Merges the summary.json files of `ptqbench train` runs into one table.

Usage: train_summary_csv.py OUT [RUN ...]
Reads OUT/<run>/summary.json for each RUN (default: every OUT/*/summary.json, sorted) and
writes OUT/accuracy.csv with the columns below; a run without a summary (not finished, failed)
gets a row with only its name (as model and run), so the table shows what is missing.
Accuracies are in percent.
The last column, run, is the folder the row comes from (OUT/<run>/summary.json): the model's name
for train_all.sh's folders, a setting's name for a sweep (e.g. VGG_16_ep60_lr0.1_wd5e-4).
"""
import csv
import json
import os
import sys

COLUMNS = ["model", "epochs", "best_epoch", "best_val_acc", "test_acc", "seconds", "images_per_s",
           "tflops", "math", "optimizer", "dataset", "batch", "lr", "schedule", "warmup_epochs",
           "momentum", "weight_decay", "bn", "run"]


def row_for(out, run):
    path = os.path.join(out, run, "summary.json")
    if not os.path.exists(path):
        return {"model": run, "run": run}
    with open(path) as f:
        s = json.load(f)
    return {
        "model": s["model"],
        "epochs": s["epochs_run"],
        "best_epoch": s["best_epoch"],
        "best_val_acc": "%.2f" % s["best_val_acc"],
        "test_acc": "%.2f" % s["test_acc"],
        "seconds": "%.1f" % s["seconds"],
        "images_per_s": "%.0f" % s["images_per_s"],
        "tflops": "%.2f" % s["tflops"],
        "math": s["math"],
        "optimizer": s["optimizer"],
        "dataset": s["dataset"],
        "batch": s["batch"],
        "lr": "%g" % s["lr"],
        # Summaries written before the schedule was an option ran the study's cosine.
        "schedule": s.get("schedule", "cosine"),
        "warmup_epochs": "%g" % s.get("warmup_epochs", 0),
        "momentum": "%g" % s["momentum"],
        "weight_decay": "%g" % s["weight_decay"],
        # Summaries written before the batch-norm mode was an option ran the spatial mode.
        "bn": s.get("bn", "spatial"),
        "run": run,
    }


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    runs = sys.argv[2:] or sorted(
        d for d in os.listdir(out) if os.path.exists(os.path.join(out, d, "summary.json")))
    rows = [row_for(out, r) for r in runs]
    path = os.path.join(out, "accuracy.csv")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(path + ".tmp", path)
    total = sum(float(r["seconds"]) for r in rows if "seconds" in r)
    print("%s: %d runs, %d finished, %.1f s of training" %
          (path, len(rows), sum("test_acc" in r for r in rows), total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
