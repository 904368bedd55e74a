"""Trial overhead: a search trial's wall time over the bare training time of the same model.

Runs a seeded random search of N candidates through nasbox (sampling, analysis, fvcore and
thop counts, latency, training, validation, storage), then trains each candidate again in
a minimal PyTorch loop (same data on the same device, same steps, batch size, precision
and memory format; no augmentation, no evaluation, no bookkeeping), each in a fresh process
so that both pay for the first calls on the model's shapes, and prints the ratio of the two
wall times. Target: median <= 1.15 on CPU.

    python bench/trial_overhead.py [--dataset mnist5k] [--candidates 5] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from _baseline import MinimalLoop, normalizer

from nasbox.data import load_dataset
from nasbox.device import resolve_device
from nasbox.model.arch import Architecture
from nasbox.search import SearchConfig, run_search
from nasbox.train.recipe import resolve_budget

warnings.filterwarnings("ignore")


def bare_training(arch: Architecture, data, steps: int, batch_size: int, device: torch.device, seed: int) -> float:
    """Seconds for ``steps`` bare steps over seeded permutations of the training split."""
    loop = MinimalLoop(arch, device)
    normalise = normalizer(data, device)
    images, labels = data.train.images.to(device), data.train.labels.to(device)
    per_epoch = len(labels) // batch_size
    generator = torch.Generator(device=device).manual_seed(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(labels), device=device, generator=generator)
        idx = order[(step % per_epoch) * batch_size:(step % per_epoch + 1) * batch_size]
        loop.step(normalise(images[idx]), labels[idx])
    loop.sync()
    return time.perf_counter() - t0


def bare_in_fresh_process(arch: Architecture, args: argparse.Namespace, steps: int, batch_size: int) -> float:
    """The bare loop in a new process, so it pays for first-call kernel selection on the
    model's shapes as the search's trial did, instead of finding it cached."""
    cmd = [sys.executable, __file__, "--bare", arch.encode(), "--steps", str(steps), "--batch-size", str(batch_size),
           "--dataset", args.dataset, "--device", args.device, "--seed", str(args.seed)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bare", metavar="ENCODING", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir")
    p.add_argument("--candidates", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=None, help="default: the search's default")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.bare:  # child process: time the bare loop only
        data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)
        print(bare_training(Architecture.decode(args.bare), data, args.steps, args.batch_size, device, args.seed))
        return
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"batch_size": args.batch_size} if args.batch_size else {}
        cfg = SearchConfig(dataset=args.dataset, data_dir=args.data_dir, budget=args.candidates, sampler="random",
                           seed=args.seed, reports_dir=tmp, device=args.device, **extra)
        result = run_search(cfg)
        done = result.trials[result.trials["status"] == "complete"]
        archs = {a: Architecture.from_json((Path(tmp) / result.report_dir.name / "archs" / f"{a}.json").read_text())
                 for a in done["arch_id"]}
    cfg = cfg.with_defaults(resolve_device(args.device))
    data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)
    rows = []
    for _, row in done.iterrows():
        wall = (row["datetime_complete"] - row["datetime_start"]).total_seconds()
        budget = resolve_budget(len(data.train), cfg.batch_size, epochs=cfg.epochs, iterations=cfg.iterations)
        bare = bare_in_fresh_process(archs[row["arch_id"]], args, budget.iterations, cfg.batch_size)
        rows.append({"trial": int(row["number"]), "macs": int(row["macs"]), "trial_s": wall, "bare_s": bare,
                     "ratio": wall / bare})
        print(f"trial {row['number']}: {row['macs'] / 1e6:8.2f} MMACs  trial {wall:7.2f} s  bare {bare:7.2f} s  "
              f"ratio {wall / bare:.3f}", flush=True)
    median = statistics.median(r["ratio"] for r in rows)
    print(f"median trial/bare ratio over {len(rows)} candidates on {device}: {median:.3f} (target <= 1.15)")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "median_ratio": median, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
