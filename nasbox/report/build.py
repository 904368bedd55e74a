"""Building a study's report folder: compute once, render every page and plot, write atomically.

``reports/<study>/`` receives ``index.html`` (which loads ``reports/plotly-<version>.min.js``,
one copy per reports folder, from plotly's public API),
``report.md``, the PNG plots, ``trials.csv``, ``pareto.csv`` and, under ``archs/``, each
genotype as JSON and its per-layer page. Everything is derived from the storage (and the
zoo cache beside the report folders), so rebuilding from a copy of the storage gives the
same files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

import optuna

from nasbox.errors import NasboxError
from nasbox.files import atomic_write
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.report.candidates import candidates, zoo_comparisons
from nasbox.report.collect import ReportData, collect, finished_count
from nasbox.report.commands import zoo_command
from nasbox.report.fidelity import fidelity_info
from nasbox.report.final import final_info
from nasbox.report.final_png import write_calibration_png, write_final_png
from nasbox.report.fronts import front_infos
from nasbox.report.hypervolume import hypervolume_info
from nasbox.report.layers import render_layers
from nasbox.report.markdown import render_markdown
from nasbox.report.optuna_views import OptunaViews, optuna_views
from nasbox.report.page import PLOTLY_JS, render_index
from nasbox.report.png import write_fidelity_png, write_front_png, write_hypervolume_png
from nasbox.report.screening import screening_info
from nasbox.spaces import SearchSpace, study_space
from nasbox.study.schema import TrialStatus
from nasbox.study.tables import write_study_tables
from nasbox.zoo.costs import classic_costs
from nasbox.zoo.scores import CACHE_DIR, ZooScore, load_zoo_scores, settings_from_config

__all__ = ["Report", "build_report", "plotly_js", "write_report"]


class Report(NamedTuple):
    """What :func:`build_report` wrote."""

    report_dir: Path
    index: Path
    files: list[Path]
    data: ReportData


def plotly_js() -> tuple[str, str] | None:
    """``(version, text)`` of plotly's JavaScript bundle, from its public API
    (``plotly.offline.get_plotlyjs``); ``None`` when plotly is not installed."""
    if importlib.util.find_spec("plotly") is None:
        return None
    import plotly  # heavy: only when a report is written
    from plotly.offline import get_plotlyjs

    return plotly.__version__, get_plotlyjs()


def _share_plotly(report_dir: Path, reports_dir: Path) -> str | None:
    """Write ``plotly-<version>.min.js`` once into the reports folder (a study folder keeps no copy of
    its own); the page's relative link to it, or ``None`` without plotly (the page shows PNGs)."""
    bundle = plotly_js()
    if bundle is None:
        return None
    version, text = bundle
    target = reports_dir / PLOTLY_JS.format(version=version)
    if not target.is_file() or target.stat().st_size != len(text.encode()):
        atomic_write(target, text)
    old = report_dir / "plotly.min.js"  # the per-study copy earlier versions wrote
    if old.is_file():
        old.unlink()
    return Path(os.path.relpath(target, report_dir)).as_posix()


def _classics(data: ReportData) -> list[ZooScore]:
    """The classic networks at the study's input: analytic costs, the latency its search measured."""
    shape, classes = data.setup.get("input_shape"), data.setup.get("num_classes")
    if not (isinstance(shape, list) and len(shape) == 3 and isinstance(classes, int)):
        return []
    measured = data.classics.get("models") if data.classics.get("device") in (*data.devices, None) else None
    try:
        return classic_costs(tuple(shape), classes, measured)
    except (NasboxError, ValueError):
        return []


def _space(study: optuna.Study) -> SearchSpace | None:
    """The study's space, when it still loads (it says which parameters apply to a trial)."""
    try:
        return study_space(study.user_attrs)
    except NasboxError:
        return None


def _zoo(data: ReportData, reports_dir: Path) -> tuple[list[ZooScore], str]:
    """Every classic network: scored at the study's fidelity where ``nasbox zoo`` did, else its costs
    only (``unscored``); and a line on where the scores come from."""
    settings = settings_from_config(data.config, data.devices[0] if len(data.devices) == 1 else None)
    command = zoo_command(data)
    scored = {s.name: s for s in load_zoo_scores(reports_dir, settings) if s.status == TrialStatus.COMPLETE}
    costs = _classics(data)
    same = {c.name for c in costs if c.name in scored and scored[c.name].arch_id == c.arch_id}
    classics = [scored[c.name] if c.name in same else c for c in costs]  # a score of an older genotype: costs only
    classics += [s for n, s in scored.items() if n not in {c.name for c in costs}]  # no setup to compare with
    if settings is None:
        return classics, "accuracy not comparable yet (the study's device or fidelity is not known)"
    if not any(s.status == TrialStatus.COMPLETE for s in classics):
        return classics, (f"run '{command}' to train them as the candidates were (cached in "
                          f"{CACHE_DIR}/{settings.key()}.json)")
    return classics, f"cache {CACHE_DIR}/{settings.key()}.json"


#: bumped when the per-genotype page changes, so that pages written before are rewritten
LAYERS_PAGE_FORMAT = 1
_STAMP = re.compile(rb'<meta name="nasbox-page" content="([0-9a-f]*)">')


def page_stamp(study_name: str, trials: list) -> str:
    """What a genotype's page is made from (its study, its trials' numbers, statuses and encoding, the
    page's format), hashed: a page whose stamp is unchanged is not made again."""
    made_of = [LAYERS_PAGE_FORMAT, _nasbox_version(), study_name, [(t.number, str(t.status), t.encoding) for t in trials]]
    return hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:16]


@functools.cache
def _nasbox_version() -> str:
    try:
        return importlib.metadata.version("nasbox")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _stamp_of(page: Path) -> str | None:
    try:
        with page.open("rb") as f:
            found = _STAMP.search(f.read(512))
    except OSError:
        return None
    return found.group(1).decode() if found else None


def _archs(data: ReportData, report_dir: Path) -> list[Path]:
    """A page per genotype (and its JSON where it is missing). A study of thousands of genotypes is
    rebuilt in seconds, and the live report every few trials: a page whose stamp says it was made from
    the same trials is left as it is, without decoding or analysing its genotype again."""
    files = []
    seen: dict[str, list] = {}
    for t in data.trials:
        if t.arch_id and t.encoding:
            seen.setdefault(t.arch_id, []).append(t)
    for arch_id, trials in seen.items():
        page, stamp = report_dir / "archs" / f"{arch_id}.html", page_stamp(data.study_name, trials)
        path = report_dir / "archs" / f"{arch_id}.json"
        if _stamp_of(page) == stamp and path.is_file():
            continue
        try:
            arch = Architecture.decode(trials[0].encoding)
            info = analyze(arch)
        except (NasboxError, ValueError, TypeError):
            continue  # not decodable (e.g. a user space's own blocks): no per-layer page
        if arch.arch_id != arch_id:
            continue
        if not path.is_file():  # the search writes it; a report on another machine restores it
            files.append(atomic_write(path, arch.to_json(indent=2) + "\n"))
        files.append(atomic_write(page, render_layers(arch, info, trials, data.study_name, stamp)))
    return files


def write_report(study: optuna.Study, report_dir: Path) -> list[Path]:
    """The search's ``outputs`` hook: the report beside the tables the search wrote; the files
    a reader opens (``report.md``, ``index.html``), or none before any trial finished."""
    report = build_report(study, report_dir, write_csv=False)
    return [] if report is None else [report.report_dir / "report.md", report.index]


def build_report(study: optuna.Study, report_dir: str | Path, *, reports_dir: str | Path | None = None,
                 write_csv: bool = True) -> Report | None:
    """Write the report of ``study`` into ``report_dir``.

    Args:
        study: a study written by :func:`nasbox.search.run_search` (it may still be running).
        report_dir: the study's report folder (``reports/<study>``).
        reports_dir: where the zoo cache lies (default: the parent of ``report_dir``).
        write_csv: also write ``trials.csv`` and ``pareto.csv`` (the search writes its own).

    Returns:
        The files written, or ``None`` when the study has no finished trial yet (nothing is
        written then, and an earlier report is kept).
    """
    if finished_count(study) == 0:
        return None
    report_dir = Path(report_dir)
    reports_dir = Path(reports_dir) if reports_dir is not None else report_dir.parent
    data = collect(study)
    zoo, zoo_hint = _zoo(data, reports_dir)
    fronts = front_infos(data, zoo)
    hv = hypervolume_info(data)
    rows = candidates(data, fronts, zoo)
    comparisons = zoo_comparisons(data, zoo)
    screening = screening_info(data)
    fidelity = fidelity_info(data)
    final = final_info(data)
    report_dir.mkdir(parents=True, exist_ok=True)
    files = write_study_tables(study, report_dir)[2] if write_csv else []
    files += _archs(data, report_dir)
    for f in fronts:
        files.append(write_front_png(f, report_dir / f"front_{f.cost}.png"))
    files.append(write_hypervolume_png(hv, report_dir / "hypervolume.png"))
    picture = write_fidelity_png(fidelity, report_dir / "fidelity.png")
    if picture is not None:
        files.append(picture)
    if final is not None:
        files.append(write_final_png(final, report_dir / "final.png"))
        files += [p for p in [write_calibration_png(final.calibration, report_dir / "calibration.png")] if p]
    js = _share_plotly(report_dir, reports_dir)
    if js is not None:
        files.append(reports_dir / Path(js).name)
    try:
        views = optuna_views(study, data, _space(study))
    except Exception as exc:  # an optional view never costs the report
        views = OptunaViews({}, {k: f"could not be computed: {type(exc).__name__}: {exc}"
                                 for k in ("importance", "parallel", "timeline")}, {}, ())
    files.append(atomic_write(report_dir / "report.md", render_markdown(data, fronts, hv, rows, comparisons, zoo_hint,
                                                                        screening, views=views, fidelity=fidelity,
                                                                        final=final)))
    index = atomic_write(report_dir / "index.html", render_index(data, fronts, hv, rows, comparisons, zoo_hint, screening,
                                                                 plotly=js, views=views, fidelity=fidelity, final=final))
    files.append(index)
    return Report(report_dir, index, files, data)
