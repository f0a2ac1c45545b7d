#!/usr/bin/env python3
"""PyTorch's side of bench/layer_profile: the same network's training step in PyTorch, timed whole.

The step is torch_train.py's (forward in training mode, cross-entropy, backward, SGD with Nesterov
momentum 0.9 and weight decay 5e-4) on random images, TF32 on, cudnn.benchmark on, optionally in
bfloat16 autocast and channels-last. Prints the median step time over CUDA events, images/s, and
the CUDA kernels that took the most time in the profiled steps (torch.profiler, summed by kernel
name), so a slow group in layer_profile's table can be matched to what PyTorch runs instead.
`--groups OUT.json` reads a saved run and sums its kernels into layer_profile-like groups by
kernel name (KERNEL_GROUPS: cuDNN's batch-norm kernels; convolution kernels with their layout
transforms; pooling; concatenation; everything else), without a GPU.
Usage: torch_profile.py MODEL [--batch 128] [--steps 20] [--precision tf32|bf16]
       [--channels-last] [--json OUT.json]
       torch_profile.py --groups OUT.json
"""
import argparse
import contextlib
import json
import statistics
import sys

WARMUP_STEPS = 3

# (group, substrings of a lowercased kernel name), first match wins.
KERNEL_GROUPS = [
    ("bn", ["cudnn::bn_"]),
    ("pool", ["max_pool", "pooling"]),
    ("conv", ["xmma", "cutlass", "implicit_gemm", "wgrad", "dgrad", "fprop", "conv", "winograd",
              "fft", "nchwtonhwc", "nhwctonchw", "im2col", "scalepacked"]),
    ("concat", ["cat"]),
]


def kernel_group(name):
    lower = name.lower()
    for group, keys in KERNEL_GROUPS:
        if any(k in lower for k in keys):
            return group
    return "other"


def print_groups(path):
    with open(path) as f:
        run = json.load(f)
    groups = {}
    for name, ms in run["kernels_ms_per_step"].items():
        groups[kernel_group(name)] = groups.get(kernel_group(name), 0.0) + ms
    total = sum(groups.values())
    print(f"{run['model']}, batch {run['batch']}, {run['precision']}: step {run['step_ms']:.3f} ms, "
          f"kernels {total:.3f} ms per step")
    for group, ms in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:8s} {ms:8.3f} ms {100 * ms / total:5.1f}%")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--groups":
        print_groups(sys.argv[2])
        return
    import torch
    from torch import nn
    from torch.profiler import ProfilerActivity, profile

    from torch_forward import MODELS

    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--precision", choices=("tf32", "bf16"), default="tf32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 1:
        ap.error("--batch and --steps must be at least 1")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(0)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = MODELS[args.model]().cuda().to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = (torch.rand(args.batch, 3, 32, 32, device="cuda") * 4 - 2).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch,), device="cuda")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())

    def step():
        with autocast:
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(WARMUP_STEPS):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        step()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end))
    step_ms = statistics.median(times)

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            k = kernels.setdefault(e.name, [0, 0.0])
            k[0] += 1
            k[1] += e.device_time_total / 1e3 / args.steps  # ms per step
    top = sorted(kernels.items(), key=lambda kv: -kv[1][1])
    total = sum(v[1] for _, v in top)

    print(f"{args.model}, batch {args.batch}, {args.precision}"
          f"{', channels-last' if args.channels_last else ''}, {torch.cuda.get_device_name()}, "
          f"PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, medians of "
          f"{args.steps} steps after {WARMUP_STEPS} warm-up steps")
    print(f"training step {step_ms:.3f} ms: {args.batch / (step_ms / 1e3):.0f} images/s; "
          f"kernels add up to {total:.3f} ms per profiled step")
    print(f"  {'ms/step':>9} {'share':>6} {'calls/step':>10}  kernel")
    for name, (calls, ms) in top[:25]:
        print(f"  {ms:9.3f} {100 * ms / total:5.1f}% {calls / args.steps:10.1f}  {name[:110]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "batch": args.batch, "precision": args.precision,
                       "channels_last": args.channels_last, "step_ms": step_ms,
                       "images_per_s": args.batch / (step_ms / 1e3),
                       "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "kernels_ms_per_step": {n: v[1] for n, v in top}}, f, indent=1)


if __name__ == "__main__":
    main()
