#!/usr/bin/env python3
"""PyTorch baselines for bench/fake_quant_bench, measured the same way in the same run.

Times, with CUDA events after a warm-up, the median of REPS runs on 2^26 float32 values:
  copy                      y.copy_(x): device-to-device copy, 8 bytes per element
  fake_quantize_per_tensor_affine (INT8, the only format PyTorch fuses), 8 bytes per element
  torch_int_fq/INT_b        the plain-tensor-op INT fake quantizer x/s -> clamp -> round -> *s
                            (what a PyTorch PTQ script without the fused op runs)
Writes JSON to the path given (or stdout) with GB/s = bytes / median time.
Usage: torch_fake_quant.py [OUT.json]
"""
import json
import sys

import torch

N = 1 << 26
REPS = 50


def median_ms(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPS):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def main():
    torch.manual_seed(7)
    x = torch.randn(N, device="cuda") * 0.05
    y = torch.empty_like(x)
    absmax = x.abs().max().item()
    rows = []

    def add(name, fn):
        ms = median_ms(fn)
        rows.append({"name": name, "median_ms": ms, "gb_per_s": 8 * N / ms / 1e6})

    add("copy", lambda: y.copy_(x))
    scale8 = absmax / 127
    add("fake_quantize_per_tensor_affine/INT_8",
        lambda: torch.fake_quantize_per_tensor_affine(x, scale8, 0, -127, 127))
    for bits in (4, 8):
        qmax = 2 ** (bits - 1) - 1
        s = absmax / qmax
        add(f"torch_ops_int_fq/INT_{bits}",
            lambda s=s, qmax=qmax: torch.mul(torch.round(torch.clamp(x / s, -qmax, qmax)), s))
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "elements": N, "repetitions": REPS, "results": rows}
    text = json.dumps(out, indent=2)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
