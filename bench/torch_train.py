#!/usr/bin/env python3
"""PyTorch baseline for `ptqbench train`: the same networks, data and recipe, trained by PyTorch.

Tells whether an accuracy gap to the study comes from ptqbench's training or from the schedule
and data: the networks of torch_forward.py (PyTorch's default initialisation, like ptqbench's),
the CIFAR-10 binary batches ptqbench reads, 40,000/10,000 train/validation images (a seeded random
split, not ptqbench's hash permutation), RandomCrop(32, padding 2) + horizontal flip done on the
GPU, the study's normalisation, SGD with Nesterov momentum, TF32 on, cudnn.benchmark on.
By default the study's final scheme: batch 128 (last partial batch kept), momentum 0.95, weight
decay 1e-4, lr 0.005 -> 5e-5 by a cosine stepped per epoch (`ptqbench train --schedule cosine`).
`--schedule warmup-cosine --warmup W` is ptqbench's per-step schedule instead: lr rises linearly
over the first W epochs' steps, then follows a cosine to --lr-min over the remaining steps (the
formula of ptqbench's scheduled_lr), so `--batch 128 --lr 0.05 --momentum 0.9 --weight-decay 1e-3
--lr-min 0 --schedule warmup-cosine --warmup 2` is scripts/train_fast.sh's VGG_16 setting.
Reports per epoch the training loss/accuracy, validation accuracy and the training loop's
images/s (CUDA events around the epoch's steps, validation excluded, as ptqbench's log), and the
test accuracy at the epoch of the best validation accuracy (ptqbench tests its best checkpoint).
`--precision bf16` runs forward and loss under torch.autocast(bfloat16) (parameters and the
optimiser stay float32: PyTorch's mixed precision, which ptqbench does not have) and
`--channels-last` stores activations and convolution weights NHWC: together they measure what a
mixed-precision NHWC training step would buy on this GPU.
Usage: torch_train.py DATA_DIR OUT.json --models ResNet_18:30,AlexNet_BN:25 [--seed 0]
       [--batch N] [--lr X] [--lr-min X] [--momentum X] [--weight-decay X]
       [--schedule cosine|warmup-cosine] [--warmup EPOCHS] [--precision tf32|bf16]
       [--channels-last]
"""
import contextlib
import argparse
import json
import math
import os
import time

import torch
from torch import nn

from torch_forward import MODELS

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
RECORD = 1 + 3072  # CIFAR-10 binary: label byte, then 3 x 32 x 32 pixels


def read_batches(folder, names):
    raw = b"".join(open(os.path.join(folder, n), "rb").read() for n in names)
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, RECORD)
    return data[:, 1:].reshape(-1, 3, 32, 32).clone(), data[:, 0].long().clone()


def normalise(x_uint8):
    mean = torch.tensor(MEAN, device=x_uint8.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x_uint8.device).view(1, 3, 1, 1)
    return (x_uint8.float() / 255 - mean) / std


def augment(x_uint8, gen):
    """Random crop with 2 pixels of zero padding, then a random horizontal flip, per image."""
    n = x_uint8.shape[0]
    padded = nn.functional.pad(x_uint8, (2, 2, 2, 2))
    top = torch.randint(0, 5, (n,), device=x_uint8.device, generator=gen)
    left = torch.randint(0, 5, (n,), device=x_uint8.device, generator=gen)
    flip = torch.rand(n, device=x_uint8.device, generator=gen) < 0.5
    r = torch.arange(32, device=x_uint8.device)
    rows = top[:, None] + r[None, :]
    cols = torch.where(flip[:, None], left[:, None] + 31 - r[None, :], left[:, None] + r[None, :])
    b = torch.arange(n, device=x_uint8.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # n x 32 x 32 x 3
    return out.permute(0, 3, 1, 2)


def precision_context(args):
    """Mixed precision (autocast to bfloat16) for --precision bf16, nothing for tf32."""
    if args.precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def layout(x, args):
    return x.contiguous(memory_format=torch.channels_last) if args.channels_last else x


def accuracy(model, x, y, args, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad(), precision_context(args):
        for i in range(0, x.shape[0], batch):
            out = model(layout(normalise(x[i:i + batch]), args))
            correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return 100.0 * correct / x.shape[0]


def scheduled_lr(args, epochs, step, steps_per_epoch):
    """The learning rate of step `step` (0-based), as ptqbench's scheduled_lr computes it."""
    if args.schedule == "cosine":
        epoch = step // steps_per_epoch
        return args.lr_min + (args.lr - args.lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
    total = epochs * steps_per_epoch
    warmup = 0
    if args.warmup > 0:
        # floor(x + 0.5): std::llround's halves away from zero (Python's round() goes to even)
        warmup = min(max(1, math.floor(args.warmup * steps_per_epoch + 0.5)), total - 1)
    if step < warmup:
        return args.lr * (step + 1) / warmup
    t = (step - warmup) / (total - warmup)
    return args.lr_min + (args.lr - args.lr_min) * (1 + math.cos(math.pi * t)) / 2


def train(name, epochs, data, args):
    torch.manual_seed(args.seed)
    gen = torch.Generator(device="cuda").manual_seed(args.seed)
    x_train, y_train, x_val, y_val, x_test, y_test = data
    model = MODELS[name]().cuda()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, nesterov=True,
                          weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    n = x_train.shape[0]
    steps_per_epoch = (n + args.batch - 1) // args.batch
    rows, best, start, step = [], (-1.0, 0, 0.0), time.time(), 0
    train_ms = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        order = torch.randperm(n, device="cuda", generator=gen)
        loss_sum = torch.zeros((), device="cuda")
        correct = torch.zeros((), device="cuda", dtype=torch.long)
        for i in range(0, n, args.batch):
            for group in opt.param_groups:
                group["lr"] = scheduled_lr(args, epochs, step, steps_per_epoch)
            step += 1
            idx = order[i:i + args.batch]
            x = layout(normalise(augment(x_train[idx], gen)), args)
            y = y_train[idx]
            with precision_context(args):
                out = model(x)
                loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * idx.numel()
            correct += (out.argmax(1) == y).sum()
        end.record()
        end.synchronize()
        epoch_ms = begin.elapsed_time(end)
        train_ms += epoch_ms
        val = accuracy(model, x_val, y_val, args)
        row = {"epoch": epoch, "train_loss": loss_sum.item() / n,
               "train_acc": 100.0 * correct.item() / n, "val_acc": val,
               "images_per_s": n / (epoch_ms / 1e3), "seconds": time.time() - start}
        if val > best[0]:
            best = (val, epoch, accuracy(model, x_test, y_test, args))
        rows.append(row)
        print(f"{name} epoch {epoch}/{epochs} loss {row['train_loss']:.4f} train "
              f"{row['train_acc']:.2f}% val {val:.2f}% {row['images_per_s']:.0f} img/s "
              f"({row['seconds']:.0f} s)", flush=True)
    result = {"model": name, "epochs": epochs, "batch": args.batch, "lr": args.lr,
              "lr_min": args.lr_min, "momentum": args.momentum,
              "weight_decay": args.weight_decay, "schedule": args.schedule,
              "warmup": args.warmup, "precision": args.precision,
              "channels_last": args.channels_last, "best_val_acc": best[0], "best_epoch": best[1],
              "test_acc": best[2], "train_seconds": train_ms / 1e3,
              "images_per_s": epochs * n / (train_ms / 1e3), "seconds": time.time() - start,
              "log": rows}
    print(f"{name}: test accuracy {best[2]:.2f}% at best validation epoch {best[1]}; training "
          f"loop {train_ms / 1e3:.1f} s, {result['images_per_s']:.0f} img/s", flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--models", required=True, help="NAME:EPOCHS,...")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--lr-min", type=float, default=5e-5)
    ap.add_argument("--momentum", type=float, default=0.95)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--schedule", choices=("cosine", "warmup-cosine"), default="cosine")
    ap.add_argument("--warmup", type=float, default=0.0, help="epochs (warmup-cosine only)")
    ap.add_argument("--precision", choices=("tf32", "bf16"), default="tf32",
                    help="bf16: autocast forward and loss to bfloat16")
    ap.add_argument("--channels-last", action="store_true", help="NHWC activations and weights")
    args = ap.parse_args()
    if args.warmup > 0 and args.schedule != "warmup-cosine":
        ap.error("--warmup needs --schedule warmup-cosine")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    x, y = read_batches(args.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    x_test, y_test = read_batches(args.data, ["test_batch.bin"])
    split = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(args.seed))
    n_train = x.shape[0] * 4 // 5
    tr, va = split[:n_train], split[n_train:]
    data = [t.cuda() for t in (x[tr], y[tr], x[va], y[va], x_test, y_test)]
    results = []
    for spec in args.models.split(","):
        name, epochs = spec.split(":")
        results.append(train(name, int(epochs), data, args))
        with open(args.out, "w") as f:
            json.dump({"context": {"device": torch.cuda.get_device_name(),
                                   "torch": torch.__version__}, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
