"""How well a one-shot NAS-Bench-201 supernet ranks cells: Kendall's tau against a table of trained accuracies.

1. Trains the one-shot supernet of ``nb201`` (``--space-arg`` bounds, e.g. a reduced skeleton) on ``--dataset``
   with the code of ``nasbox supernet train``, timed: process CPU time and wall time (a resumed run adds its
   own to what ``cost.json`` in the supernet's folder recorded).
2. Scores ``--cells`` cells of ``--table`` (a CSV of ``arch``, ``accuracy``: NAS-Bench-201 arch strings and
   their trained accuracy), a seeded random subset of its rows (all with ``--cells 0``), through the
   ``supernet`` evaluator a search uses (inherited weights, BatchNorm recalibrated, validation accuracy).
   ``--bn`` and ``--recalibrate-on`` score with other BatchNorm statistics (ablations; ``--score-only``
   scores a trained supernet again, without the prior). As a search does by default (``--prior auto``), each
   estimate is also joined with the cell's parameter count and synflow score (:mod:`nasbox.supernet.prior`; its
   64 reference subnets are scored first, once per supernet), and both are kept (``estimate``, the supernet's own,
   and ``joined``, what the search ranks by, with the cell's ``synflow``); ``--prior none`` scores with the
   supernet alone, ``--prior params`` joins the parameter count only.
3. Prints Kendall's tau (tau-b) and Spearman's rho of the estimates against the table, over all scored cells
   and over the connected ones (a disconnected cell's network computes a constant), with the same for the
   cells' parameter counts as a free baseline, the same for the estimates joined with the prior (of a run without
   it: what the prior makes of its estimates with the scored cells as its reference), and the scoring time per
   cell.

    python bench/supernet_nb201.py --table ../shared/data/nb201-cifar10-dev.csv --dataset cifar10 \\
        --data-dir /tmp/cifar --subset 20000 --space-arg cells=1 --epochs 20 --sampling fair \\
        --cells 500 --out /tmp/nb201-sn --json bench/runs/supernet-nb201-X.json

The figures include Kendall's tau among the 100 cells the table ranks highest and, per op, how much the
estimates over- or underrate cells that hold it. ``--json`` writes the figures and every scored cell (arch,
estimate, params, whether connected, seconds), not the table's accuracies (join them from ``--table`` by arch);
``--figures-of RUN.json`` prints a run's figures again from it; ``--figures-of A.json B.json ...`` those of the mean
of several runs' estimates, which is what ``--evaluator supernet:A,B,...`` scores with their supernets. ``--shard K/N``
scores every N-th cell from the K-th, so that N processes (``--score-only``) score a trained supernet side by side;
``--figures-of`` given their N JSON files prints the figures of the whole run they make up; ``--first N`` and ``--skip N``
the figures of a run's first N cells and of the others; ``--synflow-of`` (``bench/proxies.py --table ... --json``) what
the ``params+synflow`` prior makes of a run scored without a prior.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import torch

from nasbox.data import eval_batches, load_dataset
from nasbox.device import device_name, resolve_device
from nasbox.evaluate import Candidate, EvalContext, make_evaluator
from nasbox.files import atomic_write
from nasbox.model.analysis import analyze
from nasbox.report.fidelity import kendall_tau
from nasbox.spaces import get_space, parse_space_args
from nasbox.study.schema import Attr
from nasbox.supernet.checkpoint import init_folder
from nasbox.supernet.prior import PRIORS, ParamsPrior
from nasbox.supernet.train import SupernetConfig, train_supernet
from nasbox.supernet.weights import calibration_batches
from nasbox.train.brief import evaluate


def ranks(values: list[float]) -> list[float]:
    """Ranks from 0, ties sharing their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks (ties: average ranks)."""
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx, sy = sum((a - mx) ** 2 for a in rx) ** 0.5, sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (sx * sy) if sx and sy else None


def read_table(path: Path, cells: int, seed: int) -> list[tuple[str, float]]:
    """``cells`` rows of the table in a seeded random order (0: all, in the table's order): the first ``cells`` of the
    whole table shuffled, so that the first N rows of a larger ``cells`` are those of ``cells=N`` with the same seed,
    and a run of the whole table in that order (``cells`` its length) holds the smaller runs' cells first."""
    with path.open(newline="") as f:
        rows = [(r["arch"], float(r["accuracy"])) for r in csv.DictReader(f)]
    if cells:  # the whole table shuffled, then its first cells (for 300 of 1,000: sample(rows, 300)'s very cells)
        rows = random.Random(seed).sample(rows, len(rows))[:cells]
    return rows


def train(args: argparse.Namespace, space, data, device) -> dict:
    """Train (or resume) the supernet; its cost, accumulated over the runs that trained it, in ``cost.json``."""
    config = SupernetConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, sampling=args.sampling,
                            paths=args.paths, accumulate=args.accumulate, affine_bn=args.affine_bn,
                            split=args.few_shot, split_epoch=args.split_epoch,
                            calibration_images=args.calibration_images, init=args.init or "",
                            seed=args.seed)
    out = Path(args.out)
    cost_file = out / "cost.json"
    source = Path(init_folder(args.init)) / "cost.json" if args.init else None  # absent where the CLI trained it
    before = json.loads(source.read_text()) if source and source.exists() else {"cpu_s": 0.0, "wall_s": 0.0}
    cost = json.loads(cost_file.read_text()) if cost_file.exists() and not args.restart else {"cpu_s": 0.0, "wall_s": 0.0}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = train_supernet(space, data, config, out, device=device, resume=not args.restart,
                            progress=lambda e: e["event"] == "epoch" and print(
                                f"  epoch {e['epoch']}/{e['epochs']}: loss {e['loss']:.4f}, val {e['val_accuracy']:.4f} "
                                f"(mean of {e.get('subnets_scored')} random subnets), {e['seconds']:.0f} s", flush=True))
    cost = {"cpu_s": cost["cpu_s"] + time.process_time() - cpu0, "wall_s": cost["wall_s"] + time.perf_counter() - wall0}
    cost_file.write_text(json.dumps(cost) + "\n")
    if args.init:  # the supernet it started from counts: its cost is part of this one's
        cost = {**cost, "own_cpu_s": cost["cpu_s"], "cpu_s": cost["cpu_s"] + before["cpu_s"],
                "wall_s": cost["wall_s"] + before["wall_s"]}
    return {**cost, "epochs": args.epochs, "history": result.history,
            "train_images": len(data.train), "val_images": len(data.val)}


def batch_statistics(member, data, device, arch, batch_size: int = 500) -> float:
    """Validation accuracy with every BatchNorm normalising by its batch's statistics (no running ones)."""
    model = member.supernet.extract(arch)
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train()
    correct = 0
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=member.bf16):
        for x, y in eval_batches(data.val, data.spec, batch_size, device=device, channels_last=member.channels_last):
            correct += int((model(x).argmax(1) == y).sum())
    return correct / len(data.val)


def score(args: argparse.Namespace, space, data, device, rows: list[tuple[str, float]], figures: dict,
          save=lambda scored: None) -> list[dict]:
    """Each row's cell scored; ``save(scored)`` every 50 cells, so that a run stopped early keeps what it scored."""
    ablation = args.bn != "recalibrate" or args.recalibrate_on
    if ablation and args.prior == "params":  # its reference was scored otherwise than these cells
        raise SystemExit("--bn and --recalibrate-on score without the prior: --prior none (or auto)")
    context = EvalContext(data.to(device), device, None, 1, args.batch_size, args.lr, False, args.seed,
                          argument=str(args.out), options={"supernet_prior": "none" if ablation else args.prior},
                          space=space)
    evaluator = make_evaluator(f"supernet:{args.out}", context)
    t0 = time.perf_counter()
    if evaluator.prior is not None:  # made (its reference subnets scored) or read from beside the checkpoint
        figures["prior"] = {**evaluator.prior._asdict(), "seconds": time.perf_counter() - t0}
        print(f"prior: {evaluator.prior.text()}; {figures['prior']['seconds']:.0f} s", flush=True)
    member = evaluator.members[0]
    data = context.data
    if args.recalibrate_on:  # another calibration set than the supernet's (an ablation of its size)
        member.images = args.recalibrate_on
        member.calibration = calibration_batches(data.train, data.spec, args.recalibrate_on, seed=args.seed,
                                                 channels_last=member.channels_last)
    scored = []
    for i, (text, accuracy) in enumerate(rows):
        arch = space.parse_arch(text)
        info = analyze(arch)
        t0 = time.perf_counter()
        joined = {}
        if args.bn == "recalibrate":  # what the search does
            evaluation = evaluator.evaluate(Candidate(arch, info, 0))
            estimate = evaluation.details.get(Attr.INHERITED_ACCURACY, evaluation.accuracy)
            if evaluator.prior is not None:  # what the search ranks by: the estimate joined with the prior
                joined = {"joined": evaluation.accuracy}
            if Attr.SYNFLOW in evaluation.details:  # the prior's third source, as a baseline
                joined["synflow"] = evaluation.details[Attr.SYNFLOW]
        elif args.bn == "running":  # the supernet's own running statistics, shared by every path
            estimate = evaluate(member.supernet.extract(arch), data.val, data.spec, device=device,
                                bf16=member.bf16, channels_last=member.channels_last)
        else:
            estimate = batch_statistics(member, data, device, arch)
        scored.append({"arch": text, "table": accuracy, "estimate": estimate, **joined, "params": info.params,
                       "connected": not any(b.ignores_input() for _, s in arch.named_stages() for b in s.blocks),
                       "seconds": time.perf_counter() - t0})
        if (i + 1) % 50 == 0:
            key = "joined" if joined else "estimate"
            tau = kendall_tau([c[key] for c in scored], [c["table"] for c in scored])
            print(f"  scored {i + 1}/{len(rows)}: tau so far {tau:+.3f}{' (joined with the prior)' * bool(joined)}",
                  flush=True)
            save(scored)
    return scored


TOP = 100  # the cells the table ranks highest, where a search's choice is made


def correlations(scored: list[dict], prior: dict | None = None) -> dict:
    """The figures of scored cells; ``prior``, the run's (``figures["prior"]``): with synflow, also how its two sources
    rank the cells joined without the supernet (``sizes``: the prior applied to every cell's median estimate)."""
    out = {}
    keys = ["estimate", "params"]
    if scored and "joined" in scored[0]:  # scored with the prior, as a search scores: the estimates joined with it
        keys.append("joined")
        if "synflow" in scored[0]:  # the prior's synflow score alone (None, no flow: ranked last)
            keys.append("synflow")
            if prior and prior.get("synflow_median") is not None:
                own = ParamsPrior(**{k: prior[k] for k in ParamsPrior._fields})
                scored = [{**c, "sizes": own.apply(own.estimate_median, c["params"], c["synflow"])} for c in scored]
                keys.append("sizes")
    elif scored:  # scored without it: what the prior would make of them, its reference these very cells
        prior = ParamsPrior.of([c["estimate"] for c in scored], [c["params"] for c in scored])
        scored = [{**c, "joined_here": prior.apply(c["estimate"], c["params"])} for c in scored]
        keys.append("joined_here")
        if "synflow" in scored[0]:  # given by --synflow-of: the params+synflow prior too, its reference these cells
            flow = ParamsPrior.of([c["estimate"] for c in scored], [c["params"] for c in scored],
                                  [c["synflow"] for c in scored])
            scored = [{**c, "joined_here_flow": flow.apply(c["estimate"], c["params"], c["synflow"])} for c in scored]
            keys += ["joined_here_flow", "synflow"]
    best = sorted(scored, key=lambda c: -c["table"])[:TOP] if len(scored) >= 2 * TOP else []
    connected = [c for c in scored if c["connected"]]
    for label, cells in (("all", scored), ("connected", connected), (f"top{TOP}", best)):
        if not cells:
            continue
        table = [c["table"] for c in cells]
        for key in keys:
            values = [-math.inf if c[key] is None else float(c[key]) for c in cells]
            out[f"tau_{key}_{label}"] = kendall_tau(values, table)
            out[f"rho_{key}_{label}"] = spearman(values, table)
        out[f"cells_{label}"] = len(cells)
    # which operations the estimates favour: Spearman's rho of a cell's count of an op with how many places the
    # estimate ranks it above the table (connected cells; > 0: cells with more of it are overrated)
    residual = [a - b for a, b in zip(ranks([c["estimate"] for c in connected]),
                                      ranks([c["table"] for c in connected]), strict=True)]
    ops = sorted({op for c in connected for op in re.findall(r"\|([a-z0-9_]+)~\d", c["arch"])})
    out["overrated_by_op"] = {op: spearman([float(len(re.findall(rf"\|{op}~", c["arch"]))) for c in connected],
                                           residual) for op in ops}
    return out


def shard(text: str) -> tuple[int, int]:
    """``K/N``: the K-th of N interleaved parts of the scored cells."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"{text!r}: K must be 0 to N-1")
    return k, n


def out_of(run: dict) -> str | None:
    argv = run.get("argv", [])
    return argv[argv.index("--out") + 1] if "--out" in argv else None


def joined_shards(runs: list[dict]) -> list[dict]:
    """Runs that each scored one ``--shard`` of the same cells of one supernet, as the one run they make up: the cells
    in their unsharded order, the CPU time summed, the wall time the longest (they ran side by side). Of shards still
    scoring (or stopped), the cells up to the first one a shard has not scored yet."""
    if not any("shard" in r for r in runs):
        return runs
    if not all("shard" in r for r in runs):
        raise SystemExit("some runs scored a --shard and some did not: give the shards of one run only")
    n, total = runs[0]["shard"][1:]
    parts = {r["shard"][0]: r for r in runs if r["shard"][1:] == [n, total]}
    if len(runs) != n or sorted(parts) != list(range(n)):
        raise SystemExit(f"the shards of one run are 0/{n} to {n - 1}/{n}, each once: got "
                         + ", ".join(f"{k}/{m}" for k, m, _ in (r["shard"] for r in runs)))
    if len({out_of(r) for r in runs}) > 1:
        raise SystemExit("the shards scored different supernets (--out)")
    cells = []
    for i in range(total):
        if i // n >= len(parts[i % n]["cells"]):
            break
        cells.append(parts[i % n]["cells"][i // n])
    seconds = sorted(c["seconds"] for c in cells)
    first = {k: v for k, v in parts[0].items() if k not in ("shard", "partial")}
    return [{**first, **({"partial": True} if any(r.get("partial") for r in runs) else {}), "cells": cells, "shards": n,
             "scoring": {"cpu_s": sum(r["scoring"]["cpu_s"] for r in runs),
                         "wall_s": max(r["scoring"]["wall_s"] for r in runs), "per_cell_s": seconds[len(seconds) // 2]}}]


def figures_of(runs: list[dict], accuracy: dict[str, float], first_cells: int = 0, skip_cells: int = 0,
               synflows: dict[str, float | None] | None = None) -> dict:
    """The figures of committed runs' cells joined with the table; of several runs, of the mean of their estimates
    (cell by cell; they must have scored the same cells) and the scoring and training costs summed. The shards of one
    run (``--shard``) are joined into it first. ``first_cells``: of the first that many cells each run scored only;
    ``skip_cells``: of those after the first that many (the cells a smaller ``--cells`` did not score). ``synflows``
    (``--synflow-of``, by arch): of runs scored without a prior, what the ``params+synflow`` prior makes of them too."""
    runs = joined_shards(runs)
    for r in runs:
        if r.get("partial"):
            print(f"a run still scoring or stopped: its first {len(r['cells'])} cells", flush=True)
    if first_cells:
        if any(len(r["cells"]) < first_cells for r in runs):
            raise SystemExit(f"a run scored fewer than {first_cells} cells")
        runs = [{**r, "cells": r["cells"][:first_cells]} for r in runs]
    if skip_cells:
        if any(len(r["cells"]) <= skip_cells for r in runs):
            raise SystemExit(f"a run scored no more than {skip_cells} cells: nothing after them")
        runs = [{**r, "cells": r["cells"][skip_cells:]} for r in runs]
    first = runs[0]
    if any([c["arch"] for c in r["cells"]] != [c["arch"] for c in first["cells"]] for r in runs):
        raise SystemExit("the runs scored different cells: an ensemble's figures need the same --cells and --cells-seed")
    if len(runs) > 1:
        for r in runs:  # the mean is the evaluator's only for runs scored as a search scores, once each
            argv = r.get("argv", [])
            if "--recalibrate-on" in argv or ("--bn" in argv and argv[argv.index("--bn") + 1] != "recalibrate"):
                raise SystemExit(f"a run scored otherwise than a search scores ({' '.join(argv)}): leave it out")
        if len({json.dumps(r["cells"]) for r in runs}) < len(runs):
            raise SystemExit("a run is given twice (or two runs scored the same): each supernet counts once")
    # several runs: the mean of their own estimates; the prior a search would join it with is not theirs (it fits one
    # to the mean), so what the prior makes of it is figured with the cells as its reference
    cells = [{**{k: v for k, v in c.items() if len(runs) == 1 or k != "joined"},
              "estimate": sum(r["cells"][i]["estimate"] for r in runs) / len(runs), "table": accuracy[c["arch"]]}
             for i, c in enumerate(first["cells"])]
    if synflows is not None:
        if "joined" in cells[0]:
            raise SystemExit("--synflow-of is for runs scored without a prior: this run's estimates are joined already")
        if any(c["arch"] not in synflows for c in cells):
            raise SystemExit("--synflow-of lacks some of the runs' cells")
        cells = [{**c, "synflow": synflows[c["arch"]]} for c in cells]
    run = {k: v for k, v in first.items() if not k.startswith(("tau_", "rho_", "cells_", "overrated_"))}
    if len(runs) > 1:
        costs = [r.get("supernet", {}).get("own_cpu_s", r.get("supernet", {}).get("cpu_s")) for r in runs]
        cost = ("unknown (a run scored a supernet it did not train)" if None in costs else
                f"{sum(costs) / 60:.1f} CPU min in all"
                + (" (of --init runs, their own part)" if any("own_cpu_s" in r.get("supernet", {}) for r in runs) else ""))
        print(f"the mean of {len(runs)} runs' estimates; their training {cost}", flush=True)
        run["scoring"] = {**{key: sum(r["scoring"][key] for r in runs) for key in ("cpu_s", "wall_s")},
                          "per_cell_s": sum(r["scoring"]["per_cell_s"] for r in runs), "summed": True}
    return {**run, **correlations(cells, first.get("prior") if len(runs) == 1 else None)}


def show(figures: dict) -> None:
    print(f"Kendall tau of the supernet's estimates against the table: {figures['tau_estimate_all']:+.3f} over "
          f"{figures['cells_all']} cells ({figures['tau_estimate_connected']:+.3f} over the "
          f"{figures['cells_connected']} connected); Spearman {figures['rho_estimate_all']:+.3f}", flush=True)
    prior = figures.get("prior", {})
    with_flow = " and synflow's" if prior.get("synflow_median") is not None else ""
    for key, what in (("joined", f"joined with the parameter count's{with_flow} prior, as a search ranks them"),
                      ("joined_here", "joined with the parameter count's prior, its reference these cells (a "
                                      "search's: random subnets)"),
                      ("joined_here_flow", "joined with the parameter count's and synflow's prior, its reference these "
                                           "cells")):
        if f"tau_{key}_all" in figures:
            print(f"{what}: tau {figures[f'tau_{key}_all']:+.3f} ({figures[f'tau_{key}_connected']:+.3f} connected); "
                  f"Spearman {figures[f'rho_{key}_all']:+.3f}", flush=True)
    print(f"baseline, parameter count: tau {figures['tau_params_all']:+.3f} ({figures['tau_params_connected']:+.3f} "
          f"connected); Spearman {figures['rho_params_all']:+.3f}", flush=True)
    if "tau_synflow_all" in figures:
        print(f"baseline, synflow: tau {figures['tau_synflow_all']:+.3f} ({figures['tau_synflow_connected']:+.3f} "
              f"connected); Spearman {figures['rho_synflow_all']:+.3f}", flush=True)
    if "tau_sizes_all" in figures:
        print(f"the prior without the supernet (parameter count and synflow joined): tau {figures['tau_sizes_all']:+.3f} "
              f"({figures['tau_sizes_connected']:+.3f} connected); Spearman {figures['rho_sizes_all']:+.3f}", flush=True)
    if f"tau_estimate_top{TOP}" in figures:
        own = "".join(f", {what} {figures[f'tau_{key}_top{TOP}']:+.3f}" for key, what in (
            ("synflow", "synflow"), ("sizes", "the prior without the supernet"), ("joined", "joined with the prior"),
            ("joined_here", "joined with the prior"), ("joined_here_flow", "joined with params+synflow"))
            if f"tau_{key}_top{TOP}" in figures)
        print(f"among the {TOP} cells the table ranks highest: tau {figures[f'tau_estimate_top{TOP}']:+.3f} "
              f"(parameter count {figures[f'tau_params_top{TOP}']:+.3f}{own})", flush=True)
    print("over- (+) or underrated (-) with each op, Spearman of its count with the rank error: " + ", ".join(
        f"{op} {rho:+.2f}" for op, rho in figures["overrated_by_op"].items() if rho is not None), flush=True)
    median = "the runs' medians summed" if figures["scoring"].get("summed") else "median"
    print(f"scoring: {figures['scoring']['per_cell_s']:.2f} s per cell ({median}), "
          f"{figures['scoring']['cpu_s'] / 60:.1f} CPU min, {figures['scoring']['wall_s'] / 60:.1f} min wall in all",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", required=True, help="CSV of arch (NAS-Bench-201 arch string) and accuracy")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-dir")
    p.add_argument("--subset", type=int, help="training images taken (seeded, stratified) before the validation split")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--space-arg", action="append", default=[])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--sampling", default="auto", choices=("auto", "uniform", "fair"))
    p.add_argument("--paths", type=int, default=1)
    p.add_argument("--accumulate", default="auto", choices=("auto", "mean", "sum"))
    p.add_argument("--affine-bn", action="store_true")
    p.add_argument("--few-shot", default="", metavar="PARAM", help="split on this parameter (node1.in0)")
    p.add_argument("--split-epoch", type=int, default=0)
    p.add_argument("--init", help="start from this supernet's weights (the cost.json of its folder, where this script "
                                  "trained it, counts in this cost)")
    p.add_argument("--calibration-images", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cells", type=int, default=500,
                   help="table rows scored, a seeded random sample in its seeded order (0: all, in the table's order); "
                        "the first N of a larger sample are those of --cells N")
    p.add_argument("--cells-seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="/tmp/nasbox-bench-supernet-nb201", help="the supernet's folder")
    p.add_argument("--restart", action="store_true", help="train afresh instead of resuming --out")
    p.add_argument("--score-only", action="store_true", help="score the supernet in --out as it is")
    p.add_argument("--recalibrate-on", type=int, help="score with BatchNorm recalibrated on this many training "
                                                      "images instead of the supernet's own setting")
    p.add_argument("--bn", choices=("recalibrate", "running", "batch"), default="recalibrate",
                   help="BatchNorm statistics a path is scored with: recalibrated (the search's), the supernet's "
                        "running ones, or each validation batch's own (batches of 500)")
    p.add_argument("--prior", choices=PRIORS, default="auto",
                   help="the search's --supernet-prior: the estimates also joined with the parameter count's prior "
                        "(auto: for this one-shot supernet, as a search does), kept as each cell's 'joined'")
    p.add_argument("--shard", type=shard, metavar="K/N",
                   help="score only the K-th of N interleaved parts of the cells (from 0), so that N processes score "
                        "them side by side; --figures-of joins their JSON into one run's figures")
    p.add_argument("--json")
    p.add_argument("--figures-of", metavar="JSON", nargs="+",
                   help="print the figures of a run's --json again (with those added since), joined with --table; "
                        "nothing is trained or scored. Several runs that scored the same cells: the figures of the mean "
                        "of their estimates, which is what --evaluator supernet:A,B,... scores with their supernets")
    p.add_argument("--first", type=int, default=0, metavar="N",
                   help="with --figures-of: the figures of the first N cells each run scored (with --cells M >= N, "
                        "those of --cells N)")
    p.add_argument("--skip", type=int, default=0, metavar="N",
                   help="with --figures-of: the figures of the cells after the first N each run scored (with --cells "
                        "1000, those that --cells N did not score)")
    p.add_argument("--synflow-of", metavar="JSON",
                   help="with --figures-of, of runs scored without a prior: bench/proxies.py's --json of the table's "
                        "cells, whose synflow scores give what the params+synflow prior makes of the estimates (its "
                        "reference the scored cells)")
    args = p.parse_args()
    if args.figures_of:
        accuracy = dict(read_table(Path(args.table), 0, 0))
        flows = None
        if args.synflow_of:  # bench/proxies.py --json of the table's cells: their synflow (no flow: None)
            flows = {c["arch"]: c["synflow"] if math.isfinite(c["synflow"]) else None
                     for c in json.loads(Path(args.synflow_of).read_text())["cells"]}
        show(figures_of([json.loads(Path(f).read_text()) for f in args.figures_of], accuracy, args.first, args.skip,
                        flows))
        return
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir, subset=args.subset, val_fraction=args.val_fraction,
                        seed=0)
    space = get_space("nb201", input_shape=data.spec.input_shape, num_classes=data.spec.num_classes,
                      args=parse_space_args(args.space_arg))
    figures: dict = {"device": device_name(device), "torch_threads": torch.get_num_threads(), "argv": sys.argv[1:],
                     "space_args": args.space_arg}
    print(f"device {figures['device']}, {figures['torch_threads']} torch thread(s); nb201 {' '.join(args.space_arg)}; "
          f"{args.dataset} {len(data.train)} train / {len(data.val)} val", flush=True)
    if not args.score_only:
        figures["supernet"] = train(args, space, data, device)
        own = f" (this run {figures['supernet']['own_cpu_s'] / 60:.1f}, from {args.init})" if args.init else ""
        print(f"supernet: {args.epochs} epochs, {figures['supernet']['cpu_s'] / 60:.1f} CPU min{own}, "
              f"{figures['supernet']['wall_s'] / 60:.1f} min wall", flush=True)
    rows = read_table(Path(args.table), args.cells, args.cells_seed)
    if args.shard:
        figures["shard"] = [*args.shard, len(rows)]
        rows = rows[args.shard[0]::args.shard[1]]
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def finish(scored: list[dict], partial: bool = True) -> None:
        figures["scoring"] = {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
                              "per_cell_s": sorted(c["seconds"] for c in scored)[len(scored) // 2]}
        figures.update(correlations(scored, figures.get("prior")))
        if args.json:  # while scoring, what it scored so far (marked partial), replaced by the whole at the end
            cells = [{k: v for k, v in c.items() if k != "table"} for c in scored]  # the table is not copied
            atomic_write(args.json, json.dumps({**figures, **({"partial": True} if partial else {}), "cells": cells},
                                                         indent=1) + "\n")

    scored = score(args, space, data, device, rows, figures, save=finish)
    finish(scored, partial=False)
    show(figures)


if __name__ == "__main__":
    main()
