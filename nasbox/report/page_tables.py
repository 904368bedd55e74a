"""The page's tables: the Pareto-optimal candidates (first on the page), the classic networks, every trial.

Rendering only: the numbers come from the compute modules. Every table is sortable (click a column);
a number's cell carries its exact value in ``data-v``, which is what it sorts by.
"""

from __future__ import annotations

from nasbox.report.accuracy import AccuracyScale, Scored
from nasbox.report.candidates import Candidate, ZooComparison
from nasbox.report.collect import ReportData, TrialRow
from nasbox.report.commands import storage_hint, trial_commands, zoo_command
from nasbox.report.format import esc, fmt_count, fmt_interval, fmt_ms, fmt_score, wrap_encoding
from nasbox.report.fronts import COSTS
from nasbox.study.schema import TrialStatus

__all__ = ["all_trials_section", "candidates_section", "num_cell", "precision_note", "zoo_section"]


def num_cell(value: float | None, text: str) -> str:
    """A right-aligned cell that sorts by ``value``."""
    v = "" if value is None else repr(float(value)) if isinstance(value, float) else str(value)
    return f'<td class="num" data-v="{esc(v)}">{esc(text)}</td>'


def _score_cells(s: Scored | None) -> str:
    return (num_cell(None if s is None else s.value, fmt_score(s))
            + num_cell(None if s is None or s.interval is None else s.interval[0], fmt_interval(s)))


def precision_note(scale: AccuracyScale) -> str:
    """How the accuracies are shown, in a sentence (plain text)."""
    if scale.val_size is None:
        return ("Accuracy in percent; the search did not record its validation split's size, so no interval is "
                "given.")
    d = scale.decimals
    digits = "whole percents" if d == 0 else f"percent to {d} decimal{'s' if d > 1 else ''}"
    return (f"Accuracy on the {scale.val_size:,}-image validation split, in {digits} (one image is "
            f"{100 / scale.val_size:.3g} points, so more digits would say nothing), with its 95% Wilson score "
            "interval.")


def _commands_cell(data: ReportData, number: int) -> str:
    lines = []
    for command in trial_commands(data, number):
        lines.append(f'<div class="cmd"><code>{esc(command)}</code><button type="button" class="copy" '
                     f'data-copy="{esc(command)}" title="copy the command">copy</button></div>')
    return f'<td class="cmds">{"".join(lines)}</td>'


def candidates_section(data: ReportData, rows: list[Candidate], scale: AccuracyScale, with_zoo: bool) -> str:
    """The Pareto-optimal candidates, most accurate first, each with the commands that train and export it."""
    body = []
    for c in rows:
        t = c.trial
        links = (f'<a href="archs/{esc(t.arch_id)}.html">layers</a> · <a href="archs/{esc(t.arch_id)}.json">JSON</a>'
                 if t.arch_id else "-")
        fronts = "".join(f'<span class="tag">{esc(COSTS[f][1])}</span>' for f in c.fronts)
        zoo = f"<td>{esc(', '.join(c.beats)) or '-'}</td>" if with_zoo else ""
        body.append(
            f'<tr id="cand-{t.number}" data-trial="{t.number}">{num_cell(c.rank, str(c.rank))}'
            f"{num_cell(t.number, '#' + str(t.number))}{_score_cells(scale.of(t.accuracy, t.scored_by))}"
            f"{num_cell(t.macs, fmt_count(t.macs))}{num_cell(t.flops, fmt_count(t.flops))}"
            f"{num_cell(t.params, fmt_count(t.params))}{num_cell(t.latency_ms, fmt_ms(t.latency_ms))}"
            f"{num_cell(t.latency_iqr_ms, fmt_ms(t.latency_iqr_ms))}<td>{fronts or '-'}</td>{zoo}"
            f'<td class="enc">{wrap_encoding(t.encoding, " | ")}</td><td>{links}</td>{_commands_cell(data, t.number)}</tr>')
    zoo_head = "<th>dominates (zoo)</th>" if with_zoo else ""
    hint = storage_hint(data)
    return f"""<section id="candidates"><h2>Pareto-optimal candidates ({len(rows)})</h2>
<p class="note">Non-dominated in all objectives among the feasible, trained trials (one trial per genotype), most
accurate first; click a column to sort. {esc(precision_note(scale))} MACs and FLOPs at batch 1 (FLOPs = 2 x MACs);
latency: median batch-1 ms and its IQR. The last column trains a candidate fully (test accuracy at the end) and
exports it.{f' {esc(hint)}' if hint else ''}</p>
<div class="scroll"><table class="sortable" id="pareto-table"><thead><tr><th class="num">rank</th><th class="num">trial</th>
<th class="num">accuracy</th><th class="num">95% interval</th><th class="num">MACs</th><th class="num">FLOPs</th>
<th class="num">params</th><th class="num">latency ms</th><th class="num">IQR ms</th><th>2-D fronts</th>{zoo_head}
<th>encoding</th><th>genotype</th><th>train / export</th></tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"""


def _verdict(data: ReportData, c: ZooComparison, scale: AccuracyScale) -> str:
    ref = c.cheapest or c.closest
    if ref is None:
        return "no trained candidate yet"
    ratio = ", ".join(f"{100 * v:.3g}% of its {COSTS[k][1]}" for k, v in c.ratios.items())
    lead = "reaches its accuracy with" if c.cheapest else "does not reach it; the most accurate has"
    name = f'<a href="#cand-{ref.number}">#{ref.number}</a>' if ref.number in data.pareto_numbers else f"#{ref.number}"
    return f"trial {name} {lead} {esc(fmt_score(scale.of(ref.accuracy, ref.scored_by)))} at {esc(ratio)}"


def zoo_section(data: ReportData, comparisons: list[ZooComparison], zoo_hint: str, scale: AccuracyScale) -> str:
    """The classic networks scored at this study's fidelity, as a table; those with costs only, in one line."""
    scored = [c for c in comparisons if c.zoo.accuracy is not None]
    unscored = [c.zoo.name for c in comparisons if c.zoo.accuracy is None]
    parts = []
    if scored:
        rows = []
        for c in scored:
            z = c.zoo
            dom = ", ".join(f"#{n}" for n in c.dominating[:12]) + (" ..." if len(c.dominating) > 12 else "")
            rows.append(f"<tr><td>{esc(z.name)}</td>{_score_cells(scale.of(z.accuracy))}"
                        f"{num_cell(z.macs, fmt_count(z.macs))}{num_cell(z.params, fmt_count(z.params))}"
                        f"{num_cell(z.latency_ms, fmt_ms(z.latency_ms))}<td>{_verdict(data, c, scale)}</td>"
                        f"<td>{len(c.dominating)}{(': ' + dom) if dom else ''}</td></tr>")
        parts.append(f"""<p class="note" id="zoo-hint">Scored at this study's fidelity, on its validation split
({esc(zoo_hint)}).</p>
<table class="sortable" id="zoo-table"><thead><tr><th>network</th><th class="num">accuracy</th>
<th class="num">95% interval</th><th class="num">MACs</th><th class="num">params</th><th class="num">latency ms</th>
<th>cheapest candidate at least as accurate</th><th>candidates better in accuracy and every cost</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>""")
    if unscored:
        how = (f"run '{zoo_command(data)}' to train them as the candidates were" if scored else zoo_hint)
        parts.append(f'<p id="zoo-unscored">Not scored at this fidelity: {esc(", ".join(unscored))}. Their MACs, '
                     f"parameters and latency are the open stars under each front, one row each; {esc(how)}.</p>")
    if not parts:
        parts.append(f'<p class="note" id="zoo-hint">{esc(zoo_hint)}</p>')
    return f'<section id="zoo"><h2>Against the classic networks</h2>{"".join(parts)}</section>'


def _note(t: TrialRow) -> str:
    if t.repeat_of is not None:
        return f"repeat of #{t.repeat_of}"
    if t.stopped_at is not None:
        return f"stopped at iteration {t.stopped_at}" + (f" of {t.budget_iterations}" if t.budget_iterations else "")
    if t.confirms is not None:
        return f"confirms #{t.confirms}"
    if t.reason and t.status not in (TrialStatus.COMPLETE, TrialStatus.REPEAT):
        return t.reason[:200]
    return ""


def _short(value: int | None, text: str) -> str:
    """A count's cell of the table of all trials, which sorts by ``value`` (its text, ``5.87M``, would not). The
    other cells sort by their text, a number first (``87.1%``), and are right-aligned by the table's style: few
    bytes a row, for studies of 10,000 trials."""
    return f'<td data-v="{"" if value is None else int(value)}">{esc(text)}</td>'


def all_trials_section(data: ReportData, scale: AccuracyScale) -> str:
    """Every trial of the study, in trial order, sortable; its genotype's page a click away."""
    body = []
    for t in data.trials:
        known = t.arch_id and t.macs is not None  # decodable: it has a page
        genotype = f'<a href="archs/{esc(t.arch_id)}.html">{esc(t.arch_id)}</a>' if known else esc(t.arch_id)
        s = scale.of(t.accuracy, t.scored_by)
        body.append(f"<tr><td>{t.number}</td><td>{esc(t.status)}</td><td>{fmt_score(s)}</td><td>{fmt_interval(s)}</td>"
                    f"{_short(t.macs, fmt_count(t.macs))}{_short(t.params, fmt_count(t.params))}"
                    f"<td>{fmt_ms(t.latency_ms)}</td><td>{genotype}</td><td>{esc(_note(t))}</td></tr>")
    return f"""<section id="trials"><h2>All trials ({len(data.trials)})</h2>
<p class="note">Every trial in the order it started; click a column to sort. A stopped trial shows its accuracy at the
rung where it stopped; trials without an accuracy say why. The genotype links to its per-layer page (its encoding is
there). The same rows, with every recorded column, are in trials.csv.</p>
<div class="scroll"><table class="sortable" id="all-table"><thead><tr><th class="num">trial</th><th>status</th>
<th class="num">accuracy</th><th class="num">95% interval</th><th class="num">MACs</th><th class="num">params</th>
<th class="num">latency ms</th>
<th>genotype</th><th>note</th></tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"""
