"""Which choices of a space a supernet shares weights across, and its largest, smallest and random subnets.

A space declares its elastic parameters (:attr:`~nasbox.spaces.SearchSpace.elastic`): ``width`` (leading
channels), ``depth`` (the first blocks of a stage), ``kernel`` (the centre of the largest kernel), ``expansion``
(leading hidden channels), ``se`` (an SE module used or skipped) and ``resolution`` (the input resized). Every
other parameter must offer one choice: weights trained under one activation, pooling or stage count mean
nothing under another, so :class:`ElasticSpace` refuses such a space with the parameters to narrow.

The *largest* subnet (every elastic parameter at its largest choice) is the supernet's own architecture: every
other subnet's tensors are slices of its tensors (:mod:`nasbox.supernet.weights` checks that they fit).
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Collection, Mapping
from typing import Any

from nasbox.errors import SpaceError
from nasbox.model.arch import Architecture
from nasbox.spaces import SearchSpace

__all__ = ["ELASTIC_KINDS", "SHRINK_ORDER", "ElasticSpace"]

ELASTIC_KINDS = ("width", "depth", "kernel", "expansion", "se", "resolution")
#: the order progressive shrinking makes the kinds elastic in (Cai et al., 2020, "Once-for-All", ICLR: the largest
#: network first, then elastic kernel, depth and width; resolution elastic from the start)
SHRINK_ORDER = ("resolution", "kernel", "depth", "expansion", "width", "se")


class ElasticSpace:
    """A space whose every parameter with more than one choice is elastic (:class:`SpaceError` otherwise).

    Attributes:
        space: the space.
        choices: each parameter's choices, smallest first (``False`` before ``True``).
        kinds: each elastic parameter's kind (one of :data:`ELASTIC_KINDS`).
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        declared: Mapping[str, str] = getattr(type(space), "elastic", {}) or {}
        bad = sorted(set(declared.values()) - set(ELASTIC_KINDS))
        if bad:
            raise SpaceError(f"space {space.name!r} declares unknown elastic kinds {bad}; known: {', '.join(ELASTIC_KINDS)}")
        self.choices: dict[str, tuple[Any, ...]] = {}
        self.kinds: dict[str, str] = {}
        fixed: list[str] = []
        for name, (kind, spec) in space.parameters().items():
            if kind == "float":
                raise SpaceError(f"space {space.name!r}: parameter {name} is continuous; a supernet needs choices")
            values = tuple(range(spec[0], spec[1] + 1, spec[2])) if kind == "int" else tuple(spec)
            pattern = next((p for p in declared if fnmatch.fnmatchcase(name, p)), None)
            if pattern is not None:
                try:
                    values = tuple(sorted(set(values)))
                except TypeError:
                    raise SpaceError(f"space {space.name!r}: elastic parameter {name} has unordered choices "
                                     f"{values}") from None
                self.kinds[name] = declared[pattern]
            elif len(values) > 1:
                shown = f"{_pattern(name)} ({', '.join(map(str, values))})"
                if shown not in fixed:  # stage1.act .. stage5.act once, as stage*.act
                    fixed.append(shown)
            self.choices[name] = values
        if not any(len(self.choices[n]) > 1 for n in self.kinds):
            raise SpaceError(f"space {space.name!r} has no elastic choices: a weight-sharing supernet needs choices of "
                             "width, depth, kernel, expansion, SE or resolution (the mobilenet, efficientnet, resnet "
                             "and seed_cnn spaces have them), or one-shot cells (nb201 and darts have them)")
        if fixed:
            shown = "; ".join(fixed)
            raise SpaceError(f"space {space.name!r}: not elastic, so a supernet cannot share weights across their "
                             f"choices: {shown}; narrow each to one choice with --space-arg (elastic here: "
                             f"{', '.join(sorted(set(declared)))})")

    def params_at(self, end: int) -> dict[str, Any]:
        """Every parameter at its first (``end=0``) or last (``end=-1``) choice."""
        return {name: values[end] for name, values in self.choices.items()}

    def largest(self) -> Architecture:
        """The subnet of every elastic parameter's largest choice: the supernet's architecture."""
        return self.space.from_params(self.params_at(-1))

    def smallest(self, kinds: Collection[str] | None = None) -> Architecture:
        """The subnet of every elastic parameter's smallest choice (of ``kinds`` only: the others at their
        largest)."""
        if kinds is None:
            return self.space.from_params(self.params_at(0))
        return self.space.from_params({name: values[0 if self.kinds.get(name) in kinds else -1]
                                       for name, values in self.choices.items()})

    def random(self, rng: random.Random, kinds: Collection[str] | None = None) -> Architecture:
        """A uniformly random subnet (random in ``kinds`` only: the other parameters at their largest)."""
        if kinds is None:
            return self.space.from_params({name: rng.choice(values) for name, values in self.choices.items()})
        return self.space.from_params({name: rng.choice(values) if self.kinds.get(name) in kinds else values[-1]
                                       for name, values in self.choices.items()})

    def present(self) -> list[str]:
        """The kinds of this space's elastic choices, in the order of :data:`SHRINK_ORDER`."""
        have = {self.kinds[n] for n, values in self.choices.items() if n in self.kinds and len(values) > 1}
        return [kind for kind in SHRINK_ORDER if kind in have]

    def describe(self) -> str:
        """One line: the elastic parameters with their choices."""
        parts = [f"{_pattern(n)} ({self.kinds[n]}: {', '.join(map(str, v))})" for n, v in self.choices.items()
                 if n in self.kinds and len(v) > 1]
        return "; ".join(dict.fromkeys(parts))  # stage1.kernel .. stage5.kernel once, as stage*.kernel


def _pattern(name: str) -> str:
    """``stage3.kernel`` -> ``stage*.kernel`` (per-stage parameters named once)."""
    return re.sub(r"(stage|fc)[0-9]+", r"\1*", name)
