"""``report.md``: the page's essentials as Markdown, with the PNG plots."""

from __future__ import annotations

from nasbox.report.candidates import Candidate, ZooComparison
from nasbox.report.collect import ReportData
from nasbox.report.fidelity import FidelityInfo, fidelity_blocks
from nasbox.report.format import fmt_acc, fmt_count, fmt_missing, fmt_ms, fmt_objective
from nasbox.report.fronts import COSTS, FrontInfo
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.optuna_views import OptunaViews
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


def render_markdown(data: ReportData, fronts: list[FrontInfo], hv: HypervolumeInfo, rows: list[Candidate],
                    comparisons: list[ZooComparison], zoo_hint: str, screening: ScreeningInfo, *,
                    views: OptunaViews | None = None, fidelity: FidelityInfo | None = None) -> str:
    """The whole ``report.md`` as text."""
    counts = ", ".join(f"{n} {s}" for s, n in data.counts().items() if n)
    out = [f"# nasbox report: {md_escape(data.study_name)}", "",
           f"{len(data.trials)} trials ({counts or 'none'}); objectives: {md_escape(', '.join(data.objectives))}. "
           "The interactive page is [index.html](index.html).", ""]
    if data.storage_note:
        out += [f"Storage: {md_escape(data.storage_note)}.", ""]
    out += ["## Pareto fronts", ""]
    for f in fronts:
        label = COSTS[f.cost][1]
        ref = fmt_ms(f.reference) + " ms" if f.cost == "latency" else fmt_count(f.reference)
        out.append(f"![accuracy vs {label}](front_{f.cost}.png)")
        out.append("")
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
    out += ["## Against the classic networks", ""]
    if comparisons:
        out += ["| network | accuracy | MACs | params | latency ms | cheapest candidate at least as accurate | "
                "candidates better in everything |", "|---|---:|---:|---:|---:|---|---:|"]
        for c in comparisons:
            z, ref = c.zoo, c.cheapest or c.closest
            ratio = ", ".join(f"{100 * v:.3g}% of its {COSTS[k][1]}" for k, v in c.ratios.items())
            verdict = "accuracy not scored" if z.accuracy is None else "-" if ref is None else (
                f"#{ref.number}: {fmt_acc(ref.accuracy)} at {ratio}" if c.cheapest
                else f"none; most accurate #{ref.number}: {fmt_acc(ref.accuracy)} at {ratio}")
            out.append(f"| {md_escape(z.name)} | {fmt_acc(z.accuracy)} | {fmt_count(z.macs)} | {fmt_count(z.params)} | "
                       f"{fmt_ms(z.latency_ms)} | {verdict} | {'-' if z.accuracy is None else len(c.dominating)} |")
        out += ["", f"Zoo scores: {md_escape(zoo_hint)}.", ""]
    else:
        out += [f"{md_escape(zoo_hint)}.", ""]
    out += _screening(data, screening)
    out += _fidelity(fidelity)
    ref = ", ".join(f"{o} {fmt_objective(o, r)}"
                    for o, r in zip(hv.objectives, hv.reference, strict=True))
    out += ["## Hypervolume", "", f"Hypervolume **{hv.value:.4f}** of {hv.n_points} trained, feasible trials in "
            f"{len(hv.objectives)} objectives; reference point: {md_escape(ref)} (accuracy 0, each cost 1.1 x its "
            "largest value); costs divided by their reference, so the hypervolume is a share of the unit box.", "",
            "![hypervolume over trials](hypervolume.png)", "",
            *_importance(views),
            f"## Pareto-optimal candidates ({len(rows)})", "",
            "| rank | trial | accuracy | MACs | FLOPs | params | latency ms | IQR ms | 2-D fronts | encoding | genotype |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for c in rows:
        t = c.trial
        links = f"[layers](archs/{t.arch_id}.html), [JSON](archs/{t.arch_id}.json)" if t.arch_id else "-"
        out.append(f"| {c.rank} | #{t.number} | {fmt_acc(t.accuracy)} | {fmt_count(t.macs)} | {fmt_count(t.flops)} | "
                   f"{fmt_count(t.params)} | {fmt_ms(t.latency_ms)} | {fmt_ms(t.latency_iqr_ms)} | "
                   f"{', '.join(COSTS[f][1] for f in c.fronts) or '-'} | {md_escape(t.encoding)} | {links} |")
    out += ["", "## Setup", ""]
    out += [f"- **{k}**: {md_escape(v)}" for k, v in setup_facts(data)]
    out += ["", "Space bounds: " + ("; ".join(f"{md_escape(k)} = {md_escape(v)}" for k, v in space_bounds(data))
                                    or "not recorded"), "", "## Metric definitions", ""]
    out += [f"- **{k}**: {md_escape(v)}" for k, v in METRIC_DEFINITIONS]
    out += ["", "Files: [trials.csv](trials.csv) (every trial), [pareto.csv](pareto.csv) (the candidates above), "
            "archs/ (genotypes as JSON and per-layer pages).", ""]
    return "\n".join(out)
