"""``bench/end_to_end.py``'s headline: the cheapest finalised candidate within a point of ResNet-18."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def headline():
    spec = importlib.util.spec_from_file_location("end_to_end_bench", ROOT / "bench" / "end_to_end.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.headline


def net(name, kind, acc, macs, latency=None):
    return {"name": name, "kind": kind, "test_accuracy": acc, "macs": macs, "latency_ms": latency}


def test_the_cheapest_candidate_within_a_point_is_the_headline(headline):
    records = [net("resnet18", "classic", 0.90, 1000, 10.0), net("big", "candidate", 0.92, 500, 5.0),
               net("small", "candidate", 0.891, 80, 2.0),  # 0.9 points short: within one
               net("tiny", "candidate", 0.88, 10, 1.0),  # 2 points short: not
               net("mobilenet_v2", "classic", 0.89, 50, 3.0)]  # a classic network is never the answer
    h = headline(records)
    assert h["found"] == "small" and h["macs_share"] == pytest.approx(0.08) and h["latency_share"] == pytest.approx(0.2)
    assert h["target_met"] is True  # 8% of the MACs, at most 10%
    records[2]["macs"] = 200
    assert headline(records)["target_met"] is False


def test_no_candidate_within_a_point_says_how_far_the_best_is_short(headline):
    records = [net("resnet18", "classic", 0.90, 1000), net("a", "candidate", 0.85, 10), net("b", "candidate", 0.87, 20)]
    h = headline(records)
    assert h["found"] is None and h["best"] == "b" and h["short_by"] == pytest.approx(0.03)
    assert headline([net("a", "candidate", 0.5, 1)]) == {"reference": "resnet18", "found": None}
