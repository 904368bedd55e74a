"""Fixtures of the training tests: an uninterrupted full run to compare others with."""

from __future__ import annotations

import pytest

import nasbox.train.full
from nasbox.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from nasbox.train.full import FullTrainConfig, full_train
from tests.train.support import FP32, _TestCounter


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
