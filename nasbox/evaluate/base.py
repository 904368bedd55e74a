"""The Evaluator interface: what turns a checked candidate into its accuracy.

The search proposes a genotype, checks it analytically, measures its costs and then asks
an :class:`Evaluator` for the rest: brief training (the default,
:class:`~nasbox.evaluate.brief.BriefTraining`), or another fidelity -- full training,
inherited weights from a supernet, a lookup in a published table. An evaluator states
its :meth:`~Evaluator.fidelity` (what its scores depend on: a study keeps one per
evaluator, and a genotype scored before at the same fidelity is not scored again) and
returns an :class:`Evaluation`. Each trial records the name of the evaluator that scored it.

Contract of :meth:`Evaluator.evaluate`:

* it may train, modify or drop ``candidate.model``; it must not touch the study;
* it raises :class:`~nasbox.errors.TrainingError` (or any :class:`~nasbox.errors.NasboxError`,
  ``RuntimeError``, ``ValueError``, ``MemoryError``) for a candidate that fails: the
  search records a failed trial with the reason and goes on;
* ``rungs`` (early stopping, :class:`Rungs`): an evaluator that trains in steps scores the
  candidate at ``rungs.iterations`` and stops where ``rungs.decide`` says so; one that
  does not train in steps ignores them and says so with ``supports_rungs = False``.

Evaluators are registered by name (:func:`register_evaluator`) and made for a search by
:func:`make_evaluator` from ``--evaluator NAME[:ARGUMENT]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from nasbox.errors import ConfigError
from nasbox.model.analysis import Analysis
from nasbox.model.arch import Architecture

__all__ = ["Candidate", "EvalContext", "Evaluation", "Evaluator", "Rungs", "evaluator_names", "make_evaluator",
           "register_evaluator"]


class Rungs(Protocol):
    """Early-stopping rungs of one candidate (the search's side: :class:`nasbox.search.early_stop.RungJudge`)."""

    iterations: list[int]

    def decide(self, rung: int, iteration: int, accuracy: float) -> bool:
        """Given the accuracy at rung ``rung`` (iteration ``iteration``), whether to stop here."""


@dataclass
class Candidate:
    """A checked genotype on its way to being scored.

    Attributes:
        arch: the genotype.
        info: its analysis (shapes, params, MACs).
        seed: the seed its weights were initialised with.
        model: the built ``nn.Module`` (``None`` when no step needed one).
    """

    arch: Architecture
    info: Analysis
    seed: int
    model: Any = None


@dataclass(frozen=True)
class Evaluation:
    """What an evaluator found.

    Attributes:
        accuracy: validation accuracy (a fraction), at the rung where it stopped if it stopped.
        details: what else it measured, recorded on the trial under these names (brief
            training: ``train_loss``, ``train_seconds``, ``iterations``, ``epochs``,
            ``images_per_second``, ``precision``).
        stopped_at: the iteration where early stopping stopped it (``None``: its whole budget ran).
    """

    accuracy: float
    details: dict[str, Any] = field(default_factory=dict)
    stopped_at: int | None = None


@dataclass(frozen=True)
class EvalContext:
    """What a search gives the evaluator it makes: data on the device, the device, the recipe's
    budget and options, the argument after ``NAME:`` in ``--evaluator``, and the search space (bound
    to the data: its :meth:`~nasbox.spaces.SearchSpace.arch_string` names a genotype in a table)."""

    data: Any
    device: Any
    epochs: float | None
    iterations: int | None
    batch_size: int
    lr: float
    augment: bool
    seed: int
    argument: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    space: Any = None
    #: called every few training steps: steps aside while another process times a latency on the device
    #: (:meth:`nasbox.measure.slot.DeviceSlot.pause_point`)
    pause: Callable[[], Any] | None = None
    #: says a line of setup work that takes a while (the search shows it as it happens)
    note: Callable[[str], Any] | None = None


class Evaluator(ABC):
    """Base class of evaluators (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    supports_rungs: ClassVar[bool] = False
    #: ``False``: it scores from the genotype alone (a table): the search builds the model only to time
    #: its latency, and only when the evaluation gives none
    needs_model: ClassVar[bool] = True

    @abstractmethod
    def fidelity(self) -> dict[str, Any]:
        """What this evaluator's scores depend on (plain JSON data)."""

    @abstractmethod
    def evaluate(self, candidate: Candidate, rungs: Rungs | None = None) -> Evaluation:
        """Score ``candidate``, stopping early where ``rungs`` says so."""

    def budget_text(self) -> str:
        """The per-candidate budget in words, for progress lines."""
        return self.name

    def facts(self) -> dict[str, Any]:
        """What the study records about this evaluator for its report (a supernet's training curve and cost);
        nothing by default."""
        return {}

    def total_iterations(self) -> int | None:
        """The iterations a candidate trains for, when it trains in steps (early-stopping rungs sit in it)."""
        return None


_EVALUATORS: dict[str, Callable[[EvalContext], Evaluator]] = {}


def register_evaluator(name: str) -> Callable[[Callable[[EvalContext], Evaluator]], Callable[[EvalContext], Evaluator]]:
    """Decorator: make ``factory(context) -> Evaluator`` (a class or a function) known as ``name``."""

    def add(factory: Callable[[EvalContext], Evaluator]) -> Callable[[EvalContext], Evaluator]:
        _EVALUATORS[name] = factory
        return factory

    return add


def evaluator_names() -> tuple[str, ...]:
    return tuple(_EVALUATORS)


def make_evaluator(spec: str, context: EvalContext) -> Evaluator:
    """The evaluator of ``--evaluator NAME[:ARGUMENT]`` for a search's ``context``."""
    name, _, argument = spec.partition(":")
    factory = _EVALUATORS.get(name)
    if factory is None:
        raise ConfigError(f"unknown evaluator {name!r}; choose from {', '.join(_EVALUATORS)}")
    return factory(EvalContext(**{**context.__dict__, "argument": argument or None}))
