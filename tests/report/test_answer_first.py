"""The report leads with the answer: the Pareto table and its commands first, accuracy to the precision its split
supports with its interval, the unscored classic networks in one line, every trial in a table, names that never
overlap in the PNG plots."""

from __future__ import annotations

import html
import itertools
import re
import shlex
from html.parser import HTMLParser

import pytest
from matplotlib.text import Text

from nasbox.report import build_report, collect, front_info, report_dir_for
from nasbox.report.accuracy import accuracy_scale, wilson_interval
from nasbox.report.build import _zoo
from nasbox.report.collect import ReportData
from nasbox.report.commands import storage_hint, trial_commands, zoo_command
from nasbox.report.plotly_figs import front_figure
from nasbox.report.png import _figure, front_png
from nasbox.zoo import ZOO_NAMES
from tests.report.chromium import overlapping
from tests.report.support import make_study, write_zoo_scores


class _Rows(HTMLParser):
    """The text of each cell of the table with the given id, and each cell's data-v."""

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
            self.cell = {"v": a.get("data-v"), "text": ""}

    def handle_data(self, text):
        if self.cell is not None:
            self.cell["text"] += text

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.inside = False


def _table(page: str, table_id: str) -> list[list[dict]]:
    parser = _Rows(table_id)
    parser.feed(page)
    return [r for r in parser.rows if r]


def test_the_pareto_table_and_its_commands_come_before_the_fronts(evil):
    reports, study = evil
    report = build_report(study, report_dir_for(study.study_name, reports))
    page = report.index.read_text()
    assert page.index('id="pareto-table"') < page.index('id="fronts"') < page.index('class="plot"')
    md = (report.report_dir / "report.md").read_text()
    assert md.index("## Pareto-optimal candidates") < md.index("## Pareto fronts") < md.index("![accuracy vs")
    block = md.split("```bash\n", 1)[1].split("\n```\n", 1)[0].splitlines()
    for number in report.data.pareto_numbers:
        train, export = trial_commands(report.data, number)
        assert train in block and export in block
        # the shell reads the study's hostile name back as it is
        assert shlex.split(train) == ["nasbox", "train", "--study", study.study_name, "--trial", str(number)]
        assert shlex.split(export)[-2:] == ["--format", "onnx"]
        assert f'data-copy="{html.escape(train, quote=True)}"' in page  # the copy button's text, escaped
    rows = _table(page, "pareto-table")
    assert [r[-1]["text"] for r in rows] == [
        "copy".join(trial_commands(report.data, int(r[1]["text"][1:]))) + "copy" for r in rows]


def test_commands_name_a_reports_folder_and_a_storage_only_where_needed():
    def data(**config) -> ReportData:
        return ReportData("my study", ("accuracy",), ("maximize",), (), config=config)

    assert trial_commands(data(reports_dir="reports", storage="reports/my study/journal.log"), 3) == (
        "nasbox train --study 'my study' --trial 3", "nasbox export --study 'my study' --trial 3 --format onnx")
    train, _ = trial_commands(data(reports_dir="/tmp/r", storage="sqlite:////tmp/s.db"), 3)
    assert shlex.split(train) == ["nasbox", "train", "--study", "my study", "--reports-dir", "/tmp/r", "--storage",
                                  "sqlite:////tmp/s.db", "--trial", "3"]
    masked = data(storage="postgresql://nasbox:***@db/nasbox")  # the search keeps no password: the reader gives it
    assert "--storage" not in trial_commands(masked, 3)[0] and "NASBOX_STORAGE" in storage_hint(masked)
    assert storage_hint(data(storage="sqlite:////tmp/s.db")) == ""
    assert zoo_command(data(reports_dir="out")) == "nasbox zoo --study 'my study' --reports-dir out"


def test_accuracy_is_shown_to_its_splits_precision_with_its_interval(evil):
    reports, study = evil  # a 27-image validation split: one image is 3.7 points, so whole percents
    report = build_report(study, report_dir_for(study.study_name, reports))
    page = report.index.read_text()
    for row in _table(page, "pareto-table"):
        accuracy = float(row[2]["v"])
        low, high = wilson_interval(accuracy, 27)
        assert row[2]["text"] == f"{100 * accuracy:.0f}%" and row[3]["text"] == f"{100 * low:.0f}–{100 * high:.0f}%"
    assert "0.6000" not in page and "60%" in page
    data = collect(study)
    scale = accuracy_scale(data)
    front = front_figure(front_info(data, "macs"), scale)
    trace = next(t for t in front["data"] if t["legendgroup"] == "front")
    for n, text in zip(trace["customdata"], trace["text"], strict=True):
        low, high = wilson_interval(data.trial(n).accuracy, 27)
        assert f"(95% CI {100 * low:.0f}–{100 * high:.0f}%, 27 validation images)" in text


def test_large_groups_carry_the_interval_in_their_short_hover_label(evil, monkeypatch):
    import nasbox.report.plotly_figs as figs

    monkeypatch.setattr(figs, "LARGE_GROUP", 1)
    data = collect(evil[1])
    traces = front_figure(front_info(data, "macs"), accuracy_scale(data))["data"]
    large = [t for t in traces if t["type"] == "scattergl" and t["yaxis"] == "y"]
    assert large and all("text" not in t and "95% CI %{hovertext}" in t["hovertemplate"] for t in large)
    for t in large:
        for n, ci in zip(t["customdata"], t["hovertext"], strict=True):
            low, high = wilson_interval(data.trial(n).accuracy, 27)
            assert ci == f"{100 * low:.0f}–{100 * high:.0f}%"


def test_unscored_classic_networks_are_one_line_not_a_table(evil):
    reports, study = evil
    report = build_report(study, report_dir_for(study.study_name, reports))
    page = report.index.read_text()
    assert 'id="zoo-table"' not in page and page.count('id="zoo-unscored"') == 1
    line = re.search(r'<p id="zoo-unscored">(.*?)</p>', page, re.S).group(1)
    assert line.startswith(f"Not scored at this fidelity: {', '.join(ZOO_NAMES)}.")
    md = (report.report_dir / "report.md").read_text()
    assert "accuracy not scored" not in md and "| alexnet |" not in md
    assert sum(line.startswith("Not scored at this fidelity: alexnet") for line in md.splitlines()) == 1


def test_scored_classic_networks_get_a_table_the_others_one_line(tmp_path):
    reports = tmp_path / "reports"
    study = make_study(reports, "zoo")
    scored = {"resnet18": 0.55, "mobilenet_v2": 0.5, "vgg11": 0.4}
    write_zoo_scores(reports, study, scored)
    page = build_report(study, report_dir_for("zoo", reports)).index.read_text()
    rows = _table(page, "zoo-table")
    assert {r[0]["text"]: float(r[1]["v"]) for r in rows} == {n: scored[n] for n in ZOO_NAMES if n in scored}
    for r in rows:
        low, high = wilson_interval(float(r[1]["v"]), 27)
        assert r[2]["text"] == f"{100 * low:.0f}–{100 * high:.0f}%"
    line = re.search(r'<p id="zoo-unscored">(.*?)</p>', page, re.S).group(1)
    assert line.startswith("Not scored at this fidelity: " + ", ".join(n for n in ZOO_NAMES if n not in scored) + ".")


def test_every_trial_is_in_the_sortable_table_of_all_trials(evil):
    reports, study = evil
    page = build_report(study, report_dir_for(study.study_name, reports)).index.read_text()
    assert '<table class="sortable" id="all-table">' in page
    rows = _table(page, "all-table")
    data = collect(study)
    assert [int(r[0]["text"]) for r in rows] == [t.number for t in study.trials]
    for r, t in zip(rows, data.trials, strict=True):
        assert r[1]["text"] == t.status
        assert r[2]["text"] == ("-" if t.accuracy is None else f"{100 * t.accuracy:.0f}%")  # 27 images: whole percents
        assert r[4]["v"] == ("" if t.macs is None else str(t.macs))  # a count sorts by its value, not by "5.87M"
    assert rows[4][-1]["text"] == "repeat of #1" and "interrupted" in rows[8][-1]["text"]


def _name_boxes(fig) -> list[tuple[str, tuple[float, float, float, float]]]:
    fig.canvas.draw()  # an annotation's place is known once drawn
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        for text in ax.texts:
            box = Text.get_window_extent(text, renderer)  # the name alone (an Annotation's own box holds its line)
            out.append((text.get_text(), (box.x0, box.y0, box.x1, box.y1)))
    return out


@pytest.mark.parametrize("scored", [False, True])
def test_no_two_names_overlap_in_the_png_fronts(tmp_path, scored):
    reports = tmp_path / "reports"
    study = make_study(reports, "png")
    if scored:  # all nine on the plot, crowded into a few points of accuracy
        write_zoo_scores(reports, study, {n: 0.5 + 0.01 * i for i, n in enumerate(ZOO_NAMES)})
    report = build_report(study, report_dir_for("png", reports))
    zoo, _ = _zoo(report.data, reports)  # the classic networks as the report drew them
    for cost in ("macs", "params"):
        fig = front_png(front_info(report.data, cost, zoo))
        names = _name_boxes(fig)
        assert sorted(n for n, _ in names) == sorted(ZOO_NAMES), cost
        for (a, (l1, b1, r1, t1)), (b, (l2, b2, r2, t2)) in itertools.combinations(names, 2):
            assert not (l1 < r2 and l2 < r1 and b1 < t2 and b2 < t1), (cost, a, b)
        width, height = fig.get_size_inches() * fig.dpi
        assert all(0 <= box[0] and box[2] <= width and 0 <= box[1] and box[3] <= height for _, box in names), cost


def test_the_png_name_check_sees_names_that_overlap():
    fig = _figure(4, 3)
    ax = fig.subplots()
    ax.annotate("resnet18", (0.5, 0.5), xytext=(0, 0), textcoords="offset points", arrowprops={"arrowstyle": "-"})
    ax.annotate("se_resnet18", (0.5, 0.5), xytext=(3, 2), textcoords="offset points")
    (_, (l1, b1, r1, t1)), (_, (l2, b2, r2, t2)) = _name_boxes(fig)
    assert l1 < r2 and l2 < r1 and b1 < t2 and b2 < t1


def test_the_page_name_check_sees_names_that_overlap():
    names = [{"text": "a", "box": [0, 0, 10, 10]}, {"text": "b", "box": [9, 9, 20, 20]},
             {"text": "c", "box": [20, 0, 30, 9]}]  # c touches b's edge only
    assert overlapping(names) == [("a", "b")]
