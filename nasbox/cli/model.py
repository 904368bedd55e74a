"""``nasbox train`` and ``nasbox export``: a candidate trained fully and exported."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from nasbox.cli._common import _console, _fmt_time
from nasbox.data import load_dataset
from nasbox.deploy.candidate import model_dir, resolve_candidate
from nasbox.deploy.export import SUFFIXES, export, onnxruntime_latency, record_onnx_latency
from nasbox.errors import ConfigError
from nasbox.search.genotypes import study_data_options
from nasbox.spaces import get_space, parse_space_args
from nasbox.study.schema import StudyAttr
from nasbox.study.storage import open_study
from nasbox.supernet import ElasticSpace
from nasbox.supernet.train import SupernetConfig, prepare, train_supernet
from nasbox.train.checkpoint import CHECKPOINT_NAME
from nasbox.train.full import FullTrainConfig, full_train
from nasbox.zoo import get_zoo


def _train_data(args: argparse.Namespace):

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
            val, small = event["val_accuracy"], event.get("val_accuracy_smallest")
            shown = "-" if val is None else f"{val:.4f}"
            if small is not None:  # a supernet: its largest and smallest subnets
                shown = f"{shown} largest / {small:.4f} smallest"
            elif event.get("subnets_scored") and val is not None:  # a one-shot supernet: random paths
                shown = f"{shown} (mean of {event['subnets_scored']} random subnets)"
            self.console.print(
                f"epoch {event['epoch']:>{len(str(event['epochs']))}}/{event['epochs']} | loss {event['loss']:.4f} | "
                f"val acc {shown} | lr {event['lr']:.3g} | {event['seconds']:.1f} s "
                f"({event['images_per_second']:,.0f} img/s) | ETA {_fmt_time(event['eta'])}", soft_wrap=True)
        elif kind == "test":
            self.console.print(f"test accuracy {event['test_accuracy']:.4f} ({event['n_test']:,} test images, "
                               "evaluated once, after the last epoch)")
        elif kind == "done":
            self.progress.stop()


def _train_with_progress(console, out: Path, command: str, run: Any) -> Any:
    """``run(progress)`` with full training's progress lines; its result, or the exit code when it stopped
    before the end (interrupted: 130; ``--stop-after``: 0), having said how to resume."""
    progress = _TrainProgress(console)
    try:
        result = run(progress)
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
    return result


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:

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
    result = _train_with_progress(console, out, command, lambda progress: full_train(
        arch, data, config, out, progress=progress, resume=not args.restart, device=args.device, command=command,
        source=source, until_epoch=args.stop_after))
    if isinstance(result, int):
        return result
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


def cmd_supernet(args: argparse.Namespace, argv: list[str]) -> int:
    """``nasbox supernet train``: the supernet of a space, into ``<reports-dir>/supernets/<name>``."""
    console = _console()
    data_seed = args.seed if args.data_seed is None else args.data_seed
    options = {"name": args.dataset or "mnist5k", "seed": data_seed}
    for key in ("data_dir", "subset", "val_fraction"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    data = load_dataset(download=args.download, **options)
    space = get_space(args.space, input_shape=data.spec.input_shape, num_classes=data.spec.num_classes,
                      args=parse_space_args(args.space_arg), toml_file=args.space_config)
    config = SupernetConfig(epochs=args.epochs, batch_size=args.batch_size or 0, lr=args.lr, weight_decay=args.weight_decay,
                            seed=args.seed, amp=args.amp, channels_last=args.channels_last,
                            augment=not args.no_augment, sampling=args.sampling, random_subnets=args.random_subnets,
                            schedule=args.schedule,
                            paths=args.paths, accumulate=args.accumulate, distill=not args.no_distill,
                            affine_bn=args.affine_bn, split=args.few_shot, split_epoch=args.split_epoch,
                            calibration_images=args.calibration_images, init=args.init)
    # refuses a space with choices that are not elastic, options of the other kind, or a wrong --init, before any
    # training and before the lines that say what will be trained
    _, shared, resolved = prepare(space, data, config)
    out = Path(args.reports_dir) / "supernets" / (args.name or f"{space.name}-{data.spec.name}")
    command = "nasbox " + shlex.join(_rerun_argv(argv))
    if isinstance(shared, ElasticSpace):
        order = ("progressive shrinking (the largest alone first, then one kind of choice more per phase)"
                 if resolved.schedule == "progressive" else "every choice from the first step")
        console.print(f"supernet of {space.name}: elastic {shared.describe()}; the largest, the smallest and "
                      f"{resolved.random_subnets} random subnet(s) per step, gradients "
                      f"{'summed' if resolved.accumulate == 'sum' else 'averaged'}; {order}", soft_wrap=True)
        console.print(f"  largest subnet {shared.largest().encode()}", soft_wrap=True)
    else:
        per_step = (f"{resolved.paths} random path(s)" if resolved.sampling == "uniform" else
                    f"{resolved.paths} group(s) of fair paths (every op of every edge once per group)")
        per_step += f", gradients {'summed' if resolved.accumulate == 'sum' else 'averaged'},"
        split = (f"; split on {shared.split} into {len(shared.choices[shared.split])} sub-supernets after epoch "
                 f"{resolved.split_epoch}" if shared.split else "")
        console.print(f"one-shot supernet of {space.name}: {shared.describe()}; {per_step} per step{split}",
                      soft_wrap=True)
        console.print(f"  supernet {shared.arch.encode()}", soft_wrap=True)
    result = _train_with_progress(console, out, command, lambda progress: train_supernet(
        space, data, config, out, progress=progress, resume=not args.restart, device=args.device, command=command,
        until_epoch=args.stop_after))
    if isinstance(result, int):
        return result
    last = result.history[-1]
    seconds = sum(h["seconds"] for h in result.history)
    if "val_accuracy_smallest" in last:
        scored = f"{last['val_accuracy']:.4f} (largest subnet), {last['val_accuracy_smallest']:.4f} (smallest)"
    else:
        scored = f"{last['val_accuracy']:.4f} (mean of {last.get('subnets_scored')} random subnets)"
    console.print(f"[bold]supernet trained[/]: val accuracy {scored}, after BatchNorm recalibration; "
                  f"{_fmt_time(seconds)} of training on {last['device']}", soft_wrap=True)
    console.print(f"files written:\n  {out / CHECKPOINT_NAME}\n  {out / 'metrics.json'}\n  {out / 'learning_curve.png'}")
    space_args = " ".join(f"--space-arg {shlex.quote(a)}" for a in args.space_arg)
    data_args = "".join(f" --{key.replace('_', '-')} {shlex.quote(str(getattr(args, key)))}"  # the same split
                        for key in ("data_dir", "subset", "val_fraction") if getattr(args, key) is not None)
    data_args += f" --seed {data_seed}" if data_seed else ""
    console.print(f"search its subnets with:\n  nasbox search --space {args.space} {space_args} --dataset "
                  f"{data.spec.name}{data_args} --evaluator supernet:{out} --budget 500 --confirm 5", soft_wrap=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:

    if args.measure and args.format != "onnx":
        raise ConfigError("--measure onnxruntime times an ONNX file; use --format onnx")
    if args.checkpoint and args.untrained:
        raise ConfigError("give --checkpoint or --untrained, not both")
    console = _console()
    arch = None
    if args.zoo:

        setup = {}
        if args.study:

            setup = open_study(args.study, args.storage, args.reports_dir).user_attrs.get(StudyAttr.SETUP) or {}
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
