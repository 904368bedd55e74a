"""Plotly figure specifications (plain JSON-able dicts) for the HTML page.

The page draws them with the ``plotly.min.js`` that lies beside it, so no Python plotly
import is needed here, and nothing is fetched from the network. Every trace carries the
trial numbers of its points in ``customdata`` (zoo points carry their names), which is
how the tests check that the plots hold every trial.
"""

from __future__ import annotations

from typing import Any

from nasbox.evaluate.zoo import ZooScore
from nasbox.report.collect import NOT_TRAINED, TrialRow
from nasbox.report.format import esc, fmt_acc, fmt_count, fmt_ms, hover_text, wrap_encoding
from nasbox.report.fronts import COSTS, FrontInfo, zoo_metric
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.study.schema import TrialStatus

__all__ = ["FONT", "STYLE", "front_caption", "front_figure", "hypervolume_figure"]

#: marker style per group: (legend name, color, symbol, size)
STYLE: dict[str, tuple[str, str, str, int]] = {
    "front": ("on the front", "#1f6fd1", "circle", 10),
    "dominated": ("dominated", "#9aa3ad", "circle", 7),
    TrialStatus.REPEAT: ("repeat (scored before)", "#1f6fd1", "circle-open", 12),
    TrialStatus.STOPPED: ("stopped early (accuracy at its rung)", "#6f7782", "diamond-open", 8),
    "zoo": ("classic network (zoo)", "#111111", "star", 13),
    "classic": ("classic network (accuracy not scored)", "#111111", "star-open", 11),
    TrialStatus.INFEASIBLE: ("infeasible (not trained)", "#e8871e", "x", 9),
    TrialStatus.SCREENED: ("screened (by the proxies, not trained)", "#b4bfd0", "circle", 5),
    TrialStatus.FAILED: (TrialStatus.FAILED, "#d62728", "diamond", 9),
    TrialStatus.LOST: ("lost (worker stopped)", "#6b4fa0", "triangle-down", 9),
    TrialStatus.RUNNING: (TrialStatus.RUNNING, "#2ca02c", "hourglass", 9),
}
FONT = {"family": "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif", "size": 12}


#: a group of more points than this is drawn with WebGL (``scattergl``) and a short hover label (trial,
#: accuracy, cost; the trial's page has the rest): a study of 10,000 trials stays a page that opens
LARGE_GROUP = 2000


def _trace(group: str, rows: list[TrialRow], cost: str, *, strip: bool = False, note: str = "") -> dict[str, Any]:
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
    if large:
        accuracy = "%{y}" if strip else "accuracy %{y:.4f}"
        trace["hovertemplate"] = f"<b>trial #%{{customdata}}</b> · {accuracy} · {COSTS[cost][1]} %{{x:.4s}}<extra></extra>"
    else:
        trace.update(text=[hover_text(t, note) for t in rows], hovertemplate="%{text}<extra></extra>")
    return trace


_CLASSIC_ROW = "classic networks"


def _zoo_hover(z: ZooScore) -> str:
    accuracy = f"accuracy {fmt_acc(z.accuracy)}" if z.accuracy is not None else "accuracy not scored (nasbox zoo)"
    return (f"<b>{esc(z.name)}</b> (zoo)<br>{accuracy}<br>MACs {fmt_count(z.macs)} (FLOPs {fmt_count(z.flops)})<br>"
            f"params {fmt_count(z.params)}<br>latency {fmt_ms(z.latency_ms)} ms (IQR {fmt_ms(z.latency_iqr_ms)})<br>"
            f"{wrap_encoding(z.encoding)}")


def _classics_trace(info: FrontInfo) -> dict[str, Any]:
    """The classic networks without an accuracy here, labelled, in their row of the strip at their cost."""
    name, color, symbol, size = STYLE["classic"]
    xs = [zoo_metric(z, info.cost) for z in info.classics]
    order = sorted(range(len(xs)), key=lambda i: xs[i])  # neighbours' names alternate above and below
    where = {i: "top center" if rank % 2 == 0 else "bottom center" for rank, i in enumerate(order)}
    return {
        "type": "scatter", "mode": "markers+text", "name": f"{name} ({len(info.classics)})", "legendgroup": "classic",
        "x": xs, "y": [_CLASSIC_ROW] * len(xs), "yaxis": "y2",
        "text": [esc(z.name) for z in info.classics], "textposition": [where[i] for i in range(len(xs))],
        "textfont": {"size": 9},
        "customdata": [z.name for z in info.classics], "hovertext": [_zoo_hover(z) for z in info.classics],
        "hovertemplate": "%{hovertext}<extra></extra>",
        "marker": {"color": color, "symbol": symbol, "size": size, "line": {"width": 1.2, "color": color}},
    }


def front_caption(info: FrontInfo) -> str:
    """One line over a view: its front size and hypervolume with the reference point (plain text)."""
    label = COSTS[info.cost][1]
    ref = f"{fmt_ms(info.reference)} ms" if info.cost == "latency" else fmt_count(info.reference)
    return (f"accuracy vs {label}: {len(info.front)} on the front · hypervolume {info.hypervolume:.4f} "
            f"(reference point: accuracy 0, {label} {ref})")


def front_figure(info: FrontInfo) -> dict[str, Any]:
    """The view ``accuracy`` against one cost, with a strip for the trials without accuracy."""
    cost = info.cost
    label = COSTS[cost][1]
    front = _trace("front", info.front, cost, note=f"on the {label} front")
    front["mode"] = "lines+markers"
    front["line"] = {"shape": "hv", "color": STYLE["front"][1], "width": 2}
    traces = [_trace("dominated", info.dominated, cost)]
    if info.stopped:
        traces.append(_trace(TrialStatus.STOPPED, info.stopped, cost, note="never on a front"))
    traces += [front, _trace(TrialStatus.REPEAT, info.repeat, cost)]
    if info.zoo:
        name, color, symbol, size = STYLE["zoo"]
        traces.append({
            "type": "scatter", "mode": "markers+text", "name": f"{name} ({len(info.zoo)})", "legendgroup": "zoo",
            "x": [zoo_metric(z, cost) for z in info.zoo], "y": [z.accuracy for z in info.zoo],
            "text": [esc(z.name) for z in info.zoo], "textposition": "top center",
            "customdata": [z.name for z in info.zoo],
            "hovertext": [_zoo_hover(z) for z in info.zoo],
            "hovertemplate": "%{hovertext}<extra></extra>",
            "marker": {"color": color, "symbol": symbol, "size": size},
            "textfont": {"size": 11},
        })
    strip_groups = [s for s in NOT_TRAINED if info.strip.get(s)]
    for status in strip_groups:
        traces.append(_trace(status, info.strip[status], cost, strip=True))
    categories = [STYLE[s][0].split(" (")[0] for s in strip_groups]
    if info.classics:
        traces.append(_classics_trace(info))
        categories.append(_CLASSIC_ROW)
    n = len(categories)
    strip_height = 0.05 + 0.06 * n + (0.06 if info.classics else 0.0) if n else 0.0  # share of the plot area
    layout = {
        "font": FONT, "height": 410 + 24 * n, "margin": {"l": 64, "r": 10, "t": 10, "b": 10},
        "hovermode": "closest", "hoverlabel": {"align": "left"},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.15 if n else -0.13, "font": {"size": 11}},
        "xaxis": {"type": "log", "title": {"text": info.title, "standoff": 4}, "anchor": "y2" if n else "y",
                  "gridcolor": "#e6e9ee", "automargin": True},
        "yaxis": {"title": {"text": "validation accuracy"}, "domain": [strip_height + 0.06 if n else 0.0, 1.0],
                  "gridcolor": "#e6e9ee"},
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
    }
    if n:
        layout["yaxis2"] = {"domain": [0.0, strip_height], "type": "category", "categoryarray": categories,
                            "categoryorder": "array", "range": [-0.6, n - 0.4], "tickmode": "array",
                            "tickvals": categories, "ticktext": categories, "tickfont": {"size": 10},
                            "showgrid": False, "automargin": True}
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
