"""Zero-cost proxies against trained accuracy: Spearman correlation on a built-in space.

Samples N random candidates of a space (Optuna's RandomSampler, seeded), scores each with
the proxies on one batch of 64 training images (no training), trains each briefly with the
search's recipe (1 epoch, batch 32, no augmentation) and prints each proxy's Spearman rank
correlation with the validation accuracy, the combined rank's, and the time per proxy.
Published on NAS-Bench-201 CIFAR-10: synflow 0.74, jacob_cov 0.73 (Abdelfattah et al., 2021,
"Zero-Cost Proxies for Lightweight NAS", over all 15,625 cells).

With ``--table FILE.csv`` (an ``nb201`` table, as for ``--evaluator table:``) the accuracy is the
table's instead of a brief training: the space is ``nb201`` unless ``--space`` says otherwise,
and the figures printed are comparable with the published ones when the table is NAS-Bench-201's
CIFAR-10 accuracy and the images are CIFAR-10's (``--dataset cifar10 --data-dir ...``). The
candidates are then the table's own cells (a table may hold a sample of the space, as
``nb201-cifar10-dev.csv`` does), the first ``--candidates`` of them in the seeded order of
``bench/supernet_nb201.py --cells`` (so that the two benchmarks score the same cells), and
``--json`` keeps each cell's scores (not the table's accuracy).
``--table synthetic`` uses ``bench/tables.py``'s stand-in, a fixed function of the cell: its
correlations say how the proxies rank that function, not NAS-Bench-201.

    python bench/proxies.py [--space seed_cnn] [--dataset mnist5k] [--candidates 60] [--seed 1]
    python bench/proxies.py --table ../shared/data/nb201-cifar10-dev.csv --dataset cifar10 --data-dir DIR \
        --candidates 1000
        [--space-arg cells=1]   # a smaller skeleton around the same cells (the table's accuracy is the cell's)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import optuna
import pandas as pd
import torch

from nasbox.data import eval_batches, load_dataset
from nasbox.measure.proxies import DEFAULT_PROXIES, PROXIES, mean_proxy_ranks
from nasbox.model.build import build_model
from nasbox.report.fidelity import kendall_tau
from nasbox.spaces import get_space, parse_space_args
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="seed_cnn")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir")
    p.add_argument("--candidates", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--table", help="accuracy from this table (or 'synthetic') instead of training")
    p.add_argument("--space-arg", action="append", default=[], metavar="KEY=VALUE", help="a bound of the space")
    p.add_argument("--json")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cpu = torch.device("cpu")
    lookup = None
    cells: list[str] = []  # a table's own cells, in bench/supernet_nb201.py's seeded order
    if args.table:
        from nasbox.evaluate.table import read_table

        if args.space == "seed_cnn":
            args.space = "nb201"
        if args.table == "synthetic":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from tables import nb201_table

            args.table = "nb201-synthetic.csv"
            if not Path(args.table).exists():
                nb201_table(args.table)
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from supernet_nb201 import read_table as table_rows

            cells = [arch for arch, _ in table_rows(Path(args.table), args.candidates, 0)]
        lookup = read_table(args.table)
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    space = get_space(args.space, input_shape=data.spec.input_shape, num_classes=data.spec.num_classes,
                      args=parse_space_args(args.space_arg))
    batch = next(eval_batches(data.train, data.spec, 64))[0]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    rows = []
    for i in range(len(cells) if cells else args.candidates):
        arch = space.parse_arch(cells[i]) if cells else space.sample(study.ask())
        row = {"i": i, "encoding": arch.encode()}
        model = build_model(arch, seed=0)
        for name in DEFAULT_PROXIES:
            t0 = time.perf_counter()
            row[name] = PROXIES[name](model, batch)
            row[f"{name}_s"] = time.perf_counter() - t0
        row["scores"] = {n: row[n] if math.isfinite(row[n]) else -math.inf for n in DEFAULT_PROXIES}  # as score_proxies
        if lookup is not None:
            row["accuracy"], row["train_s"] = lookup[space.arch_string(arch)]["accuracy"], 0.0
        else:
            result = train_model(build_model(arch, seed=0), data.train, data.val,
                                 TrainConfig(epochs=1, batch_size=32, augment=False), data.spec, device=cpu)
            row["accuracy"] = result.accuracy
            row["train_s"] = result.seconds
        rows.append(row)
        shown = "" if cells else f"acc {row['accuracy']:.4f} "  # a table's accuracies are not copied into the output
        print(f"{i:3d} {shown}" + " ".join(f"{n} {row[n]:.3g}" for n in DEFAULT_PROXIES), flush=True)
    df = pd.DataFrame(rows)
    df["combined"] = mean_proxy_ranks(list(df["scores"]), DEFAULT_PROXIES)
    out = {}
    for name in (*DEFAULT_PROXIES, "combined"):
        ranked = [float(v) if math.isfinite(v) else -1e300 for v in df[name]]  # no score (nan, -inf): lowest, in both
        rho = pd.Series(ranked).corr(df["accuracy"], method="spearman")
        tau = kendall_tau(ranked, list(df["accuracy"]))
        seconds = df[f"{name}_s"].median() if f"{name}_s" in df else float("nan")
        out[name] = {"spearman": rho, "kendall_tau": tau, "median_seconds": seconds}
        published = {"synflow": " (published on NAS-Bench-201 CIFAR-10: 0.74)",
                     "jacob_cov": " (published on NAS-Bench-201 CIFAR-10: 0.73)"}.get(name, "") if lookup else ""
        print(f"{name:10s} Spearman {rho:+.3f}  Kendall tau {tau:+.3f}  median {seconds:.3f} s per candidate{published}")
    print(f"median training time per candidate {df['train_s'].median():.2f} s")
    if args.json:
        kept = [{"arch": cells[r["i"]], **{n: r[n] for n in DEFAULT_PROXIES}} for r in rows] if cells else []
        Path(args.json).write_text(json.dumps({**out, "argv": sys.argv[1:], **({"cells": kept} if kept else {})},
                                              indent=2))


if __name__ == "__main__":
    main()
