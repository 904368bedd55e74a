"""Scale: does a study of 10,000 trials stay as fast per trial as one of 1,000?

A search of the ``nb201`` space scored by a table (``--evaluator table:``, the synthetic
NAS-Bench-201 table of ``bench/tables.py`` unless ``--table`` names a real one), so that a trial
is nasbox's own work only: the sampler's proposal, analysis, constraints, the study's reads and
writes, the live report. Objectives accuracy, MACs and parameters (no latency: nothing is
timed or built). Per trial it records the wall time between two trials' ends and, of it, the
time spent inside the sampler (``infer_relative_search_space``, ``sample_relative``,
``sample_independent``, ``before_trial``, ``after_trial``, wrapped for the run); nasbox's own
work is the rest (``own``), and, of it, what is not ``Study.ask`` (``beyond ask``: Optuna's ask
scans the study for waiting trials, a loop over all of them).

It prints the medians of both over trials 500-1,000 and over the last 500, their ratio
(``own growth``: the target is at most 1.5 with the random sampler), the search's wall time,
the time the final report took (at the end of the search, and rebuilt by ``nasbox report`` in a
fresh process), and how the report opens in headless Chromium: load time, the time a script
then takes to answer (a frozen page would not), and the points drawn.

    python bench/scale.py [--trials 10000] [--sampler random|tpe] [--storage URL] [--out DIR]
        [--table FILE.csv] [--no-browser] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_TIMED = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial")


class SamplerClock:
    """Wraps the samplers' methods so that the time spent inside them is summed, and ``Study.ask``
    (the sampler's ``before_trial`` and Optuna's storage work of creating the trial) apart."""

    def __init__(self) -> None:
        self.seconds = 0.0  # inside the sampler (in ask or in the suggest calls)
        self.ask_seconds = 0.0  # inside Study.ask, the sampler's part excluded
        self.depth = 0  # a sampler calling another's method (TPE's random start-up) is counted once

    def install(self) -> None:
        import optuna

        classes = [optuna.samplers.RandomSampler, optuna.samplers.TPESampler, optuna.samplers.NSGAIISampler]
        for cls in classes:
            for name in _TIMED:
                if name in cls.__dict__:
                    setattr(cls, name, self._wrap(cls.__dict__[name]))
        ask = optuna.Study.ask

        @functools.wraps(ask)
        def timed_ask(study, *args, **kwargs):
            t0, inside = time.perf_counter(), self.seconds
            try:
                return ask(study, *args, **kwargs)
            finally:
                self.ask_seconds += time.perf_counter() - t0 - (self.seconds - inside)

        optuna.Study.ask = timed_ask

    def _wrap(self, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds += time.perf_counter() - t0

        return timed


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(args: argparse.Namespace) -> dict:
    from tables import nb201_table

    from nasbox.search import SearchConfig, run_search
    from nasbox.search.events import TrialEnded
    from nasbox.study.schema import COUNTED
    from nasbox.study.storage import mask_url

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    table = Path(args.table) if args.table else out / "nb201-synthetic.csv"
    if not table.exists():
        nb201_table(table)
    clock = SamplerClock()
    clock.install()
    ends: list[tuple[int, str, float, float, float]] = []  # (number, status, end, sampler s, ask s so far)
    marks: dict[str, float] = {}

    def progress(event) -> None:
        now = time.perf_counter()
        if isinstance(event, TrialEnded):
            ends.append((event.number, str(event.status), now, clock.seconds, clock.ask_seconds))
            if event.index % 1000 == 0:
                print(f"  trial {event.index:,}/{event.budget:,} at {now - marks['start']:.0f} s", flush=True)

    study = f"scale-{args.sampler}-{args.trials}"
    config = SearchConfig(space="nb201", dataset="synthetic",
                          dataset_options={"synthetic_shape": (3, 32, 32), "synthetic_size": 200},
                          evaluator=f"table:{table}", objectives=("accuracy", "macs", "params"), budget=args.trials,
                          sampler=args.sampler, storage=args.storage, reports_dir=str(out), device="cpu",
                          classics=False, seed=args.seed, study=study)
    marks["start"] = time.perf_counter()
    result = run_search(config, progress)
    marks["returned"] = time.perf_counter()
    steps, own, sampler, asked = [], [], [], []
    _, _, previous_end, previous_sampler, previous_ask = ends[0]
    for _, _, end, sampled, in_asks in ends[1:]:
        step, in_sampler, in_ask = end - previous_end, sampled - previous_sampler, in_asks - previous_ask
        steps.append(step)
        sampler.append(in_sampler)
        asked.append(in_ask)
        own.append(step - in_sampler)
        previous_end, previous_sampler, previous_ask = end, sampled, in_asks
    beyond_ask = [o - a for o, a in zip(own, asked, strict=True)]
    n = len(own)
    early = slice(499, 999) if n >= 1500 else slice(n // 10, n // 5)
    late = slice(max(0, n - 500), n)
    figures = {
        "trials": len(ends), "sampler": args.sampler, "storage": mask_url(args.storage) if args.storage else "journal",
        "counted": int(result.trials["status"].isin([str(s) for s in COUNTED]).sum()),
        "wall_s": marks["returned"] - marks["start"],
        "own_ms_500_1000": 1000 * _median(own[early]), "own_ms_last_500": 1000 * _median(own[late]),
        "sampler_ms_500_1000": 1000 * _median(sampler[early]), "sampler_ms_last_500": 1000 * _median(sampler[late]),
        "trial_ms_500_1000": 1000 * _median(steps[early]), "trial_ms_last_500": 1000 * _median(steps[late]),
        "ask_ms_500_1000": 1000 * _median(asked[early]), "ask_ms_last_500": 1000 * _median(asked[late]),
        "beyond_ask_ms_500_1000": 1000 * _median(beyond_ask[early]),
        "beyond_ask_ms_last_500": 1000 * _median(beyond_ask[late]),
    }
    figures["own_growth"] = figures["own_ms_last_500"] / figures["own_ms_500_1000"]
    figures["beyond_ask_growth"] = figures["beyond_ask_ms_last_500"] / figures["beyond_ask_ms_500_1000"]
    figures["sampler_growth"] = (figures["sampler_ms_last_500"] / figures["sampler_ms_500_1000"]
                                 if figures["sampler_ms_500_1000"] > 0 else float("nan"))
    storage = ["--storage", args.storage] if args.storage else []
    t0 = time.perf_counter()
    subprocess.run(["nasbox", "report", "--study", study, "--reports-dir", str(out), *storage], check=True,
                   stdout=subprocess.DEVNULL)
    figures["nasbox_report_s"] = time.perf_counter() - t0
    page = out / study / "index.html"
    figures["page_mb"] = sum(f.stat().st_size for f in (out / study).glob("*.html")) / 1e6
    if args.browser:
        figures.update(_browse(page, out / "chromium-profile"))
    return figures


def _browse(page: Path, profile: Path) -> dict:
    from tests.report.chromium import CHROMIUM, DRAWN, Chromium

    if CHROMIUM is None:
        return {"browser": "no chromium"}
    browser = Chromium(profile)
    try:
        t0 = time.perf_counter()
        session = browser.open(page.as_uri())
        loaded = time.perf_counter() - t0
        t1 = time.perf_counter()
        figures = browser.evaluate(session, DRAWN)
        answered = time.perf_counter() - t1
        problems = browser.problems()
    finally:
        browser.close()
    return {"browser_load_s": loaded, "browser_answer_s": answered,
            "points_drawn": sum(f["points"] for f in figures.values()), "plots": len(figures),
            "browser_problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--storage", help="an RDB URL (postgresql://...); default: the journal file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", help="a table of nb201 arch strings (default: the synthetic one)")
    parser.add_argument("--out", default="bench/runs/scale")
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    figures = run(args)
    for key, value in figures.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    print(f"own work per trial, last 500 / trials 500-1,000 ({args.sampler}, {figures['storage']}): "
          f"{figures['own_growth']:.2f} ({figures['beyond_ask_growth']:.2f} beyond Optuna's ask)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
