"""The report's main page, ``index.html`` (rendering only: every number comes from the compute modules).

The page needs no network: Plotly is loaded from the reports folder's ``plotly-<version>.min.js``, the figures
are inline JSON, and without JavaScript the PNG plots stand in for them. Every string that
comes from the user or the storage (study name, space arguments, encodings, reasons) is
escaped.
"""

from __future__ import annotations

from nasbox.report._assets import CSS, SCRIPT
from nasbox.report.accuracy import AccuracyScale, accuracy_scale
from nasbox.report.candidates import Candidate, ZooComparison
from nasbox.report.collect import NOT_TRAINED, ReportData
from nasbox.report.fidelity import FidelityInfo, fidelity_blocks
from nasbox.report.final import FinalInfo, final_blocks
from nasbox.report.format import esc, fmt_interval, fmt_missing, fmt_objective, fmt_score, script_json
from nasbox.report.fronts import COSTS, FrontInfo
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.optuna_views import OptunaViews
from nasbox.report.page_tables import all_trials_section, candidates_section, zoo_section
from nasbox.report.plotly_figs import front_caption, front_figure, hypervolume_figure
from nasbox.report.screening import Block, ScreeningInfo, screening_blocks
from nasbox.report.setup_info import METRIC_DEFINITIONS, setup_facts, space_bounds
from nasbox.study.schema import TrialStatus

__all__ = ["PLOTLY_JS", "render_index"]

#: plotly's bundle in the reports folder, one copy for every study's page
PLOTLY_JS = "plotly-{version}.min.js"


def _header(data: ReportData, hv: HypervolumeInfo, n_pareto: int, scale: AccuracyScale) -> str:
    counts = ", ".join(f"{n} {esc(s)}" for s, n in data.counts().items() if n)
    best = max((t for t in data.trials if t.trained), key=lambda t: t.accuracy or 0.0, default=None)
    score = None if best is None else scale.of(best.accuracy, best.scored_by)
    interval = f" ({fmt_interval(score)})" if score and score.interval else ""
    return f"""<header>
<h1>nasbox report · <span id="study-name">{esc(data.study_name)}</span></h1>
<p>{len(data.trials)} trials ({counts or 'none'}) · objectives: {esc(', '.join(data.objectives))}</p>
{f'<p class="note" id="storage-note">Storage: {esc(data.storage_note)}.</p>' if data.storage_note else ''}
<p><span class="kpi">best accuracy <b>{fmt_score(score)}</b>{interval}</span>
<span class="kpi">Pareto-optimal candidates <b>{n_pareto}</b></span>
<span class="kpi">hypervolume <b id="hv-value">{hv.value:.4f}</b></span></p>
</header>"""


def _front_panel(info: FrontInfo) -> str:
    notes = [f"{len(info.stopped)} stopped early, at their accuracy at the rung"] if info.stopped else []
    strip = ", ".join(f"{len(info.strip[s])} {esc(s)}" for s in NOT_TRAINED if info.strip.get(s))
    if strip:
        notes.append(f"without an accuracy, in the strip: {strip}")
    if info.missing:
        notes.append(f'<span class="missing" data-numbers="{" ".join(str(t.number) for t in info.missing)}">'
                     f"no {esc(COSTS[info.cost][1])} value, not drawn: {esc(fmt_missing(info.missing, 40))}</span>")
    png = f"front_{info.cost}.png"
    note = " · ".join(notes) or "every trial is drawn"
    return (f'<div><h3>{esc(front_caption(info))}</h3><div class="plot" id="front-{info.cost}">'
            f'<img src="{png}" alt="accuracy vs {esc(info.cost)}"></div><p class="note">{note}</p></div>')


def _view(views: OptunaViews, key: str, title: str, plotly: bool) -> str:
    if key not in views.figures:
        body = ""
    elif plotly:
        body = (f'<div class="plot" id="view-{key}"><p class="note">(an interactive plot: it needs the plotly bundle '
                f'of the reports folder, which this page could not load)</p></div>')
    else:
        body = '<p class="note">(drawn with plotly, which this page could not load)</p>'
    return f'<div><h3>{title}</h3>{body}<p class="note" id="view-{key}-note">{esc(views.captions.get(key, ""))}</p></div>'


def _views_section(views: OptunaViews | None, plotly: bool) -> str:
    """Which choices matter (importance, parallel coordinates) and the timeline by worker."""
    if views is None:
        return ""
    return f"""<section id="views"><h2>Which choices matter</h2>
{_view(views, "importance", "parameter importance, per objective", plotly)}
{_view(views, "parallel", "parallel coordinates of the most important parameters", plotly)}
<h2>Timeline by worker</h2>
{_view(views, "timeline", "trials over time", plotly)}</section>"""


def _hv_section(hv: HypervolumeInfo) -> str:
    ref = ", ".join(f"{esc(o)} {fmt_objective(o, r)}"
                    for o, r in zip(hv.objectives, hv.reference, strict=True))
    return f"""<section id="hypervolume"><h2>Hypervolume</h2>
<p>Hypervolume <b>{hv.value:.4f}</b> of {hv.n_points} trained, feasible trials in all {len(hv.objectives)} objectives.
Reference point: <span id="hv-reference">{ref}</span> (accuracy 0; each cost 1.1 x its largest value among these
trials). Each cost is divided by its reference and accuracy is used as it is, so the space is the unit box and the
hypervolume is the share of it that the candidates dominate.</p>
<h3>hypervolume after each trial</h3>
<div class="plot" id="hv-history"><img src="hypervolume.png" alt="hypervolume over trials"></div></section>"""


def _screening_section(data: ReportData, info: ScreeningInfo) -> str:
    if not info.shown:
        return ""
    return _blocks_section("screening", "Early stopping and pre-screening", screening_blocks(info, data.config))


def _fidelity_section(info: FidelityInfo) -> str:
    if not info.shown:
        return ""
    picture = ('<div class="plot" id="fidelity-plot"><img src="fidelity.png" alt="estimated against confirmed accuracy '
               'and the supernet\'s training curve"></div>')
    return _blocks_section("fidelity", "Estimated and confirmed accuracy", fidelity_blocks(info), picture)


def _blocks_section(key: str, title: str, blocks: list[Block], extra: str = "") -> str:
    """A section of paragraphs, each with its table (:class:`~nasbox.report.screening.Block`)."""
    parts = []
    for block in blocks:
        parts.append(f'<p id="{block.key}">{esc(block.text)}</p>')
        if block.rows:
            head = "".join(f"<th>{esc(h)}</th>" for h in block.head)
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(f'<table id="{block.key}-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return f'<section id="{key}"><h2>{esc(title)}</h2>{"".join(parts)}{extra}</section>'


def _setup_section(data: ReportData) -> str:
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in setup_facts(data))
    bounds = "".join(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in space_bounds(data))
    metrics = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in METRIC_DEFINITIONS)
    return f"""<section id="setup"><h2>Setup</h2><dl class="facts">{facts}</dl>
<h2>Space bounds</h2><dl class="facts" id="space-bounds">{bounds or '<dt>-</dt><dd>not recorded</dd>'}</dl></section>
<section id="metrics"><h2>Metric definitions</h2><dl class="facts">{metrics}</dl></section>"""


def _final_section(info: FinalInfo | None) -> str:
    """The final rung, first on the page when there is one: test accuracy beside the classic networks."""
    if info is None:
        return ""
    pictures = '<div class="plot" id="final-plot"><img src="final.png" alt="final rung: test accuracy against the costs">'
    if info.calibration.rungs:
        pictures += '<img src="calibration.png" alt="each cheaper score against the final test accuracy">'
    return _blocks_section("final-rung", "The final rung: test accuracy", final_blocks(info), pictures + "</div>")


def render_index(data: ReportData, fronts: list[FrontInfo], hv: HypervolumeInfo, rows: list[Candidate],
                 comparisons: list[ZooComparison], zoo_hint: str, screening: ScreeningInfo, *,
                 plotly: str | None = None, views: OptunaViews | None = None,
                 fidelity: FidelityInfo | None = None, final: FinalInfo | None = None) -> str:
    """The whole ``index.html`` as text; ``plotly``: the page's link to plotly's bundle (``None``: PNG plots only)."""
    scale = accuracy_scale(data)
    figures = {f"front-{f.cost}": front_figure(f, scale) for f in fronts}
    figures["hv-history"] = hypervolume_figure(hv)
    figures.update({f"view-{k}": v for k, v in (views.figures if views else {}).items()})
    panels = "".join(_front_panel(f) for f in fronts)
    stopped = ("; hollow grey diamonds: candidates stopped early, at their accuracy at the rung where they stopped "
               "(never on a front)") if data.counts()[TrialStatus.STOPPED] else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>nasbox report · {esc(data.study_name)}</title>
<style>{CSS}</style>
{f'<script src="{esc(plotly)}"></script>' if plotly else ''}
</head><body>
{_header(data, hv, len(rows), scale)}
<main>
{_final_section(final)}
{candidates_section(data, rows, scale, any(c.zoo.accuracy is not None for c in comparisons))}
<section id="fronts"><h2>Pareto fronts: accuracy against each cost</h2>
<p class="note">Blue: the 2-D front (non-dominated in accuracy and that cost), joined by its staircase; grey:
dominated; open circles: repeats of a genotype scored before; stars: classic networks (open stars, each in a row of
its own under the plot: not scored at this fidelity){stopped}. Trials without an accuracy (infeasible, screened out, failed, lost,
running) sit in the strip under each plot at their cost. Hover a point for its encoding and metrics, its accuracy with
its 95% interval. Log-scaled costs.</p>
<div class="grid">{panels}</div>
</section>
{zoo_section(data, comparisons, zoo_hint, scale)}
{_screening_section(data, screening)}
{_fidelity_section(fidelity) if fidelity is not None else ""}
{_hv_section(hv)}
{_views_section(views, bool(plotly))}
{all_trials_section(data, scale)}
{_setup_section(data)}
<section id="files"><h2>Files</h2><p><a href="report.md">report.md</a> · <a href="trials.csv">trials.csv</a> (every
trial) · <a href="pareto.csv">pareto.csv</a> (the candidates above) · <a href="archs/">archs/</a> (genotypes as JSON and
per-layer tables)</p></section>
</main>
<script type="application/json" id="figures">{script_json(figures)}</script>
<script>{SCRIPT}</script>
</body></html>
"""
