"""Tests of nasbox.zoo.scores, nasbox.zoo.score and `nasbox zoo --dataset/--study`: the cache key, caching, and the overlay."""

from __future__ import annotations

import functools
import json

import optuna
import pytest
from optuna.trial import create_trial

import nasbox.data
import nasbox.measure.latency
import nasbox.zoo.genotypes
import nasbox.zoo.score
from nasbox.cli import main
from nasbox.errors import TrainingError
from nasbox.model.analysis import analyze
from nasbox.report import report_dir_for
from nasbox.spaces import get_space
from nasbox.study.storage import open_storage
from nasbox.zoo.score import score_zoo
from nasbox.zoo.scores import ZooSettings, cache_path, load_zoo_scores, settings_from_config

optuna.logging.set_verbosity(optuna.logging.WARNING)
OPTIONS = {"synthetic_shape": [3, 16, 16], "synthetic_size": 150}
TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap"}


def settings(**kw) -> ZooSettings:
    base = dict(dataset="synthetic", device="cpu", iterations=2, batch_size=16, dataset_options=OPTIONS)
    base.update(kw)
    return ZooSettings(**base)


@pytest.fixture()
def fast_latency(monkeypatch):
    monkeypatch.setattr(nasbox.zoo.score, "measure_latency", functools.partial(
        nasbox.measure.measure_latency, min_runs=5, max_runs=10, budget_s=0.02, max_warmup_s=0.2))


def test_the_key_changes_with_data_fidelity_and_device_only():
    base = settings()
    assert base.key() == settings().key() and base.key().startswith("synthetic-i2-b16-cpu-")
    assert settings(device="cuda:0").key() == settings(device="cuda").key()
    assert settings(seed=3, data_dir="/elsewhere").key() == base.key()  # same setting, other split seed / folder
    assert settings(iterations=None, epochs=1).key() == settings(iterations=None, epochs=1.0).key()
    variants = [settings(iterations=3), settings(batch_size=32), settings(lr=0.05), settings(device="cuda"),
                settings(subset=100), settings(val_fraction=0.2), settings(dataset="mnist5k"),
                settings(iterations=None, epochs=1.0), settings(dataset_options={**OPTIONS, "synthetic_size": 99})]
    keys = {v.key() for v in variants}
    assert len(keys) == len(variants) and base.key() not in keys
    with pytest.raises(ValueError, match="exactly one"):
        settings(epochs=1.0)


def test_settings_come_from_a_study_config():
    config = {"dataset": "synthetic", "dataset_options": OPTIONS, "epochs": None, "iterations": 2, "batch_size": 16,
              "lr": 0.1, "val_fraction": 0.1, "subset": None, "seed": 0, "device": "auto"}
    assert settings_from_config(config, "cpu").key() == settings().key()
    assert settings_from_config(config, None) is None  # "auto" and no trial ran: device unknown
    assert settings_from_config({**config, "device": "cpu"}, None).key() == settings().key()


def test_scores_are_cached_per_network_and_reused(tmp_path, fast_latency, monkeypatch):
    path, scores = score_zoo(settings(), ["mobilenet_v2"], reports_dir=tmp_path)
    assert path == cache_path(tmp_path, settings()) and path.is_file()
    (score,) = scores
    info = analyze(nasbox.zoo.genotypes.get_zoo("mobilenet_v2", (3, 16, 16), 10))
    assert score.status == "complete" and 0.0 <= score.accuracy <= 1.0 and score.latency_ms > 0
    assert (score.macs, score.flops, score.params, score.iterations) == (info.macs, 2 * info.macs, info.params, 2)
    assert load_zoo_scores(tmp_path, settings()) == [score]
    assert load_zoo_scores(tmp_path, settings(iterations=3)) == []  # another fidelity: not comparable

    def no_training(*a, **k):
        raise AssertionError("a cached network was trained again")

    monkeypatch.setattr(nasbox.zoo.score, "train_model", no_training)
    load_dataset = nasbox.data.load_dataset

    def no_loading(*a, **k):
        raise AssertionError("the data was loaded though every network is cached")

    monkeypatch.setattr(nasbox.zoo.score, "load_dataset", no_loading)
    assert score_zoo(settings(), ["mobilenet_v2"], reports_dir=tmp_path)[1] == [score]
    monkeypatch.setattr(nasbox.zoo.score, "load_dataset", load_dataset)

    def fail(*a, **k):
        raise TrainingError("the loss became nan at iteration 1")

    monkeypatch.setattr(nasbox.zoo.score, "train_model", fail)
    _, (again,) = score_zoo(settings(), ["mobilenet_v2"], reports_dir=tmp_path, force=True)
    assert again.status == "failed" and "nan" in again.reason and again.accuracy is None
    assert json.loads(path.read_text())["models"]["mobilenet_v2"]["status"] == "failed"


def _study(reports, name: str = "zoo-study") -> optuna.Study:
    storage, _ = open_storage(None, report_dir_for(name, reports))
    study = optuna.create_study(study_name=name, storage=storage, directions=["maximize"] + ["minimize"] * 3)
    study.set_user_attr("config", {"dataset": "synthetic", "dataset_options": OPTIONS, "epochs": None,
                                   "iterations": 2, "batch_size": 16, "lr": 0.1, "val_fraction": 0.1, "seed": 0,
                                   "device": "auto", "sampler": "random", "budget": 1})
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs", "params", "latency"]})
    space = get_space("seed_cnn", input_shape=(3, 16, 16), num_classes=10, args=TINY)
    arch = space.sample(optuna.create_study().ask())
    info = analyze(arch)
    attrs = {"status": "complete", "accuracy": 0.5, "macs": info.macs, "flops": info.flops, "params": info.params,
             "latency_ms": 0.1, "latency_iqr_ms": 0.01, "encoding": arch.encode(), "arch_id": arch.arch_id,
             "device": "cpu"}
    study.add_trial(create_trial(values=[0.5, info.macs, info.params, 0.1], user_attrs=attrs))
    return study


def test_zoo_for_a_study_is_overlaid_on_its_report(tmp_path, fast_latency, capsys):
    reports = tmp_path / "reports"
    _study(reports)
    assert main(["report", "--study", "zoo-study", "--reports-dir", str(reports)]) == 0
    page = (reports / "zoo-study" / "index.html").read_text()
    assert "nasbox zoo --study zoo-study" in page and 'id="zoo-table"' not in page
    assert main(["zoo", "--study", "zoo-study", "--models", "mobilenet_v2", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2: acc" in out and "report updated" in out
    assert list((reports / "zoo-cache").glob("synthetic-i2-b16-cpu-*.json"))
    page = (reports / "zoo-study" / "index.html").read_text()
    assert 'id="zoo-table"' in page and '"customdata":["mobilenet_v2"]' in page
    md = (reports / "zoo-study" / "report.md").read_text()
    assert "| mobilenet\\_v2 |" in md and "% of its MACs" in md


@pytest.mark.parametrize("argv, needle", [
    (["zoo", "--study", "zoo-study", "--epochs", "1"], "drop --epochs"),
    (["zoo", "--study", "zoo-study", "--dataset", "mnist5k"], "not both"),
    (["zoo", "--dataset", "synthetic", "--models", "resnet18,nope"], "unknown zoo network 'nope'"),
    (["zoo", "--dataset", "nope"], "unknown dataset"),
    (["zoo", "--study", "missing"], "no study 'missing'"),
])
def test_bad_zoo_input_is_one_line(argv, needle, tmp_path, capsys):
    reports = tmp_path / "reports"
    _study(reports)
    assert main([*argv, "--reports-dir", str(reports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not (reports / "zoo-cache").exists()
