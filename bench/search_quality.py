"""Search quality: hypervolume against trials and wall time, per search mode, over seeds.

Runs ``nasbox.search`` on one space, dataset and fidelity in several modes -- random
search, TPE, NSGA-II, TPE with ``--early-stop`` and TPE with ``--prescreen K`` -- for
several seeds, each run a study of ``--budget`` counted trials in its own folder and
process (``--jobs`` at a time, ``--threads`` torch threads each). Objectives: validation
accuracy and MACs (deterministic costs, so that the hypervolume measures the search and
not timing noise).

The hypervolume of a run after each counted trial uses one normalisation for all runs:
accuracy as it is (reference 0) and log10(MACs) scaled to [0, 1] between the smallest and
largest MACs of any trained candidate of any run (reference 1.1). Wall time is the time
from the run's first trial start to the trial's completion, so it includes everything a
trial costs (proxies of screened proposals, latency, counting, training).

The table shows per mode the hypervolume after 50 and after ``--budget`` trials (mean and
spread over seeds) and the trials and wall time each run needed to reach random search's
final hypervolume (mean over its seeds); "-" when a run never did; and the best accuracy
found after ``--budget`` queries (mean and spread over seeds).

On a table (``--table FILE.csv``, or ``--table synthetic``: the NAS-Bench-201 stand-in of
``bench/tables.py``) every candidate is looked up instead of trained (``--evaluator table:``),
so many seeds cost seconds: the space is ``nb201`` unless ``--space`` says otherwise, the
objective accuracy alone unless ``--objectives`` says otherwise, and the modes random, TPE,
NSGA-II, GP and TPE with pre-screening (early stopping has no meaning where nothing trains;
pre-screening's proxies need real images: give ``--dataset cifar10 --data-dir ...``). The
best accuracy after B queries is then set against random search's and the table's best.

    python bench/search_quality.py [--seeds 0,1,2] [--budget 100] [--jobs 2] [--threads 1]
        [--modes random,tpe,nsga2,tpe+early-stop,tpe+prescreen] [--prescreen 4] [--epochs 2]
        [--time-limit SECONDS] [--out DIR] [--json FILE]
    python bench/search_quality.py --table synthetic --seeds 0,1,...,9 --budget 100 --out DIR
    python bench/search_quality.py --analyse DIR   # the table of runs already in DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MODES = {
    "random": {"sampler": "random"},
    "tpe": {"sampler": "tpe"},
    "nsga2": {"sampler": "nsga2"},
    "gp": {"sampler": "gp"},
    "tpe+early-stop": {"sampler": "tpe", "early_stop": True},
    "tpe+prescreen": {"sampler": "tpe", "prescreen": None},  # K from --prescreen
}
DEFAULT_MODES = ("random", "tpe", "nsga2", "tpe+early-stop", "tpe+prescreen")
TABLE_MODES = ("random", "tpe", "nsga2", "gp", "tpe+prescreen")  # nothing trains: no early stopping
OBJECTIVES = ("accuracy", "macs")


def run_one(args: argparse.Namespace, mode: str, seed: int) -> None:
    """One search (called in a child process): mode and seed into ``<out>/<mode>-s<seed>``."""
    import torch

    from nasbox.search import SearchConfig, run_search

    torch.set_num_threads(args.threads)
    options = dict(MODES[mode])
    if "prescreen" in options:
        options["prescreen"] = args.prescreen
    if args.table:
        options.update(evaluator=f"table:{args.table}", classics=False, report_every=0)
    config = SearchConfig(space=args.space, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                          objectives=tuple(args.objectives.split(",")), seed=seed, budget=args.budget,
                          study=_folder(mode, seed), reports_dir=str(args.out), device="cpu", **options)
    start = time.perf_counter()
    run_search(config)
    print(f"{mode} seed {seed}: {args.budget} trials in {time.perf_counter() - start:.0f} s", flush=True)


def _launch(args: argparse.Namespace, mode: str, seed: int, deadline: float) -> int:
    """Run one search in a child process; killed at ``deadline`` (its finished trials stay)."""
    cmd = [sys.executable, __file__, "--child", mode, str(seed), "--budget", str(args.budget), "--space", args.space,
           "--dataset", args.dataset, "--epochs", str(args.epochs), "--threads", str(args.threads),
           "--prescreen", str(args.prescreen), "--out", str(args.out), "--objectives", args.objectives]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.table:
        cmd += ["--table", args.table]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    log = Path(args.out) / f"{_folder(mode, seed)}.log"
    with log.open("w") as fh:
        try:
            return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False,
                                  timeout=max(1.0, deadline - time.monotonic())).returncode
        except subprocess.TimeoutExpired:
            fh.write(f"stopped by --time-limit {args.time_limit} s\n")
            return -1


def _folder(mode: str, seed: int) -> str:
    return f"{mode.replace('+', '_')}-s{seed}"


def load_runs(out: Path) -> dict[tuple[str, int], list[dict]]:
    """Every run's counted trials in order: ``{(mode, seed): [{t, acc, macs}, ...]}``."""
    import optuna

    from nasbox.study.schema import counts_toward_budget
    from nasbox.study.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and (p / "journal.log").is_file()):
        name, _, seed = folder.name.rpartition("-s")
        mode = {m.replace("+", "_"): m for m in MODES}.get(name)
        if mode is None or not seed.isdigit():
            continue
        storage, _ = open_storage(None, folder)
        study = optuna.load_study(study_name=None, storage=storage)
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        start = min((t.datetime_start for t in trials if t.datetime_start), default=None)
        rows = []
        for t in trials:
            if not counts_toward_budget(t) or t.datetime_complete is None:
                continue
            a = t.user_attrs
            trained = a.get("status") in ("complete", "repeat") and a.get("accuracy") is not None
            rows.append({"t": (t.datetime_complete - start).total_seconds(),
                         "acc": float(a["accuracy"]) if trained else None,
                         "macs": float(a["macs"]) if trained else None})
        runs[(mode, int(seed))] = rows
    return runs


def hv_curves(runs: dict[tuple[str, int], list[dict]]) -> dict[tuple[str, int], list[float]]:
    """Hypervolume after each counted trial of each run, in the common normalisation."""
    from nasbox.study.pareto import hypervolume_history

    macs = [r["macs"] for rows in runs.values() for r in rows if r["macs"]] or [1.0]
    lo, hi = math.log10(min(macs)), math.log10(max(macs))
    span = max(hi - lo, 1e-9)
    curves = {}
    for key, rows in runs.items():
        points = [[r["acc"], (math.log10(r["macs"]) - lo) / span] if r["acc"] is not None else [0.0, 1.1]
                  for r in rows]  # a trial without accuracy adds nothing (it sits on the reference point)
        curves[key] = hypervolume_history(points, ["maximize", "minimize"], [0.0, 1.1]) if points else []
    return curves


def _reach(curve: list[float], rows: list[dict], target: float) -> tuple[int | None, float | None]:
    for i, hv in enumerate(curve):
        if hv >= target - 1e-12:
            return i + 1, rows[i]["t"]
    return None, None


def _best(rows: list[dict], budget: int) -> float:
    """The best accuracy among a run's first ``budget`` counted trials (0 when none was scored)."""
    return max((r["acc"] for r in rows[:budget] if r["acc"] is not None), default=0.0)


def analyse(out: Path, budget: int, json_path: str | None, table_best: float | None = None) -> dict:
    runs = load_runs(out)
    if not runs:
        raise SystemExit(f"error: no runs in {out}")
    curves = hv_curves(runs)
    modes = [m for m in MODES if any(k[0] == m for k in runs)]
    random_final = [curves[k][-1] for k in curves if k[0] == "random" and curves[k]]
    target = float(np.mean(random_final)) if random_final else float("nan")
    random_time = float(np.mean([runs[k][-1]["t"] for k in runs if k[0] == "random" and runs[k]] or [math.nan]))
    table = {}
    print(f"target: random search's mean hypervolume after its {budget} trials = {target:.4f}; "
          f"its mean wall time {random_time:.0f} s")
    print(f"{'mode':16s} {'runs':>4s} {'HV@50':>15s} {'HV@' + str(budget):>15s} {'wall s':>7s} "
          f"{'trials to target':>18s} {'time to target':>22s}")
    for mode in modes:
        keys = sorted(k for k in runs if k[0] == mode)
        at50 = [curves[k][min(50, len(curves[k])) - 1] for k in keys if curves[k]]
        final = [curves[k][-1] for k in keys if curves[k]]
        wall = [runs[k][-1]["t"] for k in keys if runs[k]]
        reach = [_reach(curves[k], runs[k], target) for k in keys]
        n_trials = [r[0] for r in reach]
        seconds = [r[1] for r in reach]
        done = [n for n in n_trials if n is not None]
        secs = [s for s in seconds if s is not None]
        best = [_best(runs[k], budget) for k in keys]
        trials_txt = ",".join("-" if n is None else str(n) for n in n_trials)
        time_txt = ",".join("-" if s is None else f"{s / random_time:.2f}" for s in seconds)
        print(f"{mode:16s} {len(keys):4d} {np.mean(at50):.4f}±{np.std(at50):.4f} {np.mean(final):.4f}±{np.std(final):.4f} "
              f"{np.mean(wall):7.0f} {trials_txt:>18s} {time_txt:>22s}  best acc {np.mean(best):.4f}±{np.std(best):.4f}")
        table[mode] = {"seeds": [k[1] for k in keys], "hv_at_50": at50, "hv_final": final, "wall_s": wall,
                       "trials_to_target": n_trials, "seconds_to_target": seconds,
                       "median_trials_to_target": float(np.median(done)) if len(done) == len(keys) else None,
                       "median_time_fraction": float(np.median(secs) / random_time) if len(secs) == len(keys) else None,
                       "trials": [len(runs[k]) for k in keys], "best_accuracy": best}
    print("time to target is a fraction of random search's mean wall time; one entry per seed")
    random_best = float(np.mean(table["random"]["best_accuracy"])) if "random" in table else math.nan
    print(f"best accuracy after {budget} queries (mean over seeds), against random search's {random_best:.4f}"
          + (f" and the table's best {table_best:.4f} (regret in brackets)" if table_best is not None else "") + ":")
    for mode, row in table.items():
        mean = float(np.mean(row["best_accuracy"]))
        regret = f" (regret {table_best - mean:.4f})" if table_best is not None else ""
        wins = sum(b > random_best for b in row["best_accuracy"])
        print(f"  {mode:16s} {mean:.4f}  {mean - random_best:+.4f} vs random{regret}; {wins}/{len(row['best_accuracy'])} "
              f"seeds above random's mean")
    result = {"target_hv": target, "random_wall_s": random_time, "budget": budget, "table_best": table_best,
              "random_best_accuracy": random_best, "modes": table}
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", help=f"default: {','.join(DEFAULT_MODES)} ({','.join(TABLE_MODES)} with --table)")
    p.add_argument("--table", help="score by a table (FILE.csv, or 'synthetic': bench/tables.py's NAS-Bench-201 one)")
    p.add_argument("--objectives", help="default: accuracy,macs (accuracy with --table)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--space", default="seed_cnn")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--prescreen", type=int, default=4)
    p.add_argument("--jobs", type=int, default=1, help="runs at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--time-limit", type=float, default=math.inf,
                   help="seconds for all runs; a run still going then is stopped and analysed as far as it got")
    p.add_argument("--out", default="search-quality")
    p.add_argument("--json")
    p.add_argument("--analyse", metavar="DIR", help="only print the table of the runs in DIR")
    p.add_argument("--child", nargs=2, metavar=("MODE", "SEED"), help=argparse.SUPPRESS)
    args = p.parse_args()
    args.objectives = args.objectives or ("accuracy" if args.table else ",".join(OBJECTIVES))
    table_best = None
    if args.table:
        if args.space == "seed_cnn":
            args.space = "nb201"
        if args.dataset == "mnist5k":
            args.dataset = "synthetic"  # the input shape and classes only: nothing trains
        if args.table == "synthetic":
            args.table = str(Path(args.out).resolve() / "nb201-synthetic.csv")
            if not args.child and not Path(args.table).exists():
                sys.path.insert(0, str(Path(__file__).resolve().parent))
                from tables import nb201_table

                Path(args.out).mkdir(parents=True, exist_ok=True)
                nb201_table(args.table)
        from nasbox.evaluate.table import read_table

        table_best = max(r["accuracy"] for r in read_table(args.table).values())
    if args.child:
        run_one(args, args.child[0], int(args.child[1]))
        return
    if args.analyse:
        analyse(Path(args.analyse), args.budget, args.json, table_best)
        return
    modes = (args.modes or ",".join(TABLE_MODES if args.table else DEFAULT_MODES)).split(",")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"error: unknown modes {unknown}; choose from {', '.join(MODES)}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    jobs = [(m, int(s)) for s in args.seeds.split(",") for m in modes]
    start = time.perf_counter()
    deadline = time.monotonic() + args.time_limit
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        codes = list(pool.map(lambda job: _launch(args, *job, deadline), jobs))
    failed = [_folder(m, s) for (m, s), code in zip(jobs, codes, strict=True) if code]
    print(f"{len(jobs)} runs in {time.perf_counter() - start:.0f} s" + (f"; failed: {failed}" if failed else ""))
    analyse(Path(args.out), args.budget, args.json, table_best)


if __name__ == "__main__":
    main()
