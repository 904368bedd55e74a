"""Evaluators: what turns a candidate into its accuracy (brief training by default), and the zoo's scores."""

from __future__ import annotations

from nasbox.evaluate.base import (
    Candidate,
    EvalContext,
    Evaluation,
    Evaluator,
    evaluator_names,
    make_evaluator,
    register_evaluator,
)
from nasbox.evaluate.brief import BriefTraining
from nasbox.evaluate.supernet import InheritedWeights
from nasbox.evaluate.table import TableLookup

__all__ = ["BriefTraining", "Candidate", "EvalContext", "Evaluation", "Evaluator", "InheritedWeights", "TableLookup",
           "evaluator_names",
           "make_evaluator", "register_evaluator"]
