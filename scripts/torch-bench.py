#!/usr/bin/env python3
"""PyTorch timings for the benchmark's CPU comparison (issue 16): the forward pass, and the forward pass plus the
gradient of the target logit with respect to the input (what a gradient x input explanation costs), of the same
architectures as src/bench/models.ts (BatchNorm folded: every conv has a bias; torchvision is not needed).

Usage: python3 scripts/torch-bench.py <model> [--runs N] [--warmup N] [--threads N]
  model: resnet18-112, resnet50-112, resnet18, resnet50 (the size suffix is the input side, default 224)
  --threads: torch.set_num_threads (default: PyTorch's own choice)
Prints one JSON object: model, torch version, threads, and per measurement the median / min / max in ms.
Run by the benchmark with --torch (src/bench/torch-reference.ts)."""
import json
import statistics
import sys
import time

import torch
from torch import nn


class Basic(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1)
        self.downsample = nn.Conv2d(cin, width, 1, stride) if stride != 1 or cin != width else None
        self.out = width

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1)
        self.conv3 = nn.Conv2d(width, width * 4, 1)
        self.downsample = nn.Conv2d(cin, width * 4, 1, stride) if stride != 1 or cin != width * 4 else None
        self.out = width * 4

    def forward(self, x):
        y = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


def resnet(block, counts):
    layers = [nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for s, (width, n) in enumerate(zip([64, 128, 256, 512], counts)):
        for b in range(n):
            blk = block(c, width, 2 if b == 0 and s > 0 else 1)
            layers.append(blk)
            c = blk.out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1000)]
    return nn.Sequential(*layers)


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    name = argv[0]
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 10
    warmup = int(argv[argv.index("--warmup") + 1]) if "--warmup" in argv else 2
    if "--threads" in argv:
        torch.set_num_threads(int(argv[argv.index("--threads") + 1]))
    arch, _, side = name.partition("-")
    size = int(side) if side else 224
    if arch == "resnet18":
        model = resnet(Basic, [2, 2, 2, 2])
    elif arch == "resnet50":
        model = resnet(Bottleneck, [3, 4, 6, 3])
    else:
        print(f"unknown model {name}", file=sys.stderr)
        return 2
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(7)
    x = torch.rand(1, 3, size, size) * 4 - 2

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        # The gradient with respect to the input only (torch.autograd.grad, as Zennit's attributors ask for it):
        # no weight gradients are computed.
        xi = x.clone().requires_grad_(True)
        out = model(xi)
        (grad,) = torch.autograd.grad(out[0, int(out[0].argmax())], xi)
        return grad

    result = {
        "model": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "forward": timed(forward, runs, warmup),
        "forward+gradient": timed(gradient, runs, warmup),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
