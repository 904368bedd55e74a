"""The search-space base class: bounds as a frozen dataclass, sampling from an ``optuna.Trial``.

A search space is a small frozen dataclass of *bounds* (plain data) bound to an input
shape and a number of classes. :meth:`SearchSpace.sample` draws a genotype from an
``optuna.Trial`` under stable hierarchical parameter names (``stage2.block1.kernel``) and
builds no model. Spaces sample a fixed set of parameters (up to the maximum depth) so that
samplers that need a fixed search space (NSGA-II) work; parameters of unused stages are
still drawn and simply ignored, and choices that would be invalid for the input (a pool on
a map that is already 1x1) are mapped deterministically to valid ones, so that the same
parameters always give the same, valid genotype.
"""

from __future__ import annotations

import dataclasses
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from nasbox.errors import SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture

__all__ = ['SearchSpace', 'check_cell_bounds', 'param_index']


class _Recorder:
    """A stand-in for ``optuna.Trial`` that returns the first (or given) choice."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self.seen: dict[str, tuple[str, Any]] = {}

    def suggest_categorical(self, name: str, choices: Iterable[Any]) -> Any:
        choices = tuple(choices)
        self.seen[name] = ("categorical", choices)
        return self.params.get(name, choices[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.seen[name] = ("int", (low, high, step))
        return int(self.params.get(name, low))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.seen[name] = ("float", (low, high))
        return float(self.params.get(name, low))


class _RandomTrial(_Recorder):
    """A stand-in for ``optuna.Trial`` that draws every parameter uniformly from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def suggest_categorical(self, name: str, choices: Iterable[Any]) -> Any:
        choices = tuple(choices)
        self.params[name] = self.rng.choice(choices)
        return super().suggest_categorical(name, choices)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = self.rng.randrange(low, high + 1, step)
        return super().suggest_int(name, low, high, step=step, log=log)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.params[name] = self.rng.uniform(low, high)
        return super().suggest_float(name, low, high, step=step, log=log)


@dataclasses.dataclass(frozen=True)
class SearchSpace(ABC):
    """Base class of search spaces.

    Subclasses are frozen dataclasses whose fields (all with defaults) are the bounds;
    they set the class attributes ``name``, ``description`` and ``rules`` and implement
    :meth:`sample`. ``input_shape`` and ``num_classes`` bind the space to a dataset.
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    rules: ClassVar[tuple[str, ...]] = ()
    #: the parameters (``fnmatch`` patterns of their names) across whose choices a weight-sharing supernet
    #: shares weights, and how: ``width`` (leading channels), ``depth`` (the first blocks of a stage),
    #: ``kernel`` (the centre of the largest kernel), ``expansion`` (leading hidden channels), ``se`` (an SE
    #: module used or skipped), ``resolution`` (the input resized; no weights). A supernet of the space
    #: (:mod:`nasbox.supernet`) needs every other parameter narrowed to one choice.
    elastic: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # lists from TOML or Python become tuples
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if len(self.input_shape) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in self.input_shape):
            raise SpaceError(f"input_shape must be (C, H, W) positive integers, got input_shape={self.input_shape!r}")
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or self.num_classes < 2:
            raise SpaceError(f"num_classes must be an integer >= 2, got num_classes={self.num_classes!r}")
        self.validate()

    # ---- to implement
    def validate(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Check the bounds; raise :class:`SpaceError` quoting the broken rule."""

    @abstractmethod
    def sample(self, trial: Any) -> Architecture:
        """Draw a genotype from an ``optuna.Trial`` (or anything with ``suggest_*``)."""

    # ---- provided
    def bind(self, input_shape: tuple[int, int, int], num_classes: int) -> SearchSpace:
        """The same bounds for another input shape and number of classes."""
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise SpaceError(f"input_shape must be (C, H, W), got {input_shape!r}") from None
        return dataclasses.replace(self, input_shape=shape, num_classes=num_classes)

    def bounds(self) -> dict[str, Any]:
        """The configurable fields and their values (input binding excluded)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("input_shape", "num_classes")
        }

    def from_params(self, params: Mapping[str, Any]) -> Architecture:
        """The genotype for a finished trial's parameters (replays :meth:`sample`)."""
        import optuna

        try:
            return self.sample(optuna.trial.FixedTrial(dict(params)))
        except ValueError as exc:
            raise SpaceError(f"parameters do not fit space {self.name!r}: {exc}") from None

    def applies(self, params: Mapping[str, Any]) -> set[str]:
        """The parameters among ``params`` (a trial's) that shape its genotype. A space that samples
        a fixed set of parameters and ignores some (``stage5.*`` when ``n_stages`` is 3) says so here,
        so that the report's parameter importance compares a parameter only where it applies; by
        default every parameter applies."""
        return set(params)

    def sample_random(self, rng: random.Random) -> tuple[dict[str, Any], Architecture]:
        """Uniformly random parameters (without a study) and their genotype."""
        trial = _RandomTrial(rng)
        arch = self.sample(trial)
        return dict(trial.params), arch

    def parameters(self) -> dict[str, tuple[str, Any]]:
        """Every parameter the space samples: ``name -> (kind, choices or range)``."""
        rec = _Recorder()
        self.sample(rec)
        return rec.seen

    def size(self) -> int:
        """Number of distinct parameter combinations (an upper bound on distinct genotypes)."""
        total = 1
        for kind, spec in self.parameters().values():
            if kind == "categorical":
                total *= len(spec)
            elif kind == "int":
                low, high, step = spec
                total *= (high - low) // step + 1
            else:
                raise SpaceError(f"space {self.name!r} has a continuous parameter: its size is infinite")
        return total

    def size_estimate(self) -> str:
        """The size as ``~10^k`` text, for tables (``infinite`` with continuous parameters)."""
        if any(kind == "float" for kind, _ in self.parameters().values()):
            return "infinite"
        n = self.size()
        return f"{n:,}" if n < 1_000_000 else f"~10^{math.log10(n):.1f}"

    def describe(self) -> str:
        """Multi-line text: name, description, rules, bounds and size."""
        lines = [f"{self.name}: {self.description}"]
        c, h, w = self.input_shape
        lines.append(f"  input {c}x{h}x{w}, {self.num_classes} classes")
        for rule in self.rules:
            lines.append(f"  rule: {rule}")
        for key, value in self.bounds().items():
            lines.append(f"  {key} = {_fmt_value(value)}")
        lines.append(f"  size: {self.size_estimate()} parameter combinations")
        return "\n".join(lines)

    def example(self) -> Architecture:
        """The genotype of each parameter's first choice (lowest value)."""
        return self.sample(_Recorder())

    def arch_string(self, arch: Architecture) -> str:
        """The genotype's canonical text in this space: what a table's ``arch`` column holds (``--evaluator
        table:FILE.csv``) and ``nasbox show SPACE --arch`` reads. nasbox's encoding by default; a space
        with a published format (NAS-Bench-201's arch strings) overrides this and :meth:`parse_arch`."""
        return arch.encode()

    def parse_arch(self, text: str) -> Architecture:
        """The genotype of an :meth:`arch_string` (nasbox's encoding by default), checked against the
        space's input and classes; :class:`SpaceError` naming what is wrong."""
        try:
            arch = Architecture.decode(text)
        except ValueError as exc:
            raise SpaceError(f"not an architecture of space {self.name!r}: {exc}") from None
        return self.check(arch)

    def _of_this_space(self, arch: Architecture) -> Architecture:
        """``arch`` when it is the network its :meth:`arch_string` names in this space (for a space whose
        arch strings name only its cells: another skeleton, C or N, is refused); :class:`SpaceError` otherwise."""
        if self.parse_arch(self.arch_string(arch)) != arch:
            raise SpaceError(f"not a network of space {self.name!r} with its bounds ({arch.encode()}); its cells in "
                             f"this space are {self.arch_string(arch)}")
        return arch

    def check(self, arch: Architecture) -> Architecture:
        """Raise :class:`SpaceError` if ``arch`` is not for the bound input and classes, or
        :class:`ShapeError` if a feature map vanishes in it; return it."""
        if arch.input_shape != self.input_shape or arch.num_classes != self.num_classes:
            raise SpaceError(f"architecture is for input {arch.input_shape} with {arch.num_classes} classes, "
                             f"the space is bound to {self.input_shape} with {self.num_classes}")
        analyze(arch)
        return arch


def _fmt_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return repr(value)


def param_index(param: str, prefix: str) -> int:
    """The number in a repeated parameter's name: ``3`` for ``stage3.kernel`` with prefix ``stage``,
    ``2`` for ``head.fc2.width`` with prefix ``head.fc``; 0 when ``param`` is not ``<prefix><N>.…``."""
    dots = prefix.count(".")
    head = ".".join(param.split(".")[:dots + 1])
    digits = head[len(prefix):]
    return int(digits) if head.startswith(prefix) and digits.isdigit() else 0


def format_ops(ops: Iterable[str], codes: Mapping[str, str]) -> str:
    """A mixed cell's ops in a genotype's encoding: their codes (``codes``: op -> code) joined by ``-``."""
    return "-".join(codes[op] for op in ops)


def parse_ops(text: str, codes: Mapping[str, str]) -> tuple[str, ...]:
    """The ops of a :func:`format_ops` text; ``ValueError`` for a code that is not one of ``codes``' or is
    given twice."""
    of = {code: op for op, code in codes.items()}
    given = str(text).split("-")
    if any(c not in of for c in given) or len(set(given)) != len(given):
        raise ValueError(f"ops must be distinct codes of {', '.join(of)} joined by '-', got ops={text!r}")
    return tuple(of[c] for c in given)


def check_cell_bounds(space: Any, known_ops: Iterable[str]) -> None:
    """The bounds of a cell space (nb201, darts): ``channels`` and ``cells`` positive integers, ``ops`` a
    non-empty choice among ``known_ops``; :class:`SpaceError` naming what is wrong."""
    for name in ("channels", "cells"):
        value = getattr(space, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpaceError(f"{name} must be a positive integer, got {name}={value!r}")
    if not space.ops:
        raise SpaceError("ops must offer at least one choice")
    known = tuple(known_ops)
    bad = [op for op in space.ops if op not in known]
    if bad:
        raise SpaceError(f"ops must come from {', '.join(known)}, got {bad}")
