"""Training: the recipe, brief training with early-stopping rungs, full training, checkpoints."""

from __future__ import annotations

from nasbox.train.brief import RungCallback, TrainResult, evaluate, train_model
from nasbox.train.recipe import Budget, Recipe, TrainConfig, numerics, resolve_budget, use_bf16

__all__ = ["Budget", "Recipe", "RungCallback", "TrainConfig", "TrainResult", "evaluate", "numerics",
           "resolve_budget", "train_model", "use_bf16"]
