"""How each group of points is drawn, on the page (plotly) and in the PNG plots (matplotlib)."""

from __future__ import annotations

from nasbox.study.schema import TrialStatus

__all__ = ["FONT", "STYLE"]

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
