"""Fixtures of the report tests."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tests.report.support import make_study


@pytest.fixture()
def evil(tmp_path) -> tuple[Path, optuna.Study]:
    reports = tmp_path / "reports"
    return reports, make_study(reports)
