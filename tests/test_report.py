"""Tests of nasbox.report: groups and numbers from the storage, escaping, rebuilding from a copy,
and the page in headless Chromium (no console error, no network request, every trial plotted)."""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import nasbox.measure.latency
import nasbox.model.build
import nasbox.search.costs
import nasbox.search.loop
from nasbox.cli import main
from nasbox.model.analysis import analyze
from nasbox.report import build_report, collect, front_info, hypervolume_info, open_study, report_dir_for, write_report
from nasbox.report.format import fmt_acc, fmt_count, fmt_ms
from nasbox.search import SearchConfig, run_search
from nasbox.spaces import get_space
from nasbox.study.pareto import hypervolume
from nasbox.study.schema import JOURNAL_NAME
from nasbox.study.storage import open_storage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"
DATA = {"synthetic_shape": (3, 16, 16), "synthetic_size": 300}
TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}
EVIL = "<script>alert('x')</script>&\"'"
EVIL_STUDY = f"evil{EVIL}"
DIRS = [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * 3
optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- a hand-made study


def _encodings(n: int) -> list[str]:
    space = get_space("seed_cnn", input_shape=(3, 16, 16), num_classes=10, args=TINY)
    out = []
    for seed in range(n):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        out.append(space.sample(study.ask()).encode())
    return out


def _metrics(encoding: str) -> dict:
    from nasbox.model.arch import Architecture

    arch = Architecture.decode(encoding)
    info = analyze(arch)
    return {"encoding": encoding, "arch_id": arch.arch_id, "macs": info.macs, "flops": info.flops, "params": info.params}


def make_study(reports: Path, name: str = EVIL_STUDY, *, finished: bool = True) -> optuna.Study:
    """Every kind of trial: 0-3 complete, 4 a repeat of 1, 5 infeasible, 6 failed (genotype known),
    7 failed with an undecodable, hostile encoding, 8 lost, 9 running."""
    storage, _ = open_storage(None, report_dir_for(name, reports))
    study = optuna.create_study(study_name=name, storage=storage, directions=DIRS)
    config = {"space": "seed_cnn", "space_args": {**TINY, "note": EVIL}, "dataset": "synthetic",
              "dataset_options": {"synthetic_shape": [3, 16, 16], "synthetic_size": 300}, "val_fraction": 0.1,
              "epochs": None, "iterations": 4, "batch_size": 32, "lr": 0.1, "sampler": "random", "seed": 0,
              "budget": 10, "max_macs": 10**9, "device": "cpu", "latency_threads": 1, "storage": None}
    study.set_user_attr("config", config)
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs", "params", "latency"], "space": "seed_cnn",
                                  "space_bounds": {"channels": [4, 8], "evil": EVIL}, "dataset": "synthetic",
                                  "input_shape": [3, 16, 16], "num_classes": 10})
    study.set_user_attr("run", {"splits": {"train": 243, "val": 27, "test": 30}, "versions": {"optuna": "5.0.0"}})
    if not finished:
        study.ask()
        return study
    enc = _encodings(8)
    common = {"device": "cpu", "fidelity": {"iterations": 4, "batch_size": 32}, "iterations": 4, "epochs": 0.571}
    done = [(0.60, 0.30), (0.70, 0.50), (0.50, 0.20), (0.40, 0.45)]
    for i, (acc, lat) in enumerate(done):
        m = _metrics(enc[i])
        attrs = {**common, **m, "status": "complete", "accuracy": acc, "latency_ms": lat, "latency_iqr_ms": lat / 50}
        study.add_trial(create_trial(values=[acc, m["macs"], m["params"], lat], user_attrs=attrs,
                                     system_attrs={"constraints:max_macs": -1.0}))
    repeat = {**study.trials[1].user_attrs, "status": "repeat", "repeat_of": 1}
    study.add_trial(create_trial(values=study.trials[1].values, user_attrs=repeat,
                                 system_attrs={"constraints:max_macs": -1.0}))
    m = _metrics(enc[5])
    study.add_trial(create_trial(values=[0.0, m["macs"], m["params"], float("inf")],
                                 user_attrs={**common, **m, "status": "infeasible", "accuracy": 0.0,
                                             "infeasible": f"macs {m['macs']} > 1"},
                                 system_attrs={"constraints:max_macs": 5.0}))
    m = _metrics(enc[6])
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
        **common, "encoding": m["encoding"], "arch_id": m["arch_id"], "status": "failed",
        "fail_reason": f"TrainingError: the loss became nan {EVIL}"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
        **common, "encoding": f"<img src=x onerror=alert(1)>{EVIL}", "arch_id": "0badc0ffee00", "status": "failed",
        "fail_reason": "ShapeError: bad"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={**common, **_metrics(enc[7]), "lost": "interrupted"}))
    running = study.ask()
    running.set_user_attr("encoding", enc[0])
    return study


@pytest.fixture()
def evil(tmp_path) -> tuple[Path, optuna.Study]:
    reports = tmp_path / "reports"
    return reports, make_study(reports)


# --------------------------------------------------------------------------- plain data


def test_every_trial_lands_in_exactly_one_group_of_each_view(evil):
    _, study = evil
    data = collect(study)
    assert [t.status for t in data.trials] == ["complete"] * 4 + ["repeat", "infeasible", "failed", "failed", "lost",
                                                                   "running"]
    assert data.trials[6].costs_from_analysis and data.trials[6].macs == _metrics(data.trials[6].encoding)["macs"]
    for cost in ("macs", "params", "latency"):
        info = front_info(data, cost)
        groups = [info.front, info.dominated, info.repeat, info.missing, *info.strip.values()]
        numbers = [t.number for g in groups for t in g]
        assert sorted(numbers) == list(range(10)), cost
        assert [t.number for t in info.repeat] == [4]
        assert 7 in [t.number for t in info.missing]  # no genotype, no cost
    lat = front_info(data, "latency")
    assert [t.number for t in lat.front] == [2, 0, 1]  # 0.20 ms / 0.50, 0.30 / 0.60, 0.50 / 0.70
    assert [t.number for t in lat.dominated] == [3]  # 0.45 ms for 0.40: beaten by trial 0
    assert {t.number for t in lat.missing} == {5, 6, 7, 8, 9}  # latency never measured
    macs = front_info(data, "macs")
    assert [t.number for t in macs.strip["infeasible"]] == [5] and [t.number for t in macs.strip["failed"]] == [6]
    assert [t.number for t in macs.strip["lost"]] == [8] and [t.number for t in macs.strip["running"]] == [9]
    assert set(data.pareto_numbers) == {t.number for t in study.best_trials if t.number != 4}


def test_hypervolume_has_a_stated_reference_and_a_monotone_history(evil):
    _, study = evil
    data = collect(study)
    hv = hypervolume_info(data)
    done = [t for t in data.trials if t.status == "complete"]
    assert hv.reference == (0.0, 1.1 * max(t.macs for t in done), 1.1 * max(t.params for t in done),
                            pytest.approx(1.1 * 0.50))
    norm = [[t.accuracy, t.macs / hv.reference[1], t.params / hv.reference[2], t.latency_ms / hv.reference[3]]
            for t in done]
    assert hv.value == pytest.approx(hypervolume(norm, ["maximize"] + ["minimize"] * 3, [0, 1, 1, 1]))
    values = [v for _, v in hv.history]
    assert [n for n, _ in hv.history] == list(range(10)) and values == sorted(values)
    lat = front_info(data, "latency")  # 2-D, closed form: staircase of (0.2, .5), (0.3, .6), (0.5, .7) under 0.55
    r = lat.reference
    assert r == pytest.approx(0.55)
    assert lat.hypervolume == pytest.approx((0.5 * (r - 0.2) + 0.1 * (r - 0.3) + 0.1 * (r - 0.5)) / r)


# --------------------------------------------------------------------------- files


class _Cells(HTMLParser):
    """Rows of the table with the given id: each cell's data-v (or its text)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = [a.get("data-v"), ""]

    def handle_data(self, text):
        if self.cell is not None:
            self.cell[1] += text

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell[0] if self.cell[0] is not None else self.cell[1].strip())
            self.cell = None
        elif tag == "table":
            self.inside = False


def _figures(html_text: str) -> dict:
    m = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html_text, re.S)
    return json.loads(m.group(1))


def test_page_markdown_and_csvs_agree_with_the_storage(evil):
    reports, study = evil
    report = build_report(study, report_dir_for(study.study_name, reports))
    folder = report.report_dir
    attrs = {t.number: t.user_attrs for t in study.trials}
    page = (folder / "index.html").read_text()
    parser = _Cells("pareto-table")
    parser.feed(page)
    rows = [r for r in parser.rows if r]
    expected = sorted(report.data.pareto_numbers, key=lambda n: -attrs[n]["accuracy"])
    assert [int(r[1]) for r in rows] == expected and [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        a = attrs[int(r[1])]
        assert (float(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6]), float(r[7])) == (
            a["accuracy"], a["macs"], a["flops"], a["params"], a["latency_ms"], a["latency_iqr_ms"])
    for fig_id in ("front-macs", "front-params", "front-latency"):
        key = fig_id.split("-")[1]
        for trace in _figures(page)[fig_id]["data"]:
            for n, x, y in zip(trace["customdata"], trace["x"], trace["y"], strict=True):
                a = attrs[n]
                want = a.get("latency_ms" if key == "latency" else key)
                if want is None and key != "latency":  # failed or running: recomputed from the genotype
                    want = _metrics(a["encoding"])[key]
                assert x == want, (fig_id, n)
                if trace["yaxis"] == "y":
                    assert y == a["accuracy"]
    with open(folder / "pareto.csv") as f:
        pareto = list(csv.DictReader(f))
    assert [int(r["number"]) for r in pareto] == expected
    with open(folder / "trials.csv") as f:
        trials = {int(r["number"]): r for r in csv.DictReader(f)}
    assert sorted(trials) == list(range(10))
    for n, r in trials.items():
        for key in ("accuracy", "macs", "params", "latency_ms"):
            if key in attrs[n]:
                assert float(r[key]) == pytest.approx(attrs[n][key], rel=1e-12)
    md = (folder / "report.md").read_text()
    for n in expected:
        a = attrs[n]
        line = next(x for x in md.splitlines() if x.startswith("| ") and f"| #{n} |" in x)
        cells = [c.strip() for c in line.split(" | ")]
        assert cells[2:8] == [fmt_acc(a["accuracy"]), fmt_count(a["macs"]), fmt_count(a["flops"]),
                              fmt_count(a["params"]), fmt_ms(a["latency_ms"]), fmt_ms(a["latency_iqr_ms"])]
    assert "243 train, 27 val, 30 test" in page and "4 iterations = 0.57 epochs" in page and "batch 32" in page


def test_user_strings_are_escaped_everywhere(evil):
    reports, study = evil
    report = build_report(study, report_dir_for(study.study_name, reports))
    pages = [report.index.read_text()] + [p.read_text() for p in (report.report_dir / "archs").glob("*.html")]
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text and "onerror=alert(1)>" not in text
    page = pages[0]
    assert "evil&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;&#x27;" in page  # the study name
    assert page.count("<script") == 3  # plotly.min.js, the figures' JSON, the table sorter
    md = (report.report_dir / "report.md").read_text()
    assert "<script>" not in md and "<img" not in md
    # the hostile encoding has no per-layer page and is listed as not drawn
    assert not (report.report_dir / "archs" / "0badc0ffee00.html").exists()


def test_report_of_a_copy_is_identical_and_cli_errors_are_one_line(evil, tmp_path, capsys):
    reports, study = evil
    name = study.study_name
    assert main(["report", "--study", name, "--reports-dir", str(reports)]) == 0
    copy = tmp_path / "elsewhere"
    (copy / report_dir_for(name, ".").name).mkdir(parents=True)
    shutil.copy(report_dir_for(name, reports) / JOURNAL_NAME, report_dir_for(name, copy) / JOURNAL_NAME)
    assert main(["report", "--study", name, "--reports-dir", str(copy)]) == 0
    original, rebuilt = report_dir_for(name, reports), report_dir_for(name, copy)
    files = sorted(p.relative_to(original) for p in original.rglob("*") if p.is_file() and p.name != JOURNAL_NAME)
    assert Path("index.html") in files and Path("report.md") in files and Path("front_macs.png") in files
    assert sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*")
                  if p.is_file() and p.name != JOURNAL_NAME) == files
    for rel in files:
        assert (original / rel).read_bytes() == (rebuilt / rel).read_bytes(), rel
    capsys.readouterr()
    assert main(["report", "--study", "nope", "--reports-dir", str(reports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no study 'nope'") and err.count("\n") == 1
    assert not (reports / "nope").exists()


def test_a_study_without_a_finished_trial_says_so(tmp_path, capsys):
    reports = tmp_path / "reports"
    study = make_study(reports, "empty", finished=False)
    assert build_report(study, report_dir_for("empty", reports)) is None
    assert main(["report", "--study", "empty", "--reports-dir", str(reports)]) == 0
    assert "no finished trial yet" in capsys.readouterr().out
    assert not (reports / "empty" / "index.html").exists()


def test_a_fifty_trial_report_holds_every_trial(tmp_path):
    """(How fast a report is built is a benchmark's business, not a test's: a loaded machine
    made a timing assertion here fail at random.)"""
    reports = tmp_path / "reports"
    study = make_study(reports, "fifty")
    trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    for i in range(40):
        t = trials[i % 4]
        acc = t.values[0] * (0.5 + i / 80)
        study.add_trial(create_trial(values=[acc, *t.values[1:]], user_attrs={**t.user_attrs, "accuracy": acc},
                                     system_attrs=t.system_attrs))
    report = build_report(study, report_dir_for("fifty", reports))
    assert len(report.data.trials) == 50
    page = report.index.read_text()
    assert all(f"#{t.number}" in page for t in study.trials)


# --------------------------------------------------------------------------- the real thing, in Chromium


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no websocket library)."""

    def __init__(self, profile: Path) -> None:
        r_in, self._w = os.pipe()
        self._r, w_out = os.pipe()

        def fds() -> None:  # Chromium reads commands on fd 3 and answers on fd 4
            a, b = os.dup(r_in), os.dup(w_out)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1800",
             "about:blank"], preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_in)
        os.close(w_out)
        self._buf, self._id, self.events = b"", 0, []

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        return self._until(lambda m: m.get("id") == self._id, timeout)

    def _until(self, done, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                m = json.loads(raw)
                if done(m):
                    if "error" in m:
                        raise RuntimeError(m["error"])
                    return m
                self.events.append(m)
            if select.select([self._r], [], [], 0.2)[0]:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
        raise TimeoutError(f"no answer from chromium in {timeout} s")

    def open(self, url: str) -> str:
        """Open ``url`` in a new tab with network, console and log events on; wait for its load."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["result"]["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["result"]["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        if not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._until(lambda m: m.get("method") == "Page.loadEventFired", 30)
        time.sleep(0.3)
        return session

    def evaluate(self, session: str, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        return out["result"]["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, dialogs and any request that is not file: or data:."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:")):
                found.append(f"network request {p['request']['url']}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                found.append(f"console {p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"log: {p['entry']['text']}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {p.get('message')}")
        return found

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._w)
        os.close(self._r)


# every plotted trial number, per figure, and the numbers listed as "not drawn"
DRAWN = """(() => {
  const out = {};
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    const nums = [];
    gd.data.forEach(t => (t.customdata || []).forEach((n, i) => {
      if (typeof n === 'number' && t.x[i] !== null && t.y[i] !== null) nums.push(n);
    }));
    const note = gd.parentElement.querySelector('.missing');
    const missing = note ? note.dataset.numbers.split(' ').map(Number) : [];
    out[gd.id] = {drawn: nums, missing: missing, points: gd.querySelectorAll('.scatterlayer .point').length};
  });
  return out;
})()"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A real search on synthetic data: 7 trials, some infeasible, one forced failure."""
    reports = tmp_path_factory.mktemp("search") / "reports"
    real_build = nasbox.model.build.build_model
    calls = {"n": 0}

    def build(arch, seed=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("forced failure")
        return real_build(arch, seed=seed)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nasbox.search.loop, "build_model", build)
        mp.setattr(nasbox.search.costs, "measure_latency", functools.partial(
            nasbox.measure.measure_latency, min_runs=5, max_runs=20, budget_s=0.05, max_warmup_s=0.3))
        run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=DATA,
                                iterations=4, batch_size=32, budget=7, reports_dir=str(reports), device="cpu",
                                seed=0, sampler="random", max_macs=90_000, study="real"), outputs=write_report)
    return reports


def test_search_writes_the_report_and_records_its_setup(searched):
    folder = searched / "real"
    for name in ("index.html", "report.md", "trials.csv", "pareto.csv", "plotly.min.js", "front_macs.png",
                 "front_params.png", "front_latency.png", "hypervolume.png"):
        assert (folder / name).is_file(), name
    study = open_study("real", reports_dir=searched)
    run = study.user_attrs["run"]
    assert set(run["splits"]) == {"train", "val", "test"} and "torch" in run["versions"]
    statuses = {t.user_attrs.get("status") for t in study.trials}
    assert {"complete", "failed", "infeasible"} <= statuses


@pytest.mark.skipif(CHROMIUM is None, reason=f"Debian's chromium is not installed ({INSTALL})")
def test_page_opens_offline_in_chromium_with_every_trial_plotted(searched, tmp_path):
    shutil.copytree(searched / "real", tmp_path / "real")
    page = tmp_path / "real" / "index.html"
    evil_reports = tmp_path / "evil"
    evil_study = make_study(evil_reports)
    evil_page = build_report(evil_study, report_dir_for(evil_study.study_name, evil_reports)).index
    bad = tmp_path / "bad.html"  # the checker itself must see what it is there to catch
    bad.write_text('<!DOCTYPE html><link rel="icon" href="data:,"><img src="https://example.com/x.png">'
                   '<script>console.error("boom"); undefinedFunction();</script>')
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(bad.as_uri())
        found = " | ".join(browser.problems())
        assert "network request https://example.com/x.png" in found and "boom" in found and "exception" in found
        for path, study in ((page, open_study("real", reports_dir=searched)), (evil_page, evil_study)):
            session = browser.open(path.as_uri())
            assert browser.problems() == [], path
            figures = browser.evaluate(session, DRAWN)
            assert set(figures) == {"front-macs", "front-params", "front-latency", "hv-history"}
            numbers = {t.number for t in study.trials}
            for fig in ("front-macs", "front-params", "front-latency"):
                seen = set(figures[fig]["drawn"]) | set(figures[fig]["missing"])
                assert seen == numbers, (path.name, fig)
                assert figures[fig]["points"] >= len(set(figures[fig]["drawn"]))
            title = browser.evaluate(session, "document.getElementById('study-name').textContent")
            assert title == study.study_name
            rows = browser.evaluate(session, "document.querySelectorAll('#pareto-table tbody tr').length")
            assert rows == len(collect(study).pareto_numbers)
            accuracy = "[...document.querySelectorAll('#pareto-table tbody tr')].map(r => +r.cells[2].dataset.v)"
            browser.evaluate(session, "document.querySelectorAll('#pareto-table th')[2].click()")  # ascending
            assert browser.evaluate(session, accuracy) == sorted(browser.evaluate(session, accuracy))
    finally:
        browser.close()


def test_without_plotly_the_page_shows_the_png_plots(evil, monkeypatch):
    import nasbox.report.build as build

    reports, study = evil
    monkeypatch.setattr(build, "plotly_js_path", lambda: None)
    report = build_report(study, report_dir_for(study.study_name, reports))
    page = report.index.read_text()
    assert "plotly.min.js" not in page and not (report.report_dir / "plotly.min.js").exists()
    for name in ("front_macs.png", "front_params.png", "front_latency.png", "hypervolume.png"):
        assert f'<img src="{name}"' in page and (report.report_dir / name).is_file()
