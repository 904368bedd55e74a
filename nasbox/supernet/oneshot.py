"""A one-shot supernet of a cell space: every edge holds every operation, a subnet is a path through it.

Bender et al., 2018 ("Understanding and Simplifying One-Shot Architecture Search", ICML) train one network
that holds every candidate and score each candidate with the weights it inherits; Guo et al., 2020 ("Single
Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV) train it one uniformly sampled path
at a time; Chu et al., 2021 ("FairNAS: Rethinking Evaluation Fairness of Weight Sharing Neural Architecture
Search", ICCV) train, per step, paths that together use every operation of every choice exactly once (strict
fairness). On NAS-Bench-201, Dong & Yang, 2020 found BatchNorm's statistics decisive: the edges' BatchNorms
have no affine parameters here and every subnet is scored after its statistics are re-estimated
(:func:`~nasbox.supernet.weights.recalibrate`), never with the supernet's running ones.

A space offers a one-shot supernet by defining ``one_shot(affine=False) -> Architecture``: its skeleton with
each searched cell a *mixed* block, a block kind with ``admits(block) -> bool`` (whether ``block`` is a path
through it) whose module has ``select(block | None)`` (compute that path, or every op) and
``inherited(block) -> dict[str, Tensor]`` (the path's weights under the standalone cell's module names). The
``nb201`` and ``darts`` spaces do (:class:`~search_spaces.nb201.NB201MixedCell`,
:class:`~search_spaces.darts.DartsMixedCells`). The supernet is then an ordinary
:class:`~nasbox.model.build.Network` of that genotype, so full training's checkpoints hold it as they hold
any candidate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from nasbox.errors import SpaceError
from nasbox.model.arch import Architecture, Stage
from nasbox.model.blocks import Block
from nasbox.model.build import Network, build_model
from nasbox.spaces import SearchSpace
from nasbox.supernet.weights import SubnetMismatch

__all__ = ["CellSupernet", "OneShotSpace"]


class OneShotSpace:
    """A space whose every parameter picks an operation (or an input) of a cell that one supernet holds.

    Args:
        space: the space (bound to its data); it must define ``one_shot`` (:class:`SpaceError` otherwise).
        affine: the mixed cells' BatchNorms learn a scale and shift.
        split: a parameter whose every choice gets a sub-supernet of its own (few-shot NAS; Zhao et al., 2021,
            "Few-shot Neural Architecture Search", ICML), where the space's ``one_shot`` takes ``split``.

    Attributes:
        arch: the supernet's genotype (every cell mixed).
        choices: each parameter's choices.
    """

    def __init__(self, space: SearchSpace, affine: bool = False, split: str | None = None) -> None:
        make = getattr(space, "one_shot", None)
        if not callable(make):
            raise SpaceError(f"space {space.name!r} has no one-shot supernet (a cell space defines one_shot(); nb201 "
                             "and darts do) and no elastic choices")
        self.space, self.affine, self.split = space, affine, split or None
        self.choices: dict[str, tuple[Any, ...]] = {}
        for name, (kind, spec) in space.parameters().items():
            if kind != "categorical":
                raise SpaceError(f"space {space.name!r}: parameter {name} is {kind}; a one-shot supernet needs choices")
            self.choices[name] = tuple(spec)
        if self.split is None:
            self.arch: Architecture = make(affine=affine)
        elif self.split not in self.choices:
            raise SpaceError(f"space {space.name!r} has no parameter {self.split!r} to split on; its parameters: "
                             f"{', '.join(self.choices)}")
        else:
            try:
                self.arch = make(affine=affine, split=self.split)
            except TypeError:
                raise SpaceError(f"space {space.name!r} offers no few-shot split (its one_shot() takes no "
                                 "split)") from None

    def random(self, rng: random.Random) -> Architecture:
        """A uniformly random path (Guo et al., 2020): each parameter's choice drawn independently."""
        return self.space.from_params({name: rng.choice(values) for name, values in self.choices.items()})

    def fair(self, rng: random.Random) -> list[Architecture]:
        """K paths that together take each choice of every parameter exactly once (FairNAS's strict fairness,
        Chu et al., 2021), K the largest number of choices; a parameter of n < K choices takes each of them
        K // n or K // n + 1 times (DARTS' inputs: 2 to 5 states against 8 ops)."""
        k = max(len(values) for values in self.choices.values())
        columns = {}
        for name, values in self.choices.items():
            order = list(values) * (k // len(values)) + rng.sample(list(values), k % len(values))
            rng.shuffle(order)
            columns[name] = order
        return [self.space.from_params({name: column[p] for name, column in columns.items()}) for p in range(k)]

    def describe(self) -> str:
        """One line: the parameters (numbers as ``*``) and their choices; where parameters of one pattern offer
        different choices (DARTS' inputs: the states before each node), their union, marked "up to"."""
        patterns: dict[str, list[tuple[Any, ...]]] = {}
        for name, values in self.choices.items():
            sets = patterns.setdefault(re.sub(r"[0-9]+", "*", name), [])
            if values not in sets:
                sets.append(values)
        groups: dict[str, list[str]] = {}
        for shown, sets in patterns.items():
            union = list(dict.fromkeys(v for values in sets for v in values))
            text = ("up to " if len(sets) > 1 else "") + ", ".join(map(str, union))
            groups.setdefault(text, []).append(shown)
        return "; ".join(f"{', '.join(names)} (one-shot: {text})" for text, names in groups.items())


def _positions(arch: Architecture) -> dict[str, Block]:
    """Each block by its module path (``stage2.block3``)."""
    return {f"{name}.block{j + 1}": block for name, stage in arch.named_stages() for j, block in enumerate(stage.blocks)}


def _with_blocks(arch: Architecture, blocks: dict[str, Block]) -> Architecture:
    """``arch`` with the blocks at the given module paths replaced."""
    def stage(name: str, s: Stage) -> Stage:
        return dataclasses.replace(s, blocks=tuple(blocks.get(f"{name}.block{j + 1}", b) for j, b in enumerate(s.blocks)))

    named = dict(arch.named_stages())
    stem = stage("stem", arch.stem) if "stem" in named else arch.stem
    return dataclasses.replace(arch, stem=stem, stages=tuple(stage(f"stage{i + 1}", s) for i, s in enumerate(arch.stages)))


class CellSupernet(nn.Module):
    """The weights of every path of a :class:`OneShotSpace`: one network of mixed cells.

    Args:
        space: the one-shot space.
        seed: initialisation seed (nasbox's Kaiming init).
        net: its network with trained weights (from a checkpoint) instead.
    """

    def __init__(self, space: OneShotSpace, seed: int = 0, net: Network | None = None) -> None:
        super().__init__()
        self.sharing = space
        self.arch = space.arch
        if net is not None and net.arch != self.arch:
            raise SubnetMismatch(f"these weights are of {net.arch.arch_id}, not the space's one-shot supernet "
                                 f"{self.arch.arch_id}")
        self.net = build_model(self.arch, seed=seed) if net is None else net
        self._blocks = _positions(self.arch)
        self._mixed = {pos: self.net.get_submodule(pos) for pos, b in self._blocks.items() if hasattr(b, "admits")}
        self._split = [module for module in self._mixed.values() if hasattr(module, "unmerge")]

    @property
    def merged(self) -> bool:
        """Whether a split supernet's sub-supernets still share the one-shot weights (before the split)."""
        return any(module.merged for module in self._split)

    def unmerge(self, copy: bool = True) -> None:
        """Split a few-shot supernet: each sub-supernet from then on trains weights of its own, starting from the
        shared ones (``copy=False``: mark as split only, for weights that were split before they were saved)."""
        for module in self._split:
            if copy:
                module.unmerge()
            module.merged = False

    def load_unsplit(self, net: Network) -> None:
        """Start from the weights of ``net``, an unsplit one-shot supernet of the same space: a split supernet's
        every sub-supernet takes them (as :meth:`unmerge` would copy them).

        Raises:
            SubnetMismatch: ``net`` is of another space, bounds or data shape, or split itself.
        """
        if net.arch != OneShotSpace(self.sharing.space, affine=self.sharing.affine).arch:
            raise SubnetMismatch(f"{net.arch.arch_id} is not the unsplit one-shot supernet of this space, bounds "
                                 "and data shape")
        split = {pos: module for pos, module in self._mixed.items() if hasattr(module, "unmerge")}
        state = {}
        for key, tensor in net.state_dict().items():
            pos = next((p for p in split if key.startswith(f"{p}.")), None)
            for name in ([key] if pos is None else [f"{pos}.{op}{key[len(pos):]}" for op in split[pos].copies]):
                state[name] = tensor
        self.net.load_state_dict(state)

    def path(self, arch: Architecture) -> dict[str, Block]:
        """``arch``'s cell at each mixed position.

        Raises:
            SubnetMismatch: ``arch`` is no path through the supernet (another skeleton, channels or ops).
        """
        blocks = _positions(arch)
        if blocks.keys() != self._blocks.keys():
            raise SubnetMismatch(f"{arch.arch_id} has other blocks than the supernet's skeleton")
        cells = {pos: blocks[pos] for pos in self._mixed}
        bad = [pos for pos, cell in cells.items() if not self._blocks[pos].admits(cell)]  # type: ignore[attr-defined]
        if bad:
            raise SubnetMismatch(f"{arch.arch_id}: its block {bad[0]} is no path through the supernet's cell there "
                                 "(another kind, other channels or an op the supernet does not hold)")
        if _with_blocks(arch, {pos: self._blocks[pos] for pos in self._mixed}) != self.arch:
            raise SubnetMismatch(f"{arch.arch_id}: its skeleton (stem, reductions, head, input) is not the supernet's")
        return cells

    def fits(self, arch: Architecture) -> bool:
        """Whether ``arch`` is a path through the supernet."""
        try:
            self.path(arch)
        except SubnetMismatch:
            return False
        return True

    @contextlib.contextmanager
    def selected(self, arch: Architecture) -> Iterator[None]:
        """``self.net`` computes ``arch``'s path inside the block (every op again after it)."""
        cells = self.path(arch)
        try:
            for pos, module in self._mixed.items():
                module.select(cells[pos])
            yield
        finally:
            for module in self._mixed.values():
                module.select(None)

    def forward(self, x: torch.Tensor, arch: Architecture | None = None) -> torch.Tensor:
        """The output of path ``arch`` (default: every op of every edge summed), in the mode of ``net``."""
        if arch is None:
            return self.net(x)
        with self.selected(arch):
            return self.net(x)

    def extract(self, arch: Architecture) -> Network:
        """A standalone module of ``arch`` with copies of its inherited weights (on the supernet's device)."""
        cells = self.path(arch)
        mixed = tuple(f"{pos}." for pos in self._mixed)
        weights = {k: t.detach().clone() for k, t in self.net.state_dict().items() if not k.startswith(mixed)}
        for pos, module in self._mixed.items():
            weights.update({f"{pos}.{k}": t for k, t in module.inherited(cells[pos]).items()})
        with torch.device("meta"):  # no initialisation to overwrite: the copies become its tensors
            model = Network(arch)
        try:
            model.load_state_dict(weights, strict=True, assign=True)
        except RuntimeError as exc:
            raise SubnetMismatch(f"{arch.arch_id}: its weights are not the supernet's path "
                                 f"({str(exc).strip().splitlines()[0][:160]})") from None
        return model
