#!/usr/bin/env python3
"""PyTorch baselines for bench/elementwise_bench, measured the same way on the same machine.

Times, with CUDA events after a warm-up, the median of REPS runs (torch_fake_quant.median_ms) at
elementwise_bench's shapes:
  copy                          y.copy_(x) at 256 x 192 x 32 x 32, 8 bytes per element
  relu_forward/<shape>          torch.relu(x) (a new output from the caching allocator, as in
                                training), 8 bytes per element
  relu_backward/<shape>         torch.ops.aten.threshold_backward(dy, y, 0) (what autograd runs
                                for ReLU), 12 bytes per element
  add/<shape>                   torch.add(a, b, out=y), 12 bytes per element
  accumulate/<shape>            y.add_(dy), 12 bytes per element
  concat/inception_inc1_...     torch.cat of 128 + 192 + 96 + 64 channels at 32 x 32, batch 256,
                                along channels, out=y: 8 bytes per output element
Writes JSON to the path given (or stdout) with GB/s = bytes / median time.
Usage: torch_elementwise.py [OUT.json]
"""
import json
import sys

import torch

from torch_fake_quant import REPS, median_ms  # CUDA-event median after a warm-up, same as there

SHAPES = {
    "inception_192x32x32_b256": (256, 192, 32, 32),
    "inception_128x16x16_b256": (256, 128, 16, 16),
    "resnet50_256x32x32_b256": (256, 256, 32, 32),
}
CAT_CHANNELS = (128, 192, 96, 64)


def main():
    torch.manual_seed(9)
    rows = []

    def add(name, fn, bytes_moved):
        ms = median_ms(fn)
        rows.append({"name": name, "median_ms": ms, "gb_per_s": bytes_moved / ms / 1e6})

    for name, shape in SHAPES.items():
        a = torch.randn(shape, device="cuda") * 3
        b = torch.randn(shape, device="cuda") * 3
        dy = torch.randn(shape, device="cuda")
        y = torch.empty_like(a)
        n = a.numel()
        if name == "inception_192x32x32_b256":
            add("copy", lambda: y.copy_(a), 8 * n)
        add(f"relu_forward/{name}", lambda: torch.relu(a), 8 * n)
        r = torch.relu(a)
        add(f"relu_backward/{name}",
            lambda: torch.ops.aten.threshold_backward(dy, r, 0.0), 12 * n)
        add(f"add/{name}", lambda: torch.add(a, b, out=y), 12 * n)
        add(f"accumulate/{name}", lambda: y.add_(dy), 12 * n)
        del a, b, dy, y, r
    parts = [torch.randn(256, c, 32, 32, device="cuda") for c in CAT_CHANNELS]
    out = torch.empty(256, sum(CAT_CHANNELS), 32, 32, device="cuda")
    add("concat/inception_inc1_480x32x32_b256", lambda: torch.cat(parts, dim=1, out=out),
        8 * out.numel())
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "repetitions": REPS, "results": rows}
    text = json.dumps(result, indent=2)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
