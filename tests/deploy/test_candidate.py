"""Tests of nasbox.deploy.candidate: a study's trial from its stored genotype, or re-sampled from its parameters."""

from __future__ import annotations

import shutil

import pytest

from nasbox.deploy.candidate import model_dir, resolve_candidate
from nasbox.errors import ConfigError, SpaceError, StorageError
from tests.tiny_study import STUDY


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
