"""Tests of nasbox.evaluate.base: the registry, and an evaluator of one's own plugged into a search
without touching the loop (each trial records which evaluator scored it)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from nasbox.errors import ConfigError
from nasbox.evaluate import Candidate, EvalContext, Evaluation, Evaluator, evaluator_names, make_evaluator, register_evaluator
from nasbox.search import SearchConfig, run_search
from nasbox.study.schema import Attr
from nasbox.study.storage import open_study


@register_evaluator("by-size")
class BySize(Evaluator):
    """Scores a candidate by how small it is: no training at all (a table lookup would look like this)."""

    name: ClassVar[str] = "by-size"

    def __init__(self, context: EvalContext) -> None:
        self.scale = float(context.argument or 1e5)
        self.seen: list[str] = []

    def fidelity(self) -> dict[str, Any]:
        return {"evaluator": self.name, "scale": self.scale}

    def evaluate(self, candidate: Candidate, rungs: Any = None) -> Evaluation:
        assert rungs is None  # it does not support rungs: the search does not make them
        return Evaluation(1.0 / (1.0 + candidate.info.params / self.scale), {"looked_up": True})


def _context(**kw: Any) -> EvalContext:
    base = dict(data=None, device="cpu", epochs=None, iterations=2, batch_size=8, lr=0.1, augment=False, seed=0)
    return EvalContext(**{**base, **kw})


def test_registered_evaluators_are_made_by_name_with_their_argument():
    assert {"brief", "by-size"} <= set(evaluator_names())
    made = make_evaluator("by-size:2000", _context())
    assert isinstance(made, BySize) and made.scale == 2000.0
    with pytest.raises(ConfigError, match="unknown evaluator 'nope'.*brief"):
        make_evaluator("nope", _context())


def test_a_search_with_an_evaluator_of_ones_own(tmp_path):
    cfg = SearchConfig(space_args={"channels": "4,8", "kernels": "3", "n_max": "1", "l_max": "0"}, dataset="synthetic",
                       dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 100}, budget=3,
                       sampler="random", reports_dir=str(tmp_path), device="cpu", evaluator="by-size:1000",
                       early_stop=True)
    result = run_search(cfg)
    df = result.trials
    assert list(df["status"]) == ["complete"] * 3 and list(df["evaluator"]) == ["by-size"] * 3
    assert list(df["accuracy"]) == pytest.approx([1.0 / (1.0 + p / 1000) for p in df["params"]])
    trials = open_study(result.study_name, reports_dir=tmp_path).get_trials()
    assert all(t.user_attrs["looked_up"] and t.user_attrs[Attr.FIDELITY] == {"evaluator": "by-size", "scale": 1000.0}
               for t in trials)
    assert all("rung0" not in t.user_attrs for t in trials)  # no rungs for an evaluator without them
