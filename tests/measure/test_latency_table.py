"""Tests of nasbox.measure.latency_table: unit decomposition, bookkeeping, calibration, file, and use in a search."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest
import torch

from nasbox.device import device_key
from nasbox.measure.latency_table import CALIBRATION_NETWORKS, LatencyTable, network_units
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model
from nasbox.spaces import get_space

SPACES = {"seed_cnn": (1, 28, 28), "resnet": (3, 32, 32), "mobilenet": (3, 32, 32), "efficientnet": (3, 32, 32)}


def _samples(space_name: str, n: int, seed: int = 0):
    space = get_space(space_name, input_shape=SPACES[space_name], num_classes=10)
    rng = random.Random(seed)
    return [space.sample_random(rng)[1] for _ in range(n)]


@pytest.mark.parametrize("space_name", list(SPACES))
def test_units_run_one_after_the_other_are_the_network(space_name, one_thread):
    for arch in _samples(space_name, 6):
        model = build_model(arch, seed=0).eval()
        units = network_units(arch)
        seen = {}
        hooks = [model.get_submodule(u.name).register_forward_pre_hook(
            lambda _m, args, name=u.name, seen=seen: seen.__setitem__(name, tuple(args[0].shape[1:]))) for u in units]
        x = torch.randn(2, *arch.input_shape)
        with torch.inference_mode():
            expected = model(x)
            for h in hooks:
                h.remove()
            y = x
            for u in units:
                y = model.get_submodule(u.name)(y)
        assert torch.equal(y, expected)  # nothing of the network is left out, nothing counted twice
        assert {u.name: u.in_shape for u in units} == seen  # each unit's recorded input shape is its real one
        assert len({u.name for u in units}) == len(units)


def test_unit_keys_name_the_block_and_its_input():
    a, b = _samples("seed_cnn", 2)
    ua, ub = network_units(a), network_units(b)
    again = network_units(type(a).decode(a.encode()))
    assert [u.key for u in ua] == [u.key for u in again]  # a key is a function of the genotype
    same_block_other_input = [(x, y) for x in ua for y in ub if x.key.split(" in ")[0] == y.key.split(" in ")[0]
                              and x.in_shape != y.in_shape]
    assert same_block_other_input  # the two samples share a block type at another input
    assert all(x.key != y.key for x, y in same_block_other_input)


class FakeDevice:
    """Deterministic timings: a unit costs 1 ms per 1,000 parameters + 0.1 ms; a network
    costs 1.05 x the sum of its units + 0.3 ms per million parameters beyond 150,000 (its
    weights no longer sit in the cache)."""

    def __init__(self) -> None:
        self.unit_calls: list[tuple[int, ...]] = []
        self.whole_calls = 0

    @staticmethod
    def unit_ms(module: torch.nn.Module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1000 + 0.1

    def measure(self, module, shape) -> float:
        self.unit_calls.append(tuple(shape))
        return self.unit_ms(module)

    def whole(self, model, shape) -> float:
        self.whole_calls += 1
        return self.truth(model)

    def truth(self, model) -> float:
        units = sum(self.unit_ms(model.get_submodule(u.name)) for u in network_units(model.arch))
        return 1.05 * units + 0.3 * max(0.0, sum(p.numel() for p in model.parameters()) / 1e6 - 0.15)


def test_table_measures_each_unit_once_and_learns_its_model_from_whole_networks(tmp_path):
    dev = FakeDevice()
    table = LatencyTable(tmp_path / "t.json", "fake", dev.measure, dev.whole, cache_bytes=600_000)  # 150,000 weights
    archs = _samples("seed_cnn", CALIBRATION_NETWORKS + 3, seed=3)
    sizes = [analyze(a).params for a in archs[:CALIBRATION_NETWORKS]]
    assert min(sizes) < 150_000 < max(sizes)  # calibration sees networks on both sides of the cache
    for i, arch in enumerate(archs):
        before, known = len(dev.unit_calls), set(table.entries)
        p = table.predict(arch)
        assert len(dev.unit_calls) - before == p.new_units == len({u.key for u in network_units(arch)} - known)
        if i < CALIBRATION_NETWORKS:
            assert p.measured_ms is not None and dev.whole_calls == i + 1
        else:
            assert p.measured_ms is None and dev.whole_calls == CALIBRATION_NETWORKS
    assert table.coefficients == pytest.approx((1.05, 0.3), rel=1e-6)
    truth = dev.truth(build_model(archs[-1]))
    calls = len(dev.unit_calls)
    again = table.predict(archs[-1])
    assert again.ms == pytest.approx(truth) and again.new_units == 0 and len(dev.unit_calls) == calls  # all cached
    # every distinct unit was measured exactly once, with its own input shape
    keys = {u.key: u.in_shape for a in archs for u in network_units(a)}
    assert len(dev.unit_calls) == len(keys) == len(table.entries)
    assert sorted(dev.unit_calls) == sorted(keys.values())


class FakeGpu:
    """A launch-bound device: every timed call costs a fixed 0.05 ms (launch, synchronisation), a unit's kernels
    0.01 ms per module plus 1 ms per million parameters; a whole network runs its units' kernels 1.02x as fast as
    alone and pays the fixed cost once."""

    FIXED = 0.05

    def __init__(self) -> None:
        self.identity_calls = 0

    @staticmethod
    def work(module: torch.nn.Module) -> float:
        return 0.01 * sum(1 for _ in module.modules()) + sum(p.numel() for p in module.parameters()) / 1e6

    def measure(self, module, shape) -> float:
        if isinstance(module, torch.nn.Identity):
            self.identity_calls += 1
        return self.FIXED + (0.0 if isinstance(module, torch.nn.Identity) else self.work(module))

    def whole(self, model, shape) -> float:
        return self.truth(model)

    def truth(self, model) -> float:
        return self.FIXED + 1.02 * sum(self.work(model.get_submodule(u.name)) for u in network_units(model.arch))


def test_a_gpu_table_counts_the_fixed_cost_of_a_call_once_per_network(tmp_path):
    dev = FakeGpu()
    table = LatencyTable(tmp_path / "gpu.json", "fake-gpu", dev.measure, dev.whole, per_call=True)
    plain = LatencyTable(None, "fake-gpu", dev.measure, dev.whole)  # one scale factor on the units' sum
    archs = _samples("mobilenet", CALIBRATION_NETWORKS + 6, seed=2)
    for arch in archs[:CALIBRATION_NETWORKS]:
        table.predict(arch)
        plain.predict(arch)
    assert table.overhead_ms == pytest.approx(FakeGpu.FIXED) and dev.identity_calls == 1  # measured once
    assert table.coefficients == pytest.approx((1.02, 0.0))
    errors, plain_errors = [], []
    for arch in archs[CALIBRATION_NETWORKS:]:
        truth = dev.truth(build_model(arch))
        errors.append(abs(table.predict(arch).ms / truth - 1))
        plain_errors.append(abs(plain.predict(arch).ms / truth - 1))
    assert max(errors) < 1e-9
    assert max(plain_errors) > 0.02  # what the fixed cost does to a plain sum: the test tells the models apart
    reread = LatencyTable(tmp_path / "gpu.json", "fake-gpu", dev.measure, dev.whole, per_call=True)
    assert reread.overhead_ms == pytest.approx(FakeGpu.FIXED) and dev.identity_calls == 1  # kept in the file
    assert reread.predict(archs[-1]).ms == pytest.approx(dev.truth(build_model(archs[-1])))


def test_a_table_written_before_the_unit_counts_were_recorded_is_still_read(tmp_path):
    path = tmp_path / "old.json"
    dev = FakeDevice()
    arch = _samples("seed_cnn", 1, seed=4)[0]
    fresh = LatencyTable(None, "dev", dev.measure, dev.whole, cache_bytes=600_000)
    fresh.predict(arch)
    old = {"format": 2, "device": "dev", "units": fresh.entries, "calibration": [list(r[:3]) for r in fresh.calibration]}
    path.write_text(json.dumps(old))
    reread = LatencyTable(path, "dev", dev.measure, dev.whole, cache_bytes=600_000)
    assert reread.entries == fresh.entries and reread.coefficients == fresh.coefficients
    calls = len(dev.unit_calls)
    assert reread.predict(arch).ms == pytest.approx(fresh.predict(arch).ms) and len(dev.unit_calls) == calls


def test_table_file_keeps_entries_merges_writers_and_ignores_other_devices(tmp_path):
    path = tmp_path / "latency" / "t.json"
    dev = FakeDevice()
    a, b = _samples("mobilenet", 2, seed=5)
    first = LatencyTable(path, "dev-A", dev.measure, dev.whole)
    second = LatencyTable(path, "dev-A", dev.measure, dev.whole)  # opened before the first wrote anything
    first.predict(a)
    second.predict(b)
    reread = LatencyTable(path, "dev-A", dev.measure, dev.whole)
    assert set(first.entries) | set(second.entries) == set(reread.entries)  # the second writer kept the first's
    assert len(reread.calibration) == 2
    data = json.loads(path.read_text())
    assert data["device"] == "dev-A" and data["units"] == reread.entries
    other = LatencyTable(path, "dev-B", dev.measure, dev.whole)
    assert other.entries == {} and other.calibration == [] and other.coefficients == (1.0, 0.0)


@pytest.mark.slow  # real timings of 10 networks, 3 times each: a minute on two cores
def test_real_cpu_prediction_is_near_the_measurement(tmp_path, one_thread):
    from nasbox.measure.latency import measure_latency

    table = LatencyTable.open("cpu", threads=1, directory=tmp_path)
    assert table.path.parent == tmp_path / "latency" and "cpu" in table.key and "torch" in table.key
    archs = _samples("seed_cnn", CALIBRATION_NETWORKS + 2, seed=7)
    for arch in archs[:CALIBRATION_NETWORKS]:
        table.predict(arch)
    a, c = table.coefficients
    # c (ms per million weights beyond the core's cache) comes from few networks and swung from 0.3 to 10 between
    # runs on a shared VM: only its sign is a property of the model
    assert table.calibrated() and 0.5 < a < 2.0 and 0.0 <= c
    for arch in archs[CALIBRATION_NETWORKS:]:
        predicted = table.predict(arch).ms
        measured = statistics.median(measure_latency(build_model(arch, seed=0), arch.input_shape).median_ms
                                     for _ in range(3))
        assert 0.4 < predicted / measured < 2.5  # loose: a shared CI machine's timing is noisy (bench/ has the figures)
    assert device_key("cpu", 2) != device_key("cpu", 1)


@pytest.mark.slow  # 35 s: a real search whose latency comes from the table
def test_search_with_predicted_latency_never_measures_a_whole_candidate(tmp_path, monkeypatch):
    import nasbox.measure
    import nasbox.measure.latency_table
    import nasbox.search.costs
    from nasbox.report import write_report
    from nasbox.search import SearchConfig, run_search

    monkeypatch.setenv("NASBOX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(nasbox.measure.latency_table, "CALIBRATION_NETWORKS", 1)
    whole_network_timings = []
    real = nasbox.measure.measure_latency

    def spy(model, *args, **kwargs):
        if hasattr(model, "arch"):
            whole_network_timings.append(model.arch.arch_id)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(nasbox.search.costs, "measure_latency", spy)
    monkeypatch.setattr(nasbox.measure.latency_table, "measure_latency", spy)
    cfg = SearchConfig(space="seed_cnn", space_args={"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4",
                                                     "l_max": "0", "heads": "gap"},
                       dataset="synthetic", dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 300},
                       iterations=2, batch_size=32, budget=3, reports_dir=str(tmp_path / "reports"), device="cpu",
                       latency="predict", prescreen=2)
    result = run_search(cfg, outputs=write_report)
    trained = result.trials[result.trials["status"] == "complete"]
    assert len(trained) >= 1 and (trained["latency_ms"] > 0).all()
    assert len(set(whole_network_timings)) <= 1  # the table's one calibration network; no trial measured its own
    assert "latency, predicted batch-1 ms" in (result.report_dir / "index.html").read_text()  # the axis says so
    table_files = list(Path(tmp_path / "cache" / "latency").glob("*.json"))
    assert len(table_files) == 1 and json.loads(table_files[0].read_text())["units"]
    import optuna

    from nasbox.study.storage import open_storage
    storage, _ = open_storage(None, result.report_dir)
    study = optuna.load_study(study_name=None, storage=storage)
    for t in study.get_trials():
        assert t.user_attrs["latency_predicted_ms"] > 0  # the pre-screen's latency cost came from the table
        if t.user_attrs.get("status") == "complete":
            assert t.user_attrs["latency_source"] == "predicted"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_table_measures_the_fixed_cost_of_a_call_below_every_unit(tmp_path):
    table = LatencyTable.open("cuda", directory=tmp_path)
    assert table.per_call
    for arch in _samples("seed_cnn", 2, seed=1):
        table.predict(arch)
    assert 0 < table.overhead_ms < min(table.entries.values())  # a unit costs its call plus its kernels
    assert json.loads(table.path.read_text())["overhead_ms"] == table.overhead_ms
