"""Tests of nasbox.evaluate.brief: brief training as an evaluator -- its fidelity, budget and result."""

from __future__ import annotations

import pytest

from nasbox.data import load_dataset
from nasbox.evaluate import BriefTraining, Candidate, EvalContext
from nasbox.model import Architecture, ConvBlock, Head, Pool, Stage, analyze
from nasbox.model.build import build_model
from nasbox.train.recipe import TrainConfig


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_shape=(3, 16, 16), synthetic_size=200)


def _context(data, **kw) -> EvalContext:
    base = dict(data=data, device=__import__("torch").device("cpu"), epochs=None, iterations=6, batch_size=16,
                lr=0.05, augment=False, seed=3)
    return EvalContext(**{**base, **kw})


def test_the_fidelity_is_the_recipes_budget(data):
    brief = BriefTraining(_context(data))
    assert brief.fidelity() == TrainConfig(iterations=6, batch_size=16, lr=0.05, augment=False, seed=3).fidelity()
    assert brief.total_iterations() == 6 and "6 iterations" in brief.budget_text()
    epochs = BriefTraining(_context(data, epochs=2.0, iterations=None))
    assert epochs.total_iterations() == 2 * (len(data.train) // 16)


def test_evaluate_trains_the_candidate_in_place_and_reports_its_run(data, one_thread):
    arch = Architecture((3, 16, 16), 10, (Stage((ConvBlock(8),), Pool()), Stage((ConvBlock(8),))), Head())
    model = build_model(arch, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    candidate = Candidate(arch, analyze(arch), 0, model)
    result = BriefTraining(_context(data)).evaluate(candidate)
    assert candidate.model is None  # handed over: the evaluator trained it
    assert any(not (before[k] == v).all() for k, v in model.state_dict().items())
    assert 0.0 <= result.accuracy <= 1.0 and result.stopped_at is None
    assert result.details["iterations"] == 6 and result.details["precision"] in ("fp32", "bf16")


class _StopAtFirst:
    iterations = [2, 4]

    def __init__(self) -> None:
        self.calls = []

    def decide(self, rung: int, iteration: int, accuracy: float) -> bool:
        self.calls.append((rung, iteration, accuracy))
        return True


def test_rungs_are_scored_with_the_recipe_and_stop_where_they_say(data, one_thread):
    arch = Architecture((3, 16, 16), 10, (Stage((ConvBlock(8),), Pool()),), Head())
    rungs = _StopAtFirst()
    result = BriefTraining(_context(data)).evaluate(Candidate(arch, analyze(arch), 0, build_model(arch, seed=0)), rungs)
    assert result.stopped_at == 2 and [c[:2] for c in rungs.calls] == [(0, 2)]
    assert rungs.calls[0][2] == pytest.approx(result.accuracy)
