"""Fixtures of the data tests."""

from __future__ import annotations

import pytest

from nasbox.data import (
    Data,
    load_dataset,
)


@pytest.fixture(scope="module")
def mnist() -> Data:
    return load_dataset("mnist5k")
