"""Tests of nasbox.search.tracking: Optuna callbacks through nasbox.search, and --log mlflow / wandb for real
(MLflow's local SQLite store read back with its client; W&B in offline mode, what its run is given recorded)."""

from __future__ import annotations

import logging
import sys

import pandas as pd
import pytest

import nasbox
from nasbox.cli import main
from nasbox.errors import ConfigError
from nasbox.search.tracking import tracker_callbacks

TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "l_max": "0", "heads": "gap"}
COMMON = dict(dataset="synthetic", iterations=2, batch_size=32, device="cpu", sampler="random", classics=False,
              report_every=0, dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 300})


def test_callbacks_are_called_with_each_trial_once_told(tmp_path, one_thread):
    seen = []

    def callback(study, trial):
        seen.append((study.study_name, trial.number, trial.state.is_finished(), trial.user_attrs.get("status")))

    result = nasbox.search("seed_cnn", budget=3, reports_dir=str(tmp_path), space_args=TINY, callbacks=[callback],
                           **COMMON)
    assert [n for _, n, _, _ in seen] == sorted(result.trials["number"])
    assert all(finished and status for _, _, finished, status in seen)
    assert {name for name, *_ in seen} == {result.study_name}


def test_a_failing_callback_is_reported_once_and_the_search_goes_on(tmp_path, one_thread, caplog):
    def broken(study, trial):
        raise ConnectionError("tracking server away")

    with caplog.at_level(logging.WARNING):
        result = nasbox.search("seed_cnn", budget=3, reports_dir=str(tmp_path), space_args=TINY, callbacks=[broken],
                               **COMMON)
    assert len(result.trials) == 3
    assert [r.getMessage() for r in caplog.records].count(
        "a trial callback failed (ConnectionError: tracking server away); the search goes on") == 1


def test_log_mlflow_writes_a_run_per_trial_with_its_metrics_fidelity_and_genotype(capsys, tmp_path, one_thread):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("optuna_integration")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["search", "--dataset", "synthetic", "--iterations", "2", "--budget", "3", "--reports-dir", str(tmp_path),
            "--no-classics", "--sampler", "random", "--report-every", "0", "--log", f"mlflow:{uri}",
            "--objectives", "accuracy,macs,params"]
    for key, value in TINY.items():
        argv += ["--space-arg", f"{key}={value}"]
    assert main(argv) == 0
    trials = pd.read_csv(tmp_path / "seed_cnn-synthetic" / "trials.csv").set_index("number")
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name("seed_cnn-synthetic")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == len(trials) == 3
    for run in runs:
        row = trials.loc[int(run.info.run_name)]  # a run per trial, named by its number
        assert run.data.metrics["accuracy"] == pytest.approx(row["accuracy"])
        assert run.data.metrics["macs"] == row["macs"] and run.data.metrics["params"] == row["params"]
        assert run.data.tags["encoding"] == row["encoding"] and "iterations" in run.data.tags["fidelity"]


def test_log_wandb_logs_each_trial_as_a_step_offline(tmp_path, monkeypatch, one_thread):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logged = []
    real_log = wandb.sdk.wandb_run.Run.log

    def spy(self, data, *args, **kwargs):
        logged.append((kwargs.get("step"), dict(data)))
        return real_log(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", spy)
    result = nasbox.search("seed_cnn", budget=3, reports_dir=str(tmp_path / "r"), space_args=TINY,
                           log=("wandb:nasbox-test",), **COMMON)
    assert [step for step, _ in logged] == sorted(result.trials["number"])
    for step, data in logged:
        row = result.trials.set_index("number").loc[step]
        assert data["accuracy"] == pytest.approx(row["accuracy"]) and data["encoding"] == row["encoding"]
        assert "iterations" in data["fidelity"] and any(k.startswith("param/") for k in data)
    assert list((tmp_path / "wandb").glob("offline-run-*/*.wandb"))  # the run is on disk, for `wandb sync`


def test_a_tracker_that_is_not_installed_or_unknown_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing it raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'nasbox\[wandb\]'"):
        tracker_callbacks(["wandb"], ("accuracy",), "s")
    with pytest.raises(ConfigError, match="unknown tracker 'neptune'"):
        tracker_callbacks(["neptune"], ("accuracy",), "s")
    with pytest.raises(ConfigError, match="--log must be"):
        nasbox.search("seed_cnn", log=("neptune",), budget=1)
