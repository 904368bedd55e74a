"""How precisely an accuracy is known: the Wilson interval and the decimals a validation split supports.

A validation accuracy is a share of ``n`` images, so it moves in steps of ``1 / n``: on 450 images one
image is 0.22 percentage points, and a fourth decimal says nothing. The report shows an accuracy as a
percentage with the fewest decimals that still tell every count ``k / n`` apart
(:func:`percent_decimals`), and with its 95 % Wilson score interval (:func:`wilson_interval`; Wilson,
1927, as recommended by Brown, Cai & DasGupta, 2001: unlike the normal approximation it stays inside
[0, 1] and keeps its coverage near 0 and 1, where good candidates sit).

The split's size is the one the search recorded (``ReportData.run["splits"]["val"]``); the classic
networks are scored on the same split. A trial scored by a table (``--evaluator table:...``) has an
accuracy measured elsewhere, on a split of unknown size: it is shown without an interval.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from nasbox.report.collect import JOINED, ReportData

__all__ = ["UNKNOWN_SIZE_DECIMALS", "Z_95", "AccuracyScale", "Scored", "accuracy_scale", "percent_decimals",
           "wilson_interval"]

#: the standard normal's 97.5th percentile (``scipy.stats.norm.ppf(0.975)``): a two-sided 95 % interval
Z_95 = 1.959963984540054
#: decimals of a percentage shown when the split's size is not known (a table's accuracy, an old study)
UNKNOWN_SIZE_DECIMALS = 2
#: what scored an accuracy not measured on the study's validation split (a table's; a supernet's estimate joined
#: with a prior, :attr:`nasbox.report.collect.TrialRow.scored_by`)
_ELSEWHERE = ("table", JOINED)


def wilson_interval(accuracy: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``accuracy`` observed on ``n`` trials.

    ``(p + z²/2n ± z·sqrt(p(1 - p)/n + z²/4n²)) / (1 + z²/n)``; with the default ``z`` a 95 % interval,
    the same as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` for ``accuracy = k / n``.

    Raises:
        ValueError: ``n`` is not a positive whole number, or ``accuracy`` lies outside [0, 1].
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the split size must be a positive whole number, got {n=}")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"an accuracy is a share in [0, 1], got {accuracy=}")
    z2 = z * z
    centre = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def percent_decimals(n: int) -> int:
    """Decimals of a percentage that a split of ``n`` images supports.

    The fewest decimals ``d`` whose unit (``10**-d`` points) is no larger than one image (``100 / n``
    points), i.e. the smallest ``d >= 0`` with ``n <= 100 * 10**d``: every count ``k / n`` then prints
    differently, and one decimal fewer would print two of them alike. 100 images: ``87%``; 450: ``87.1%``;
    10,000: ``87.13%``.

    Raises:
        ValueError: ``n`` is not a positive whole number.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the split size must be a positive whole number, got {n=}")
    d = 0
    while n > 100 * 10**d:
        d += 1
    return d


class Scored(NamedTuple):
    """An accuracy as the report shows it.

    Attributes:
        value: the accuracy, a share in [0, 1].
        n: the images it was measured on (``None``: not known).
        interval: its 95 % Wilson interval (``None`` when ``n`` is not known).
        decimals: decimals of the percentage to print.
    """

    value: float
    n: int | None
    interval: tuple[float, float] | None
    decimals: int


class AccuracyScale(NamedTuple):
    """A study's validation split, and how precisely its accuracies are shown.

    Attributes:
        val_size: images of the validation split (``None`` when the search did not record it).
        decimals: decimals of a percentage that split supports (:func:`percent_decimals`).
    """

    val_size: int | None
    decimals: int

    def of(self, accuracy: float | None, evaluator: str | None = None) -> Scored | None:
        """An accuracy measured on this split (``evaluator``: what scored it; a table's is not), or ``None``."""
        if accuracy is None or accuracy != accuracy:
            return None
        value = min(1.0, max(0.0, float(accuracy)))
        if self.val_size is None or evaluator in _ELSEWHERE:
            return Scored(value, None, None, UNKNOWN_SIZE_DECIMALS)
        return Scored(value, self.val_size, wilson_interval(value, self.val_size), self.decimals)


def accuracy_scale(data: ReportData) -> AccuracyScale:
    """The study's validation split size (from the run facts the search recorded) and its decimals."""
    splits = data.run.get("splits")
    n = splits.get("val") if isinstance(splits, dict) else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return AccuracyScale(None, UNKNOWN_SIZE_DECIMALS)
    return AccuracyScale(n, percent_decimals(n))
