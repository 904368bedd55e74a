"""Per-layer pages, ``archs/<arch_id>.html``: output shape, parameters and MACs of every layer."""

from __future__ import annotations

from nasbox.model.analysis import Analysis
from nasbox.model.arch import Architecture
from nasbox.report._assets import CSS
from nasbox.report.collect import TrialRow
from nasbox.report.format import esc, fmt_count, wrap_encoding

__all__ = ["render_layers"]


def render_layers(arch: Architecture, info: Analysis, trials: list[TrialRow], study_name: str, stamp: str = "") -> str:
    """The per-layer table of one genotype, with the trials that sampled it; ``stamp`` (what the page was
    made from, :func:`nasbox.report.build.page_stamp`) goes into a ``<meta name="nasbox-page">``."""
    rows = []
    for r in info.layers:
        c, h, w = r.out_shape
        rows.append(f'<tr><td><code>{esc(r.name)}</code></td><td>{esc(r.op)}</td><td class="num">{w} x {h} x {c}</td>'
                    f'<td class="num" data-v="{r.params}">{r.params:,}</td>'
                    f'<td class="num" data-v="{r.macs}">{r.macs:,}</td></tr>')
    used = ", ".join(f"#{t.number} ({esc(t.status)})" for t in trials) or "-"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="nasbox-page" content="{esc(stamp)}"><link rel="icon" href="data:,">
<title>{esc(arch.arch_id)} · {esc(study_name)}</title><style>{CSS}</style></head><body>
<header><h1>genotype {esc(arch.arch_id)}</h1>
<p><a href="../index.html">back to the report of {esc(study_name)}</a> · <a href="{esc(arch.arch_id)}.json">JSON
genotype</a> · trials: {used}</p></header>
<main><section><h2>Encoding</h2><p class="enc">{wrap_encoding(arch.encode())}</p>
<p><span class="kpi">params <b>{fmt_count(info.params)}</b> ({info.params:,})</span>
<span class="kpi">MACs <b>{fmt_count(info.macs)}</b> ({info.macs:,})</span>
<span class="kpi">FLOPs <b>{fmt_count(info.flops)}</b> (2 x MACs)</span></p></section>
<section><h2>Layers</h2>
<table id="layers"><thead><tr><th>layer</th><th>op</th><th class="num">output W x H x D</th>
<th class="num">params</th><th class="num">MACs</th></tr></thead><tbody>{''.join(rows)}</tbody>
<tfoot><tr><th colspan="3">total</th><th class="num">{info.params:,}</th><th class="num">{info.macs:,}</th></tr></tfoot>
</table>
<p class="note">MACs at batch 1 with fvcore's convention: BatchNorm counts 2 per output element; activations, max/avg
pooling and residual additions are not counted. Layer names are the module paths of the built model.</p></section>
</main></body></html>
"""
