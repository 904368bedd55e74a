"""Brief training, the default evaluator: train a few epochs or iterations, score validation accuracy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from nasbox.evaluate.base import Candidate, EvalContext, Evaluation, Evaluator, Rungs, register_evaluator
from nasbox.train.brief import evaluate, train_model
from nasbox.train.recipe import TrainConfig, numerics, resolve_budget

__all__ = ["BriefTraining"]


@register_evaluator("brief")
class BriefTraining(Evaluator):
    """Train the candidate with the search's recipe and budget, then score the validation split.

    Its fidelity is the recipe's budget (epochs or iterations, batch size, learning rate,
    augmentation): two trials of one genotype at the same fidelity have the same score.
    """

    name: ClassVar[str] = "brief"
    supports_rungs: ClassVar[bool] = True

    def __init__(self, context: EvalContext) -> None:
        self.data, self.device, self.pause = context.data, context.device, context.pause
        self.config = TrainConfig(epochs=context.epochs, iterations=context.iterations, batch_size=context.batch_size,
                                  lr=context.lr, augment=context.augment, seed=context.seed)
        self.budget = resolve_budget(len(self.data.train), context.batch_size, epochs=context.epochs,
                                     iterations=context.iterations)

    def fidelity(self) -> dict[str, Any]:
        return self.config.fidelity()

    def budget_text(self) -> str:
        return self.budget.describe()

    def total_iterations(self) -> int:
        return self.budget.iterations

    def evaluate(self, candidate: Candidate, rungs: Rungs | None = None) -> Evaluation:
        model, candidate.model = candidate.model, None  # trained in place; the candidate no longer holds it
        result = train_model(model, self.data.train, self.data.val, self.config, self.data.spec, device=self.device,
                             rungs=self._callbacks(rungs) if rungs is not None else None, pause=self.pause)
        del model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        details = {"train_loss": result.loss, "train_seconds": result.seconds, "iterations": result.budget.iterations,
                   "epochs": result.budget.epochs, "images_per_second": result.images_per_second,
                   "precision": result.precision}
        return Evaluation(result.accuracy, details, result.stopped_at)

    def _callbacks(self, rungs: Rungs) -> dict[int, Callable[[int, Any], bool]]:
        """``train_model``'s rung callbacks: score validation accuracy as training runs (its
        precision and memory format), and let ``rungs`` decide."""
        def make(rung: int) -> Callable[[int, Any], bool]:
            def callback(iteration: int, model: Any) -> bool:
                bf16, channels_last = numerics(self.config, self.device, model)
                accuracy = evaluate(model, self.data.val, self.data.spec, device=self.device,
                                    batch_size=self.config.eval_batch_size, bf16=bf16, channels_last=channels_last)
                return rungs.decide(rung, iteration, accuracy)

            return callback

        return {iteration: make(k) for k, iteration in enumerate(rungs.iterations)}
