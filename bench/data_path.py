"""Data path: nasbox's on-device training loop against the usual torchvision DataLoader loop.

Both train the same model (same init, batch size, optimiser, precision and memory format)
on CIFAR-10 for the same number of steps, with random crop (padding 4) and horizontal
flip; the baseline decodes and augments image by image with PIL transforms in a
``DataLoader`` (the way the torchvision tutorials do), nasbox slices uint8 tensors that
live on the device and augments whole batches there. Prints images per second and the
ratio. Target on CPU: >= 1.3x for a small CNN (ResNet-18 reported too).

    python bench/data_path.py --data-dir /tmp/cifar [--steps 40] [--device auto] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch
from _baseline import MinimalLoop

from nasbox.data import load_dataset, torchvision_loader
from nasbox.device import resolve_device
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig
from nasbox.zoo import get_zoo

warnings.filterwarnings("ignore")

SMALL_CNN = "i3x32x32n10 | cn_c32+max2 | cn_c64+max2 | cn_c128+max2 | cn_c256+max2 | gap"


def torchvision_loop(arch: Architecture, data, steps: int, batch_size: int, device: torch.device, workers: int) -> float:
    loop = MinimalLoop(arch, device)
    loader = torchvision_loader(data, batch_size, augment=True, num_workers=workers)
    done = 0
    t0 = None
    while done < steps + 2:
        for x, y in loader:
            if done == 2:  # the first batches pay for starting the workers
                loop.sync()
                t0 = time.perf_counter()
            loop.step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            done += 1
            if done == steps + 2:
                break
    loop.sync()
    return steps * batch_size / (time.perf_counter() - t0)


def nasbox_loop(arch: Architecture, data, steps: int, batch_size: int, device: torch.device) -> float:
    model = build_model(arch, seed=0)
    cfg = TrainConfig(iterations=steps, batch_size=batch_size)
    result = train_model(model, data.train, None, cfg, data.spec, device=device)
    return result.images_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder holding cifar-10-batches-py/")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--resnet-steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    p.add_argument("--json")
    args = p.parse_args()
    device = resolve_device(args.device)
    data = load_dataset("cifar10", data_dir=args.data_dir)
    data = type(data)(data.spec, data.train.to(device), data.val, data.test)
    rows = []
    for name, arch, steps in (("small CNN", Architecture.decode(SMALL_CNN), args.steps),
                              ("ResNet-18", get_zoo("resnet18"), args.resnet_steps)):
        nasbox_loop(arch, data, 2, args.batch_size, device)  # warm-up (kernel selection, allocator)
        ours = nasbox_loop(arch, data, steps, args.batch_size, device)
        base = torchvision_loop(arch, data, steps, args.batch_size, device, args.workers)
        rows.append({"model": name, "steps": steps, "nasbox_img_s": ours, "torchvision_img_s": base,
                     "ratio": ours / base})
        print(f"{name:10s} nasbox {ours:9.1f} img/s  torchvision DataLoader ({args.workers} workers) "
              f"{base:9.1f} img/s  ratio {ours / base:.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
