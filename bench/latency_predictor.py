"""Latency predictor error: predicted (per-unit lookup table) against measured latency.

For each built-in space: a fresh, empty table; random candidates of the space (seeded);
the first few calibrate the table (``CALIBRATION_NETWORKS``, left out of the figures), then
for every other candidate the prediction is compared with the candidate's own measurement
(``nasbox.measure.measure_latency``, the search's timing; the median of ``--repeats``
measurements, each on a fresh copy of the model: on a shared machine one measurement of a
2-6 ms network can be 5-15 % off another of the same network). Prints per space the share of
candidates within +-10 % (target: 90 %), the median and 90th-percentile absolute error, how
many units a prediction had to measure, and the seconds a prediction took against a
measurement.

    python bench/latency_predictor.py [--spaces seed_cnn,resnet,mobilenet,efficientnet]
        [--candidates 40] [--seed 0] [--device cpu] [--threads 1] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasbox.measure.latency import measure_latency
from nasbox.measure.latency_table import CALIBRATION_NETWORKS, LatencyTable
from nasbox.model.build import build_model
from nasbox.spaces import get_space

SHAPES = {"seed_cnn": (1, 28, 28)}  # the default data's shape; the others at CIFAR's
DEFAULT_SHAPE = (3, 32, 32)


def run_space(name: str, n: int, seed: int, device: str, threads: int, repeats: int) -> dict:
    space = get_space(name, input_shape=SHAPES.get(name, DEFAULT_SHAPE), num_classes=10)
    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        table = LatencyTable.open(device, threads=threads, directory=Path(tmp))
        for i in range(CALIBRATION_NETWORKS + n):
            _, arch = space.sample_random(rng)
            model = build_model(arch, seed=0)
            t0 = time.perf_counter()
            pred = table.predict(arch, model)
            t1 = time.perf_counter()
            measured = statistics.median(measure_latency(model, arch.input_shape, device=device, threads=threads).median_ms
                                         for _ in range(repeats))
            t2 = time.perf_counter()  # for `repeats` measurements
            if i < CALIBRATION_NETWORKS:
                continue
            rows.append({"pred": pred.ms, "measured": measured, "error": pred.ms / measured - 1,
                         "new_units": pred.new_units, "units": pred.units, "predict_s": t1 - t0,
                         "measure_s": (t2 - t1) / repeats})
        scale, per_mparam = table.coefficients
        entries, overhead = len(table.entries), table.overhead_ms
    err = np.abs([r["error"] for r in rows])
    out = {
        "space": name, "candidates": len(rows), "within_10pct": float(np.mean(err <= 0.10)),
        "median_abs_error": float(np.median(err)), "p90_abs_error": float(np.quantile(err, 0.9)),
        "mean_signed_error": float(np.mean([r["error"] for r in rows])),
        "scale": scale, "ms_per_mparam_beyond_cache": per_mparam, "overhead_ms": overhead, "table_entries": entries,
        "new_units_per_candidate": statistics.mean(r["new_units"] for r in rows),
        "units_per_candidate": statistics.mean(r["units"] for r in rows),
        "new_units_last_half": statistics.mean(r["new_units"] for r in rows[len(rows) // 2:]),
        "predict_s_median": statistics.median(r["predict_s"] for r in rows),
        "measure_s_median": statistics.median(r["measure_s"] for r in rows),
        "latency_ms_range": [min(r["measured"] for r in rows), max(r["measured"] for r in rows)],
    }
    print(f"{name:13s} {out['within_10pct']:6.0%} within ±10% | median |err| {out['median_abs_error']:.1%} "
          f"p90 {out['p90_abs_error']:.1%} bias {out['mean_signed_error']:+.1%} | "
          + (f"{overhead:.3f} ms + {scale:.3f} x (units - {overhead:.3f} ms each) | " if overhead else
             f"{scale:.3f} x units + {per_mparam:.3f} ms/M weights beyond cache | ")
          + f"new units {out['new_units_per_candidate']:.1f}/{out['units_per_candidate']:.1f} "
          f"(last half {out['new_units_last_half']:.1f}) | predict {out['predict_s_median']:.3f} s vs measure "
          f"{out['measure_s_median']:.3f} s | latency {out['latency_ms_range'][0]:.2f}-{out['latency_ms_range'][1]:.2f} ms",
          flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", default="seed_cnn,resnet,mobilenet,efficientnet")
    p.add_argument("--candidates", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="measurements per candidate (their median is the truth)")
    p.add_argument("--json")
    args = p.parse_args()
    torch.manual_seed(0)
    results = [run_space(s, args.candidates, args.seed, args.device, args.threads, args.repeats) for s in args.spaces.split(",")]
    total = sum(r["candidates"] for r in results)
    within = sum(r["within_10pct"] * r["candidates"] for r in results) / total
    print(f"all spaces: {within:.0%} of {total} candidates within ±10% (target 90%)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
