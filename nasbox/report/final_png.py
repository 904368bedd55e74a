"""The final rung's pictures: test accuracy against MACs (and latency), and each cheaper score against it.

Drawn as the fronts are (:mod:`nasbox.report.png`: matplotlib's Agg canvas, names placed where none overlaps
another, :func:`nasbox.report.labels.place`).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from nasbox.report.calibration import Calibration
from nasbox.report.final import FinalInfo, FinalNet
from nasbox.report.labels import Box, place
from nasbox.report.plotly_figs import STYLE
from nasbox.report.png import _axes_px, _figure, _name, _save, _scatter, _text_px

__all__ = ["write_calibration_png", "write_final_png"]

_PANEL_W, _PANEL_H = 5.2, 3.6


def _costs(info: FinalInfo) -> list[str]:
    """MACs always; latency too when every network has one."""
    return ["macs"] + (["latency_ms"] if all(n.latency_ms for n in info.nets) else [])


def _panel(fig: Figure, ax, info: FinalInfo, cost: str) -> None:
    value = {"macs": lambda n: n.macs, "latency_ms": lambda n: n.latency_ms}[cost]
    groups = (("front", [n for n in info.nets if n.kind == "candidate"], "finalised candidate"),
              ("zoo", [n for n in info.nets if n.kind == "classic"], "classic network"))
    ax.set_xscale("log")
    xs = [value(n) for n in info.nets]
    ax.set_xlim(min(xs) / 2, max(xs) * 2)
    ys = [n.test_accuracy for n in info.nets]
    pad = max(0.02, (max(ys) - min(ys)) * 0.15)
    ax.set_ylim(max(0.0, min(ys) - pad), max(ys) + pad)
    front = sorted((n for n in info.nets if n.name in info.front), key=value)
    if cost == "macs" and front:
        ax.step([value(n) for n in front], [n.test_accuracy for n in front], where="post",
                color=STYLE["front"][1], linewidth=1.2, zorder=2)
    for group, nets, label in groups:
        if nets:
            _scatter(ax, group, [value(n) for n in nets], [n.test_accuracy for n in nets], f"{label} ({len(nets)})")
    _names(fig, ax, list(info.nets), value)
    ax.set_xlabel({"macs": "MACs (log)", "latency_ms": "batch-1 latency, ms (log)"}[cost])
    ax.set_ylabel("test accuracy")
    ax.grid(True, color="#e6e9ee", linewidth=0.6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7, frameon=False)


def _names(fig: Figure, ax, nets: list[FinalNet], value) -> None:
    """Every network named where no name overlaps another."""
    fig.canvas.draw()
    x0, y0 = ax.transAxes.transform((0, 0))
    x1, y1 = ax.transAxes.transform((1, 1))
    sizes = _text_px(fig, [n.name for n in nets])
    anchors = [_axes_px(ax, value(n), n.test_accuracy) for n in nets]
    offsets = place(anchors, sizes, bounds=Box(0.0, 0.0, float(x1 - x0), float(y1 - y0)), radius=6.0)
    for n, (w, h), (dx, dy) in zip(nets, sizes, offsets, strict=True):
        _name(ax, n.name, (value(n), n.test_accuracy), dx, dy, leader=max(abs(dx) - w / 2, abs(dy) - h / 2) > 9)


def write_final_png(info: FinalInfo, path: Path) -> Path:
    """Test accuracy of the final rung's networks against MACs (and latency), the classic networks as stars."""
    costs = _costs(info)
    fig = _figure(_PANEL_W * len(costs), _PANEL_H)
    for i, cost in enumerate(costs):
        ax = fig.add_subplot(1, len(costs), i + 1)
        _panel(fig, ax, info, cost)
    fig.suptitle(f"final rung: test accuracy after {info.epochs} epochs, against the costs", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def write_calibration_png(calibration: Calibration, path: Path) -> Path | None:
    """Each cheaper score against the final test accuracy (a panel per score), Kendall's tau in its title."""
    rungs = calibration.rungs
    if not rungs:
        return None
    cols = min(3, len(rungs))
    rows = math.ceil(len(rungs) / cols)
    fig = _figure(3.4 * cols, 2.9 * rows)
    for i, rung in enumerate(rungs):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys = [p[1] for p in rung.pairs], [p[2] for p in rung.pairs]
        ax.scatter(xs, ys, s=22, color=STYLE["front"][1], zorder=3)
        for trial, x, y in rung.pairs:
            ax.annotate(f"#{trial}", (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6)
        tau = "undefined" if rung.tau is None else f"{rung.tau:+.2f}"
        ax.set_title(f"{rung.name}\nKendall's tau {tau} over {rung.n}", fontsize=7)
        ax.set_xlabel("the search's score", fontsize=7)
        ax.set_ylabel("final test accuracy", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, color="#e6e9ee", linewidth=0.6)
    fig.tight_layout()
    return _save(fig, path)
