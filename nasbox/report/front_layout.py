"""The page's front plots laid out in pixels, with the classic networks' names placed so that none overlap.

A classic network without an accuracy here has a row of its own in the strip under the plot, its name
beside its star: rows are further apart than a name is high, so these names cannot overlap.

A classic network with an accuracy is a star on the plot, named where :func:`nasbox.report.labels.place`
finds room. A plotly figure is laid out by the browser, and only sizes fixed in advance let Python know
where a point will be drawn; so a front's layout fixes its margins (``autoexpand`` off: the legend sits in
a bottom margin sized for it), its heights (the accuracy plot, the gap, the strip's rows) and both axis
ranges. Only its width follows the page, and never falls below
:data:`~nasbox.report._assets.PLOT_MIN_WIDTH`: names are placed at that width, where they are tightest.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from nasbox.report._assets import PLOT_MIN_WIDTH
from nasbox.report.collect import NOT_TRAINED
from nasbox.report.format import esc
from nasbox.report.fronts import FrontInfo, zoo_metric
from nasbox.report.labels import Box, place, text_size
from nasbox.report.style import STYLE

__all__ = ["CLASSIC_FONT", "ZOO_FONT", "Geometry", "classic_sides", "front_layout", "geometry", "strip_rows", "x_range",
           "y_range"]

MAIN_PX = 300  # the accuracy plot's height
GAP_PX = 34  # between it and the strip below
ROW_PX = 16  # one row of the strip
AXIS_PX = 46  # the x axis' tick labels and title, under the plot
LEGEND_ROW_PX = 20
TOP, RIGHT = 10, 10  # margins
ZOO_FONT, CLASSIC_FONT, CATEGORY_FONT, LEGEND_FONT = 11, 9, 10, 11


class Geometry(NamedTuple):
    """A front plot's fixed sizes in pixels (``width``: its plot area at the narrowest page) and ranges
    (``x_range`` in log10 units, ``None`` when nothing has a cost)."""

    left: int
    width: float
    strip: float
    x_range: tuple[float, float] | None
    y_range: tuple[float, float]

    @property
    def plot_height(self) -> float:
        return MAIN_PX + (GAP_PX + self.strip if self.strip else 0.0)

    def px(self, x: float, y: float) -> tuple[float, float]:
        """A point of the accuracy plot in pixels from its bottom left corner (at the narrowest width)."""
        x0, x1 = self.x_range or (0.0, 1.0)
        y0, y1 = self.y_range
        return (math.log10(x) - x0) / (x1 - x0) * self.width, (y - y0) / (y1 - y0) * MAIN_PX


def x_range(info: FrontInfo) -> tuple[float, float] | None:
    """The cost axis' range in log10 units: every value drawn, padded; ``None`` when nothing has this cost."""
    groups = [info.front, info.dominated, info.repeat, info.stopped, *info.strip.values()]
    xs = [t.metric(info.cost) for g in groups for t in g] + [zoo_metric(z, info.cost) for z in info.zoo + info.classics]
    logs = [math.log10(x) for x in xs if x is not None and x > 0]
    if not logs:
        return None
    lo, hi = min(logs), max(logs)
    pad = 0.06 * max(hi - lo, 0.5)
    return lo - pad, hi + pad


def y_range(info: FrontInfo) -> tuple[float, float]:
    """The accuracy axis' range: every accuracy drawn (trials and classic networks), padded."""
    ys = [t.accuracy for g in (info.front, info.dominated, info.repeat, info.stopped) for t in g]
    ys = [y for y in ys + [z.accuracy for z in info.zoo] if y is not None]
    if not ys:
        return 0.0, 1.0
    lo, hi = min(ys), max(ys)
    pad = 0.08 * max(hi - lo, 0.05)
    return lo - pad, hi + pad


def _tick_format(y_range: tuple[float, float]) -> str:
    span = y_range[1] - y_range[0]
    return ".0%" if span >= 0.1 else ".1%" if span >= 0.01 else ".2%"


def _legend_rows(names: list[str]) -> int:
    """Rows the horizontal legend may take: plotly puts its entries side by side only where all fit, and at the
    narrowest width they seldom do, so one row each."""
    return max(1, len(names))


def strip_rows(info: FrontInfo) -> list[str]:
    """The strip's rows, bottom first: one per status without an accuracy, then one per classic network without
    an accuracy here, the costliest lowest (each name is written beside its star, so rows never share names)."""
    statuses = [STYLE[s][0].split(" (")[0] for s in NOT_TRAINED if info.strip.get(s)]
    classics = sorted(info.classics, key=lambda z: (-(zoo_metric(z, info.cost) or 0.0), z.name))
    return statuses + [z.name for z in classics]


def classic_sides(info: FrontInfo, g: Geometry) -> list[str]:
    """Where each classic network's name goes beside its star in its row: ``middle right``, or ``middle left`` in
    the axis' right part (at the narrowest width the name then stays inside the plot)."""
    sides = []
    for z in info.classics:
        x = g.px(zoo_metric(z, info.cost) or 1.0, 0.0)[0] if g.x_range else 0.0
        sides.append("middle left" if x > g.width - text_size(z.name, CLASSIC_FONT)[0] - 12 else "middle right")
    return sides


def _zoo_names(info: FrontInfo, g: Geometry) -> list[dict[str, Any]]:
    """The names of the classic networks with an accuracy, around their stars on the accuracy plot."""
    radius = STYLE["zoo"][3] / 2 + 1
    anchors = [g.px(zoo_metric(z, info.cost) or 1.0, z.accuracy or 0.0) for z in info.zoo]
    sizes = [text_size(z.name, ZOO_FONT) for z in info.zoo]
    points = [g.px(t.metric(info.cost) or 1.0, t.accuracy or 0.0)
              for grp in (info.front, info.dominated, info.repeat, info.stopped) for t in grp
              if t.metric(info.cost) and t.accuracy is not None]
    offsets = place(anchors, sizes, bounds=Box(0.0, 0.0, g.width, MAIN_PX), obstacles=points, radius=radius)
    notes = []
    for z, (w, h), (dx, dy) in zip(info.zoo, sizes, offsets, strict=True):
        away = max(abs(dx) - w / 2, abs(dy) - h / 2)  # from the star to the name's nearest edge
        notes.append(_note(z.name, math.log10(zoo_metric(z, info.cost) or 1.0), z.accuracy, "y", dx, dy, ZOO_FONT,
                           leader=away > radius + 3))
    return notes


def _note(text: str, x: float, y: Any, yref: str, dx: float, dy: float, size: int, *, leader: bool) -> dict[str, Any]:
    """A name centred ``(dx, dy)`` pixels from its point (``dy`` upwards), joined to it by a line if ``leader``."""
    note = {"text": esc(text), "x": x, "y": y, "xref": "x", "yref": yref, "xanchor": "center", "yanchor": "middle",
            "font": {"size": size, "color": "#111111"}, "name": "classic-name", "captureevents": False}
    if leader:
        note.update(showarrow=True, ax=dx, ay=-dy, axref="pixel", ayref="pixel", arrowhead=0, arrowwidth=0.7,
                    arrowcolor="#6b7280", standoff=4)
    else:
        note.update(showarrow=False, xshift=dx, yshift=dy)
    return note


def geometry(info: FrontInfo, rows: list[str]) -> Geometry:
    """The plot's fixed sizes and ranges (``rows``: :func:`strip_rows`)."""
    names = {z.name for z in info.classics}
    labels = [r for r in rows if r not in names]
    left = max(64, math.ceil(max((text_size(r, CATEGORY_FONT)[0] for r in labels), default=0.0)) + 14)
    return Geometry(left, PLOT_MIN_WIDTH - left - RIGHT, ROW_PX * len(rows), x_range(info), y_range(info))


def front_layout(info: FrontInfo, g: Geometry, rows: list[str], legend: list[str]) -> dict[str, Any]:
    """Plotly's layout of a front: fixed margins, heights and ranges, and the classic networks' names.

    Args:
        info: the front.
        g: its :func:`geometry`.
        rows: the strip's rows, bottom first (:func:`strip_rows`).
        legend: the traces' names (the legend's height depends on them).
    """
    n = len(rows)
    names = {z.name for z in info.classics}
    height = g.plot_height
    bottom = AXIS_PX + LEGEND_ROW_PX * _legend_rows(legend) + 8
    layout: dict[str, Any] = {
        "height": round(TOP + height + bottom), "margin": {"l": g.left, "r": RIGHT, "t": TOP, "b": bottom,
                                                           "autoexpand": False},
        "legend": {"orientation": "h", "x": 0.0, "xanchor": "left", "yanchor": "top", "y": -AXIS_PX / height,
                   "itemsizing": "constant", "font": {"size": LEGEND_FONT}},
        "xaxis": {"type": "log", "title": {"text": info.title, "standoff": 4}, "anchor": "y2" if n else "y",
                  "gridcolor": "#e6e9ee", "automargin": False},
        "yaxis": {"title": {"text": "validation accuracy"}, "range": list(g.y_range), "tickformat": _tick_format(g.y_range),
                  "domain": [(g.strip + GAP_PX) / height if n else 0.0, 1.0], "gridcolor": "#e6e9ee",
                  "automargin": False},
        "annotations": _zoo_names(info, g) if info.zoo and g.x_range else [],
    }
    if g.x_range:
        layout["xaxis"]["range"] = list(g.x_range)
    if n:
        layout["yaxis2"] = {"domain": [0.0, g.strip / height], "type": "category", "categoryarray": rows,
                            "categoryorder": "array", "range": [-0.5, n - 0.5], "tickmode": "array",
                            "tickvals": rows, "ticktext": ["" if r in names else r for r in rows],
                            "tickfont": {"size": CATEGORY_FONT}, "showgrid": False, "automargin": False,
                            "fixedrange": True}
    return layout
