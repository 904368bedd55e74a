"""Tests of nasbox.report.labels: names placed where none overlaps another, also once the plot is stretched."""

from __future__ import annotations

import random

import pytest

from nasbox.report.labels import Box, clash, place, text_size


def _boxes(anchors, sizes, offsets, stretch: float = 1.0) -> list[Box]:
    return [Box.around(x * stretch + dx, y + dy, w, h)
            for (x, y), (w, h), (dx, dy) in zip(anchors, sizes, offsets, strict=True)]


def _overlaps(boxes: list[Box]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


def test_box_overlap_and_clash():
    a, b = Box(0, 0, 10, 10), Box(10, 0, 20, 10)
    assert not a.overlaps(b) and a.overlaps(b, gap=1) and Box(5, 5, 15, 15).overlaps(a)
    assert not a.overlaps(Box(0, 10, 10, 20))  # touching edges do not overlap
    # side by side, the left name naming the right point: apart now, not once stretched
    assert clash(Box(0, 0, 10, 10), 30.0, Box(20, 0, 30, 10), 5.0, gap=0)
    assert not clash(Box(0, 0, 10, 10), 5.0, Box(20, 0, 30, 10), 30.0, gap=0)
    assert not clash(Box(0, 0, 10, 10), 30.0, Box(0, 20, 10, 30), 5.0, gap=0)  # one above the other


@pytest.mark.parametrize("seed", range(8))
def test_names_of_crowded_points_never_overlap_even_stretched(seed):
    rng = random.Random(seed)
    bounds = Box(0.0, 0.0, 300.0, 300.0)
    anchors = [(rng.uniform(100, 200), rng.uniform(100, 200)) for _ in range(9)]  # nine stars in a 100 px square
    names = ["alexnet", "zfnet", "vgg11", "vgg16", "googlenet", "resnet18", "se_resnet18", "mobilenet_v2",
             "efficientnet_b0"]
    sizes = [text_size(n, 11) for n in names]
    offsets = place(anchors, sizes, bounds=bounds, obstacles=[(150.0, 150.0)] * 3)
    assert offsets == place(anchors, sizes, bounds=bounds, obstacles=[(150.0, 150.0)] * 3)  # deterministic
    for stretch in (1.0, 1.3, 2.0, 5.0):  # a wider page moves the points apart, the offsets stay
        assert _overlaps(_boxes(anchors, sizes, offsets, stretch)) == [], stretch
    assert sum(b.inside(bounds) for b in _boxes(anchors, sizes, offsets)) >= 7


def test_a_lone_name_sits_just_above_its_point_and_avoids_points():
    bounds = Box(0, 0, 400, 300)
    (dx, dy), = place([(200.0, 150.0)], [(50.0, 14.0)], bounds=bounds, radius=6, gap=2)
    assert (dx, dy) == (0.0, 6 + 2 + 7)
    # a point right above it: the name goes below instead
    (dx, dy), = place([(200.0, 150.0)], [(50.0, 14.0)], bounds=bounds, obstacles=[(200.0, 165.0)], radius=6, gap=2)
    assert dx == 0.0 and dy < 0
    # at the top edge, it stays inside the plot
    (dx, dy), = place([(200.0, 295.0)], [(50.0, 14.0)], bounds=bounds, radius=6, gap=2)
    assert Box.around(200 + dx, 295 + dy, 50, 14).inside(bounds)


def test_text_size_grows_with_the_text_and_the_font():
    assert text_size("efficientnet_b0", 9)[0] > text_size("vgg11", 9)[0]
    assert text_size("vgg11", 12) > text_size("vgg11", 9)


def test_place_refuses_mismatched_input():
    with pytest.raises(ValueError, match="one size per name"):
        place([(0.0, 0.0)], [], bounds=Box(0, 0, 1, 1))
