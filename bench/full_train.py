"""Full training speed: `nasbox train`'s epoch time against a minimal hand-written loop.

Trains a network fully with nasbox (`full_train`: the recipe, checkpoints every epoch,
test accuracy once at the end), then times the same model in a minimal bf16 + channels_last
loop with the uint8 data already on the device (no augmentation, no evaluation, no
checkpoints), and prints test accuracy, seconds per epoch and the ratio.
Target: nasbox within 1.2x of the minimal loop (on a GPU).

    python bench/full_train.py --data-dir DIR [--zoo resnet18 | --study S --trial N] [--epochs 5] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from _baseline import MinimalLoop, normalizer

from nasbox.data import load_dataset
from nasbox.deploy.candidate import resolve_candidate
from nasbox.device import resolve_device
from nasbox.train.full import FullTrainConfig, full_train

warnings.filterwarnings("ignore")


def minimal_epoch_seconds(arch, data, batch_size: int, device: torch.device, epochs: int = 2) -> float:
    """Seconds per epoch of the bare loop (the first epoch is warm-up)."""
    loop = MinimalLoop(arch, device)
    normalise = normalizer(data, device)
    images, labels = data.train.images.to(device), data.train.labels.to(device)
    steps = len(labels) // batch_size
    times = []
    for _ in range(epochs + 1):
        loop.sync()
        t0 = time.perf_counter()
        order = torch.randperm(len(labels), device=device)
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loop.step(normalise(images[idx]), labels[idx])
        loop.sync()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / epochs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--zoo", action="append", default=[], help="zoo network(s) to train")
    p.add_argument("--study")
    p.add_argument("--trial", type=int)
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--json")
    args = p.parse_args()
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    candidates = [(name, resolve_candidate(zoo=name, dataset=data.spec)[0]) for name in args.zoo]
    if args.study is not None:
        arch, source = resolve_candidate(study=args.study, trial=args.trial, reports_dir=args.reports_dir)
        candidates.append((source, arch))
    rows = []
    for name, arch in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            result = full_train(arch, data, FullTrainConfig(epochs=args.epochs, batch_size=args.batch_size),
                                Path(tmp) / "model", device=device)
        per_epoch = [h["seconds"] for h in result.history]
        ours = sum(per_epoch[1:]) / max(1, len(per_epoch) - 1)  # the first epoch pays for warm-up
        bare = minimal_epoch_seconds(arch, data, args.batch_size, device)
        rows.append({"model": name, "encoding": arch.encode(), "epochs": args.epochs,
                     "test_accuracy": result.test_accuracy, "nasbox_s_per_epoch": ours, "minimal_s_per_epoch": bare,
                     "ratio": ours / bare})
        print(f"{name}: test accuracy {result.test_accuracy:.4f} after {args.epochs} epochs | nasbox {ours:.2f} s/epoch"
              f" | minimal loop {bare:.2f} s/epoch | ratio {ours / bare:.2f} (target <= 1.2)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
