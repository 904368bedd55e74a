"""How well a short training ranks candidates: Kendall's tau of brief-training accuracy against longer training.

``--candidates`` random genotypes of ``--space`` (seeded) are trained at each short
fidelity of ``--fidelity`` and at the ``--reference`` fidelity, by the search's own brief
training (``nasbox.train.brief.train_model``: the recipe, the data path, the validation
split). For each short fidelity the script prints Kendall's tau of its validation
accuracies against the reference's (with ties: tau-b) and the median training seconds
per candidate; ``--repeat`` also trains the reference again with another seed, whose tau
against the first reference run is the most any short fidelity can reach (training's own
noise). Last it names the cheapest short fidelity whose tau is within 0.05 of the best's.

A fidelity is ``EPOCHSxBATCH`` or ``EPOCHSxBATCH@LR``; without ``@LR`` the learning rate
is scaled from ``--base-lr`` at batch 32 by the square root of the batch ratio (0.1 at
32, 0.4 at 512).

    python bench/fidelity.py --dataset cifar10 --data-dir DIR --device cuda --candidates 20 \\
        --fidelity 1x512,2x512,4x512 --reference 16x512 --repeat [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from nasbox.data import load_dataset
from nasbox.device import device_name, resolve_device
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model
from nasbox.report.fidelity import kendall_tau
from nasbox.search.config import BASE_LR, NO_AUGMENT, scaled_lr
from nasbox.search.propose import init_seed
from nasbox.spaces import get_space, parse_space_args
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig


def parse_fidelity(text: str, base_lr: float) -> tuple[float, int, float]:
    """``"2x512"`` -> (2.0, 512, base_lr * sqrt(512 / 32)) as a search scales it; ``"2x512@0.8"`` -> (2.0, 512, 0.8)."""
    budget, _, lr = text.strip().partition("@")
    epochs, _, batch = budget.partition("x")
    try:
        e, b = float(epochs), int(batch)
        rate = float(lr) if lr else base_lr / BASE_LR * scaled_lr(b)  # the search's rule
    except ValueError:
        raise SystemExit(f"fidelity: expected EPOCHSxBATCH[@LR] such as 2x512 or 2x512@0.4, got {text!r}") from None
    if e <= 0 or b < 1 or rate <= 0:
        raise SystemExit(f"fidelity: epochs, batch and learning rate must be positive, got {text!r}")
    return e, b, rate


def label(f: tuple[float, int, float]) -> str:
    return f"{f[0]:g} epoch{'s' if f[0] != 1 else ''} x batch {f[1]} (lr {f[2]:.3g})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="seed_cnn")
    p.add_argument("--space-arg", action="append", default=[], help="KEY=VALUE for the space (repeatable)")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir")
    p.add_argument("--subset", type=int, help="a stratified subset of N training images")
    p.add_argument("--device", default="auto")
    p.add_argument("--candidates", type=int, default=12)
    p.add_argument("--fidelity", default="1x32,2x32", help="comma-separated short fidelities")
    p.add_argument("--reference", default="8x32", help="the long fidelity the short ones are ranked against")
    p.add_argument("--base-lr", type=float, default=0.1, help="learning rate at batch 32 (scaled by sqrt(batch/32))")
    p.add_argument("--repeat", action="store_true", help="train the reference again with seed 1 (the noise ceiling)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    args = p.parse_args()
    short = [parse_fidelity(f, args.base_lr) for f in args.fidelity.split(",") if f.strip()]
    reference = parse_fidelity(args.reference, args.base_lr)
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir, subset=args.subset, seed=0).to(device)
    space = get_space(args.space, args=parse_space_args(args.space_arg)).bind(data.spec.input_shape,
                                                                              data.spec.num_classes)
    rng = random.Random(args.seed)
    archs = [space.sample_random(rng)[1] for _ in range(args.candidates)]
    augment = args.dataset not in NO_AUGMENT
    print(f"device {device_name(device)}; space {args.space} {' '.join(args.space_arg)}; dataset {args.dataset} "
          f"({len(data.train):,} train / {len(data.val):,} val); {len(archs)} candidates, MACs "
          f"{min(analyze(a).macs for a in archs) / 1e6:.2f}-{max(analyze(a).macs for a in archs) / 1e6:.2f} M",
          flush=True)

    def run(f: tuple[float, int, float], seed: int) -> tuple[list[float], list[float]]:
        config = TrainConfig(epochs=f[0], batch_size=f[1], lr=f[2], augment=augment, seed=seed)
        accuracy, seconds = [], []
        for arch in archs:
            model = build_model(arch, seed=init_seed(arch.arch_id, seed))
            t0 = time.perf_counter()
            accuracy.append(train_model(model, data.train, data.val, config, data.spec, device=device).accuracy)
            seconds.append(time.perf_counter() - t0)
        print(f"  trained at {label(f)}{' (seed 1)' if seed else ''}: accuracy {min(accuracy):.4f}-"
              f"{max(accuracy):.4f}, {statistics.median(seconds):.2f} s per candidate", flush=True)
        return accuracy, seconds

    ref_acc, ref_s = run(reference, 0)
    figures: dict = {"device": device_name(device), "torch_threads": torch.get_num_threads(), "space": args.space,
                     "space_args": args.space_arg, "dataset": args.dataset, "n_train": len(data.train),
                     "candidates": [a.encode() for a in archs], "reference": {
                         "fidelity": label(reference), "accuracy": ref_acc, "seconds": ref_s}, "short": []}
    if args.repeat:
        again, _ = run(reference, 1)
        figures["reference_repeat_tau"] = kendall_tau(ref_acc, again)
        print(f"reference against itself with another seed: Kendall tau {figures['reference_repeat_tau']:+.3f} "
              "(the ceiling of any short fidelity's)", flush=True)
    for f in short:
        acc, secs = run(f, 0)
        tau = kendall_tau(acc, ref_acc)
        figures["short"].append({"fidelity": label(f), "epochs": f[0], "batch_size": f[1], "lr": f[2], "tau": tau,
                                 "accuracy": acc, "seconds": secs, "median_s": statistics.median(secs)})
        print(f"fidelity {label(f)}: Kendall tau {tau:+.3f} against {label(reference)}; "
              f"{statistics.median(secs):.2f} s per candidate ({statistics.median(ref_s) / statistics.median(secs):.1f}x "
              "cheaper than the reference)", flush=True)
    if figures["short"]:
        best = max(s["tau"] for s in figures["short"])
        chosen = min((s for s in figures["short"] if s["tau"] >= best - 0.05), key=lambda s: s["median_s"])
        figures["chosen"] = chosen["fidelity"]
        lr = "" if chosen["lr"] == scaled_lr(chosen["batch_size"]) else f" --lr {chosen['lr']:g}"  # the default
        print(f"cheapest fidelity within 0.05 of the best tau ({best:+.3f}): {chosen['fidelity']}, "
              f"tau {chosen['tau']:+.3f}: nasbox search --epochs {chosen['epochs']:g} --batch-size "
              f"{chosen['batch_size']}{lr}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k not in ("candidates",)}), file=sys.stderr)


if __name__ == "__main__":
    main()
