"""The supernet's weights and how a subnet inherits them (Once-for-All's weight sharing).

:class:`Supernet` holds one network, the space's largest subnet. A subnet's module is its own
:class:`~nasbox.model.build.Network` (so its layers, parameters and analysis are those of any candidate),
and each of its tensors is a slice of the supernet's tensor at the same module path: the leading output and
input channels (width, expansion, a depthwise conv's channels), the centre of a larger kernel (Once-for-All's
kernel sharing, without its transformation matrices), the first blocks of a stage (depth); an SE module or an
expansion conv that a subnet lacks is simply not used. :meth:`Supernet.forward` runs a subnet on those slices
(views: gradients reach the shared weights), :meth:`Supernet.extract` copies them into a standalone module.

BatchNorm statistics are shared the same way but are wrong for any one subnet after training many:
:func:`recalibrate` re-estimates them from a few hundred training images before a subnet is scored.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from nasbox.data import Data, DatasetSpec, Split, eval_batches
from nasbox.errors import EvaluationError, SpaceError
from nasbox.model.arch import Architecture
from nasbox.model.build import Network, build_model
from nasbox.supernet.elastic import ElasticSpace
from nasbox.train.brief import evaluate

if TYPE_CHECKING:
    from nasbox.supernet.oneshot import CellSupernet

__all__ = ["Supernet", "SubnetMismatch", "calibration_batches", "recalibrate", "score_subnet"]

_SKELETONS = 64  # subnet module structures kept (on the meta device: no memory for weights)


class SubnetMismatch(EvaluationError):
    """A genotype whose tensors are not slices of the supernet's (another space, or a non-elastic choice)."""


class Supernet(nn.Module):
    """The weights shared by every subnet of an :class:`ElasticSpace`.

    Args:
        space: the elastic space.
        seed: initialisation seed of the largest subnet's weights (nasbox's Kaiming init).
        net: the largest subnet's module with trained weights (from a checkpoint) instead.
    """

    def __init__(self, space: ElasticSpace, seed: int = 0, net: Network | None = None) -> None:
        super().__init__()
        self.elastic = space
        self.arch = space.largest()
        self.net = build_model(self.arch, seed=seed) if net is None else net
        if net is not None and net.arch != self.arch:
            raise SubnetMismatch(f"these weights are of {net.arch.arch_id}, not the space's largest subnet "
                                 f"{self.arch.arch_id}")
        self._skeletons: OrderedDict[str, Network] = OrderedDict()
        if net is None:
            self.check_fits()

    @property
    def sharing(self) -> ElasticSpace:
        """What shares weights (as :attr:`CellSupernet.sharing <nasbox.supernet.oneshot.CellSupernet>` names it)."""
        return self.elastic

    def check_fits(self, samples: int = 32, seed: int = 0) -> None:
        """Check that the smallest and ``samples`` random subnets are slices of the supernet.

        Raises:
            SpaceError: naming the first that is not (a space whose choices change a block's structure
                beyond its elastic kinds, such as a shortcut that becomes a projection).
        """
        rng = random.Random(seed)
        for arch in (self.elastic.smallest(), *(self.elastic.random(rng) for _ in range(samples))):
            try:
                self.weights(arch)
            except SubnetMismatch as exc:
                raise SpaceError(f"space {self.elastic.space.name!r} is not elastic as declared: {exc}") from None

    def _skeleton(self, arch: Architecture) -> Network:
        """The module structure of ``arch`` (weights on the meta device), cached."""
        skeleton = self._skeletons.get(arch.arch_id)
        if skeleton is None:
            with torch.device("meta"):
                skeleton = Network(arch)
            self._skeletons[arch.arch_id] = skeleton
            if len(self._skeletons) > _SKELETONS:
                self._skeletons.popitem(last=False)
        else:
            self._skeletons.move_to_end(arch.arch_id)
        return skeleton

    def weights(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """``arch``'s parameters and buffers as slices (views) of the supernet's, by module path.

        Raises:
            SubnetMismatch: a tensor of ``arch`` has no counterpart in the supernet, or a larger one.
        """
        own = dict(self.net.state_dict(keep_vars=True))
        skeleton = self._skeleton(arch)
        out: dict[str, torch.Tensor] = {}
        for name, tensor in (*skeleton.named_parameters(), *skeleton.named_buffers()):
            big = own.get(name)
            if big is None:
                raise SubnetMismatch(f"{arch.arch_id}: {name} has no counterpart in the supernet (a choice that is "
                                     "not elastic, or a genotype of another space)")
            out[name] = _slice(big, tuple(tensor.shape), name, arch)
        return out

    def fits(self, arch: Architecture) -> bool:
        """Whether ``arch``'s tensors are slices of the supernet's."""
        try:
            self.weights(arch)
        except SubnetMismatch:
            return False
        return True

    def forward(self, x: torch.Tensor, arch: Architecture | None = None) -> torch.Tensor:
        """The output of subnet ``arch`` (default: the largest) on the shared weights, in the mode (training or
        evaluation) of the shared network ``net``."""
        if arch is None or arch == self.arch:
            return self.net(x)
        skeleton = self._skeleton(arch)
        skeleton.train(self.net.training)
        return torch.func.functional_call(skeleton, self.weights(arch), (x,))

    def extract(self, arch: Architecture) -> Network:
        """A standalone module of ``arch`` with copies of its inherited weights (on the supernet's device)."""
        weights = {name: t.detach().clone() for name, t in self.weights(arch).items()}
        with torch.device("meta"):  # no initialisation to overwrite: the copies become its tensors
            model = Network(arch)
        model.load_state_dict(weights, strict=True, assign=True)
        return model


def _slice(big: torch.Tensor, shape: tuple[int, ...], name: str, arch: Architecture) -> torch.Tensor:
    """The leading part of ``big`` of ``shape``; a conv kernel's spatial dimensions are cut at their centre."""
    if big.dim() != len(shape):
        raise SubnetMismatch(f"{arch.arch_id}: {name} is {tuple(big.shape)} in the supernet, {shape} here")
    index = []
    for dim, (have, want) in enumerate(zip(big.shape, shape, strict=True)):
        if want > have or (dim >= 2 and (have - want) % 2):
            raise SubnetMismatch(f"{arch.arch_id}: {name} is {shape}, larger than the supernet's {tuple(big.shape)}")
        start = (have - want) // 2 if dim >= 2 else 0  # kernels: the centre (Once-for-All)
        index.append(slice(start, start + want))
    return big[tuple(index)] if index else big


def recalibrate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance from ``batches`` (their average over the
    batches, Once-for-All's ``set_running_statistics``); nothing else changes: no parameter, no dropout
    draw (only the BatchNorm layers run in training mode). Returns ``model`` in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    try:
        with torch.no_grad():
            for x, _ in batches:
                model(x)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    return model


def calibration_batches(train: Split, spec: DatasetSpec, images: int, *, seed: int, batch_size: int = 256,
                        channels_last: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The BatchNorm calibration batches: ``images`` training images (a fixed draw of ``seed``), without
    augmentation, made once on the split's device."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    index = torch.randperm(len(train), generator=generator)[:images].to(train.device)
    subset = Split(train.images[index], train.labels[index])
    return list(eval_batches(subset, spec, batch_size, channels_last=channels_last))


def score_subnet(supernet: Supernet | CellSupernet, arch: Architecture, calibration: list[tuple[torch.Tensor, torch.Tensor]],
                 data: Data, *, device: torch.device, bf16: bool, channels_last: bool, batch_size: int = 512) -> float:
    """A subnet's validation accuracy with its inherited weights, BatchNorm recalibrated on ``calibration``
    (the per-epoch scores of supernet training and the ``supernet`` evaluator's)."""
    model = supernet.extract(arch)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    recalibrate(model, calibration)
    return evaluate(model, data.val, data.spec, device=device, batch_size=batch_size, bf16=bf16,
                    channels_last=channels_last)
