"""Inherited weights: score a candidate as a subnet of a trained supernet (``--evaluator supernet:PATH``).

The candidate's weights are its slices of the supernet's (:mod:`nasbox.supernet.weights`), or its path's
ops in a cell space's one-shot supernet (:mod:`nasbox.supernet.oneshot`), its BatchNorm
statistics are re-estimated on the supernet's calibration images (a fixed draw of the training split), and
its validation accuracy is measured: about a second on a CPU where brief training takes a minute. MACs and
parameters stay analytic and latency is measured (or predicted) as for any candidate, so constraints, the
samplers and the report work unchanged. The search must use the supernet's space, bounds and data split
(checked). A candidate that is no subnet of it fails with its reason; the search goes on.

``--evaluator supernet:PATH,PATH,...`` scores with several supernets of the same space, bounds and data (trained
with other seeds, say) and takes the mean of their estimates: a supernet's seed alone moves how well its estimates
rank (``bench/RESULTS.md``), and the mean of a few cancels part of that, at the cost of training each.

``--supernet-prior params`` joins each estimate with the candidate's parameter count (:mod:`nasbox.supernet.prior`),
``params+synflow`` with its synflow score as well, both measured on NAS-Bench-201 to rank cells better than the
supernet alone (the second the best); ``auto`` (the default) is ``params+synflow`` for a cell space's one-shot
supernet and leaves an elastic supernet's estimates as they are.

``nasbox search --confirm K`` then trains the K best non-dominated subnets standalone (brief training) in
the same study, so that the report can set estimated against confirmed accuracy. Where nasbox's benchmarks
measured how well a space's supernet ranks (:mod:`nasbox.supernet.measured`), the search's start line and the
report's fidelity section quote the figure.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any, ClassVar

from nasbox.errors import ConfigError
from nasbox.evaluate.base import Candidate, EvalContext, Evaluation, Evaluator, Rungs, register_evaluator
from nasbox.files import update_file
from nasbox.study.schema import Attr
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.measured import measured
from nasbox.supernet.oneshot import CellSupernet
from nasbox.supernet.prior import (
    ONE_SHOT_PRIOR,
    PRIORS,
    REFERENCE_ARCHS,
    REFERENCE_SUBNETS,
    ParamsPrior,
    fit_params_prior,
    synflow_of,
)
from nasbox.supernet.weights import calibration_batches, score_subnet
from nasbox.train.recipe import TrainConfig, numerics

__all__ = ["InheritedWeights"]

PRIOR_LOCK_S = 3600.0  # how long a worker waits for another that scores the prior's reference subnets
PRIOR_VERSION = 1  # of how a prior is made (its reference and statistics): a kept one of another is made again
#: what a prior joins the estimates with, in words
PRIOR_NAMES = {"params": "parameter count's prior", "params+synflow": "parameter count's and synflow's prior"}


class _Member:
    """One supernet of the evaluator: its weights, checked against the search, and its calibration images."""

    def __init__(self, path: Path, context: EvalContext) -> None:
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
        self.supernet.to(context.device)
        recipe = TrainConfig(epochs=1, amp=ck.config.get("amp", "auto"),
                             channels_last=ck.config.get("channels_last", "auto"))
        self.bf16, self.channels_last = numerics(recipe, context.device, self.supernet)  # as it trains now
        self.images = int(ck.config["calibration_images"])
        self.calibration = calibration_batches(context.data.train, spec, self.images, seed=int(ck.config["seed"]),
                                               channels_last=self.channels_last)
        self.epoch, self.history, self.command = ck.epoch, ck.history, ck.command
        self.init = ck.config.get("init") or ""  # the supernet it started from (--init)
        self.space_name, self.sampling = space.name, ck.config.get("sampling", "sandwich")
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.path.parent.name

    def score(self, arch: Any, context: EvalContext) -> float:
        return score_subnet(self.supernet, arch, self.calibration, context.data, device=context.device,
                            bf16=self.bf16, channels_last=self.channels_last)  # SubnetMismatch: a failed trial


def supernet_paths(argument: str) -> list[Path]:
    """The supernets ``supernet:ARG`` names: one path, or several separated by commas (a path that exists as
    written is one, commas and all).

    Raises:
        ConfigError: an empty path (a supernet named twice is refused once loaded: by its weights' digest).
    """
    if Path(argument).expanduser().exists():
        return [Path(argument).expanduser()]
    if any(not a.strip() for a in argument.split(",")):
        raise ConfigError(f"--evaluator supernet:{argument} has an empty path; separate the supernets' paths with "
                          "single commas")
    return [Path(a.strip()).expanduser() for a in argument.split(",")]


@register_evaluator("supernet")
class InheritedWeights(Evaluator):
    """Scores a candidate with the weights it inherits from a supernet, after BatchNorm recalibration; with
    several supernets (``supernet:A,B``), the mean of their estimates."""

    name: ClassVar[str] = "supernet"
    supports_rungs: ClassVar[bool] = False

    def __init__(self, context: EvalContext) -> None:
        if not context.argument:
            raise ConfigError("the supernet evaluator needs a supernet: --evaluator supernet:PATH (a folder or "
                              "checkpoint.pt of 'nasbox supernet train'; several, separated by commas, are averaged)")
        self.context = context
        self.members = [_Member(path, context) for path in supernet_paths(context.argument)]
        for i, m in enumerate(self.members):  # the same checkpoint, through a folder, its checkpoint.pt or a copy
            same = next((o for o in self.members[:i] if o.digest == m.digest), None)
            if same is not None:
                raise ConfigError(f"--evaluator supernet:{context.argument} names one supernet twice ({same.path} and "
                                  f"{m.path}); each supernet counts once in the mean")
        self.space_name = self.members[0].space_name
        choice = context.options.get("supernet_prior", "auto")
        if choice not in PRIORS:
            raise ConfigError(f"--supernet-prior {choice!r}: one of {', '.join(PRIORS)}")
        self.prior_choice = choice
        #: the prior estimates are joined with (``auto``: a one-shot supernet's with :data:`ONE_SHOT_PRIOR`), or None
        self.prior_kind = (ONE_SHOT_PRIOR if self.one_shot else None) if choice == "auto" else \
            (None if choice == "none" else choice)
        self.joins_prior = self.prior_kind is not None
        self._prior: ParamsPrior | None = None

    @property
    def one_shot(self) -> bool:
        return isinstance(self.members[0].supernet, CellSupernet)

    @property
    def prior(self) -> ParamsPrior | None:
        """The parameter-count prior, where estimates are joined with it: read from beside the first supernet's
        checkpoint, or made there on first use (after the search opened its study: a study it may not resume
        is refused before minutes of scoring). Its reference subnets are scored as a search scores."""
        if self.joins_prior and self._prior is None:
            self._prior = self._kept_or_made_prior()
        return self._prior

    def _kept_or_made_prior(self) -> ParamsPrior:
        ms = sorted(self.members, key=lambda m: m.digest)  # supernet:A,B and B,A share one
        kind = [] if self.prior_kind == "params" else [self.prior_kind]  # a kept params prior keeps its name
        key = hashlib.sha256(json.dumps([PRIOR_VERSION, [(m.digest, m.images, m.bf16, m.channels_last) for m in ms],
                                         self.context.data.spec.to_dict(), REFERENCE_SUBNETS, REFERENCE_ARCHS, *kind],
                                        sort_keys=True, default=str).encode()).hexdigest()[:16]
        cache = self.members[0].path.parent / f"prior-{key}.json"

        def read(text: str) -> ParamsPrior:
            prior = ParamsPrior.from_json(text)
            if prior.kind != self.prior_kind:  # a file of the other kind under this name: made again
                raise ValueError(f"a {prior.kind} prior, not {self.prior_kind}")
            return prior
        try:  # kept: read without its lock (a read-only folder keeps it too)
            return read(cache.read_text())
        except (OSError, ValueError):
            pass
        made: list[str] = []

        def kept_or_made(text: str | None) -> str:
            try:  # another worker made it while this one waited for the lock
                return read(text or "").to_json()
            except ValueError:
                pass
            if not made:
                made.append(self._made_prior().to_json())
            return made[0]
        try:  # under its lock: workers starting together score the reference subnets once
            return ParamsPrior.from_json(update_file(cache, kept_or_made, timeout=PRIOR_LOCK_S))
        except OSError:  # a read-only folder (or a lock held too long): made here, not kept
            return ParamsPrior.from_json(kept_or_made(None))

    def _made_prior(self) -> ParamsPrior:
        space = self.context.space if self.context.space is not None else self.members[0].supernet.sharing.space
        say = self.context.note or (lambda text: None)
        flow = (lambda arch: synflow_of(arch, self.context.data.spec.input_shape)) \
            if self.prior_kind == "params+synflow" else None
        say(f"supernet prior (--supernet-prior {self.prior_choice}: {self.prior_kind}): scoring {REFERENCE_SUBNETS} "
            f"random subnets{f' and the synflow of {REFERENCE_ARCHS}' if flow else ''}, once for this supernet ...")
        t0 = time.perf_counter()
        try:
            prior = fit_params_prior(space, lambda arch: self._estimate(arch)[1], flow=flow)
        except ValueError as e:
            raise ConfigError(f"--supernet-prior {self.prior_choice}: {e}; score without it (--supernet-prior none)"
                              ) from None
        say(f"supernet prior made in {time.perf_counter() - t0:.0f} s: {prior.text()}")
        return prior

    def _estimate(self, arch: Any) -> tuple[list[float], float]:
        """Each supernet's estimate of ``arch`` and their mean."""
        scores = [m.score(arch, self.context) for m in self.members]
        return scores, statistics.fmean(scores)

    def fidelity(self) -> dict[str, Any]:
        def joined(values: list[Any]) -> Any:
            return values[0] if len(values) == 1 else ",".join(str(v) for v in values)
        ms = self.members
        return {"evaluator": self.name, "supernet": joined([m.name for m in ms]),
                "supernet_sha256": joined([m.digest for m in ms]), "supernet_epochs": joined([m.epoch for m in ms]),
                "calibration_images": joined([m.images for m in ms]),
                **({"prior": self.prior_kind} if self.joins_prior else {})}  # a study from before the prior resumes as it was

    def budget_text(self) -> str:
        figure = measured(self.space_name, self.prior_kind)

        def one(m: _Member) -> str:
            start = f" from {Path(m.init).name}'s" if m.init else ""
            return f"{m.name} ({m.epoch} epoch{'s' * (m.epoch != 1)}{start})"
        ms = self.members
        source = (f"inherited weights of {one(ms[0])}" if len(ms) == 1 else
                  f"the mean of {len(ms)} supernets' estimates with inherited weights ({', '.join(map(one, ms))})")
        images = sorted({m.images for m in ms})
        return (f"{source}, BatchNorm recalibrated on {'/'.join(map(str, images))} images"
                + (f", joined with the {PRIOR_NAMES[self.prior_kind]} (--supernet-prior)" if self.joins_prior else "")
                + (f"; measured{' for one supernet' if len(ms) > 1 else ''}: {figure.short()}" if figure else ""))

    def facts(self) -> dict[str, Any]:
        figure = measured(self.space_name, self.prior_kind)
        ms = self.members
        first = ms[0]
        seconds = [sum(h.get("seconds", 0.0) for h in m.history) for m in ms]
        facts = {"path": ", ".join(str(m.path) for m in ms), "epochs": first.epoch, "history": first.history,
                 "command": first.command, "train_seconds": seconds[0],  # the first's, whose history the curve shows
                 "kind": "one-shot" if self.one_shot else "elastic",
                 "sampling": first.sampling, "largest": first.supernet.arch.encode(),
                 "elastic": first.supernet.sharing.describe(), "measured": figure.text() if figure else None,
                 "measured_tau": list(figure.tau) if figure else None,
                 "prior": {**prior._asdict(), "text": prior.text()} if (prior := self.prior) else None}
        if len(ms) > 1:  # the others' curves too, so that the report shows whether they trained alike
            facts.update(supernets=len(ms), train_seconds_all=sum(seconds),
                         other_histories=[m.history for m in ms[1:]])
        return facts

    def evaluate(self, candidate: Candidate, rungs: Rungs | None = None) -> Evaluation:
        candidate.model = None  # the search's freshly initialised module (for its latency) is not needed
        prior = self.prior  # made (once) before the candidate's scoring is timed
        t0 = time.perf_counter()
        scores, estimate = self._estimate(candidate.arch)
        flow = synflow_of(candidate.arch, self.context.data.spec.input_shape) if prior and prior.uses_synflow else None
        details: dict[str, Any] = {"eval_seconds": time.perf_counter() - t0}
        if len(scores) > 1:
            details[Attr.SUPERNET_ESTIMATES] = scores
        if prior is None:
            return Evaluation(estimate, details)
        details[Attr.INHERITED_ACCURACY] = estimate  # the supernet's own, before the prior
        if prior.uses_synflow:
            details[Attr.SYNFLOW] = flow
        return Evaluation(prior.apply(estimate, candidate.info.params, flow), details)
