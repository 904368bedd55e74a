"""``nasbox report`` and ``nasbox zoo --dataset/--study`` (scoring the zoo for a report)."""

from __future__ import annotations

import argparse
import functools
import json
from typing import Any

from nasbox.cli._common import _console
from nasbox.device import resolve_device
from nasbox.errors import ConfigError
from nasbox.report import build_report, collect, open_study, report_dir_for
from nasbox.report.format import fmt_count as _fmt_count
from nasbox.search import default_fidelity
from nasbox.zoo.score import score_zoo
from nasbox.zoo.scores import ZooSettings, settings_from_config


def _zoo_settings(args: argparse.Namespace):

    if args.study:
        if args.dataset:
            raise ConfigError("give --dataset or --study, not both (a study fixes its dataset)")
        fixed = [f"--{n.replace('_', '-')}" for n in ("epochs", "iterations", "batch_size", "lr", "subset",
                                                      "val_fraction", "seed", "device") if getattr(args, n) is not None]
        if fixed:
            raise ConfigError(f"with --study the fidelity and device come from the study; drop {', '.join(fixed)}")

        data = collect(open_study(args.study, args.storage, args.reports_dir))
        device = data.devices[0] if data.devices else str(resolve_device(data.config.get("device") or "auto"))
        settings = settings_from_config({**data.config, "data_dir": args.data_dir or data.config.get("data_dir")},
                                        device)
        if settings is None:
            raise ConfigError(f"study {args.study!r} does not record its dataset and fidelity; use --dataset")
        return settings
    device = str(resolve_device(args.device or "auto"))
    epochs, iterations, batch_size, lr = default_fidelity(args.dataset, device, subset=args.subset, epochs=args.epochs,
                                                          iterations=args.iterations, batch_size=args.batch_size,
                                                          lr=args.lr)
    return ZooSettings(dataset=args.dataset, device=device, epochs=epochs, iterations=iterations, batch_size=batch_size,
                       lr=lr, subset=args.subset, val_fraction=0.1 if args.val_fraction is None else args.val_fraction,
                       data_dir=args.data_dir, seed=args.seed or 0)


def cmd_zoo_score(args: argparse.Namespace) -> int:

    settings = _zoo_settings(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    console = _console()
    say = functools.partial(console.print, soft_wrap=True)

    def progress(event: dict[str, Any]) -> None:
        if args.json:
            return
        if event["event"] == "start":
            sizes = f" ({event['n_train']:,} train / {event['n_val']:,} val)" if event["n_train"] is not None else ""
            say(f"scoring {len(event['models'])} zoo network(s) on {event['dataset']}{sizes}, device "
                f"{event['device']}; cache {event['cache']}")
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
    if report.data.storage_note:
        print(f"storage: {report.data.storage_note}")
    return 0
