"""Static PNG plots (matplotlib, Agg backend) for ``report.md`` and for the page without JavaScript."""

from __future__ import annotations

from pathlib import Path

from nasbox.files import atomic_write
from nasbox.report.collect import NOT_TRAINED, TrialRow
from nasbox.report.fronts import COSTS, FrontInfo, zoo_metric
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.plotly_figs import STYLE
from nasbox.study.schema import TrialStatus

__all__ = ["write_front_png", "write_hypervolume_png"]

# Plotly symbol -> matplotlib marker
_MARKERS = {"circle": "o", "circle-open": "o", "star": "*", "x": "x", "diamond": "D", "diamond-open": "D",
            "triangle-down": "v", "hourglass": "P"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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


def write_front_png(info: FrontInfo, path: Path) -> Path:
    """Accuracy against one cost, with the strip of untrained trials below."""
    plt = _pyplot()
    strip = [s for s in NOT_TRAINED if info.strip.get(s)]
    if strip:
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(6.4, 4.6), sharex=True,
                                      gridspec_kw={"height_ratios": [4, 1], "hspace": 0.06})
    else:  # nothing without an accuracy: no strip
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        ax2 = ax
    cost = info.cost
    label = COSTS[cost][1]
    _trials(ax, "dominated", info.dominated, cost, "dominated")
    _trials(ax, TrialStatus.STOPPED, info.stopped, cost, "stopped early, at its rung")
    if info.front:
        xs, ys = [t.metric(cost) for t in info.front], [t.accuracy for t in info.front]
        ax.step(xs, ys, where="post", color=STYLE["front"][1], linewidth=1.6, zorder=2)
        _scatter(ax, "front", xs, ys, f"on the front ({len(info.front)})")
    _trials(ax, TrialStatus.REPEAT, info.repeat, cost, TrialStatus.REPEAT)
    if info.zoo:
        xs, ys = [zoo_metric(z, cost) for z in info.zoo], [z.accuracy for z in info.zoo]
        _scatter(ax, "zoo", xs, ys, f"zoo ({len(info.zoo)})")
        for z, x, y in zip(info.zoo, xs, ys, strict=True):
            ax.annotate(z.name, (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    for i, status in enumerate(strip):
        rows = info.strip[status]
        _scatter(ax2, status, [t.metric(cost) for t in rows], [i] * len(rows), f"{status} ({len(rows)})")
    if strip:
        ax2.set_yticks(range(len(strip)), strip, fontsize=7)
        ax2.set_ylim(-0.7, len(strip) - 0.3)
    ax.set_xscale("log")
    ax.set_ylabel("validation accuracy")
    ax2.set_xlabel(info.title + (f"   ({len(info.missing)} trial(s) without a value not shown)" if info.missing else ""),
                   fontsize=8 if info.missing else 10)
    ax.set_title(f"accuracy vs {label}: {len(info.front)} on the front, hypervolume {info.hypervolume:.4f}", fontsize=10)
    ax.grid(True, color="#e6e9ee", zorder=0)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels() if strip else ([], [])
    if handles or h2:
        ax.legend(handles + h2, labels + l2, fontsize=7, loc="best", framealpha=0.85)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def write_hypervolume_png(info: HypervolumeInfo, path: Path) -> Path:
    """The hypervolume after each trial."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    if info.history:
        ax.step([n for n, _ in info.history], [v for _, v in info.history], where="post", color=STYLE["front"][1])
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume")
    ax.set_ylim(bottom=0)
    ax.set_title(f"hypervolume over trials (final {info.value:.4f})", fontsize=10)
    ax.grid(True, color="#e6e9ee")
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path
