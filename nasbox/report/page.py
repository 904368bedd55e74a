"""The report's main page, ``index.html`` (rendering only: every number comes from the compute modules).

The page needs no network: Plotly is loaded from the reports folder's ``plotly-<version>.min.js``, the figures
are inline JSON, and without JavaScript the PNG plots stand in for them. Every string that
comes from the user or the storage (study name, space arguments, encodings, reasons) is
escaped.
"""

from __future__ import annotations

from nasbox.report._assets import CSS, SCRIPT
from nasbox.report.candidates import Candidate, ZooComparison
from nasbox.report.collect import NOT_TRAINED, ReportData
from nasbox.report.fidelity import FidelityInfo, fidelity_blocks
from nasbox.report.format import (
    esc,
    fmt_acc,
    fmt_count,
    fmt_missing,
    fmt_ms,
    fmt_objective,
    script_json,
    wrap_encoding,
)
from nasbox.report.fronts import COSTS, FrontInfo
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.optuna_views import OptunaViews
from nasbox.report.plotly_figs import front_caption, front_figure, hypervolume_figure
from nasbox.report.screening import Block, ScreeningInfo, screening_blocks
from nasbox.report.setup_info import METRIC_DEFINITIONS, setup_facts, space_bounds
from nasbox.study.schema import TrialStatus

__all__ = ["PLOTLY_JS", "render_index"]

#: plotly's bundle in the reports folder, one copy for every study's page
PLOTLY_JS = "plotly-{version}.min.js"


def _num_cell(value: float | None, text: str) -> str:
    v = "" if value is None else repr(float(value)) if isinstance(value, float) else str(value)
    return f'<td class="num" data-v="{esc(v)}">{esc(text)}</td>'


def _header(data: ReportData, hv: HypervolumeInfo, n_pareto: int) -> str:
    counts = ", ".join(f"{n} {esc(s)}" for s, n in data.counts().items() if n)
    accs = [t.accuracy for t in data.trials if t.trained]
    best = max(accs) if accs else None
    return f"""<header>
<h1>nasbox report · <span id="study-name">{esc(data.study_name)}</span></h1>
<p>{len(data.trials)} trials ({counts or 'none'}) · objectives: {esc(', '.join(data.objectives))}</p>
{f'<p class="note" id="storage-note">Storage: {esc(data.storage_note)}.</p>' if data.storage_note else ''}
<p><span class="kpi">best accuracy <b>{fmt_acc(best)}</b></span>
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


def _zoo_section(data: ReportData, comparisons: list[ZooComparison], zoo_hint: str) -> str:
    if not comparisons:
        return f'<p class="note" id="zoo-hint">Classic networks: {esc(zoo_hint)}</p>'
    rows = []
    for c in comparisons:
        z = c.zoo
        ref = c.cheapest or c.closest
        if z.accuracy is None:
            verdict = "accuracy not scored at this fidelity"
        elif ref is None:
            verdict = "no trained candidate yet"
        else:
            ratio = ", ".join(f"{100 * v:.3g}% of its {COSTS[k][1]}" for k, v in c.ratios.items())
            lead = "reaches its accuracy with" if c.cheapest else "does not reach it; the most accurate has"
            name = (f'<a href="#cand-{ref.number}">#{ref.number}</a>' if ref.number in data.pareto_numbers
                    else f"#{ref.number}")
            verdict = f"trial {name} {lead} {fmt_acc(ref.accuracy)} at {ratio}"
        dom = ", ".join(f"#{n}" for n in c.dominating[:12]) + (" ..." if len(c.dominating) > 12 else "")
        better = "-" if z.accuracy is None else f"{len(c.dominating)}{(': ' + dom) if dom else ''}"
        rows.append(f"<tr><td>{esc(z.name)}</td>{_num_cell(z.accuracy, fmt_acc(z.accuracy))}"
                    f"{_num_cell(z.macs, fmt_count(z.macs))}{_num_cell(z.params, fmt_count(z.params))}"
                    f"{_num_cell(z.latency_ms, fmt_ms(z.latency_ms))}<td>{verdict}</td><td>{better}</td></tr>")
    return f"""<h2>Against the classic networks</h2>
<p class="note" id="zoo-hint">The classic networks at this study's input; scores: {esc(zoo_hint)}.</p>
<table class="sortable" id="zoo-table"><thead><tr><th>network</th><th class="num">accuracy</th><th class="num">MACs</th>
<th class="num">params</th><th class="num">latency ms</th><th>cheapest candidate at least as accurate</th>
<th>candidates better in accuracy and every cost</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"""


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


def _candidates_table(rows: list[Candidate], with_zoo: bool) -> str:
    body = []
    for c in rows:
        t = c.trial
        links = (f'<a href="archs/{esc(t.arch_id)}.html">layers</a> · <a href="archs/{esc(t.arch_id)}.json">JSON</a>'
                 if t.arch_id else "-")
        fronts = "".join(f'<span class="tag">{esc(COSTS[f][1])}</span>' for f in c.fronts)
        zoo = f"<td>{esc(', '.join(c.beats)) or '-'}</td>" if with_zoo else ""
        body.append(
            f'<tr id="cand-{t.number}" data-trial="{t.number}">{_num_cell(c.rank, str(c.rank))}'
            f"{_num_cell(t.number, '#' + str(t.number))}{_num_cell(t.accuracy, fmt_acc(t.accuracy))}"
            f"{_num_cell(t.macs, fmt_count(t.macs))}{_num_cell(t.flops, fmt_count(t.flops))}"
            f"{_num_cell(t.params, fmt_count(t.params))}{_num_cell(t.latency_ms, fmt_ms(t.latency_ms))}"
            f"{_num_cell(t.latency_iqr_ms, fmt_ms(t.latency_iqr_ms))}<td>{fronts or '-'}</td>{zoo}"
            f'<td class="enc">{wrap_encoding(t.encoding, " | ")}</td><td>{links}</td></tr>')
    zoo_head = "<th>dominates (zoo)</th>" if with_zoo else ""
    return f"""<section id="candidates"><h2>Pareto-optimal candidates ({len(rows)})</h2>
<p class="note">Non-dominated in all objectives among the feasible, trained trials (one trial per genotype), most
accurate first. Click a column to sort. MACs and FLOPs at batch 1 (FLOPs = 2 x MACs); latency: median batch-1 ms
and its IQR.</p>
<table class="sortable" id="pareto-table"><thead><tr><th class="num">rank</th><th class="num">trial</th>
<th class="num">accuracy</th><th class="num">MACs</th><th class="num">FLOPs</th><th class="num">params</th>
<th class="num">latency ms</th><th class="num">IQR ms</th><th>2-D fronts</th>{zoo_head}<th>encoding</th>
<th>genotype</th></tr></thead><tbody>{''.join(body)}</tbody></table></section>"""


def _setup_section(data: ReportData) -> str:
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in setup_facts(data))
    bounds = "".join(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in space_bounds(data))
    metrics = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in METRIC_DEFINITIONS)
    return f"""<section id="setup"><h2>Setup</h2><dl class="facts">{facts}</dl>
<h2>Space bounds</h2><dl class="facts" id="space-bounds">{bounds or '<dt>-</dt><dd>not recorded</dd>'}</dl></section>
<section id="metrics"><h2>Metric definitions</h2><dl class="facts">{metrics}</dl></section>"""


def render_index(data: ReportData, fronts: list[FrontInfo], hv: HypervolumeInfo, rows: list[Candidate],
                 comparisons: list[ZooComparison], zoo_hint: str, screening: ScreeningInfo, *,
                 plotly: str | None = None, views: OptunaViews | None = None,
                 fidelity: FidelityInfo | None = None) -> str:
    """The whole ``index.html`` as text; ``plotly``: the page's link to plotly's bundle (``None``: PNG plots only)."""
    figures = {f"front-{f.cost}": front_figure(f) for f in fronts}
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
{_header(data, hv, len(rows))}
<main>
<section id="fronts"><h2>Pareto fronts: accuracy against each cost</h2>
<p class="note">Blue: the 2-D front (non-dominated in accuracy and that cost), joined by its staircase; grey:
dominated; open circles: repeats of a genotype scored before; stars: classic networks{stopped}. Trials without an
accuracy (infeasible, screened out, failed, lost, running) sit in the strip under each plot at their cost. Hover a
point for its encoding and metrics. Log-scaled costs.</p>
<div class="grid">{panels}</div>
{_zoo_section(data, comparisons, zoo_hint)}
</section>
{_screening_section(data, screening)}
{_fidelity_section(fidelity) if fidelity is not None else ""}
{_hv_section(hv)}
{_views_section(views, bool(plotly))}
{_candidates_table(rows, bool(comparisons))}
{_setup_section(data)}
<section id="files"><h2>Files</h2><p><a href="report.md">report.md</a> · <a href="trials.csv">trials.csv</a> (every
trial) · <a href="pareto.csv">pareto.csv</a> (the candidates above) · <a href="archs/">archs/</a> (genotypes as JSON and
per-layer tables)</p></section>
</main>
<script type="application/json" id="figures">{script_json(figures)}</script>
<script>{SCRIPT}</script>
</body></html>
"""
