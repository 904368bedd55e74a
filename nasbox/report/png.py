"""Static PNG plots for ``report.md`` and for the page without JavaScript.

Drawn on matplotlib ``Figure`` objects with the Agg canvas, never through ``pyplot``: the
process's backend (a notebook's, say) is left as it is, and no figure stays open.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nasbox.files import atomic_write
from nasbox.report.collect import NOT_TRAINED, TrialRow
from nasbox.report.fidelity import FidelityInfo, minutes
from nasbox.report.fronts import COSTS, FrontInfo, zoo_metric
from nasbox.report.hypervolume import HypervolumeInfo
from nasbox.report.plotly_figs import STYLE
from nasbox.study.schema import TrialStatus

__all__ = ["write_fidelity_png", "write_front_png", "write_hypervolume_png"]

# Plotly symbol -> matplotlib marker
_MARKERS = {"circle": "o", "circle-open": "o", "star": "*", "star-open": "*", "x": "x", "diamond": "D", "diamond-open": "D",
            "triangle-down": "v", "hourglass": "P"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
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


def write_front_png(info: FrontInfo, path: Path) -> Path:
    """Accuracy against one cost, with the strip of untrained trials below."""
    strip = [s for s in NOT_TRAINED if info.strip.get(s)]
    rows_below = strip + (["classic networks"] if info.classics else [])
    if rows_below:
        fig = _figure(6.4, 4.6)
        ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1], "hspace": 0.06})
    else:  # nothing without an accuracy: no strip
        fig = _figure(6.4, 4.0)
        ax = ax2 = fig.subplots()
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
    if info.classics:
        xs = [zoo_metric(z, cost) for z in info.classics]
        _scatter(ax2, "classic", xs, [len(strip)] * len(xs), f"classic, accuracy not scored ({len(xs)})")
        for z, x in zip(info.classics, xs, strict=True):
            ax2.annotate(z.name, (x, len(strip)), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=6,
                         rotation=30)
    if rows_below:
        ax2.set_yticks(range(len(rows_below)), rows_below, fontsize=7)
        ax2.set_ylim(-0.7, len(rows_below) - 0.1)
    ax.set_xscale("log")
    ax.set_ylabel("validation accuracy")
    ax2.set_xlabel(info.title + (f"   ({len(info.missing)} trial(s) without a value not shown)" if info.missing else ""),
                   fontsize=8 if info.missing else 10)
    ax.set_title(f"accuracy vs {label}: {len(info.front)} on the front, hypervolume {info.hypervolume:.4f}", fontsize=10)
    ax.grid(True, color="#e6e9ee", zorder=0)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels() if rows_below else ([], [])
    if handles or h2:
        ax.legend(handles + h2, labels + l2, fontsize=7, loc="best", framealpha=0.85)
    return _save(fig, path)


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
            ax.set_ylabel("training loss (largest subnet)", color="tab:blue")
            acc = ax.twinx()
            for key, label, marker, color in (("val_accuracy", "largest subnet", "s-", "tab:orange"),
                                              ("val_accuracy_smallest", "smallest subnet", "^-", "tab:green")):
                acc.plot(epochs, [h.get(key) for h in history], marker, color=color, label=label)
            acc.set_ylabel("validation accuracy (recalibrated)")
            acc.legend(fontsize="small", loc="center right")
            seconds = float(info.evaluator.get("train_seconds") or 0)
            ax.set_title(f"supernet training ({minutes(seconds)})", fontsize=10)
    return _save(fig, path)
