#!/usr/bin/env python3
"""PyTorch baseline for bench/forward_bench: the study's networks in PyTorch, timed the same way.

The modules are built from the same definitions as models/model_tables.cpp (DESIGN.md section 2),
written here as PyTorch layers: AlexNet, AlexNet_BN, VGG_16, VGG_19, Inception_BN, ResNet_18/50/152,
MobileNetV2. Each model's parameter count is printed next to the time so it can be checked against
`ptqbench models`. Eval mode, NCHW float32, random weights, normal(0, 1) input on the GPU; CUDA-event
timing of one forward of a batch after a warm-up, median of REPS runs, under torch.no_grad().
Math settings:
  default  PyTorch's defaults: cuDNN may use TF32 (torch.backends.cudnn.allow_tf32 = True),
           matmul strict FP32, cudnn.benchmark off (heuristic algorithm choice)
  fp32     strict FP32 everywhere, cudnn.benchmark on (measured algorithm choice, like ours)
  tf32     TF32 for convolutions and matmuls, cudnn.benchmark on
Usage: torch_forward.py [OUT.json] [--models AlexNet_BN,ResNet_18,VGG_16] [--batches 128,1024]
"""
import argparse
import json

import torch
from torch import nn

from torch_fake_quant import REPS, median_ms  # CUDA-event median after a warm-up, same as there


def cbr(cin, cout, k, s=1, p=0, bias=True, bn=True, act=nn.ReLU, groups=1):
    layers = [nn.Conv2d(cin, cout, k, s, p, bias=bias, groups=groups)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if act is not None:
        layers.append(act())
    return layers


def alexnet(bn):
    ch = [3, 32, 64, 128, 256, 256]
    layers = []
    for i in range(5):
        layers += cbr(ch[i], ch[i + 1], 3, 1, 1, bn=bn)
        if i < 2:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.MaxPool2d(3, 2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(2304, 1024), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def vgg(channels):
    layers, cin = [], 3
    for c in channels:
        if c == 0:
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += cbr(cin, c, 3, 1, 1)
            cin = c
    layers += [nn.Flatten(), nn.Linear(512, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096),
               nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 10)]
    return nn.Sequential(*layers)


class Inception(nn.Module):
    def __init__(self, cin, b1, b2r, b2, b3r, b3, b4):
        super().__init__()
        self.br0 = nn.Sequential(*cbr(cin, b1, 1, bias=False))
        self.br1 = nn.Sequential(*cbr(cin, b2r, 1, bias=False), *cbr(b2r, b2, 3, 1, 1, bias=False))
        self.br2 = nn.Sequential(*cbr(cin, b3r, 1, bias=False), *cbr(b3r, b3, 5, 1, 2, bias=False))
        self.br3 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.ReLU(), *cbr(cin, b4, 1, bias=False))

    def forward(self, x):
        return torch.cat([self.br0(x), self.br1(x), self.br2(x), self.br3(x)], 1)


def inception_bn():
    t = [(64, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), None,
         (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
         (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
         (528, 256, 160, 320, 32, 128, 128), None, (832, 256, 160, 320, 32, 128, 128),
         (832, 384, 192, 384, 48, 128, 128)]
    layers = [nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU()]
    layers += [Inception(*r) if r else nn.MaxPool2d(3, 2, 1) for r in t]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(1024, 10, 1), nn.Flatten()]
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, cin, planes, stride, bottleneck):
        super().__init__()
        out = 4 * planes if bottleneck else planes
        if bottleneck:
            self.ma = nn.Sequential(*cbr(cin, planes, 1), *cbr(planes, planes, 3, stride, 1),
                                    *cbr(planes, out, 1, act=None))
        else:
            self.ma = nn.Sequential(*cbr(cin, planes, 3, stride, 1), *cbr(planes, planes, 3, 1, 1, act=None))
        self.ds = (nn.Sequential(*cbr(cin, out, 1, stride, act=None))
                   if stride != 1 or cin != out else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.ma(x) + self.ds(x))


def resnet(bottleneck, blocks):
    layers, cin = cbr(3, 16, 3, 1, 1), 16
    for planes, n, stride in zip((16, 32, 64, 128), blocks, (1, 2, 2, 2)):
        for j in range(n):
            layers.append(Residual(cin, planes, stride if j == 0 else 1, bottleneck))
            cin = 4 * planes if bottleneck else planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, hidden, stride, residual):
        super().__init__()
        self.ma = nn.Sequential(*cbr(cin, hidden, 1, act=nn.ReLU6),
                                *cbr(hidden, hidden, 3, stride, 1, act=nn.ReLU6, groups=hidden),
                                *cbr(hidden, cout, 1, act=None))
        self.residual = residual

    def forward(self, x):
        y = self.ma(x)
        return x + y if self.residual else y


def mobilenet_v2():
    stages = [(1, 32, 16, 32, 1, 0), (2, 16, 24, 96, 2, 144), (3, 24, 32, 144, 2, 192),
              (3, 32, 96, 192, 1, 576), (3, 96, 160, 576, 2, 960), (1, 160, 320, 960, 1, 0)]
    layers = cbr(3, 32, 3, 1, 1, act=nn.ReLU6)
    for blocks, cin, cout, hidden, stride, hidden_rest in stages:
        layers.append(InvertedResidual(cin, cout, hidden, stride, False))
        for _ in range(blocks - 1):
            layers.append(InvertedResidual(cout, cout, hidden_rest, 1, True))
    layers += [nn.Conv2d(320, 1280, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 10)]
    return nn.Sequential(*layers)


MODELS = {
    "AlexNet": lambda: alexnet(False),
    "AlexNet_BN": lambda: alexnet(True),
    "VGG_16": lambda: vgg([64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]),
    "VGG_19": lambda: vgg([64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
                           512, 512, 512, 512, 0]),
    "Inception_BN": inception_bn,
    "ResNet_18": lambda: resnet(False, (2, 2, 2, 2)),
    "ResNet_50": lambda: resnet(True, (3, 4, 6, 3)),
    "ResNet_152": lambda: resnet(True, (3, 8, 36, 3)),
    "MobileNetV2": mobilenet_v2,
}


def set_math(mode):
    torch.backends.cudnn.benchmark = mode != "default"
    torch.backends.cudnn.allow_tf32 = mode in ("default", "tf32")
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="128,1024")
    args = ap.parse_args()
    torch.manual_seed(7)
    results = []
    for name in args.models.split(","):
        model = MODELS[name]().cuda().eval()
        params = sum(p.numel() for p in model.parameters())
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.randn(batch, 3, 32, 32, device="cuda")
            for mode in ("default", "fp32", "tf32"):
                set_math(mode)
                with torch.no_grad():
                    assert model(x).shape == (batch, 10)
                    ms = median_ms(lambda: model(x))
                row = {"model": name, "batch": batch, "math": mode, "median_ms": ms,
                       "images_per_second": batch / ms * 1e3, "params": params}
                results.append(row)
                print(f"{name:13s} batch {batch:5d} {mode:8s} {ms:8.3f} ms  "
                      f"{row['images_per_second']:12.0f} img/s  params {params}", flush=True)
        del model
        torch.cuda.empty_cache()
    doc = {"context": {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "cudnn": torch.backends.cudnn.version(), "reps": REPS}, "results": results}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    else:
        print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
