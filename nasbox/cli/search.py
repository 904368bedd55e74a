"""``nasbox search``: configuration, the progress renderer and worker processes."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from nasbox.cli._common import _console, _fmt_time
from nasbox.cli.final import final_event, final_started
from nasbox.report import write_report
from nasbox.report.format import fmt_acc, fmt_ms
from nasbox.report.format import fmt_count as _fmt_count
from nasbox.search import SearchConfig, run_search
from nasbox.search.coordinate import worker_devices
from nasbox.search.events import (
    ClassicsMeasured,
    Event,
    FinalProgress,
    FinalStarted,
    SearchEnded,
    SearchStarted,
    SetupNote,
    TrialEnded,
    TrialStarted,
)
from nasbox.search.options import from_namespace, given_options, read_toml
from nasbox.study.schema import TRAINED, TrialStatus


def _search_config(args: argparse.Namespace, argv: list[str]) -> SearchConfig:
    """The options: the command line's, over a ``--config`` file's, over the defaults."""
    if not args.config:
        return from_namespace(SearchConfig, args)
    base = read_toml(args.config, SearchConfig)
    parser = args.parser_of_command
    rest = argv[argv.index("search") + 1:] if "search" in argv else argv
    return from_namespace(SearchConfig, args, base=base, given=given_options(parser, rest))


class _SearchProgress:
    """Renders the search's progress events: a line per trial, a live bar on terminals."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, SearchStarted):
            self._started(event)
        elif isinstance(event, TrialStarted):
            self.progress.update(self.task, description=f"trial {event.index}/{self._total()}", info=event.encoding[:80])
        elif isinstance(event, TrialEnded):
            self._ended(event)
        elif isinstance(event, SetupNote):
            self.console.print(event.text, markup=False, highlight=False)
        elif isinstance(event, ClassicsMeasured):
            self.console.print(f"classic networks: latency of {event.networks} on this device in {event.seconds:.1f} s "
                               f"(cached in {event.cache})")
        elif isinstance(event, FinalStarted):
            self.progress.stop()
            final_started(self.console, event.names, event.why, event.skipped, event.epochs)
        elif isinstance(event, FinalProgress):
            final_event(self.console, event.event)
        elif isinstance(event, SearchEnded):
            self.progress.stop()

    def _started(self, e: SearchStarted) -> None:
        self.console.print(f"study [bold]{e.study}[/] ({e.storage}), space {e.space}, dataset {e.dataset} "
                           f"({e.n_train:,} train / {e.n_val:,} val), device {e.device}")
        self.console.print(f"per candidate: {e.budget_text}; budget {e.budget} trials, {e.finished} already finished"
                           + (f"; settled stale trials {e.settled}" if e.settled else ""))
        live = (f" (rebuilt every {e.report_every} trials or {_fmt_time(e.report_every_s)} while searching)"
                if e.report_every else "")
        for size, copy in e.healed:
            self.console.print(f"journal: dropped a torn last record of {size:,} bytes (an append cut short; copy kept "
                               f"in {copy})", soft_wrap=True)
        self.console.print(f"report: {e.report_dir}/index.html{live}")
        self.progress.start()
        self.task = self.progress.add_task(f"trial {e.finished}/{e.budget}", total=e.budget, completed=e.finished,
                                           info="")

    def _ended(self, e: TrialEnded) -> None:
        acc = e.get("accuracy")
        text = f"acc {acc:.4f}" if e.status in TRAINED else e.status
        if e.status == TrialStatus.FAILED:
            text += f" ({e.get('fail_reason', '')[:90]})"
        elif e.status == TrialStatus.INFEASIBLE:
            text += f" ({e.get('infeasible', '')})"
        elif e.status == TrialStatus.LOST:
            text += f" ({e.get('lost', '')[:90]})"
        best, lat = e.best_accuracy, e.get("latency_ms")
        self.console.print(
            f"[{e.index:>{len(str(e.budget))}}/{e.budget}] #{e.number} {text} | MACs {_fmt_count(e.get('macs'))} | "
            f"params {_fmt_count(e.get('params'))} | latency {'-' if lat is None else f'{lat:.3g} ms'} | "
            f"{e.seconds:.1f} s | best {'-' if best is None else f'{best:.4f}'} | elapsed {_fmt_time(e.elapsed)}, "
            f"ETA {_fmt_time(e.eta)}", soft_wrap=True)
        self.progress.update(self.task, completed=e.index, info=f"best {best or 0:.4f}")

    def _total(self) -> int:
        return int(self.progress.tasks[0].total) if self.progress.tasks else 0


def _start_workers(console, args: argparse.Namespace, argv: list[str]) -> list:
    """Start ``--workers N`` - 1 more processes of the same command; this one is worker 0.

    Returns ``[(device, process or None, log path or None), ...]`` with this process first.
    """
    import subprocess


    devices = worker_devices(args.device, args.workers)
    strip = {"--workers", "--device", "--confirm"}  # worker 0 alone confirms, once the budget is done
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
        cmd = [sys.executable, "-m", "nasbox.cli", *rest, "--workers", "1", "--device", device, "--confirm", "0"]
        proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        console.print(f"worker {i}: pid {proc.pid} on {device}, log {log}")
        out.append((device, proc, log))
    console.print(f"worker 0: this process on {devices[0]}")
    return out


def cmd_search(args: argparse.Namespace, argv: list[str]) -> int:
    from rich.table import Table


    console = _console()
    config = _search_config(args, argv)
    config.check()
    children = _start_workers(console, args, argv) if args.workers > 1 else []
    if children:
        config.device = children[0][0]
    progress = _SearchProgress(console)
    try:
        result = run_search(config, progress, outputs=write_report)
    finally:
        progress.progress.stop()
    for _, proc, log in children[1:]:
        if proc.wait() != 0:
            console.print(f"worker {proc.pid} ended with exit code {proc.returncode}; see {log}")
    if children and not result.interrupted:
        result = run_search(config, outputs=write_report)  # every worker is done: tables and report of the whole study
    pareto = result.pareto
    table = Table(title=f"Pareto-optimal candidates of {result.study_name} ({len(pareto)} of {len(result.trials)} "
                        f"trials; objectives {', '.join(result.objectives)})")
    for col, just in (("rank", "right"), ("trial", "right"), ("accuracy", "right"), ("MACs", "right"),
                      ("params", "right"), ("latency ms", "right"), ("encoding", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for i, row in pareto.iterrows():
        table.add_row(str(i + 1), str(row["number"]), fmt_acc(row["accuracy"]), _fmt_count(row["macs"]),
                      _fmt_count(row["params"]), fmt_ms(row["latency_ms"]), str(row["encoding"]))
    console.print(table)
    console.print("files written:")
    for path in result.files:
        console.print(f"  {path}")
    console.print(f"  {result.report_dir / 'archs'}/<arch_id>.json")
    if result.interrupted:
        console.print("stopped: finished trials are kept. Resume with:\n  nasbox " + shlex.join(argv))
        return 130
    return 0
