"""Tests of nasbox.train.full, nasbox.deploy.candidate and nasbox.train.checkpoint: the candidate of a finished
study trained fully, stopped and resumed, tested once, checkpoints loaded safely."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import nasbox.train.full
from nasbox.data import load_dataset
from nasbox.deploy.candidate import model_dir, resolve_candidate, study_data_options
from nasbox.errors import ConfigError, SpaceError, StorageError
from nasbox.search import SearchConfig, run_search
from nasbox.train.checkpoint import CHECKPOINT_NAME, CheckpointError, genotype_json, load_checkpoint
from nasbox.train.full import FullTrainConfig, full_train

STUDY = "tiny"
TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}
# fp32, no channels_last: bit-exact on the CPU, so a resumed run can be compared with an uninterrupted one
FP32 = {"batch_size": 32, "amp": "off", "channels_last": "off"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished tiny study on synthetic data: (reports_dir, data, trials)."""
    reports = tmp_path_factory.mktemp("ft") / "reports"
    result = run_search(SearchConfig(
        space="seed_cnn", space_args=dict(TINY), dataset="synthetic",
        dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 300}, iterations=4, batch_size=32,
        budget=2, reports_dir=str(reports), device="cpu", seed=0, study=STUDY))
    from nasbox.study.storage import open_study

    data = load_dataset(**study_data_options(open_study(STUDY, None, reports)))
    return reports, data, result.trials


@pytest.fixture(scope="module")
def candidate(study):
    reports, _, _ = study
    arch, _ = resolve_candidate(study=STUDY, trial=0, reports_dir=reports)
    return arch


@pytest.fixture(scope="module")
def reference(study, candidate, tmp_path_factory):
    """An uninterrupted 2-epoch run: (result, final state_dict, number of test evaluations, events)."""
    _, data, _ = study
    out = tmp_path_factory.mktemp("ref") / "model"
    counter = _TestCounter(data)
    events: list[dict] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nasbox.train.full, "evaluate", counter)
        result = full_train(candidate, data, FullTrainConfig(epochs=2, **FP32), out, device="cpu",
                            progress=events.append, command="nasbox train --study tiny --trial 0 --epochs 2")
    return result, load_checkpoint(out / CHECKPOINT_NAME).model.state_dict(), counter.test_calls, events


class _TestCounter:
    """``evaluate`` that counts its calls on the test split."""

    def __init__(self, data):
        self.test_ptr = data.test.images.data_ptr()
        self.test_calls = 0
        self.real = nasbox.train.full.evaluate

    def __call__(self, model, split, *args, **kwargs):
        self.test_calls += split.images.data_ptr() == self.test_ptr
        return self.real(model, split, *args, **kwargs)


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- the candidate


def test_the_trial_genotype_comes_from_the_stored_json(study):
    reports, data, trials = study
    for _, row in trials.iterrows():
        arch, source = resolve_candidate(study=STUDY, trial=int(row["number"]), reports_dir=reports)
        assert arch.arch_id == row["arch_id"]
        assert arch.input_shape == data.spec.input_shape and f"trial {row['number']}" in source


def test_a_missing_or_altered_json_is_resampled_from_the_trial_params(study, tmp_path):
    reports, _, trials = study
    copy = tmp_path / "reports"
    shutil.copytree(reports / STUDY, copy / STUDY)
    arch_id = trials.loc[0, "arch_id"]
    (copy / STUDY / "archs" / f"{arch_id}.json").write_text('{"input_shape": [1, 2, 3]')  # altered
    arch, _ = resolve_candidate(study=STUDY, trial=0, reports_dir=copy)
    assert arch.arch_id == arch_id
    (copy / STUDY / "archs" / f"{arch_id}.json").unlink()
    assert resolve_candidate(study=STUDY, trial=0, reports_dir=copy)[0].arch_id == arch_id


def test_unknown_study_trial_and_sources_are_clear_errors(study, tmp_path):
    reports, data, _ = study
    with pytest.raises(StorageError, match="no study 'nope'"):
        resolve_candidate(study="nope", trial=0, reports_dir=tmp_path)
    assert not (tmp_path / "nope").exists()  # nothing created for a bad name
    with pytest.raises(ConfigError, match="has no trial 99"):
        resolve_candidate(study=STUDY, trial=99, reports_dir=reports)
    with pytest.raises(ConfigError, match="exactly one candidate"):
        resolve_candidate(study=STUDY, reports_dir=reports)
    with pytest.raises(ConfigError, match="exactly one candidate"):
        resolve_candidate(trial=0, zoo="resnet18")
    with pytest.raises(ConfigError, match="needs a dataset"):
        resolve_candidate(zoo="resnet18")
    with pytest.raises(SpaceError, match="unknown zoo"):
        resolve_candidate(zoo="nonet", dataset=data.spec)
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_candidate(arch_file=tmp_path / "missing.json")
    arch, source = resolve_candidate(zoo="resnet18", dataset=data.spec)
    assert arch.input_shape == (3, 16, 16) and source == "zoo network resnet18"
    path = tmp_path / "a.json"
    path.write_text(arch.to_json())
    assert resolve_candidate(arch_file=path)[0] == arch
    assert model_dir(reports, "trial0", STUDY) == reports / STUDY / "models" / "trial0"


def test_full_train_config_counts_whole_epochs():
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="epochs"):
            FullTrainConfig(epochs=bad)
    with pytest.raises(ConfigError, match="iterations"):
        FullTrainConfig(epochs=2, iterations=10)
    assert "eval_batch_size" not in FullTrainConfig(epochs=2).key()


# --------------------------------------------------------------------------- training


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


# --------------------------------------------------------------------------- checkpoints


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (torch.Tensor, str, int, float, bool))


def test_a_checkpoint_is_plain_data_and_round_trips_with_weights_only(reference, candidate):
    result, weights, _, _ = reference
    raw = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert _plain(raw) and raw["genotype"] == genotype_json(candidate)
    assert raw["genotype_sha256"].startswith(candidate.arch_id)
    ck = load_checkpoint(result.checkpoint)
    assert ck.arch == candidate and ck.finished and ck.epoch == 2 and ck.command == result.command
    x = torch.randn(2, *candidate.input_shape)
    model = nasbox.build_model(candidate)
    model.load_state_dict(weights)
    with torch.inference_mode():
        assert torch.equal(ck.model(x), model.eval()(x))


def _rewrite(src: Path, dst: Path, **changes) -> Path:
    raw = torch.load(src, map_location="cpu", weights_only=True)
    raw.update(changes)
    torch.save(raw, dst)
    return dst


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tampered_or_foreign_checkpoints_are_refused_never_executed(reference, candidate, tmp_path):
    result, _, _, _ = reference
    src = result.checkpoint
    edited = genotype_json(candidate).replace('"out_channels":8', '"out_channels":16', 1)
    assert edited != genotype_json(candidate)
    with pytest.raises(CheckpointError, match="tampered with"):
        load_checkpoint(_rewrite(src, tmp_path / "a.pt", genotype=edited))
    import hashlib

    forged = _rewrite(src, tmp_path / "b.pt", genotype=edited, genotype_sha256=hashlib.sha256(edited.encode()).hexdigest())
    with pytest.raises(CheckpointError, match="weights do not match the genotype"):
        load_checkpoint(forged)
    with pytest.raises(CheckpointError, match="bad field"):
        load_checkpoint(_rewrite(src, tmp_path / "c.pt", epoch="2"))
    marker = tmp_path / "pwned"
    torch.save({"format": "nasbox-checkpoint", "payload": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not a nasbox checkpoint"):
        load_checkpoint(_plain_save(tmp_path / "plain.pt"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")


def _plain_save(path: Path) -> Path:
    torch.save({"model": {}}, path)
    return path


def test_resuming_from_a_tampered_checkpoint_is_refused(reference, candidate, study, tmp_path):
    result, _, _, _ = reference
    _, data, _ = study
    shutil.copy(result.checkpoint, tmp_path / CHECKPOINT_NAME)
    _rewrite(tmp_path / CHECKPOINT_NAME, tmp_path / CHECKPOINT_NAME, genotype_sha256="0" * 64)
    with pytest.raises(CheckpointError, match="tampered with"):
        full_train(candidate, data, FullTrainConfig(epochs=2, **FP32), tmp_path, device="cpu")
