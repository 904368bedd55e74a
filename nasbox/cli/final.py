"""``nasbox final``: the final rung on an existing study, and the final rung's progress lines (also ``search --final``)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from nasbox.cli._common import _console, _fmt_time
from nasbox.data import load_dataset
from nasbox.device import resolve_device
from nasbox.report import write_report
from nasbox.search.final import plan, run_final, settings_of
from nasbox.search.genotypes import study_data_options
from nasbox.study.result import SearchResult
from nasbox.study.schema import StudyPaths
from nasbox.study.storage import open_study
from nasbox.study.tables import pareto_dataframe, trials_dataframe, write_study_tables


def final_started(console: Any, names: list[str], why: list[str], skipped: list[tuple[str, str]], epochs: int) -> None:
    console.print(f"final rung: {len(names)} networks, {epochs} epochs each, tested once on the test split")
    for i, (name, reason) in enumerate(zip(names, why, strict=True), start=1):
        console.print(f"  {i}. {name}: {reason}")
    for name, reason in skipped:
        console.print(f"  skipped {name}: {reason}", soft_wrap=True)


def final_event(console: Any, e: dict[str, Any]) -> None:
    """One line per network started, per epoch and per test."""
    kind, where = e.get("event"), f"[{e.get('index', '?')}/{e.get('total', '?')}]"
    if kind == "network":
        console.print(f"{where} {e['name']} ({e['why']}): {e['encoding'][:100]}", soft_wrap=True)
    elif kind == "start" and e.get("start_epoch"):
        console.print(f"{where} resuming after epoch {e['start_epoch']} of {e['epochs']} ({e['out_dir']})")
    elif kind == "epoch":
        val = "-" if e.get("val_accuracy") is None else f"{e['val_accuracy']:.4f}"
        console.print(f"{where} epoch {e['epoch']}/{e['epochs']} | loss {e['loss']:.4f} | val acc {val} | "
                      f"{e['seconds']:.1f} s | ETA of this network {_fmt_time(e['eta'])}", soft_wrap=True)
    elif kind == "test":
        console.print(f"{where} [bold]test accuracy {e['test_accuracy']:.4f}[/] ({e['n_test']:,} test images)")
    elif kind == "waiting":
        console.print(f"waiting for {', '.join(e['names'])} (trained by another process)")


def cmd_final(args: argparse.Namespace, argv: list[str]) -> int:
    """Train a study's final rung (resuming what was trained), then rebuild its report."""
    console = _console()
    settings = settings_of(args.top, args.epochs, args.classics, batch_size=args.batch_size, lr=args.lr,
                           weight_decay=args.weight_decay, seed=args.seed, augment=not args.no_augment)
    study = open_study(args.study, args.storage, args.reports_dir)
    options = study_data_options(study)
    if args.data_dir:  # the data moved: the same split, read from its new folder
        options["data_dir"] = args.data_dir
    data = load_dataset(download=args.download, **options)
    device = resolve_device(args.device)
    paths = StudyPaths.of(args.study, args.reports_dir)
    df = trials_dataframe(study)
    objectives = tuple((study.user_attrs.get("setup") or {}).get("objectives") or ())
    result = SearchResult(args.study, args.storage or str(paths.journal), paths.root, df, pareto_dataframe(study, df),
                          objectives, [])
    picks, skipped = plan(study, result, settings, data.to(device), device, args.reports_dir)
    final_started(console, [p.name for p in picks], [p.why for p in picks], skipped, settings.epochs)
    try:
        records = run_final(study, data.to(device), settings, picks, paths, device,
                            progress=lambda e: final_event(console, e))
    except KeyboardInterrupt:
        console.print("stopped: finished epochs are checkpointed. Resume with:\n  nasbox " + shlex.join(argv))
        return 130
    write_study_tables(study, paths.root)
    write_report(study, paths.root)
    console.print(f"final rung of {args.study!r}: {len(records)} network{'s' if len(records) != 1 else ''} tested")
    for r in sorted(records, key=lambda r: -(r.get("test_accuracy") or 0.0)):
        console.print(f"  {r['name']:<22} test {r['test_accuracy']:.4f} | MACs {r['macs']:,} | params {r['params']:,}")
    console.print(f"report: {paths.index}")
    return 0
