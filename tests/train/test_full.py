"""Tests of nasbox.train.full: the candidate of a finished study trained fully, stopped and resumed, tested once."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

import nasbox.train.full
from nasbox.data import load_dataset
from nasbox.deploy.candidate import resolve_candidate
from nasbox.errors import ConfigError
from nasbox.train.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from nasbox.train.full import FullTrainConfig, full_train
from tests.tiny_study import STUDY
from tests.train.support import FP32, _rewrite, _same_weights, _TestCounter


def test_full_train_config_counts_whole_epochs():
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="epochs"):
            FullTrainConfig(epochs=bad)
    with pytest.raises(ConfigError, match="iterations"):
        FullTrainConfig(epochs=2, iterations=10)
    assert "eval_batch_size" not in FullTrainConfig(epochs=2).key()


def test_a_full_run_trains_tests_once_and_writes_its_files(reference, candidate, study):
    result, _, test_calls, events = reference
    _, data, _ = study
    assert result.finished and result.start_epoch == 0 and len(result.history) == 2
    assert test_calls == 1 and 0.0 <= result.test_accuracy <= 1.0
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2 and kinds.count("test") == 1
    assert kinds.index("test") > len(kinds) - 1 - kinds[::-1].index("epoch")  # tested after the last epoch
    epoch_events = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epoch_events] == [1, 2] and epoch_events[-1]["eta"] == 0
    assert all(0 <= e["val_accuracy"] <= 1 and e["loss"] > 0 and e["seconds"] > 0 for e in epoch_events)
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] == result.test_accuracy and metrics["test_size"] == len(data.test)
    assert metrics["command"] == "nasbox train --study tiny --trial 0 --epochs 2"
    assert metrics["arch_id"] == candidate.arch_id and len(metrics["history"]) == 2
    assert (result.out_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stopped_run_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(reference, candidate, study,
                                                                                  tmp_path, monkeypatch):
    ref_result, ref_weights, _, _ = reference
    _, data, _ = study
    counter = _TestCounter(data)
    monkeypatch.setattr(nasbox.train.full, "evaluate", counter)
    config = FullTrainConfig(epochs=2, **FP32)

    def stop_after_first_epoch(event):  # a Ctrl-C right after epoch 1 was checkpointed
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        full_train(candidate, data, config, tmp_path, device="cpu", progress=stop_after_first_epoch)
    ck = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert (ck.epoch, ck.finished, ck.test_accuracy, counter.test_calls) == (1, False, None, 0)
    events: list[dict] = []
    result = full_train(candidate, data, config, tmp_path, device="cpu", progress=events.append)
    assert events[0]["event"] == "start" and events[0]["start_epoch"] == 1
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [2]  # continued, not restarted
    assert counter.test_calls == 1 and result.finished and result.start_epoch == 1
    assert _same_weights(load_checkpoint(tmp_path / CHECKPOINT_NAME).model.state_dict(), ref_weights)
    assert [h["loss"] for h in result.history] == [h["loss"] for h in ref_result.history]
    assert result.test_accuracy == ref_result.test_accuracy


def test_until_epoch_stops_checkpointed_and_a_rerun_goes_on(reference, candidate, study, tmp_path):
    _, ref_weights, _, _ = reference
    _, data, _ = study
    config = FullTrainConfig(epochs=2, **FP32)
    first = full_train(candidate, data, config, tmp_path, device="cpu", until_epoch=1)
    assert not first.finished and first.test_accuracy is None and len(first.history) == 1
    assert not (tmp_path / "learning_curve.png").exists()
    full_train(candidate, data, config, tmp_path, device="cpu")
    assert _same_weights(load_checkpoint(tmp_path / CHECKPOINT_NAME).model.state_dict(), ref_weights)


def test_dropout_draws_continue_from_the_saved_rng_state(candidate, study, tmp_path):
    _, data, _ = study
    arch = type(candidate).from_dict({**candidate.to_dict(), "head": {"pool": "gap", "fc": [], "dropout": 0.5}})
    config = FullTrainConfig(epochs=2, **FP32)
    full_train(arch, data, config, tmp_path / "whole", device="cpu")
    full_train(arch, data, config, tmp_path / "parts", device="cpu", until_epoch=1)
    torch.manual_seed(12345)  # whatever the caller's generator holds, the resumed run uses the saved state
    full_train(arch, data, config, tmp_path / "parts", device="cpu")
    whole, parts = (load_checkpoint(tmp_path / d / CHECKPOINT_NAME).model.state_dict() for d in ("whole", "parts"))
    assert _same_weights(whole, parts)


def test_a_finished_run_is_neither_trained_nor_tested_again(reference, candidate, study, monkeypatch):
    result, _, _, _ = reference
    _, data, _ = study
    counter = _TestCounter(data)
    monkeypatch.setattr(nasbox.train.full, "evaluate", counter)
    events: list[dict] = []
    again = full_train(candidate, data, FullTrainConfig(epochs=2, **FP32), result.out_dir, device="cpu",
                       progress=events.append)
    assert [e["event"] for e in events] == ["done"] and events[0]["cached"]
    assert counter.test_calls == 0 and again.test_accuracy == result.test_accuracy and again.finished
    assert again.command == result.command  # the stored command survives a rerun without one


def test_resume_refuses_another_genotype_recipe_or_dataset_and_restart_starts_over(study, candidate, tmp_path):
    reports, data, _ = study
    config = FullTrainConfig(epochs=2, **FP32)
    full_train(candidate, data, config, tmp_path, device="cpu", until_epoch=1)
    other, _ = resolve_candidate(study=STUDY, trial=1, reports_dir=reports)
    with pytest.raises(CheckpointError, match=f"holds genotype {candidate.arch_id}"):
        full_train(other, data, config, tmp_path, device="cpu")
    with pytest.raises(CheckpointError, match=r"lr=0\.1 \(now 0\.05\)"):
        full_train(candidate, data, FullTrainConfig(epochs=2, lr=0.05, **FP32), tmp_path, device="cpu")
    with pytest.raises(CheckpointError, match=r"epochs=2 \(now 3\)"):
        full_train(candidate, data, FullTrainConfig(epochs=3, **FP32), tmp_path, device="cpu")
    smaller = load_dataset("synthetic", synthetic_shape=(3, 16, 16), synthetic_size=200)
    with pytest.raises(CheckpointError, match="other data"):
        full_train(candidate, smaller, config, tmp_path, device="cpu")
    restarted = full_train(candidate, data, config, tmp_path, device="cpu", resume=False, until_epoch=1)
    assert restarted.start_epoch == 0 and len(restarted.history) == 1


@pytest.mark.skipif(os.name != "posix", reason="the folder lock is an fcntl.flock")
def test_a_folder_being_trained_by_another_process_is_refused(study, candidate, tmp_path):
    import fcntl

    _, data, _ = study
    with open(tmp_path / ".lock", "a+") as held:  # what a running 'nasbox train' holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CheckpointError, match="another process is training"):
            full_train(candidate, data, FullTrainConfig(epochs=1, **FP32), tmp_path, device="cpu")
    assert full_train(candidate, data, FullTrainConfig(epochs=1, **FP32), tmp_path, device="cpu").finished


def test_a_genotype_for_other_data_is_refused(study, tmp_path):
    _, data, _ = study
    arch, _ = resolve_candidate(zoo="resnet18", dataset=load_dataset("synthetic", synthetic_shape=(1, 16, 16)).spec)
    with pytest.raises(ConfigError, match="genotype is for input"):
        full_train(arch, data, FullTrainConfig(epochs=1), tmp_path, device="cpu")










def test_resuming_from_a_tampered_checkpoint_is_refused(reference, candidate, study, tmp_path):
    result, _, _, _ = reference
    _, data, _ = study
    shutil.copy(result.checkpoint, tmp_path / CHECKPOINT_NAME)
    _rewrite(tmp_path / CHECKPOINT_NAME, tmp_path / CHECKPOINT_NAME, genotype_sha256="0" * 64)
    with pytest.raises(CheckpointError, match="tampered with"):
        full_train(candidate, data, FullTrainConfig(epochs=2, **FP32), tmp_path, device="cpu")
