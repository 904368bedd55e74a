"""The ``nasbox`` command line: argument parsing and presentation only.

Every user error ends as one line, ``error: <what and how to fix>``, and exit code 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from nasbox.errors import ConfigError, NasboxError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def _shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W or CxHxW, got {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive integers C,H,W, got {text!r}")
    return shape  # type: ignore[return-value]


def _space_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="set a bound of the space, e.g. m_max=6 or kernels=3,5 (repeatable)")
    p.add_argument("--space-config", metavar="FILE.toml", help="bounds from a TOML file ([space] table)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasbox", description="Neural architecture search and efficient networks for PyTorch.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("show", help="per-layer table of a space's sample, a zoo network or an arch JSON file")
    p.add_argument("target", help="space name (or file.py:Class), zoo name, or path to an architecture JSON")
    p.add_argument("--input", type=_shape, default=None, metavar="C,H,W",
                   help="input shape (default 3,32,32; an arch JSON carries its own)")
    p.add_argument("--classes", type=int, default=None, help="number of classes (default 10)")
    p.add_argument("--seed", type=int, default=0, help="which random sample of a space to show")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _space_options(p)

    p = sub.add_parser("search", help="search a space: sample, train briefly, score, keep the Pareto front")
    p.add_argument("--space", default="seed_cnn", help="space name, path/to/file.py:Class or package.module:Class")
    _space_options(p)
    p.add_argument("--dataset", default="mnist5k", help="mnist5k (bundled, default), cifar10, imagefolder, synthetic")
    p.add_argument("--data-dir", help="where the dataset lives (cifar10: holds cifar-10-batches-py/)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (cifar10)")
    p.add_argument("--subset", type=int, help="search on a stratified subset of N training images")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation share of the training set")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float, help="training per candidate in epochs (default: per dataset)")
    budget.add_argument("--iterations", type=int, help="training per candidate in iterations")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop (+ flip where sensible) while training (default: off for mnist5k, on otherwise)")
    p.add_argument("--objectives", default="accuracy,macs,params,latency",
                   help="comma-separated, from accuracy, macs, flops, params, latency")
    p.add_argument("--sampler", default="tpe", help="tpe (multi-objective TPE, default), nsga2, nsga3, random, gp")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-params", type=float, help="constraint: at most this many parameters (checked before training)")
    p.add_argument("--max-macs", type=float, help="constraint: at most this many MACs (checked before training)")
    p.add_argument("--max-latency-ms", type=float, help="constraint: batch-1 latency limit (checked before training)")
    p.add_argument("--budget", type=int, default=50, help="finished trials of the whole study (a rerun resumes to it)")
    p.add_argument("--study", help="study name (default: <space>-<dataset>)")
    p.add_argument("--storage", default=os.environ.get("NASBOX_STORAGE"),
                   help="Optuna storage URL (default: $NASBOX_STORAGE, else a journal file in the report folder)")
    p.add_argument("--reports-dir", default="reports", help="where report folders are written")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this machine sharing the study (one per GPU with --device cuda)")
    p.add_argument("--heartbeat", type=int, default=30, metavar="SECONDS",
                   help="RDB storages: heartbeat interval; a trial silent for 3x this is failed (dead worker)")

    p = sub.add_parser("zoo", help="list the classic networks; with --dataset or --study, train and score them")
    p.add_argument("--input", type=_shape, default=(3, 32, 32), metavar="C,H,W")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--json", action="store_true")
    _zoo_score_options(p)

    p = sub.add_parser("report", help="rebuild a study's report (HTML page, Markdown, plots, CSVs) from its storage")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--storage", default=os.environ.get("NASBOX_STORAGE"),
                   help="Optuna storage URL or journal file (default: $NASBOX_STORAGE, else "
                        "<reports-dir>/<study>/journal.log)")
    p.add_argument("--reports-dir", default="reports", help="where report folders are (and the zoo cache)")
    p = sub.add_parser("train", help="train a candidate fully (a study's trial, an arch JSON or a zoo network), "
                                     "test it once, checkpoint every epoch")
    _candidate_options(p)
    p.add_argument("--dataset", help="default: the study's dataset (without --study: mnist5k)")
    p.add_argument("--data-dir", help="where the dataset lives (default: the study's)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (cifar10)")
    p.add_argument("--subset", type=int, help="a stratified subset of N training images (default: the study's)")
    p.add_argument("--val-fraction", type=float, help="validation share (default: the study's, else 0.1)")
    p.add_argument("--epochs", type=int, default=30, help="whole epochs (default 30)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (warm-up, then cosine decay)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, batch order and augmentation")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="bf16 autocast: auto = on CUDA and on CPUs with native bf16")
    p.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--no-augment", action="store_true", help="no random crop and flip")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--name", help="model folder <reports-dir>/<study>/models/<name> (default: trial<N>, the zoo "
                                  "name or the arch id)")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming the folder's checkpoint")
    p.add_argument("--stop-after", type=int, metavar="EPOCH",
                   help="stop after this epoch (checkpointed); rerun without it to continue")

    p = sub.add_parser("export", help="export a candidate, trained or untrained, to ONNX or TorchScript")
    _candidate_options(p)
    p.add_argument("--checkpoint", metavar="PATH",
                   help="weights (and genotype) from this checkpoint; default: the candidate's 'nasbox train' "
                        "checkpoint when there is one")
    p.add_argument("--name", help="model folder name, as for 'nasbox train'")
    p.add_argument("--untrained", action="store_true", help="export the random initialisation even if trained")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default="auto",
                   help="ONNX exporter: dynamo (torch.export, needs onnxscript), legacy, or auto")
    p.add_argument("--output", "-o", metavar="PATH", help="default: model.onnx / model.torchscript.pt in the model "
                                                         "folder, or <name>-untrained.* under exports/")
    p.add_argument("--input", type=_shape, metavar="C,H,W", help="input shape of a --zoo network (default: the "
                                                                 "study's, else 3,32,32)")
    p.add_argument("--classes", type=int, help="classes of a --zoo network (default: the study's, else 10)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest difference from PyTorch accepted")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch")
    p.add_argument("--measure", choices=("onnxruntime",),
                   help="time the ONNX file in onnxruntime (batch 1, CPU); with --study/--trial it is stored in "
                        "the study")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads for --measure")
    return parser


def _zoo_score_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring (train the networks like a study's candidates, for its report)")
    g.add_argument("--dataset", help="score on this dataset: mnist5k, cifar10, imagefolder, synthetic")
    g.add_argument("--study", help="score with a study's dataset, fidelity and device")
    g.add_argument("--storage", default=os.environ.get("NASBOX_STORAGE"), help="the study's storage (with --study)")
    g.add_argument("--models", help="comma-separated zoo names (default: all)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float, help="training per network in epochs (default: per dataset)")
    budget.add_argument("--iterations", type=int, help="training per network in iterations")
    g.add_argument("--batch-size", type=int, default=None, help="default 32, as a search")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.1, as a search)")
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--data-dir", help="where the dataset lives")
    g.add_argument("--subset", type=int, help="a stratified subset of N training images, as the study's")
    g.add_argument("--val-fraction", type=float, default=None, help="validation share (default 0.1)")
    g.add_argument("--seed", type=int, default=None, help="split and training seed (default 0)")
    g.add_argument("--reports-dir", default="reports", help="the cache goes to <reports-dir>/zoo-cache/")
    g.add_argument("--force", action="store_true", help="score again networks that are cached")


# --------------------------------------------------------------------------- commands


def _console():
    from rich.console import Console

    # A log file or pipe gets wide lines (no wrapping at 80 columns); a terminal its own width.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def cmd_spaces(args: argparse.Namespace) -> int:
    from nasbox.space import list_spaces

    rows = []
    for cls in list_spaces():
        space = cls()
        rows.append({"name": cls.name, "description": cls.description, "rules": list(cls.rules),
                     "size": space.size(), "size_estimate": space.size_estimate(), "bounds": _jsonable(space.bounds())})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="search spaces (sizes for the default bounds)")
    for col in ("name", "description", "rules", "size"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["description"], "; ".join(r["rules"]) or "-", r["size_estimate"])
    _console().print(table)
    return 0


def _resolve_target(args: argparse.Namespace) -> tuple[str, Any]:
    """``(title, Architecture)`` for a space name/spec, a zoo name or a JSON file."""
    from nasbox.arch import Architecture
    from nasbox.space import get_space, load_space, parse_space_args
    from nasbox.zoo import ZOO_NAMES, get_zoo

    target = args.target
    shape = args.input or (3, 32, 32)
    classes = args.classes or 10
    if target in ZOO_NAMES:
        return f"zoo: {target}", get_zoo(target, shape, classes)
    path = Path(target)
    if target.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"architecture file {target!r} does not exist")
        try:
            arch = Architecture.from_json(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"malformed architecture file {target!r}: {exc}") from None
        if args.input or args.classes:
            arch = Architecture.from_dict({**arch.to_dict(), "input_shape": list(shape) if args.input else
                                           list(arch.input_shape), "num_classes": args.classes or arch.num_classes})
        return f"architecture: {target}", arch
    load_space(target)  # raises a clear SpaceError for an unknown name
    space = get_space(target, input_shape=shape, num_classes=classes,
                      args=parse_space_args(args.space_arg), toml_file=args.space_config)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    arch = space.sample(study.ask())
    return f"space {space.name}, random sample (seed {args.seed})\n{space.describe()}", arch


def cmd_show(args: argparse.Namespace) -> int:
    from nasbox.analysis import analyze

    title, arch = _resolve_target(args)
    info = analyze(arch)
    if args.json:
        print(json.dumps({"arch_id": arch.arch_id, "encoding": arch.encode(), "architecture": arch.to_dict(),
                          **info.to_dict()}, indent=2))
        return 0
    from rich.table import Table

    console = _console()
    console.print(title)
    console.print(f"encoding: {arch.encode()}")
    console.print(f"arch_id:  {arch.arch_id}")
    table = Table(show_footer=True)
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("output W x H x D", justify="right")
    table.add_column("params", justify="right", footer=f"{info.params:,}")
    table.add_column("MACs", justify="right", footer=f"{info.macs:,}")
    for r in info.layers:
        c, h, w = r.out_shape
        table.add_row(r.name, r.op, f"{w} x {h} x {c}", f"{r.params:,}", f"{r.macs:,}")
    console.print(table)
    console.print(f"params {info.params:,} | MACs {info.macs:,} | FLOPs {info.flops:,} (FLOPs = 2 x MACs; "
                  "BatchNorm counted as 2 MACs per output element, as fvcore does)")
    return 0


def _zoo_settings(args: argparse.Namespace):
    from nasbox.search import DEFAULT_EPOCHS
    from nasbox.train import resolve_device
    from nasbox.zoo_score import ZooSettings, settings_from_config

    if args.study:
        if args.dataset:
            raise ConfigError("give --dataset or --study, not both (a study fixes its dataset)")
        fixed = [f"--{n.replace('_', '-')}" for n in ("epochs", "iterations", "batch_size", "lr", "subset",
                                                      "val_fraction", "seed", "device") if getattr(args, n) is not None]
        if fixed:
            raise ConfigError(f"with --study the fidelity and device come from the study; drop {', '.join(fixed)}")
        from nasbox.report import collect, open_study

        data = collect(open_study(args.study, args.storage, args.reports_dir))
        device = data.devices[0] if data.devices else str(resolve_device(data.config.get("device") or "auto"))
        settings = settings_from_config({**data.config, "data_dir": args.data_dir or data.config.get("data_dir")},
                                        device)
        if settings is None:
            raise ConfigError(f"study {args.study!r} does not record its dataset and fidelity; use --dataset")
        return settings
    epochs = args.epochs
    if epochs is None and args.iterations is None:
        epochs = DEFAULT_EPOCHS.get(args.dataset, 1.0)
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    return ZooSettings(dataset=args.dataset, device=str(resolve_device(args.device or "auto")), epochs=epochs,
                       iterations=args.iterations, batch_size=args.batch_size or 32,
                       lr=0.1 if args.lr is None else args.lr, subset=args.subset,
                       val_fraction=0.1 if args.val_fraction is None else args.val_fraction, data_dir=args.data_dir,
                       seed=args.seed or 0)


def cmd_zoo_score(args: argparse.Namespace) -> int:
    from nasbox.zoo_score import score_zoo

    settings = _zoo_settings(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    console = _console()
    say = functools.partial(console.print, soft_wrap=True)

    def progress(event: dict[str, Any]) -> None:
        if args.json:
            return
        if event["event"] == "start":
            say(f"scoring {len(event['models'])} zoo network(s) on {event['dataset']} "
                          f"({event['n_train']:,} train / {event['n_val']:,} val), device {event['device']}; "
                          f"cache {event['cache']}")
        elif event["event"] == "model_start":
            say(f"  {event['name']}: MACs {_fmt_count(event['macs'])}, params "
                          f"{_fmt_count(event['params'])}, training ...")
        elif event["event"] == "model_end":
            how = "cached" if event["cached"] else f"{event['seconds']:.1f} s"
            if event["status"] == "complete":
                say(f"  {event['name']}: acc {event['accuracy']:.4f} | MACs {_fmt_count(event['macs'])} | "
                              f"params {_fmt_count(event['params'])} | latency {event['latency_ms']:.3g} ms ({how})")
            else:
                say(f"  {event['name']}: failed ({event.get('reason')}) ({how})")

    path, scores = score_zoo(settings, models, reports_dir=args.reports_dir, force=args.force, progress=progress)
    if args.json:
        print(json.dumps({"cache": str(path), "key": settings.key(), "scores": [s.to_dict() for s in scores]},
                         indent=2))
        return 0
    if args.study:
        report = _rebuild_report(args.study, args.storage, args.reports_dir)
        if report is not None:
            say(f"report updated: {report.index}")
    else:
        say("reports of studies with this dataset, fidelity and device show them after "
                      "'nasbox report --study NAME'")
    return 0


def _rebuild_report(study_name: str, storage: str | None, reports_dir: str):
    from nasbox.report import build_report, open_study, report_dir_for

    study = open_study(study_name, storage, reports_dir)
    return build_report(study, report_dir_for(study_name, reports_dir), reports_dir=reports_dir)


def cmd_report(args: argparse.Namespace) -> int:
    report = _rebuild_report(args.study, args.storage, args.reports_dir)
    if report is None:
        print(f"study {args.study!r} has no finished trial yet: nothing to report (an earlier report is kept)")
        return 0
    counts = ", ".join(f"{n} {s}" for s, n in report.data.counts().items() if n)
    print(f"report of {args.study!r} ({len(report.data.trials)} trials: {counts}; "
          f"{len(report.data.pareto_numbers)} Pareto-optimal)")
    print(f"  {report.index}")
    print(f"  {report.report_dir / 'report.md'}")
    print(f"  {report.report_dir / 'trials.csv'}, {report.report_dir / 'pareto.csv'}")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    if args.dataset or args.study:
        return cmd_zoo_score(args)
    from nasbox.analysis import analyze
    from nasbox.zoo import get_zoo, list_zoo

    rows = []
    for name, desc in list_zoo():
        info = analyze(get_zoo(name, args.input, args.classes))
        rows.append({"name": name, "description": desc, "params": info.params, "macs": info.macs})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    c, h, w = args.input
    table = Table(title=f"classic networks at {c}x{h}x{w}, {args.classes} classes")
    for col, just in (("name", "left"), ("description", "left"), ("params", "right"), ("MACs", "right")):
        table.add_column(col, justify=just)
    for r in rows:
        table.add_row(r["name"], r["description"], f"{r['params']:,}", f"{r['macs']:,}")
    _console().print(table)
    return 0


def _search_config(args: argparse.Namespace):
    from nasbox.search import SearchConfig
    from nasbox.space import parse_space_args

    def as_int(name: str) -> int | None:
        value = getattr(args, name)
        if value is None:
            return None
        if value != int(value):
            raise ConfigError(f"--{name.replace('_', '-')} must be a whole number, got {value}")
        return int(value)

    return SearchConfig(
        space=args.space, space_args=parse_space_args(args.space_arg), space_config=args.space_config,
        dataset=args.dataset, data_dir=args.data_dir, download=args.download, subset=args.subset,
        val_fraction=args.val_fraction, epochs=args.epochs, iterations=args.iterations, batch_size=args.batch_size,
        lr=args.lr, augment=args.augment, objectives=tuple(o.strip() for o in args.objectives.split(",") if o.strip()),
        sampler=args.sampler, seed=args.seed, max_params=as_int("max_params"), max_macs=as_int("max_macs"),
        max_latency_ms=args.max_latency_ms, budget=args.budget, study=args.study, storage=args.storage,
        reports_dir=args.reports_dir, device=args.device, heartbeat_s=args.heartbeat,
    )


def _fmt_count(n: Any) -> str:
    if n is None or n != n:
        return "-"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class _SearchProgress:
    """Renders the search's progress events: a line per trial, a live bar on terminals."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.console.print(f"study [bold]{event['study']}[/] ({event['storage']}), space {event['space']}, "
                               f"dataset {event['dataset']} ({event['n_train']:,} train / {event['n_val']:,} val), "
                               f"device {event['device']}")
            self.console.print(f"per candidate: {event['budget_text']}; budget {event['budget']} trials, "
                               f"{event['finished']} already finished" + (f"; settled stale trials {event['settled']}"
                                                                            if event["settled"] else ""))
            self.progress.start()
            self.task = self.progress.add_task(f"trial {event['finished']}/{event['budget']}", total=event["budget"],
                                               completed=event["finished"], info="")
        elif kind == "trial_start":
            self.progress.update(self.task, description=f"trial {event['index']}/{self._total()}",
                                 info=event["encoding"][:80])
        elif kind == "trial_end":
            status = event["status"]
            acc = event.get("accuracy")
            text = f"acc {acc:.4f}" if status == "complete" or status == "repeat" else status
            if status == "failed":
                text += f" ({event.get('fail_reason', '')[:90]})"
            elif status == "infeasible":
                text += f" ({event.get('infeasible', '')})"
            best = event.get("best_accuracy")
            lat = event.get("latency_ms")
            self.console.print(
                f"[{event['index']:>{len(str(event['budget']))}}/{event['budget']}] #{event['number']} {text} | "
                f"MACs {_fmt_count(event.get('macs'))} | params {_fmt_count(event.get('params'))} | "
                f"latency {'-' if lat is None else f'{lat:.3g} ms'} | {event['seconds']:.1f} s | "
                f"best {'-' if best is None else f'{best:.4f}'} | elapsed {_fmt_time(event['elapsed'])}, "
                f"ETA {_fmt_time(event['eta'])}", soft_wrap=True)
            self.progress.update(self.task, completed=event["index"], info=f"best {best or 0:.4f}")
        elif kind == "done":
            self.progress.stop()

    def _total(self) -> int:
        return int(self.progress.tasks[0].total) if self.progress.tasks else 0


def _start_workers(console, args: argparse.Namespace, argv: list[str]) -> list:
    """Start ``--workers N`` - 1 more processes of the same command; this one is worker 0.

    Returns ``[(device, process or None, log path or None), ...]`` with this process first.
    """
    import subprocess

    from nasbox.search import worker_devices

    devices = worker_devices(args.device, args.workers)
    strip = {"--workers", "--device"}
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in strip:
            skip = True
            continue
        if item.split("=", 1)[0] in strip:
            continue
        rest.append(item)
    log_dir = Path(args.reports_dir) / "worker-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    out = [(devices[0], None, None)]
    for i, device in enumerate(devices[1:], start=1):
        log = log_dir / f"worker{i}-{os.getpid()}.log"
        cmd = [sys.executable, "-m", "nasbox.cli", *rest, "--workers", "1", "--device", device]
        proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        console.print(f"worker {i}: pid {proc.pid} on {device}, log {log}")
        out.append((device, proc, log))
    console.print(f"worker 0: this process on {devices[0]}")
    return out


def cmd_search(args: argparse.Namespace, argv: list[str]) -> int:
    from rich.table import Table

    from nasbox.search import run_search

    console = _console()
    config = _search_config(args)
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    config.check()
    children = _start_workers(console, args, argv) if args.workers > 1 else []
    if children:
        config.device = children[0][0]
    progress = _SearchProgress(console)
    try:
        result = run_search(config, progress)
    finally:
        progress.progress.stop()
    for _, proc, log in children[1:]:
        if proc.wait() != 0:
            console.print(f"worker {proc.pid} ended with exit code {proc.returncode}; see {log}")
    if children and not result.interrupted:
        result = run_search(config)  # every worker is done: tables and report of the whole study
    pareto = result.pareto
    table = Table(title=f"Pareto-optimal candidates of {result.study_name} ({len(pareto)} of {len(result.trials)} "
                        f"trials; objectives {', '.join(result.objectives)})")
    for col, just in (("rank", "right"), ("trial", "right"), ("accuracy", "right"), ("MACs", "right"),
                      ("params", "right"), ("latency ms", "right"), ("encoding", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for i, row in pareto.iterrows():
        table.add_row(str(i + 1), str(row["number"]), f"{row['accuracy']:.4f}", _fmt_count(row["macs"]),
                      _fmt_count(row["params"]), f"{row['latency_ms']:.3g}", str(row["encoding"]))
    console.print(table)
    console.print("files written:")
    for path in result.files:
        console.print(f"  {path}")
    console.print(f"  {result.report_dir / 'archs'}/<arch_id>.json")
    if result.interrupted:
        console.print("stopped: finished trials are kept. Resume with:\n  nasbox " + shlex.join(argv))
        return 130
    return 0


def _candidate_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("candidate (one of --trial, --arch, --zoo; or only --checkpoint for export)")
    g.add_argument("--study", help="the study (its dataset and folder; with --trial, its candidate)")
    g.add_argument("--trial", type=int, help="trial number in the study")
    g.add_argument("--arch", metavar="FILE.json", help="an architecture JSON file")
    g.add_argument("--zoo", metavar="NAME", help="a zoo network (see 'nasbox zoo')")
    g.add_argument("--storage", default=os.environ.get("NASBOX_STORAGE"),
                   help="the study's storage URL (default: $NASBOX_STORAGE, else <reports-dir>/<study>/journal.log)")
    g.add_argument("--reports-dir", default="reports", help="where the study folders are")


def _train_data(args: argparse.Namespace):
    from nasbox.candidate import open_study, study_data_options
    from nasbox.data import load_dataset

    if args.study:
        options = study_data_options(open_study(args.study, args.storage, args.reports_dir))
        if args.dataset and args.dataset != options["name"]:
            raise ConfigError(f"study {args.study!r} searched on {options['name']}; drop --dataset or --study")
    else:
        options = {"name": args.dataset or "mnist5k", "seed": args.seed}
    for key in ("data_dir", "subset", "val_fraction"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return load_dataset(download=args.download, **options)


def _model_name(args: argparse.Namespace, arch: Any) -> str:
    if args.name:
        return args.name
    return f"trial{args.trial}" if args.trial is not None else args.zoo or arch.arch_id


def _rerun_argv(argv: list[str]) -> list[str]:
    """``argv`` without what only concerns this invocation (--restart, --stop-after, --debug)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--stop-after":
            skip = True
        elif a not in ("--restart", "--debug") and not a.startswith("--stop-after="):
            out.append(a)
    return out


class _TrainProgress:
    """Renders full training's events: a line per epoch, a live bar of the epoch's steps on terminals."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.console.print(f"training on {event['device']} ({event['precision']}): {event['n_train']:,} train / "
                               f"{event['n_val']:,} val / {event['n_test']:,} test images; {event['budget_text']}",
                               soft_wrap=True)
            if event["start_epoch"]:
                self.console.print(f"resuming after epoch {event['start_epoch']} of {event['epochs']} "
                                   f"({event['out_dir']})")
            self.progress.start()
            self.task = self.progress.add_task(f"epoch {event['start_epoch'] + 1}/{event['epochs']}", total=None)
        elif kind == "step":
            self.progress.update(self.task, description=f"epoch {event['epoch']}", completed=event["step"],
                                 total=event["steps"])
        elif kind == "epoch":
            val = event["val_accuracy"]
            self.console.print(
                f"epoch {event['epoch']:>{len(str(event['epochs']))}}/{event['epochs']} | loss {event['loss']:.4f} | "
                f"val acc {'-' if val is None else f'{val:.4f}'} | lr {event['lr']:.3g} | {event['seconds']:.1f} s "
                f"({event['images_per_second']:,.0f} img/s) | ETA {_fmt_time(event['eta'])}", soft_wrap=True)
        elif kind == "test":
            self.console.print(f"test accuracy {event['test_accuracy']:.4f} ({event['n_test']:,} test images, "
                               "evaluated once, after the last epoch)")
        elif kind == "done":
            self.progress.stop()


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from nasbox.fulltrain import FullTrainConfig, full_train, model_dir, resolve_candidate

    console = _console()
    data = _train_data(args)
    arch, source = resolve_candidate(study=args.study, trial=args.trial, arch_file=args.arch, zoo=args.zoo,
                                     storage=args.storage, reports_dir=args.reports_dir, dataset=data.spec)
    config = FullTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, seed=args.seed, amp=args.amp,
                             channels_last=args.channels_last, augment=not args.no_augment)
    out = model_dir(args.reports_dir, _model_name(args, arch), args.study)
    command = "nasbox " + shlex.join(_rerun_argv(argv))
    console.print(f"candidate: {source}\n  {arch.encode()} (arch_id {arch.arch_id})", soft_wrap=True)
    progress = _TrainProgress(console)
    try:
        result = full_train(arch, data, config, out, progress=progress, resume=not args.restart, device=args.device,
                            command=command, source=source, until_epoch=args.stop_after)
    except KeyboardInterrupt:
        progress.progress.stop()
        console.print(f"stopped: finished epochs are checkpointed in {out}. Resume with:\n  {command}", soft_wrap=True)
        return 130
    finally:
        progress.progress.stop()
    if not result.finished:
        console.print(f"stopped after epoch {len(result.history)} of {result.epochs} (checkpointed). Continue with:\n"
                      f"  {command}", soft_wrap=True)
        return 0
    if result.start_epoch == result.epochs:
        console.print(f"already trained: {result.checkpoint} (use --restart to train again)")
    test = "-" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    console.print(f"[bold]test accuracy {test}[/] | val accuracy {result.val_accuracy:.4f} | "
                  f"{result.seconds_per_epoch:.1f} s per epoch on {result.history[-1]['device']}")
    console.print("files written:")
    for name in ("checkpoint.pt", "metrics.json", "learning_curve.png"):
        console.print(f"  {out / name}")
    console.print(f"reproduce with:\n  {result.command}", soft_wrap=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nasbox.checkpoint import CHECKPOINT_NAME
    from nasbox.export import SUFFIXES, export, onnxruntime_latency, record_onnx_latency
    from nasbox.fulltrain import model_dir, resolve_candidate

    if args.measure and args.format != "onnx":
        raise ConfigError("--measure onnxruntime times an ONNX file; use --format onnx")
    if args.checkpoint and args.untrained:
        raise ConfigError("give --checkpoint or --untrained, not both")
    console = _console()
    arch = None
    if args.zoo:
        from nasbox.zoo import get_zoo

        setup = {}
        if args.study:
            from nasbox.candidate import open_study

            setup = open_study(args.study, args.storage, args.reports_dir).user_attrs.get("setup") or {}
        shape = args.input or tuple(setup.get("input_shape") or (3, 32, 32))
        arch = get_zoo(args.zoo, shape, args.classes or setup.get("num_classes") or 10)
        source = f"zoo network {args.zoo}"
    elif args.trial is not None or args.arch:
        arch, source = resolve_candidate(study=args.study, trial=args.trial, arch_file=args.arch,
                                         storage=args.storage, reports_dir=args.reports_dir)
    elif not args.checkpoint:
        raise ConfigError("give the candidate: --study S --trial N, --arch FILE.json, --zoo NAME or --checkpoint PATH")
    else:
        source = "candidate of the checkpoint"
    checkpoint = args.checkpoint
    folder = model_dir(args.reports_dir, _model_name(args, arch), args.study) if arch is not None else None
    if checkpoint is None and not args.untrained and folder is not None and (folder / CHECKPOINT_NAME).is_file():
        checkpoint = folder / CHECKPOINT_NAME
    suffix = SUFFIXES[args.format]
    if args.output:
        output = Path(args.output)
    elif checkpoint is not None:
        output = Path(checkpoint).parent / f"model{suffix}"
    else:
        output = folder.parent.parent / "exports" / f"{folder.name}-untrained{suffix}"
    result = export(arch, output, checkpoint=checkpoint, format=args.format, exporter=args.exporter,
                    verify=not args.no_verify, atol=args.atol)
    console.print(f"{source}: {result.weights}", soft_wrap=True)
    check = "not verified" if result.max_abs_diff is None else f"max |difference| from PyTorch {result.max_abs_diff:.2g}"
    console.print(f"exported {args.format} ({result.exporter}) to {result.path} ({check})", soft_wrap=True)
    if args.measure:
        latency = onnxruntime_latency(result.path, result.input_shape, threads=args.threads)
        console.print(f"onnxruntime latency {latency.median_ms:.3g} ms (batch 1, {latency.threads} thread(s), "
                      f"IQR {latency.iqr_ms:.2g} ms, {latency.runs} runs)")
        if args.study and args.trial is not None:
            key = record_onnx_latency(args.study, args.trial, latency.median_ms, latency=latency,
                                      weights=result.weights, storage=args.storage, reports_dir=args.reports_dir)
            console.print(f"stored in study {args.study!r} as user attribute {key!r}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


COMMANDS = {"spaces": cmd_spaces, "show": cmd_show, "zoo": cmd_zoo, "search": cmd_search, "report": cmd_report,
            "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:  # libraries' deprecation notices are not the user's business
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "search":
            return cmd_search(args, argv)
        if args.command == "train":
            return cmd_train(args, argv)
        return COMMANDS[args.command](args)
    except NasboxError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
