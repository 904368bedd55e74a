"""A finished tiny study on synthetic data, shared by the tests of full training, checkpoints, candidates and export."""

from __future__ import annotations

import pytest

from nasbox.data import load_dataset
from nasbox.deploy.candidate import resolve_candidate
from nasbox.search import SearchConfig, run_search
from nasbox.search.genotypes import study_data_options
from nasbox.study.storage import open_study

STUDY = "tiny"


TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """A finished tiny study on synthetic data: (reports_dir, data, trials)."""
    reports = tmp_path_factory.mktemp("ft") / "reports"
    result = run_search(SearchConfig(
        space="seed_cnn", space_args=dict(TINY), dataset="synthetic",
        dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 300}, iterations=4, batch_size=32,
        budget=2, reports_dir=str(reports), device="cpu", seed=0, study=STUDY))
    data = load_dataset(**study_data_options(open_study(STUDY, None, reports)))
    return reports, data, result.trials


@pytest.fixture(scope="session")
def candidate(study):
    reports, _, _ = study
    arch, _ = resolve_candidate(study=STUDY, trial=0, reports_dir=reports)
    return arch
