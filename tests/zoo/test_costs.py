"""Tests of nasbox.zoo.costs and nasbox.zoo.latency: the classic networks' costs at a study's input, latency cached per device."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.search import SearchConfig, run_search
from nasbox.zoo import ZOO_NAMES, get_zoo
from nasbox.zoo.costs import classic_costs
from nasbox.zoo.latency import latency_cache_path, measure_classics
from nasbox.zoo.scores import UNSCORED
from nasbox.zoo.scores import is_stale as _stale
from tests.report.support import DATA, TINY

SHAPE = (3, 16, 16)


class CountingTimer:
    """A stand-in for measure_latency: 1 ms per network, and a count of what it timed."""

    def __init__(self, delay: float = 0.0) -> None:
        self.timed, self.delay, self.lock = [], delay, threading.Lock()

    def __call__(self, model, shape):
        time.sleep(self.delay)
        with self.lock:
            self.timed.append((type(model).__name__, shape))
        return SimpleNamespace(median_ms=1.0 + len(self.timed), iqr_ms=0.01)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBOX_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_costs_are_the_analysis_of_each_network_at_the_input():
    costs = classic_costs(SHAPE, 7)
    assert [c.name for c in costs] == list(ZOO_NAMES)
    for c in costs:
        info = analyze(get_zoo(c.name, SHAPE, 7))
        assert (c.macs, c.params, c.flops, c.status, c.accuracy) == (info.macs, info.params, info.flops, UNSCORED, None)
        assert c.latency_ms is None  # nothing measured


def test_a_latency_counts_only_for_the_same_genotype():
    arch = get_zoo("resnet18", SHAPE, 7)
    good = {"arch_id": arch.arch_id, "latency_ms": 2.5, "latency_iqr_ms": 0.1}
    stale = {"arch_id": "0" * 16, "latency_ms": 9.9, "latency_iqr_ms": 0.1}  # e.g. measured before a genotype fix
    costs = {c.name: c for c in classic_costs(SHAPE, 7, {"resnet18": good, "vgg11": stale})}
    assert costs["resnet18"].latency_ms == 2.5 and costs["vgg11"].latency_ms is None


def test_latency_is_measured_once_per_device_and_input(cache):
    timer = CountingTimer()
    first = measure_classics(SHAPE, 10, "cpu", measure=timer)
    assert set(first) == set(ZOO_NAMES) and len(timer.timed) == len(ZOO_NAMES)
    again = measure_classics(SHAPE, 10, "cpu", measure=timer)
    assert again == first and len(timer.timed) == len(ZOO_NAMES)  # from the cache
    assert latency_cache_path("cpu").is_file() and latency_cache_path("cpu").parent.parent == cache
    measure_classics((3, 20, 20), 10, "cpu", measure=timer)  # another input: other genotypes
    assert len(timer.timed) == 2 * len(ZOO_NAMES)
    assert all(shape == (3, 20, 20) for _, shape in timer.timed[len(ZOO_NAMES):])


def test_workers_starting_together_measure_each_network_once(cache):
    timer = CountingTimer(delay=0.02)
    results = []
    threads = [threading.Thread(target=lambda: results.append(measure_classics(SHAPE, 10, "cpu", measure=timer)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and results[0] == results[1] == results[2]
    assert len(timer.timed) == len(ZOO_NAMES)  # the lock: the others waited and read the cache


def test_a_corrupt_cache_is_measured_again(cache):
    path = latency_cache_path("cpu")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    timer = CountingTimer()
    assert set(measure_classics(SHAPE, 10, "cpu", measure=timer)) == set(ZOO_NAMES)
    assert len(timer.timed) == len(ZOO_NAMES)


def test_a_search_goes_on_when_the_classics_cannot_be_cached(tmp_path, monkeypatch):
    """The classic networks are a report's extra: an unwritable cache folder costs them, not the search."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("NASBOX_CACHE_DIR", str(blocker))
    result = run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic",
                                     dataset_options=DATA, iterations=2, batch_size=32, budget=1, device="cpu",
                                     reports_dir=str(tmp_path / "r"), study="s", sampler="random"),
                        outputs=lambda study, folder: [])
    assert len(result.trials) == 1
    with pytest.raises(OSError):
        measure_classics(SHAPE, 10, "cpu", measure=CountingTimer())  # the path the search survived


def test_a_cached_zoo_score_of_an_older_genotype_is_scored_again():
    arch = get_zoo("alexnet", (3, 224, 224), 1000)
    assert not _stale("alexnet", {"encoding": arch.encode(), "arch_id": arch.arch_id})
    old = arch.encode().replace("max3s2p0", "max3s2")  # the padded pools of before: a 7x7 map
    assert _stale("alexnet", {"encoding": old, "arch_id": Architecture.decode(old).arch_id})
    assert _stale("alexnet", {"encoding": "garbage"})
