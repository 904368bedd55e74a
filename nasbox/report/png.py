"""Static PNG plots for ``report.md`` and for the page without JavaScript.

Drawn on matplotlib ``Figure`` objects with the Agg canvas, never through ``pyplot``: the
process's backend (a notebook's, say) is left as it is, and no figure stays open.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from nasbox.files import atomic_write
from nasbox.report.collect import NOT_TRAINED, TrialRow
from nasbox.report.fidelity import FidelityInfo, minutes
from nasbox.report.front_layout import x_range, y_range
from nasbox.report.fronts import COSTS, FrontInfo, zoo_metric
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.labels import Box, place
from nasbox.report.style import STYLE
from nasbox.study.schema import TrialStatus

__all__ = ["front_png", "write_fidelity_png", "write_front_png", "write_hypervolume_png"]

# Plotly symbol -> matplotlib marker
_MARKERS = {"circle": "o", "circle-open": "o", "star": "*", "star-open": "*", "x": "x", "diamond": "D", "diamond-open": "D",
            "triangle-down": "v", "hourglass": "P"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)  # the figure renders through Agg, whatever pyplot's backend is
    return fig


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))


def _scatter(ax, group: str, xs: list, ys: list, label: str) -> None:
    _, color, symbol, size = STYLE[group]
    marker = _MARKERS[symbol]
    open_marker = symbol.endswith("open")
    if marker in ("x", "+"):  # unfilled markers take one color
        ax.scatter(xs, ys, s=(size * 0.9) ** 2, marker=marker, label=label, zorder=3, color=color, linewidths=1.6)
        return
    ax.scatter(xs, ys, s=(size * 0.9) ** 2, marker=marker, label=label, zorder=3,
               facecolors="none" if open_marker else color, edgecolors=color,
               linewidths=1.4 if open_marker else 0.4)


def _trials(ax, group: str, rows: list[TrialRow], cost: str, label: str) -> None:
    """Trials at (cost, accuracy), labelled with their count (nothing when there are none)."""
    if rows:
        _scatter(ax, group, [t.metric(cost) for t in rows], [t.accuracy for t in rows], f"{label} ({len(rows)})")


# the front's figure, in inches: width, axes' left and right edges (fractions), the accuracy plot's height, the gap
# to the strip, a strip row, the title above, the x axis' ticks and title below, a row of the legend under them
_W, _LEFT, _RIGHT, _MAIN, _GAP, _ROW, _TOP, _AXIS, _LEGEND_ROW = 6.4, 0.13, 0.97, 3.2, 0.1, 0.2, 0.35, 0.5, 0.19
_DPI = 100
_NAME_PT = 7  # classic networks' names


def _text_px(fig: Figure, names: list[str]) -> list[tuple[float, float]]:
    """The drawn size of each name (pixels at the figure's dpi), measured by matplotlib's renderer."""
    renderer = fig.canvas.get_renderer()
    sizes = []
    for name in names:
        text = fig.text(0, 0, name, fontsize=_NAME_PT)
        box = text.get_window_extent(renderer)
        sizes.append((box.width + 2, box.height + 1))
        text.remove()
    return sizes


def _axes_px(ax, x: float, y: float) -> tuple[float, float]:
    """A data point in pixels from the axes' bottom left corner."""
    px, py = ax.transData.transform((x, y))
    x0, y0 = ax.transAxes.transform((0, 0))
    return float(px - x0), float(py - y0)


def _name(ax, text: str, at: tuple[float, float], dx: float, dy: float, leader: bool) -> None:
    """``text`` centred ``(dx, dy)`` pixels from the data point ``at``, joined to it by a thin line if ``leader``."""
    points = 72 / _DPI
    ax.annotate(text, at, xytext=(dx * points, dy * points), textcoords="offset points", ha="center", va="center",
                fontsize=_NAME_PT, zorder=5, annotation_clip=False,
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "#6b7280", "shrinkA": 0, "shrinkB": 4}
                if leader else None)


def _draw_classics(ax2, info: FrontInfo, rows: list[str]) -> None:
    """Each classic network without an accuracy in its own row of the strip, named beside its star (on its left
    in the axis' right part): rows are further apart than a name is high, so no two names meet."""
    xs = [zoo_metric(z, info.cost) for z in info.classics]
    ys = [rows.index(z.name) for z in info.classics]
    _scatter(ax2, "classic", xs, ys, f"classic, accuracy not scored ({len(xs)})")
    left, right = ax2.get_xlim()
    gap = STYLE["classic"][3] * 0.9 / 2 + 3  # points: the star's radius and a little
    for z, x, y in zip(info.classics, xs, ys, strict=True):
        share = math.log(x / left) / math.log(right / left)
        end = share > 0.7
        ax2.annotate(z.name, (x, y), xytext=(-gap if end else gap, 0), textcoords="offset points",
                     ha="right" if end else "left", va="center", fontsize=_NAME_PT, annotation_clip=False)


def _draw_zoo(ax, fig: Figure, info: FrontInfo) -> None:
    """The classic networks with an accuracy, named where no name overlaps another (:func:`labels.place`)."""
    cost = info.cost
    xs, ys = [zoo_metric(z, cost) for z in info.zoo], [z.accuracy for z in info.zoo]
    _scatter(ax, "zoo", xs, ys, f"zoo ({len(info.zoo)})")
    x0, y0 = ax.transAxes.transform((0, 0))
    x1, y1 = ax.transAxes.transform((1, 1))
    sizes = _text_px(fig, [z.name for z in info.zoo])
    radius = STYLE["zoo"][3] * 0.9 / 2 * _DPI / 72 + 1
    points = [_axes_px(ax, t.metric(cost), t.accuracy) for g in (info.front, info.dominated, info.repeat, info.stopped)
              for t in g if t.metric(cost) and t.accuracy is not None]
    anchors = [_axes_px(ax, x, y) for x, y in zip(xs, ys, strict=True)]
    offsets = place(anchors, sizes, bounds=Box(0.0, 0.0, float(x1 - x0), float(y1 - y0)), obstacles=points,
                    radius=radius)
    for z, x, y, (w, h), (dx, dy) in zip(info.zoo, xs, ys, sizes, offsets, strict=True):
        _name(ax, z.name, (x, y), dx, dy, leader=max(abs(dx) - w / 2, abs(dy) - h / 2) > radius + 3)


def _front_axes(fig: Figure, rows_below: int, legend_rows: int):
    """The accuracy plot and, when there are rows below it, the strip: placed in inches, a row per status
    without an accuracy and per classic network without one."""
    strip = rows_below * _ROW
    bottom = _AXIS + legend_rows * _LEGEND_ROW
    height = _TOP + _MAIN + (_GAP + strip if rows_below else 0.0) + bottom
    fig.set_size_inches(_W, height)
    width = _RIGHT - _LEFT
    ax = fig.add_axes((_LEFT, (bottom + (strip + _GAP if rows_below else 0.0)) / height, width, _MAIN / height))
    ax2 = fig.add_axes((_LEFT, bottom / height, width, strip / height), sharex=ax) if rows_below else ax
    return ax, ax2, (bottom - _AXIS + 0.02) / height


def write_front_png(info: FrontInfo, path: Path) -> Path:
    """Accuracy against one cost, with the strip of untrained trials and classic networks below; no two names
    overlap (:func:`front_png`)."""
    return _save(front_png(info), path)


def front_png(info: FrontInfo) -> Figure:
    """The figure :func:`write_front_png` saves (on the Agg canvas, at 100 dpi)."""
    strip = [s for s in NOT_TRAINED if info.strip.get(s)]
    rows_below = strip + [z.name for z in sorted(info.classics, key=lambda z: -(zoo_metric(z, info.cost) or 0.0))]
    fig = _figure(_W, 4.0)
    xr, yr = x_range(info), y_range(info)
    groups = 1 + bool(info.dominated) + bool(info.stopped) + bool(info.repeat) + bool(info.zoo) + len(strip)
    ax, ax2, legend_top = _front_axes(fig, len(rows_below), math.ceil((groups + bool(info.classics)) / 2))
    cost = info.cost
    ax.set_xscale("log")
    if xr is not None:
        ax.set_xlim(10 ** xr[0], 10 ** xr[1])
    ax.set_ylim(*yr)
    _trials(ax, "dominated", info.dominated, cost, "dominated")
    _trials(ax, TrialStatus.STOPPED, info.stopped, cost, "stopped early, at its rung")
    if info.front:
        xs, ys = [t.metric(cost) for t in info.front], [t.accuracy for t in info.front]
        ax.step(xs, ys, where="post", color=STYLE["front"][1], linewidth=1.6, zorder=2)
        _scatter(ax, "front", xs, ys, f"on the front ({len(info.front)})")
    _trials(ax, TrialStatus.REPEAT, info.repeat, cost, TrialStatus.REPEAT)
    if info.zoo and xr is not None:
        _draw_zoo(ax, fig, info)
    for i, status in enumerate(strip):
        rows = info.strip[status]
        _scatter(ax2, status, [t.metric(cost) for t in rows], [i] * len(rows), f"{status} ({len(rows)})")
    if rows_below:
        names = {z.name for z in info.classics}
        ax2.set_yticks(range(len(rows_below)), ["" if r in names else r for r in rows_below], fontsize=7)
        ax2.set_ylim(-0.5, len(rows_below) - 0.5)
        ax2.tick_params(axis="y", length=0)
        ax.tick_params(labelbottom=False)
    if info.classics and xr is not None:
        _draw_classics(ax2, info, rows_below)
    _finish(fig, ax, ax2, info, legend_top)
    return fig


def _finish(fig: Figure, ax, ax2, info: FrontInfo, legend_top: float) -> None:
    """Titles, grid, the accuracy axis in percent, and the legend under the plot (where it covers no name)."""
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel("validation accuracy")
    ax2.set_xlabel(info.title + (f"   ({len(info.missing)} trial(s) without a value not shown)" if info.missing else ""),
                   fontsize=8 if info.missing else 10)
    ax.set_title(f"accuracy vs {COSTS[info.cost][1]}: {len(info.front)} on the front, hypervolume "
                 f"{info.hypervolume:.4f}", fontsize=10)
    ax.grid(True, color="#e6e9ee", zorder=0)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels() if ax2 is not ax else ([], [])
    if handles or h2:
        fig.legend(handles + h2, labels + l2, fontsize=7, loc="upper left", bbox_to_anchor=(_LEFT, legend_top),
                   ncol=2, frameon=False)


def write_hypervolume_png(info: HypervolumeInfo, path: Path) -> Path:
    """The hypervolume after each trial."""
    fig = _figure(6.4, 2.8)
    ax = fig.subplots()
    if info.history:
        ax.step([n for n, _ in info.history], [v for _, v in info.history], where="post", color=STYLE["front"][1])
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume")
    ax.set_ylim(bottom=0)
    ax.set_title(f"hypervolume over trials (final {info.value:.4f})", fontsize=10)
    ax.grid(True, color="#e6e9ee")
    return _save(fig, path)


def write_fidelity_png(info: FidelityInfo, path: Path) -> Path | None:
    """Estimated against confirmed accuracy, and the supernet's training curve; ``None`` when there is neither."""
    history = info.evaluator.get("history") or []
    panels = [p for p, show in (("pairs", bool(info.pairs)), ("curve", bool(history))) if show]
    if not panels:
        return None
    fig = _figure(5.2 * len(panels), 4.0)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if panel == "pairs":
            est, conf = [p.estimated for p in info.pairs], [p.confirmed for p in info.pairs]
            ax.scatter(est, conf, color="tab:blue", zorder=3)
            for p in info.pairs:
                ax.annotate(f"#{p.estimated_trial}", (p.estimated, p.confirmed), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
            low, high = min(est + conf), max(est + conf)
            pad = 0.02 + 0.05 * (high - low)
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=0.8, ls="--", label="y = x")
            tau = "-" if info.tau is None else f"{info.tau:+.2f}"
            ax.set_title(f"estimated vs confirmed (Kendall τ {tau})", fontsize=10)
            ax.set_xlabel("estimated accuracy (inherited weights)")
            ax.set_ylabel("confirmed accuracy (standalone training)")
            ax.legend(fontsize="small", loc="upper left")
        else:
            epochs = [h.get("epoch") for h in history]
            ax.plot(epochs, [h.get("loss") for h in history], "o-", color="tab:blue", label="training loss")
            ax.set_xlabel("supernet epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            one_shot = info.evaluator.get("kind") == "one-shot"
            ax.set_ylabel(f"training loss ({'sampled paths' if one_shot else 'largest subnet'})", color="tab:blue")
            acc = ax.twinx()
            first = " (supernet 1)" if info.evaluator.get("other_histories") else ""
            for key, label, marker, color in (("val_accuracy", ("random paths" if one_shot else "largest subnet") + first,
                                               "s-", "tab:orange"),
                                              ("val_accuracy_smallest", "smallest subnet", "^-", "tab:green")):
                if any(h.get(key) is not None for h in history):
                    acc.plot(epochs, [h.get(key) for h in history], marker, color=color, label=label)
            others = info.evaluator.get("other_histories") or []
            rest = f"supernets 2-{len(others) + 1}" if len(others) > 1 else "supernet 2"
            for j, other in enumerate(others):  # an ensemble's other supernets: their validation accuracy, lighter
                acc.plot([h.get("epoch") for h in other], [h.get("val_accuracy") for h in other], "s--",
                         color="tab:orange", alpha=0.35, ms=3, label=rest if j == 0 else None)
            acc.set_ylabel("validation accuracy (recalibrated)")
            acc.legend(fontsize="small", loc="center right")
            seconds = float(info.evaluator.get("train_seconds") or 0)  # the (first) supernet's, whose loss this is
            count = int(info.evaluator.get("supernets") or 1)
            ax.set_title(f"supernet training ({minutes(seconds)}{f'; the first of {count} supernets' if count > 1 else ''})",
                         fontsize=10)
    return _save(fig, path)
