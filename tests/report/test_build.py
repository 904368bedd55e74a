"""Tests of nasbox.report.build: the page, Markdown and CSVs agree with the storage, escaping, rebuilds."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nasbox.cli import main
from nasbox.report import build_report, report_dir_for
from nasbox.report.accuracy import accuracy_scale, wilson_interval
from nasbox.report.commands import trial_commands
from nasbox.report.format import fmt_count, fmt_ms
from nasbox.study.schema import JOURNAL_NAME
from tests.report.support import _metrics, make_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


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
    scale = accuracy_scale(report.data)
    assert scale.val_size == 27  # the split the search recorded
    for r in rows:
        a = attrs[int(r[1])]
        assert (float(r[2]), int(r[4]), int(r[5]), int(r[6]), float(r[7]), float(r[8])) == (
            a["accuracy"], a["macs"], a["flops"], a["params"], a["latency_ms"], a["latency_iqr_ms"])
        assert float(r[3]) == pytest.approx(wilson_interval(a["accuracy"], 27)[0], rel=1e-12)  # sorts by its low end
        train, export = trial_commands(report.data, int(r[1]))
        assert r[-1] == f"{train}copy{export}copy"  # each row's commands, to copy
    for fig_id in ("front-macs", "front-params", "front-latency"):
        key = fig_id.split("-")[1]
        for trace in _figures(page)[fig_id]["data"]:
            if trace["legendgroup"] in ("zoo", "classic"):  # the classic networks (tests/report/test_fronts.py)
                continue
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
        low, high = wilson_interval(a["accuracy"], 27)
        assert cells[2:9] == [f"{100 * a['accuracy']:.0f}%", f"{100 * low:.0f}–{100 * high:.0f}%", fmt_count(a["macs"]),
                              fmt_count(a["flops"]), fmt_count(a["params"]), fmt_ms(a["latency_ms"]),
                              fmt_ms(a["latency_iqr_ms"])]
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
    prose, _, rest = md.partition("```bash\n")
    block, _, after = rest.partition("\n```\n")
    prose += after  # a fenced block is shown as it is: the commands hold the name quoted for a shell
    assert "<script>" not in prose and "<img" not in prose
    assert f"nasbox train --study {shlex.quote(study.study_name)} --trial 1" in block.splitlines()
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


def test_without_plotly_the_page_shows_the_png_plots(evil, monkeypatch):
    import nasbox.report.build as build

    reports, study = evil
    for old in reports.glob("plotly-*.min.js"):
        old.unlink()
    monkeypatch.setattr(build, "plotly_js", lambda: None)
    report = build_report(study, report_dir_for(study.study_name, reports))
    page = report.index.read_text()
    assert "<script src=" not in page and not list(reports.glob("plotly*"))
    for name in ("front_macs.png", "front_params.png", "front_latency.png", "hypervolume.png"):
        assert f'<img src="{name}"' in page and (report.report_dir / name).is_file()


def test_plotly_bundle_is_one_copy_per_reports_folder_from_plotlys_api(tmp_path):
    from plotly.offline import get_plotlyjs

    reports = tmp_path / "reports"
    first, second = make_study(reports, "first"), make_study(reports, "second")
    stale = report_dir_for("second", reports) / "plotly.min.js"  # what earlier versions copied into each study
    stale.write_text("old")
    pages = [build_report(s, report_dir_for(s.study_name, reports)).index for s in (first, second)]
    bundles = list(reports.glob("plotly-*.min.js"))
    assert len(bundles) == 1 and bundles[0].read_text() == get_plotlyjs()
    assert not stale.exists() and not list(reports.glob("*/plotly*.js"))
    for page in pages:
        assert f'<script src="../{bundles[0].name}"></script>' in page.read_text()


def test_building_a_report_leaves_matplotlibs_backend_alone(tmp_path):
    """A notebook's backend is its own: importing nasbox and drawing the PNG plots must not switch it."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import nasbox, nasbox.report\n"
        "from nasbox.report import build_report, report_dir_for\n"
        "from tests.report.support import make_study\n"
        f"study = make_study(__import__('pathlib').Path({str(tmp_path / 'r')!r}), 'nb')\n"
        f"report = build_report(study, report_dir_for('nb', {str(tmp_path / 'r')!r}))\n"
        "import matplotlib.pyplot as plt\n"
        "print(matplotlib.get_backend(), len(plt.get_fignums()), (report.report_dir / 'front_macs.png').is_file())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2],
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["svg", "0", "True"]


def test_a_rebuild_makes_only_the_genotype_pages_whose_trials_changed(tmp_path, monkeypatch):
    import nasbox.report.build as build

    study = make_study(tmp_path, "stamps")
    folder = report_dir_for("stamps", tmp_path)
    build_report(study, folder)
    pages = {p.name: p.read_text() for p in (folder / "archs").glob("*.html")}
    assert pages and all('name="nasbox-page" content="' in text for text in pages.values())
    decoded = []
    real = build.analyze  # what makes a page: a genotype analysed
    monkeypatch.setattr(build, "analyze", lambda arch: decoded.append(arch.encode()) or real(arch))
    build_report(study, folder)
    assert decoded == [] and {p.name: p.read_text() for p in (folder / "archs").glob("*.html")} == pages
    first = study.trials[0]  # another trial of genotype #0: only its page is made again
    study.add_trial(create_trial(values=first.values, user_attrs={**first.user_attrs, "status": "repeat",
                                                                  "repeat_of": 0}))
    stale = folder / "archs" / f"{study.trials[2].user_attrs['arch_id']}.html"
    stale.write_text(pages[stale.name].replace('content="', 'content="0', 1))  # a page of another format
    build_report(study, folder)
    assert sorted(decoded) == sorted([first.user_attrs["encoding"], study.trials[2].user_attrs["encoding"]])
    again = (folder / "archs" / f"{first.user_attrs['arch_id']}.html").read_text()
    assert f"#{len(study.trials) - 1} (repeat)" in again and stale.read_text() == pages[stale.name]


def test_large_groups_are_drawn_with_webgl_and_short_labels(tmp_path, monkeypatch):
    """Past LARGE_GROUP points a group is a scattergl trace labelled from its customdata (no per-point
    text: a 10,000-trial page was 11 MB of hover labels), and the timeline is WebGL line segments."""
    import nasbox.report.optuna_views as views
    import nasbox.report.plotly_figs as figs

    monkeypatch.setattr(figs, "LARGE_GROUP", 2)
    monkeypatch.setattr(views, "LARGE_GROUP", 2)
    study = make_study(tmp_path, "large")
    report = build_report(study, report_dir_for("large", tmp_path))
    figures = _figures(report.index.read_text())
    traces = [t for t in figures["front-macs"]["data"] if t.get("legendgroup") not in ("zoo", "classic")]
    large = [t for t in traces if len(t["customdata"]) > 2]
    small = [t for t in traces if len(t["customdata"]) <= 2]
    assert large and small
    assert all(t["type"] == "scattergl" and "text" not in t and "%{customdata}" in t["hovertemplate"] for t in large)
    assert all(t["type"] == "scatter" and len(t["text"]) == len(t["customdata"]) for t in small)
    drawn = sorted(n for t in traces for n in t["customdata"])
    assert drawn == sorted(set(drawn)) and len(drawn) >= 5  # every trial still drawn, once
    timeline = figures["view-timeline"]["data"]
    assert all(t["type"] == "scattergl" and t["mode"] == "lines" for t in timeline)
    for t in timeline:
        numbers = t["customdata"]
        assert numbers[2::3] == [None] * (len(numbers) // 3) and numbers[0::3] == numbers[1::3]
