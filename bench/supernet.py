"""A supernet against standalone brief training: rank correlation, throughput and the confirmed front.

1. Trains the supernet of ``--space`` on ``--dataset`` (the code of ``nasbox supernet train``), timed.
2. A standalone search of ``--standalone`` trials: random sampler, brief training at the search's default
   fidelity, objectives accuracy, MACs and parameters; timed. Its trials are ``--standalone`` random subnets
   trained standalone.
3. Scores each of those subnets with inherited weights (BatchNorm recalibrated), timed: Kendall's tau between
   inherited and standalone accuracy, and subnets scored per hour against standalone trials per hour (the
   evaluation alone: recalibration + validation against brief training; and whole trials, latency and
   counting included).
4. A supernet search (``--evaluator supernet:``, TPE, ``--budget`` trials, then ``--confirm K``), timed.
5. The hypervolume of the supernet search's confirmed front (standalone accuracies of its confirmed trials)
   against the standalone search's front, one reference point for both (accuracy 0; MACs and parameters
   1.1 x the largest of either, each cost divided by it), with both wall times: the supernet side's
   includes the supernet's training.

    python bench/supernet.py [--dataset mnist5k] [--space mobilenet] [--space-arg K=V ...] [--epochs 8]
        [--standalone 50] [--budget 200] [--confirm 5] [--device auto] [--search-batch-size 32] [--out DIR]
        [--json FILE] [--subset N] [--standalone-epochs E] [--random-subnets K] [--accumulate mean|sum]
        [--calibration-images N] [--val-fraction F] [--supernet-seed S]

On CIFAR-10 on a CPU (the figures of bench/RESULTS.md): ``--dataset cifar10 --data-dir DIR --subset 10000
--val-fraction 0.5 --standalone-epochs 8 --standalone 20 --budget 0``, then the same with ``--noise``: the
reference is then the mean of two 8-epoch standalone runs scored on 5,000 validation images, a reference that
itself ranks (its two runs agree at tau +0.62; earlier measurements used ``--subset 5000 --standalone-epochs 4``,
500 validation images). ``--budget 0`` stops after the rank correlation and the scoring speed.

Prints one line per figure; ``--json`` writes them all. Rerun with another ``--epochs`` or ``--schedule`` into the
same ``--out``: the standalone search is kept (resumed to its budget), and so is ``--noise``'s second standalone
run (``standalone-seed1.json``); the supernet and its search are made afresh.

``--reference-only`` trains the reference alone, without a supernet: the standalone search, and with ``--noise``
its second run. Started several times on one ``--out`` (one process per core, beside a supernet's training), the
processes share the work: the search's workers its budget, the second run its subnets (each claimed by one
process; the figures' own ``--noise`` run trains whatever a process that died left).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

from nasbox import search
from nasbox.data import Data, load_dataset
from nasbox.device import device_name, resolve_device
from nasbox.evaluate import Candidate, EvalContext, make_evaluator
from nasbox.files import update_file
from nasbox.model.analysis import analyze
from nasbox.report.fidelity import kendall_tau
from nasbox.spaces import SearchSpace, get_space, parse_space_args
from nasbox.study.pareto import hypervolume, non_dominated_mask
from nasbox.study.schema import Attr, TrialStatus
from nasbox.study.storage import open_study
from nasbox.supernet.prior import PRIORS
from nasbox.supernet.train import SupernetConfig, train_supernet

#: the CPU defaults, by space: four MobileNetV2 stages, narrowed so that a standalone brief trial takes under a
#: minute on 2 cores (mnist5k); three ResNet stages of about the same training cost; the choices a supernet
#: cannot share (the activation, the number of stages) fixed
CPU_SPACES = {
    "mobilenet": ("activations=relu6", "channels=16,24,32,64", "strides=1,2,2,2", "width_mults=0.25,0.35,0.5",
                  "kernels=3,5", "expansions=2,3,4", "depth_max=2", "last_channels=256", "stem_channels=16"),
    "resnet": ("activations=relu", "stages_min=3", "stages_max=3", "depth_max=2", "widths=8,12,16", "kernels=3,5"),
}
OBJECTIVES = ("accuracy", "macs", "params")
DIRECTIONS = ("maximize", "minimize", "minimize")


def _seconds(t) -> float:
    return (t.datetime_complete - t.datetime_start).total_seconds()


def _wall(trials) -> float:
    """From the first trial's start to the last one's end."""
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()


def _tau(value: float | None) -> str:
    """A Kendall's tau as printed; ``None`` where it is undefined (fewer than two subnets, or all tied)."""
    return "undefined" if value is None else f"{value:+.3f}"


def _done(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(Attr.STATUS) == TrialStatus.COMPLETE]


def _points(trials) -> list[list[float]]:
    return [[t.user_attrs[Attr.ACCURACY], t.user_attrs[Attr.MACS], t.user_attrs[Attr.PARAMS]] for t in trials]


def _front_hv(points: list[list[float]], reference: list[float]) -> float:
    scaled = [[p[0], p[1] / reference[1], p[2] / reference[2]] for p in points]
    front = [p for p, keep in zip(scaled, non_dominated_mask(scaled, DIRECTIONS), strict=True) if keep]
    return hypervolume(front, DIRECTIONS, [0.0, 1.0, 1.0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir")
    p.add_argument("--space", default="mobilenet")
    p.add_argument("--space-arg", action="append", default=None)
    p.add_argument("--subset", type=int, help="a stratified subset of N training images (CIFAR-10 on a CPU)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="the share of those images held out to validate on (the search's --val-fraction; more "
                        "validation images, less of the reference's rank noise)")
    p.add_argument("--epochs", type=int, default=8, help="supernet epochs")
    p.add_argument("--standalone-epochs", type=float, help="the standalone subnets' training (default: the search's "
                                                           "default fidelity); the reference should itself rank")
    p.add_argument("--random-subnets", type=int, default=2, help="random subnets per sandwich step")
    p.add_argument("--accumulate", choices=("mean", "sum"), default="mean",
                   help="the sandwich's gradients averaged (the default) or summed (BigNAS, Once-for-All)")
    p.add_argument("--calibration-images", type=int, default=256,
                   help="training images BatchNorm statistics are re-estimated on before a subnet is scored")
    p.add_argument("--schedule", choices=("all", "progressive"), default="all",
                   help="the supernet's elastic choices: all from the start, or progressive shrinking")
    p.add_argument("--batch-size", type=int, default=64, help="supernet batch size")
    p.add_argument("--supernet-seed", type=int, default=0,
                   help="the supernet's seed (initialisation, sampled subnets, order); the reference keeps its own")
    p.add_argument("--prior", choices=PRIORS, default="auto",
                   help="the search's --supernet-prior (auto: none for an elastic supernet); with one, the figures "
                        "give the estimates joined with it too")
    p.add_argument("--search-batch-size", type=int, default=32, help="brief training's batch size (the search's "
                                                                     "default 32; larger on a GPU)")
    p.add_argument("--standalone", type=int, default=50, help="trials of the standalone random search")
    p.add_argument("--budget", type=int, default=200, help="trials of the supernet search (0: stop after the "
                                                           "rank correlation and the scoring speed)")
    p.add_argument("--confirm", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="/tmp/nasbox-bench-supernet")
    p.add_argument("--json")
    p.add_argument("--noise", action="store_true",
                   help="instead: train the standalone search's subnets again with another seed, and give Kendall's "
                        "tau between the two standalone runs (the ceiling of any estimate's) and of the supernet in "
                        "--out against each")
    p.add_argument("--reference-only", action="store_true",
                   help="train only the reference (the standalone search; with --noise, its second run too), no "
                        "supernet; several such processes on one --out share the work")
    args = p.parse_args()
    space_args = args.space_arg if args.space_arg is not None else list(CPU_SPACES.get(args.space, ()))
    out = Path(args.out)
    net = out / "supernets" / "net"
    common = {"dataset": args.dataset, "data_dir": args.data_dir, "subset": args.subset, "val_fraction": args.val_fraction,
              "epochs": args.standalone_epochs, "space_args": parse_space_args(space_args),
              "objectives": OBJECTIVES, "reports_dir": str(out), "classics": False, "report_every": 0,
              "device": args.device, "batch_size": args.search_batch_size}
    if args.reference_only:
        search(args.space, study="standalone", sampler="random", budget=args.standalone, **common)
        if args.noise:
            second_run(args, *_bound(args, space_args), out, _done(open_study("standalone", reports_dir=out)), claim=True)
        return None
    if args.noise:
        return noise(args, space_args, out, net)
    for stale in (net, out / "supernet"):  # a new supernet: its search starts afresh (the standalone one is kept)
        shutil.rmtree(stale, ignore_errors=True)
    device = resolve_device(args.device)
    figures: dict = {"device": device_name(device), "space": args.space, "space_args": space_args,
                     "dataset": args.dataset, "torch_threads": torch.get_num_threads()}
    print(f"device {figures['device']}, {torch.get_num_threads()} torch threads; space {args.space} "
          f"{' '.join(space_args)}; dataset {args.dataset}", flush=True)

    # 1. the supernet
    data = _data(args)
    space = get_space(args.space, args=parse_space_args(space_args))
    t0 = time.perf_counter()
    config = SupernetConfig(epochs=args.epochs, batch_size=args.batch_size, schedule=args.schedule,
                            random_subnets=args.random_subnets, calibration_images=args.calibration_images,
                            accumulate=args.accumulate, seed=args.supernet_seed)
    trained = train_supernet(space, data, config, net, device=device, resume=False)
    figures["supernet_train_s"], figures["schedule"] = time.perf_counter() - t0, args.schedule
    figures.update(supernet_seed=args.supernet_seed,
                   random_subnets=args.random_subnets, calibration_images=args.calibration_images, subset=args.subset,
                   standalone_epochs=args.standalone_epochs, accumulate=args.accumulate)
    last = trained.history[-1]
    figures["supernet_val_largest"], figures["supernet_val_smallest"] = last["val_accuracy"], last["val_accuracy_smallest"]
    print(f"supernet ({args.schedule} choices): {args.epochs} epochs in {figures['supernet_train_s']:.0f} s; "
          f"val accuracy largest {last['val_accuracy']:.4f}, smallest {last['val_accuracy_smallest']:.4f}", flush=True)

    # 2. the standalone random search (resumed, so kept, when --out holds it already: it does not depend on
    #    the supernet; its wall time is its trials')
    search(args.space, study="standalone", sampler="random", budget=args.standalone, **common)
    standalone = _done(open_study("standalone", reports_dir=out))
    figures["standalone_wall_s"] = _wall(open_study("standalone", reports_dir=out).get_trials(deepcopy=False))
    train_s = [t.user_attrs[Attr.TRAIN_SECONDS] for t in standalone]
    print(f"standalone search: {args.standalone} trials in {figures['standalone_wall_s']:.0f} s "
          f"({len(standalone)} trained)", flush=True)

    # 3. the same subnets with inherited weights
    bound = space.bind(data.spec.input_shape, data.spec.num_classes)
    on_device = data.to(device)
    evaluator = make_evaluator(f"supernet:{net}", EvalContext(on_device, device, None, 1, 32, 0.1, False, 0,
                                                              options={"supernet_prior": args.prior}, space=bound))
    evaluator.prior  # noqa: B018 - made (with a prior) before the scoring is timed
    inherited, joined, eval_s = [], [], []
    for t in standalone:
        arch = bound.from_params(t.params)
        t1 = time.perf_counter()
        evaluation = evaluator.evaluate(Candidate(arch, analyze(arch), 0))
        eval_s.append(time.perf_counter() - t1)
        inherited.append(evaluation.details.get(Attr.INHERITED_ACCURACY, evaluation.accuracy))  # the supernet's own
        joined.append(evaluation.accuracy)  # what the search ranks by (with a prior: joined with it)
    accuracy = [t.user_attrs[Attr.ACCURACY] for t in standalone]
    figures["kendall_tau"] = kendall_tau(inherited, accuracy)
    figures["kendall_tau_params"] = kendall_tau([t.user_attrs[Attr.PARAMS] for t in standalone], accuracy)
    if evaluator.prior is not None:
        figures["kendall_tau_joined"] = kendall_tau(joined, accuracy)
    figures["subnets"] = len(standalone)
    figures["standalone_accuracy_range"] = [min(accuracy), max(accuracy)]
    figures["inherited_accuracy_range"] = [min(inherited), max(inherited)]
    figures["inherited_eval_s"] = statistics.median(eval_s)
    figures["standalone_train_s"] = statistics.median(train_s)
    figures["eval_speedup"] = figures["standalone_train_s"] / figures["inherited_eval_s"]
    print(f"Kendall tau (inherited vs standalone accuracy, {len(standalone)} random subnets): "
          f"{_tau(figures['kendall_tau'])}; standalone accuracy {min(accuracy):.4f}-{max(accuracy):.4f}, "
          f"inherited {min(inherited):.4f}-{max(inherited):.4f}; the parameter count alone "
          f"{_tau(figures['kendall_tau_params'])}"
          + (f"; joined with the prior {_tau(figures['kendall_tau_joined'])}" if "kendall_tau_joined" in figures
             else ""), flush=True)
    print(f"scoring: inherited {figures['inherited_eval_s']:.2f} s (median) = {3600 / figures['inherited_eval_s']:,.0f} "
          f"subnets/hour; standalone brief training {figures['standalone_train_s']:.1f} s = "
          f"{3600 / figures['standalone_train_s']:,.0f}/hour; ratio {figures['eval_speedup']:.1f}x", flush=True)

    if args.budget == 0:
        return _write(args, figures)

    # 4. the supernet search, then its confirmations
    search(args.space, study="supernet", sampler="tpe", budget=args.budget, evaluator=f"supernet:{net}",
           confirm=args.confirm, **common)
    trials = open_study("supernet", reports_dir=out).get_trials(deepcopy=False)
    figures["supernet_search_wall_s"] = _wall(trials)
    estimated = [t for t in trials if t.user_attrs.get(Attr.EVALUATOR) == "supernet"
                 and t.user_attrs.get(Attr.STATUS) == TrialStatus.COMPLETE]
    confirmed = [t for t in trials if Attr.CONFIRMS in t.user_attrs and t.user_attrs.get(Attr.STATUS) == TrialStatus.COMPLETE]
    whole = [_seconds(t) for t in estimated]
    figures["supernet_trial_s"] = statistics.median(whole)
    figures["standalone_trial_s"] = statistics.median(_seconds(t) for t in standalone)
    figures["trial_speedup"] = figures["standalone_trial_s"] / figures["supernet_trial_s"]
    print(f"whole trials: supernet search {figures['supernet_trial_s']:.2f} s (median, latency and counting "
          f"included), standalone {figures['standalone_trial_s']:.1f} s: ratio {figures['trial_speedup']:.1f}x",
          flush=True)

    # 5. the confirmed front against the standalone front
    points_a, points_b = _points(standalone), _points(confirmed)
    reference = [0.0, 1.1 * max(p[1] for p in points_a + points_b), 1.1 * max(p[2] for p in points_a + points_b)]
    figures["hv_standalone"] = _front_hv(points_a, reference)
    figures["hv_confirmed"] = _front_hv(points_b, reference)
    figures["supernet_total_wall_s"] = figures["supernet_train_s"] + figures["supernet_search_wall_s"]
    print(f"hypervolume (accuracy, MACs, params): standalone {args.standalone}-trial search {figures['hv_standalone']:.4f} "
          f"in {figures['standalone_wall_s']:.0f} s; supernet ({args.budget} estimates, {len(confirmed)} confirmed) "
          f"{figures['hv_confirmed']:.4f} in {figures['supernet_total_wall_s']:.0f} s (supernet training "
          f"{figures['supernet_train_s']:.0f} s included)", flush=True)
    _write(args, figures)


def _write(args: argparse.Namespace, figures: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures), file=sys.stderr)


def _data(args: argparse.Namespace) -> Data:
    """The data the supernet, the reference and the scoring all use (the search's split)."""
    return load_dataset(args.dataset, data_dir=args.data_dir, subset=args.subset, val_fraction=args.val_fraction, seed=0)


def _bound(args: argparse.Namespace, space_args: list[str]) -> tuple[SearchSpace, Data, torch.device]:
    """The space bound to the data, the data on the device, and the device."""
    device = resolve_device(args.device)
    data = _data(args).to(device)
    space = get_space(args.space, args=parse_space_args(space_args)).bind(data.spec.input_shape, data.spec.num_classes)
    return space, data, device


def second_run(args: argparse.Namespace, space: SearchSpace, data: Data, device: torch.device, out: Path,
               standalone: list, *, claim: bool = False) -> dict[str, float]:
    """The standalone search's subnets (its finished trials ``standalone``) trained again with seed 1
    (initialisation, order), as the search trained them with seed 0: each subnet's accuracy by arch id, kept in
    ``standalone-seed1.json`` for the next supernet in ``out``. With ``claim``, a subnet another process has
    claimed is left to it (a claim file each), so that processes started together share the subnets; without,
    every subnet not kept is trained."""
    from nasbox.model.build import build_model
    from nasbox.search.config import NO_AUGMENT, default_fidelity
    from nasbox.search.propose import init_seed
    from nasbox.train.brief import train_model
    from nasbox.train.recipe import TrainConfig

    epochs, iterations, batch_size, lr = default_fidelity(args.dataset, device, subset=args.subset,
                                                          epochs=args.standalone_epochs, batch_size=args.search_batch_size)
    config = TrainConfig(epochs=epochs, iterations=iterations, batch_size=batch_size, lr=lr,
                         augment=args.dataset not in NO_AUGMENT, seed=1)  # as the standalone search trained
    cache, claims = out / "standalone-seed1.json", out / "standalone-seed1.claims"
    for i, t in enumerate(standalone):
        arch = space.from_params(t.params)
        if arch.arch_id in _kept(cache):
            continue
        if claim:
            claims.mkdir(exist_ok=True)
            try:
                (claims / arch.arch_id).touch(exist_ok=False)
            except FileExistsError:  # another process trains it
                continue
        model = build_model(arch, seed=init_seed(arch.arch_id, 1))
        accuracy = train_model(model, data.train, data.val, config, data.spec, device=device).accuracy
        update_file(cache, lambda old, key=arch.arch_id, value=accuracy:
                    json.dumps({**json.loads(old or "{}"), key: value}, indent=1) + "\n")
        print(f"second run (seed 1): subnet {i + 1}/{len(standalone)} {accuracy:.4f} (seed 0 "
              f"{t.user_attrs[Attr.ACCURACY]:.4f})", flush=True)
    return _kept(cache)


def _kept(cache: Path) -> dict[str, float]:
    return json.loads(cache.read_text()) if cache.is_file() else {}


def noise(args: argparse.Namespace, space_args: list[str], out: Path, net: Path) -> None:
    """Standalone brief training's own rank noise: the same subnets trained with seed 1 (initialisation, order)."""
    space, data, device = _bound(args, space_args)
    standalone = _done(open_study("standalone", reports_dir=out))
    evaluator = make_evaluator(f"supernet:{net}", EvalContext(data, device, None, 1, 32, 0.1, False, 0,
                                                              options={"supernet_prior": args.prior}, space=space))
    kept = second_run(args, space, data, device, out, standalone)
    first, second, inherited, subnets = [], [], [], []
    for t in standalone:
        arch = space.from_params(t.params)
        first.append(t.user_attrs[Attr.ACCURACY])
        info = analyze(arch)
        evaluation = evaluator.evaluate(Candidate(arch, info, 0))
        inherited.append(evaluation.details.get(Attr.INHERITED_ACCURACY, evaluation.accuracy))  # the supernet's own
        second.append(kept[arch.arch_id])
        subnets.append({"arch_id": arch.arch_id, "params": info.params, "standalone_seed0": first[-1],
                        "standalone_seed1": second[-1], "inherited": inherited[-1], "joined": evaluation.accuracy,
                        **({"synflow": evaluation.details[Attr.SYNFLOW]} if Attr.SYNFLOW in evaluation.details else {})})
    mean = [(a + b) / 2 for a, b in zip(first, second, strict=True)]
    figures = {"subnets": len(first), "tau_seed0_seed1": kendall_tau(first, second),
               "tau_inherited_seed0": kendall_tau(inherited, first), "tau_inherited_seed1": kendall_tau(inherited, second),
               "tau_inherited_mean": kendall_tau(inherited, mean), "supernet": str(net),
               "tau_params_mean": kendall_tau([s["params"] for s in subnets], mean)}
    if evaluator.prior is not None:  # what the search ranks by: the estimates joined with the prior
        figures["tau_joined_mean"] = kendall_tau([s["joined"] for s in subnets], mean)
    if all(s.get("synflow") is not None for s in subnets):  # the prior's third source alone (params+synflow)
        figures["tau_synflow_mean"] = kendall_tau([s["synflow"] for s in subnets], mean)
    print(f"Kendall tau over {len(first)} subnets: standalone seed 0 vs seed 1 {_tau(figures['tau_seed0_seed1'])}; "
          f"inherited vs seed 0 {_tau(figures['tau_inherited_seed0'])}, vs seed 1 {_tau(figures['tau_inherited_seed1'])}, "
          f"vs their mean {_tau(figures['tau_inherited_mean'])}; the parameter count alone vs their mean "
          f"{_tau(figures['tau_params_mean'])}"
          + (f"; synflow alone {_tau(figures['tau_synflow_mean'])}" if "tau_synflow_mean" in figures else "")
          + (f"; joined with the prior {_tau(figures['tau_joined_mean'])}" if "tau_joined_mean" in figures else ""),
          flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({**figures, "subnet_figures": subnets}, indent=2) + "\n")


if __name__ == "__main__":
    main()
