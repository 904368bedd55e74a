"""Where the classic networks' names go on a plot, so that no two overlap (plain geometry, no drawing).

Both backends use it: the PNG plots with the text sizes matplotlib measures, the page with sizes
estimated for the browser's font (:func:`text_size`, on the generous side) at the narrowest width the
page gives a plot. Coordinates are pixels with ``y`` upwards; a placement is the offset of a label's
centre from the point it names.

:func:`place` names points anywhere on a plot (the classic networks with an accuracy): each name tries
positions around its point, nearest first (above, below, right, left, the diagonals), then the same
one ring further out, and takes the first that clears every name placed before, stays inside the
plot and, if it can, covers no point.

A page stretches a plot wider than the width the names were placed at, never narrower, which moves the
points apart and leaves the offsets as they are. Two names side by side stay apart under that stretch
only if the left one names the left point, so :func:`place` treats names whose order crosses that of
their points as overlapping (:func:`clash`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Box", "clash", "place", "text_size"]

#: average glyph width of the page's sans-serif fonts, in ems, on the generous side (DejaVu Sans ~0.6)
_EM = 0.64


class Box(NamedTuple):
    """An axis-aligned rectangle in pixels (``y`` upwards)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def around(cls, x: float, y: float, width: float, height: float) -> Box:
        return cls(x - width / 2, y - height / 2, x + width / 2, y + height / 2)

    def overlaps(self, other: Box, gap: float = 0.0) -> bool:
        """Whether the two boxes, each grown by ``gap / 2`` on every side, intersect."""
        return (self.x0 < other.x1 + gap and other.x0 < self.x1 + gap
                and self.y0 < other.y1 + gap and other.y0 < self.y1 + gap)

    def inside(self, bounds: Box) -> bool:
        return self.x0 >= bounds.x0 and self.x1 <= bounds.x1 and self.y0 >= bounds.y0 and self.y1 <= bounds.y1


def text_size(text: str, font_px: float) -> tuple[float, float]:
    """``(width, height)`` in pixels of one line of ``text`` at ``font_px`` in the page's font (an upper estimate)."""
    return _EM * font_px * len(text) + 4.0, 1.25 * font_px + 2.0


def clash(a: Box, anchor_a: float, b: Box, anchor_b: float, gap: float) -> bool:
    """Whether two names (boxes of the points at ``x = anchor_a``, ``anchor_b``) overlap now or once the plot is
    stretched wider: side by side, the left box must name the left point."""
    if not (a.y0 < b.y1 + gap and b.y0 < a.y1 + gap):  # one above the other: stretching keeps them apart
        return False
    if anchor_a == anchor_b:
        return a.overlaps(b, gap)
    left, right = (a, b) if anchor_a < anchor_b else (b, a)
    return left.x1 + gap > right.x0


def _offsets(width: float, height: float, radius: float, gap: float, ring: int) -> list[tuple[float, float]]:
    d = radius + gap + ring * (height + gap)
    diag = 0.7 * d
    return [(0.0, d + height / 2), (0.0, -d - height / 2), (d + width / 2, 0.0), (-d - width / 2, 0.0),
            (diag + width / 2, diag + height / 2), (-diag - width / 2, diag + height / 2),
            (diag + width / 2, -diag - height / 2), (-diag - width / 2, -diag - height / 2)]


def place(anchors: list[tuple[float, float]], sizes: list[tuple[float, float]], *, bounds: Box,
          obstacles: list[tuple[float, float]] | None = None, radius: float = 6.0, gap: float = 2.0,
          rings: int = 10) -> list[tuple[float, float]]:
    """Offsets ``(dx, dy)`` of each name's centre from its point, names placed from left to right.

    Each name takes the first position around its point (nearest ring first) that clashes with no name
    placed before (:func:`clash`), lies within ``bounds`` and covers none of the ``obstacles`` (points
    drawn on the plot, each a square of side ``2 * radius``). Failing that, the first one that only
    covers points; then, of those that clash with no name, the one that leaves ``bounds`` least; and when
    even that fails (names packed tighter than ``rings`` rings allow), the one that overlaps the others least.

    Raises:
        ValueError: ``anchors`` and ``sizes`` differ in length.
    """
    if len(anchors) != len(sizes):
        raise ValueError(f"one size per name, got {len(anchors)=} and {len(sizes)=}")
    points = np.asarray(list(obstacles or []) + list(anchors), dtype=float).reshape(-1, 2)
    placed: list[tuple[Box, float]] = []
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(anchors)
    for i in sorted(range(len(anchors)), key=lambda i: (anchors[i][0], anchors[i][1], i)):
        (x, y), (w, h) = anchors[i], sizes[i]
        options = [(dx, dy, Box.around(x + dx, y + dy, w, h)) for ring in range(rings)
                   for dx, dy in _offsets(w, h, radius, gap, ring)]
        free = [o for o in options if not any(clash(o[2], x, b, bx, gap) for b, bx in placed)]
        inside = [o for o in free if o[2].inside(bounds)]
        clear = [o for o in inside if not _covers(o[2], points, radius)]
        if clear or inside:
            dx, dy, box = (clear or inside)[0]
        elif free:  # no room inside: the one that leaves the plot least
            dx, dy, box = min(free, key=lambda o: _outside(o[2], bounds))
        else:
            dx, dy, box = min(options, key=lambda o: sum(_overlap(o[2], b) for b, _ in placed))
        placed.append((box, x))
        out[i] = (dx, dy)
    return out


def _covers(box: Box, points: np.ndarray, radius: float) -> bool:
    if not len(points):
        return False
    xs, ys = points[:, 0], points[:, 1]
    return bool(np.any((xs + radius > box.x0) & (xs - radius < box.x1) & (ys + radius > box.y0) & (ys - radius < box.y1)))


def _outside(box: Box, bounds: Box) -> float:
    return (max(0.0, bounds.x0 - box.x0) + max(0.0, box.x1 - bounds.x1) + max(0.0, bounds.y0 - box.y0)
            + max(0.0, box.y1 - bounds.y1))


def _overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
