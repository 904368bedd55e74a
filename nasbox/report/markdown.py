"""``report.md``: the page's essentials as Markdown, with the PNG plots."""

from __future__ import annotations

import re

from nasbox.report.accuracy import AccuracyScale, accuracy_scale
from nasbox.report.candidates import Candidate, ZooComparison
from nasbox.report.collect import ReportData
from nasbox.report.commands import storage_hint, trial_commands, zoo_command
from nasbox.report.fidelity import FidelityInfo, fidelity_blocks
from nasbox.report.final import FinalInfo, final_blocks
from nasbox.report.format import fmt_count, fmt_interval, fmt_missing, fmt_ms, fmt_objective, fmt_score
from nasbox.report.fronts import COSTS, FrontInfo
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.optuna_views import OptunaViews
from nasbox.report.page_tables import precision_note
from nasbox.report.screening import Block, ScreeningInfo, screening_blocks
from nasbox.report.setup_info import METRIC_DEFINITIONS, setup_facts, space_bounds

__all__ = ["md_escape", "render_markdown"]



def md_escape(text: object) -> str:
    """Text safe in a Markdown table cell: pipes, backslashes, HTML and emphasis escaped."""
    s = "-" if text is None else str(text)
    for ch in ("\\", "|", "*", "_", "`", "[", "]", "<", ">"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def _table(head: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    """A Markdown table of plain-text cells (escaped), left-aligned."""
    return ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows)]


def _screening(data: ReportData, info: ScreeningInfo) -> list[str]:
    if not info.shown:
        return []
    return _blocks("Early stopping and pre-screening", screening_blocks(info, data.config))


def _fidelity(info: FidelityInfo | None) -> list[str]:
    if info is None or not info.shown:
        return []
    return [*_blocks("Estimated and confirmed accuracy", fidelity_blocks(info)),
            "![estimated against confirmed accuracy, and the supernet's training curve](fidelity.png)", ""]


def _blocks(title: str, blocks: list[Block]) -> list[str]:
    out = [f"## {title}", ""]
    for block in blocks:
        out += [md_escape(block.text), ""]
        if block.rows:
            out += [*_table(block.head, block.rows), ""]
    return out


def _importance(views: OptunaViews | None, top: int = 5) -> list[str]:
    """The parameters that matter most, per objective (the page draws all of them)."""
    if views is None:
        return []
    out = ["## Which choices matter", ""]
    if not views.importances:
        return [*out, md_escape(views.captions.get("importance", "")), ""]
    out += ["| objective | most important parameters (importance) |", "|---|---|"]
    for name, scores in views.importances.items():
        best = ", ".join(f"{md_escape(p)} ({v:.2f})" for p, v in list(scores.items())[:top])
        out.append(f"| {md_escape(name)} | {best} |")
    return [*out, "", md_escape(views.captions.get("importance", "")), ""]


def _candidates(data: ReportData, rows: list[Candidate], scale: AccuracyScale) -> list[str]:
    """The Pareto table, then each row's commands in one block to copy."""
    out = [f"## Pareto-optimal candidates ({len(rows)})", "", md_escape(precision_note(scale)), "",
           "| rank | trial | accuracy | 95% interval | MACs | FLOPs | params | latency ms | IQR ms | 2-D fronts | encoding "
           "| genotype |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for c in rows:
        t = c.trial
        s = scale.of(t.accuracy, t.scored_by)
        links = f"[layers](archs/{t.arch_id}.html), [JSON](archs/{t.arch_id}.json)" if t.arch_id else "-"
        out.append(f"| {c.rank} | #{t.number} | {fmt_score(s)} | {fmt_interval(s)} | {fmt_count(t.macs)} | "
                   f"{fmt_count(t.flops)} | {fmt_count(t.params)} | {fmt_ms(t.latency_ms)} | {fmt_ms(t.latency_iqr_ms)} | "
                   f"{', '.join(COSTS[f][1] for f in c.fronts) or '-'} | {md_escape(t.encoding)} | {links} |")
    if rows:
        hint = storage_hint(data)
        lines = [line for c in rows
                 for line in (f"# rank {c.rank}: trial #{c.trial.number}", *trial_commands(data, c.trial.number))]
        fence = _fence(lines)
        out += ["", "Train a candidate fully (test accuracy at the end), or export it:"
                + (f" {md_escape(hint)}" if hint else ""), "", fence + "bash", *lines, fence]
    return [*out, ""]


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in ``lines`` (a study's name may hold some)."""
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _fronts(fronts: list[FrontInfo]) -> list[str]:
    out = ["## Pareto fronts", ""]
    for f in fronts:
        label = COSTS[f.cost][1]
        ref = fmt_ms(f.reference) + " ms" if f.cost == "latency" else fmt_count(f.reference)
        out += [f"![accuracy vs {label}](front_{f.cost}.png)", ""]
        note = (f"accuracy vs {label}: {len(f.front)} on the front, hypervolume {f.hypervolume:.4f} "
                f"(reference: accuracy 0, {label} {ref})")
        if f.stopped:
            note += f"; {len(f.stopped)} stopped early, at their accuracy at the rung"
        strip = ", ".join(f"{len(v)} {k}" for k, v in f.strip.items() if v)
        if strip:
            note += f"; without accuracy, in the strip: {strip}"
        if f.missing:
            note += "; no value, not drawn: " + fmt_missing(f.missing)
        out += [note + ".", ""]
    return out


def _zoo(data: ReportData, comparisons: list[ZooComparison], zoo_hint: str, scale: AccuracyScale) -> list[str]:
    """The classic networks scored at this fidelity as a table; those with costs only in one line."""
    out = ["## Against the classic networks", ""]
    scored = [c for c in comparisons if c.zoo.accuracy is not None]
    unscored = [c.zoo.name for c in comparisons if c.zoo.accuracy is None]
    if scored:
        out += ["| network | accuracy | 95% interval | MACs | params | latency ms | cheapest candidate at least as "
                "accurate | candidates better in everything |", "|---|---:|---:|---:|---:|---:|---|---:|"]
        for c in scored:
            z, ref = c.zoo, c.cheapest or c.closest
            s = scale.of(z.accuracy)
            ratio = ", ".join(f"{100 * v:.3g}% of its {COSTS[k][1]}" for k, v in c.ratios.items())
            acc = "" if ref is None else fmt_score(scale.of(ref.accuracy, ref.scored_by))
            verdict = "-" if ref is None else (f"#{ref.number}: {acc} at {ratio}" if c.cheapest
                                               else f"none; most accurate #{ref.number}: {acc} at {ratio}")
            out.append(f"| {md_escape(z.name)} | {fmt_score(s)} | {fmt_interval(s)} | {fmt_count(z.macs)} | "
                       f"{fmt_count(z.params)} | {fmt_ms(z.latency_ms)} | {verdict} | {len(c.dominating)} |")
        out += ["", f"Zoo scores: {md_escape(zoo_hint)}.", ""]
    if unscored:
        how = f"run '{zoo_command(data)}' to train them as the candidates were" if scored else zoo_hint
        out += [f"Not scored at this fidelity: {md_escape(', '.join(unscored))}. Their MACs, parameters and latency "
                f"are the open stars under each front, one row each; {md_escape(how)}.", ""]
    if not comparisons:
        out += [f"{md_escape(zoo_hint)}.", ""]
    return out


def _final(info: FinalInfo | None) -> list[str]:
    """The final rung, first when there is one."""
    if info is None:
        return []
    pictures = ["![final rung: test accuracy against the costs](final.png)", ""]
    if info.calibration.rungs:
        pictures += ["![each cheaper score against the final test accuracy](calibration.png)", ""]
    return _blocks("The final rung: test accuracy", final_blocks(info)) + pictures


def render_markdown(data: ReportData, fronts: list[FrontInfo], hv: HypervolumeInfo, rows: list[Candidate],
                    comparisons: list[ZooComparison], zoo_hint: str, screening: ScreeningInfo, *,
                    views: OptunaViews | None = None, fidelity: FidelityInfo | None = None,
                    final: FinalInfo | None = None) -> str:
    """The whole ``report.md`` as text: the candidates first, then the fronts and the rest."""
    scale = accuracy_scale(data)
    counts = ", ".join(f"{n} {s}" for s, n in data.counts().items() if n)
    out = [f"# nasbox report: {md_escape(data.study_name)}", "",
           f"{len(data.trials)} trials ({counts or 'none'}); objectives: {md_escape(', '.join(data.objectives))}. "
           "The interactive page is [index.html](index.html); every trial is in [trials.csv](trials.csv).", ""]
    if data.storage_note:
        out += [f"Storage: {md_escape(data.storage_note)}.", ""]
    out += _final(final)
    out += _candidates(data, rows, scale)
    out += _fronts(fronts)
    out += _zoo(data, comparisons, zoo_hint, scale)
    out += _screening(data, screening)
    out += _fidelity(fidelity)
    ref = ", ".join(f"{o} {fmt_objective(o, r)}"
                    for o, r in zip(hv.objectives, hv.reference, strict=True))
    out += ["## Hypervolume", "", f"Hypervolume **{hv.value:.4f}** of {hv.n_points} trained, feasible trials in "
            f"{len(hv.objectives)} objectives; reference point: {md_escape(ref)} (accuracy 0, each cost 1.1 x its "
            "largest value); costs divided by their reference, so the hypervolume is a share of the unit box.", "",
            "![hypervolume over trials](hypervolume.png)", "",
            *_importance(views)]
    out += ["## Setup", ""]
    out += [f"- **{k}**: {md_escape(v)}" for k, v in setup_facts(data)]
    out += ["", "Space bounds: " + ("; ".join(f"{md_escape(k)} = {md_escape(v)}" for k, v in space_bounds(data))
                                    or "not recorded"), "", "## Metric definitions", ""]
    out += [f"- **{k}**: {md_escape(v)}" for k, v in METRIC_DEFINITIONS]
    out += ["", "Files: [trials.csv](trials.csv) (every trial), [pareto.csv](pareto.csv) (the candidates above), "
            "archs/ (genotypes as JSON and per-layer pages).", ""]
    return "\n".join(out)
