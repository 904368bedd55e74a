"""Plotly figure specifications (plain JSON-able dicts) for the HTML page.

The page draws them with the ``plotly.min.js`` that lies beside it, so no Python plotly
import is needed here, and nothing is fetched from the network. Every trace carries the
trial numbers of its points in ``customdata`` (zoo points carry their names), which is
how the tests check that the plots hold every trial.
"""

from __future__ import annotations

from typing import Any

from nasbox.report.accuracy import UNKNOWN_SIZE_DECIMALS, AccuracyScale
from nasbox.report.collect import NOT_TRAINED, TrialRow
from nasbox.report.format import esc, fmt_count, fmt_interval, fmt_ms, fmt_score_long, hover_text, wrap_encoding
from nasbox.report.front_layout import CLASSIC_FONT, classic_sides, front_layout, geometry, strip_rows
from nasbox.report.fronts import COSTS, FrontInfo, zoo_metric
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.style import FONT, STYLE
from nasbox.study.schema import TrialStatus
from nasbox.zoo.scores import ZooScore

__all__ = ["FONT", "STYLE", "front_caption", "front_figure", "hypervolume_figure"]

#: a group of more points than this is drawn with WebGL (``scattergl``) and a short hover label (trial,
#: accuracy, cost; the trial's page has the rest): a study of 10,000 trials stays a page that opens
LARGE_GROUP = 2000


def _trace(group: str, rows: list[TrialRow], cost: str, scale: AccuracyScale, *, strip: bool = False,
           note: str = "") -> dict[str, Any]:
    name, color, symbol, size = STYLE[group]
    large = len(rows) > LARGE_GROUP
    trace = {
        "type": "scattergl" if large else "scatter", "mode": "markers", "name": f"{name} ({len(rows)})",
        "legendgroup": group, "x": [t.metric(cost) for t in rows],
        "y": [STYLE[group][0].split(" (")[0] for _ in rows] if strip else [t.accuracy for t in rows],
        "yaxis": "y2" if strip else "y",
        "customdata": [t.number for t in rows],
        "marker": {"color": color, "symbol": symbol, "size": size,
                   "line": {"width": 1.5 if symbol.endswith("open") else 0.5, "color": color}},
    }
    scores = [scale.of(t.accuracy, t.scored_by) for t in rows]
    if large:  # the interval rides in hovertext, a short string per point
        accuracy = "%{y}" if strip else f"accuracy %{{y:.{scale.decimals}%}} (95% CI %{{hovertext}})"
        if not strip:
            trace["hovertext"] = [fmt_interval(s) for s in scores]
        trace["hovertemplate"] = f"<b>trial #%{{customdata}}</b> · {accuracy} · {COSTS[cost][1]} %{{x:.4s}}<extra></extra>"
    else:
        trace.update(text=[hover_text(t, s, note) for t, s in zip(rows, scores, strict=True)],
                     hovertemplate="%{text}<extra></extra>")
    return trace


def _zoo_hover(z: ZooScore, scale: AccuracyScale) -> str:
    accuracy = (f"accuracy {fmt_score_long(scale.of(z.accuracy))}" if z.accuracy is not None
                else "accuracy not scored (nasbox zoo)")
    return (f"<b>{esc(z.name)}</b> (zoo)<br>{accuracy}<br>MACs {fmt_count(z.macs)} (FLOPs {fmt_count(z.flops)})<br>"
            f"params {fmt_count(z.params)}<br>latency {fmt_ms(z.latency_ms)} ms (IQR {fmt_ms(z.latency_iqr_ms)})<br>"
            f"{wrap_encoding(z.encoding)}")


def _zoo_trace(group: str, zoo: list[ZooScore], cost: str, scale: AccuracyScale,
               sides: list[str] | None = None) -> dict[str, Any]:
    """The classic networks as stars: with an accuracy on the plot (named by annotations), without one each in
    its row of the strip, named beside its star (``sides``: each name's ``textposition``)."""
    name, color, symbol, size = STYLE[group]
    trace = {
        "type": "scatter", "mode": "markers", "name": f"{name} ({len(zoo)})", "legendgroup": group,
        "x": [zoo_metric(z, cost) for z in zoo], "y": [z.name for z in zoo] if sides else [z.accuracy for z in zoo],
        "yaxis": "y2" if sides else "y",
        "customdata": [z.name for z in zoo], "hovertext": [_zoo_hover(z, scale) for z in zoo],
        "hovertemplate": "%{hovertext}<extra></extra>",
        "marker": {"color": color, "symbol": symbol, "size": size,
                   "line": {"width": 1.2 if symbol.endswith("open") else 0.5, "color": color}},
    }
    if sides:
        trace.update(mode="markers+text", text=[esc(z.name) for z in zoo], textposition=sides,
                     textfont={"size": CLASSIC_FONT}, cliponaxis=False)
    return trace


def front_caption(info: FrontInfo) -> str:
    """One line over a view: its front size and hypervolume with the reference point (plain text)."""
    label = COSTS[info.cost][1]
    ref = f"{fmt_ms(info.reference)} ms" if info.cost == "latency" else fmt_count(info.reference)
    return (f"accuracy vs {label}: {len(info.front)} on the front · hypervolume {info.hypervolume:.4f} "
            f"(reference point: accuracy 0, {label} {ref})")


def front_figure(info: FrontInfo, scale: AccuracyScale | None = None) -> dict[str, Any]:
    """The view ``accuracy`` against one cost, with a strip for the trials without accuracy; ``scale``: the
    study's validation split (:func:`~nasbox.report.accuracy.accuracy_scale`), for the accuracies' precision."""
    scale = scale or AccuracyScale(None, UNKNOWN_SIZE_DECIMALS)
    cost = info.cost
    label = COSTS[cost][1]
    front = _trace("front", info.front, cost, scale, note=f"on the {label} front")
    front["mode"] = "lines+markers"
    front["line"] = {"shape": "hv", "color": STYLE["front"][1], "width": 2}
    traces = [_trace("dominated", info.dominated, cost, scale)]
    if info.stopped:
        traces.append(_trace(TrialStatus.STOPPED, info.stopped, cost, scale, note="never on a front"))
    traces += [front, _trace(TrialStatus.REPEAT, info.repeat, cost, scale)]
    if info.zoo:
        traces.append(_zoo_trace("zoo", info.zoo, cost, scale))
    for status in NOT_TRAINED:
        if info.strip.get(status):
            traces.append(_trace(status, info.strip[status], cost, scale, strip=True))
    rows = strip_rows(info)
    g = geometry(info, rows)
    if info.classics:
        traces.append(_zoo_trace("classic", info.classics, cost, scale, classic_sides(info, g)))
    layout = front_layout(info, g, rows, [t["name"] for t in traces])
    layout.update(font=FONT, hovermode="closest", hoverlabel={"align": "left"}, plot_bgcolor="#ffffff",
                  paper_bgcolor="#ffffff")
    return {"data": traces, "layout": layout}


def hypervolume_figure(info: HypervolumeInfo) -> dict[str, Any]:
    """The hypervolume after each trial (a step line)."""
    xs = [n for n, _ in info.history]
    ys = [v for _, v in info.history]
    gains = [(n, v) for (n, v), prev in zip(info.history, [0.0] + ys[:-1], strict=True) if v > prev]
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "name": "hypervolume", "x": xs, "y": ys,
             "line": {"shape": "hv", "color": STYLE["front"][1], "width": 2}, "customdata": xs,
             "hovertemplate": "after trial #%{x}: %{y:.4f}<extra></extra>"},
            {"type": "scatter", "mode": "markers", "name": "trials that raised it", "x": [n for n, _ in gains],
             "y": [v for _, v in gains], "customdata": [n for n, _ in gains],
             "marker": {"color": STYLE["front"][1], "size": 7},
             "hovertemplate": "trial #%{x} raised it to %{y:.4f}<extra></extra>"},
        ],
        "layout": {
            "font": FONT, "height": 300, "margin": {"l": 60, "r": 10, "t": 10, "b": 45}, "showlegend": False,
            "xaxis": {"title": {"text": "trial number"}, "gridcolor": "#e6e9ee"},
            "yaxis": {"title": {"text": "hypervolume"}, "rangemode": "tozero", "gridcolor": "#e6e9ee"},
            "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
        },
    }
