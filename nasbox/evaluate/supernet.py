"""Inherited weights: score a candidate as a subnet of a trained supernet (``--evaluator supernet:PATH``).

The candidate's weights are its slices of the supernet's (:mod:`nasbox.supernet.weights`), or its path's
ops in a cell space's one-shot supernet (:mod:`nasbox.supernet.oneshot`), its BatchNorm
statistics are re-estimated on the supernet's calibration images (a fixed draw of the training split), and
its validation accuracy is measured: about a second on a CPU where brief training takes a minute. MACs and
parameters stay analytic and latency is measured (or predicted) as for any candidate, so constraints, the
samplers and the report work unchanged. The search must use the supernet's space, bounds and data split
(checked). A candidate that is no subnet of it fails with its reason; the search goes on.

``nasbox search --confirm K`` then trains the K best non-dominated subnets standalone (brief training) in
the same study, so that the report can set estimated against confirmed accuracy. Where nasbox's benchmarks
measured how well a space's supernet ranks (:mod:`nasbox.supernet.measured`), the search's start line and the
report's fidelity section quote the figure.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, ClassVar

from nasbox.errors import ConfigError
from nasbox.evaluate.base import Candidate, EvalContext, Evaluation, Evaluator, Rungs, register_evaluator
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.measured import measured
from nasbox.supernet.oneshot import CellSupernet
from nasbox.supernet.weights import calibration_batches, score_subnet
from nasbox.train.recipe import TrainConfig, numerics

__all__ = ["InheritedWeights"]


@register_evaluator("supernet")
class InheritedWeights(Evaluator):
    """Scores a candidate with the weights it inherits from a supernet, after BatchNorm recalibration."""

    name: ClassVar[str] = "supernet"
    supports_rungs: ClassVar[bool] = False

    def __init__(self, context: EvalContext) -> None:
        if not context.argument:
            raise ConfigError("the supernet evaluator needs a supernet: --evaluator supernet:PATH (a folder or "
                              "checkpoint.pt of 'nasbox supernet train')")
        path = Path(context.argument).expanduser()
        self.supernet, ck = load_supernet(path)
        self.path = ck.path
        space = self.supernet.sharing.space
        if context.space is not None:
            theirs = json.loads(json.dumps(context.space.bounds()))
            mine = json.loads(ck.config["space_bounds"])
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            if context.space.name != space.name or diff:
                shown = ", ".join(f"{k}={mine.get(k)!r} (search: {theirs.get(k)!r})" for k in diff[:4])
                raise ConfigError(f"the supernet {self.path} was trained on space {space.name!r}"
                                  f"{' with ' + shown if shown else ''}, not {context.space.name!r} as searched; "
                                  "search with the supernet's --space and --space-arg")
        spec = context.data.spec
        if ck.data != json.loads(json.dumps(spec.to_dict())):
            raise ConfigError(f"the supernet {self.path} was trained on other data ({ck.data.get('name')}, "
                              f"{ck.data.get('train_size')} training / {ck.data.get('val_size')} validation images; "
                              f"the search has {spec.name}, {spec.train_size} / {spec.val_size}): its weights may "
                              "have seen the search's validation images; search with its --dataset, --subset, "
                              "--val-fraction and --seed")
        self.data, self.device = context.data, context.device
        self.supernet.to(self.device)
        recipe = TrainConfig(epochs=1, amp=ck.config.get("amp", "auto"),
                             channels_last=ck.config.get("channels_last", "auto"))
        self.bf16, self.channels_last = numerics(recipe, self.device)
        self.images = int(ck.config["calibration_images"])
        self.calibration = calibration_batches(self.data.train, spec, self.images, seed=int(ck.config["seed"]),
                                               channels_last=self.channels_last)
        self.epoch, self.history, self.command = ck.epoch, ck.history, ck.command
        self.init = ck.config.get("init") or ""  # the supernet it started from (--init)
        self.space_name, self.sampling = space.name, ck.config.get("sampling", "sandwich")
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def fidelity(self) -> dict[str, Any]:
        return {"evaluator": self.name, "supernet": self.path.parent.name, "supernet_sha256": self.digest,
                "supernet_epochs": self.epoch, "calibration_images": self.images}

    def budget_text(self) -> str:
        figure = measured(self.space_name)
        start = f" from {Path(self.init).name}'s" if self.init else ""
        epochs = f"{self.epoch} epoch{'s' * (self.epoch != 1)}{start}"
        return (f"inherited weights of {self.path.parent.name} ({epochs}), BatchNorm recalibrated on "
                f"{self.images} images" + (f"; measured: {figure.text()}" if figure else ""))

    def facts(self) -> dict[str, Any]:
        figure = measured(self.space_name)
        return {"path": str(self.path), "epochs": self.epoch, "history": self.history, "command": self.command,
                "train_seconds": sum(h.get("seconds", 0.0) for h in self.history),
                "kind": "one-shot" if isinstance(self.supernet, CellSupernet) else "elastic",
                "sampling": self.sampling, "largest": self.supernet.arch.encode(),
                "elastic": self.supernet.sharing.describe(), "measured": figure.text() if figure else None,
                "measured_tau": list(figure.tau) if figure else None}

    def evaluate(self, candidate: Candidate, rungs: Rungs | None = None) -> Evaluation:
        candidate.model = None  # the search's freshly initialised module (for its latency) is not needed
        t0 = time.perf_counter()
        accuracy = score_subnet(self.supernet, candidate.arch, self.calibration, self.data, device=self.device,
                                bf16=self.bf16, channels_last=self.channels_last)  # SubnetMismatch: a failed trial
        return Evaluation(accuracy, {"eval_seconds": time.perf_counter() - t0})
