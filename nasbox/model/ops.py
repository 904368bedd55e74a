"""The primitive layers every block is made of, as plain data, and their shapes, parameters and MACs.

A block kind (:mod:`nasbox.model.blocks`) describes its layers once, as a small tree of
these primitives (:meth:`Block.layers`); the analysis walks that tree with a
:class:`Walker` (no torch) and the builder realises the same tree as ``nn.Module`` s
(:func:`nasbox.model.layers.realize`), so that every layer's name, shape, parameters and
MACs agree between the two by construction.

Primitives:

* :class:`Conv` -- convolution, optionally depthwise, then BatchNorm and an activation;
* :class:`SE` -- squeeze-and-excitation on the channels it is fed;
* :class:`Pool` -- max, average or min pooling (also the stages' pools in a genotype);
* :class:`Seq` -- named layers in order, optionally with a shortcut (identity or a
  projection conv on the input) added at the end, then an activation;
* :class:`Concat` -- named branches run on the same input, concatenated on channels.

The formulas are the design notes': a convolution with filter ``F``, stride ``S`` and
padding ``P = (F - 1) // 2`` maps ``W1`` to ``W2 = (W1 - F + 2P) // S + 1`` and ``D1``
channels to ``D2 = K``, with ``F * F * D1 * K`` weights, plus ``K`` biases without
BatchNorm or ``2K`` BatchNorm parameters with it. MACs follow fvcore's convention
exactly: convolution ``W2 * H2 * K * F * F * D1 / groups``; BatchNorm 2 per output
element; SE: its global pool (1 per input element) and two 1x1 convs; pooling,
activations, additions and concatenations 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from nasbox.errors import ShapeError
from nasbox.model.checks import ACTIVATIONS, check_act, check_int, check_kernel

__all__ = [
    "ACTIVATIONS",
    "POOL_KINDS",
    "Concat",
    "Conv",
    "Layer",
    "Op",
    "Pool",
    "SE",
    "Seq",
    "Shape",
    "Walker",
    "conv_out",
    "default_bias",
]

POOL_KINDS: tuple[str, ...] = ("max", "avg", "min")

Shape = tuple[int, int, int]  # (C, H, W)


class Layer(NamedTuple):
    """One row of the per-layer table: a module path of the built model and what it computes."""

    name: str
    op: str
    out_shape: Shape
    params: int
    macs: int


def conv_out(size: int, kernel: int, stride: int, padding: int | None = None) -> int:
    """``W2 = (W1 - F + 2P) // S + 1`` with ``P = (F - 1) // 2`` unless given."""
    p = (kernel - 1) // 2 if padding is None else padding
    return (size - kernel + 2 * p) // stride + 1


def default_bias(bn: bool) -> bool:
    """The bias rule: a convolution has a bias exactly when no BatchNorm follows it."""
    return not bn


@dataclass(frozen=True)
class Conv:
    """Convolution (padding ``(kernel - 1) // 2``) -> BatchNorm -> activation.

    Args:
        out: output channels K (a depthwise convolution keeps its input's).
        kernel, stride: F and S.
        depthwise: one filter per input channel (``groups = channels``).
        bn: BatchNorm after the convolution.
        act: activation (``None``: linear).
        bias: a conv bias; ``None`` follows :func:`default_bias`.
    """

    out: int
    kernel: int = 1
    stride: int = 1
    depthwise: bool = False
    bn: bool = True
    act: str | None = None
    bias: bool | None = None

    @property
    def has_bias(self) -> bool:
        return default_bias(self.bn) if self.bias is None else self.bias


@dataclass(frozen=True)
class SE:
    """Squeeze-and-excitation (Hu et al., 2018): global pool, 1x1 conv to ``squeeze``
    channels, activation, 1x1 conv back, sigmoid gate on the input."""

    squeeze: int
    act: str = "relu"


@dataclass(frozen=True)
class Pool:
    """Spatial pooling: max, average or min (``-maxpool(-x)``), padding ``(kernel - 1) // 2`` unless
    given, so that 3x3/2 and 2x2/2 both halve an even map; ``padding=0`` is the unpadded pool of
    AlexNet's paper (55 -> 27 -> 13 -> 6). Also a stage's pool in a genotype."""

    kind: str = "max"
    kernel: int = 2
    stride: int = 2
    padding: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in POOL_KINDS:
            raise ValueError(f"pool kind must be one of {', '.join(POOL_KINDS)}, got kind={self.kind!r}")
        check_int("kernel", self.kernel)
        check_int("stride", self.stride)
        if self.padding is not None and (isinstance(self.padding, bool) or not isinstance(self.padding, int)
                                         or not 0 <= self.padding <= self.kernel // 2):
            raise ValueError(f"pool padding must be an integer in [0, kernel // 2], got padding={self.padding!r}")
        if self.padding == (self.kernel - 1) // 2:  # the explicit value equals the automatic one
            object.__setattr__(self, "padding", None)

    @property
    def pad(self) -> int:
        return (self.kernel - 1) // 2 if self.padding is None else self.padding

    def __repr__(self) -> str:  # the default padding is not spelled out (latency-table keys stay the same)
        pad = "" if self.padding is None else f", padding={self.padding}"
        return f"Pool(kind={self.kind!r}, kernel={self.kernel}, stride={self.stride}{pad})"


@dataclass(frozen=True)
class Seq:
    """Named layers in order; then ``out + shortcut(x)`` when there is a shortcut
    (``"identity"``, or a :class:`Conv` projection of the input), then ``post_act``.

    ``zero_init_last``: the last BatchNorm of the layers starts at zero, so that the block
    begins as its shortcut ("zero-init residual", Goyal et al., 2017).
    """

    layers: tuple[tuple[str, Op], ...]
    shortcut: Conv | str | None = None
    post_act: str | None = None
    zero_init_last: bool = False

    def __post_init__(self) -> None:
        if self.shortcut is not None and not isinstance(self.shortcut, Conv) and self.shortcut != "identity":
            raise ValueError(f"a shortcut is 'identity', a Conv or None, got shortcut={self.shortcut!r}")
        if self.post_act is not None:
            check_act(self.post_act)


@dataclass(frozen=True)
class Concat:
    """Named branches on the same input, concatenated on channels (their maps must agree)."""

    branches: tuple[tuple[str, Op], ...]


Op = Conv | SE | Pool | Seq | Concat


class Walker:
    """Computes the rows of :class:`Layer` for a tree of primitives, from shapes alone.

    Raises:
        ShapeError: a stride or pool shrinks the feature map below 1x1 (the message names
            the layer).
    """

    def __init__(self) -> None:
        self.rows: list[Layer] = []

    def run(self, name: str, shape: Shape, op: Op) -> Shape:
        """The output shape of ``op`` fed ``shape``; its rows are appended under ``name``."""
        if isinstance(op, Conv):
            return self.conv(name, shape, op)
        if isinstance(op, SE):
            return self.se(name, shape, op)
        if isinstance(op, Pool):
            return self.pool(name, shape, op)
        if isinstance(op, Seq):
            return self.seq(name, shape, op)
        if isinstance(op, Concat):
            return self.concat(name, shape, op)
        raise TypeError(f"not a primitive layer: {op!r}")

    def _spatial(self, name: str, op: str, shape: Shape, kernel: int, stride: int,
                 padding: int | None = None) -> tuple[int, int]:
        _, h, w = shape
        h2, w2 = conv_out(h, kernel, stride, padding), conv_out(w, kernel, stride, padding)
        if h2 < 1 or w2 < 1:
            raise ShapeError(
                f"{name} ({op}) shrinks the feature map from {w}x{h} to {max(w2, 0)}x{max(h2, 0)}: "
                f"the input is too small for this many strides or pools"
            )
        return h2, w2

    def conv(self, name: str, shape: Shape, op: Conv) -> Shape:
        check_int("out_channels", op.out)
        check_kernel(op.kernel)
        c = shape[0]
        out, groups = (c, c) if op.depthwise else (op.out, 1)
        text = (f"conv {op.kernel}x{op.kernel}/{op.stride}" + (" dw" if op.depthwise else "")
                + (" +bn" if op.bn else "") + (f" {op.act}" if op.act else ""))
        h2, w2 = self._spatial(name, text, shape, op.kernel, op.stride)
        weights = op.kernel * op.kernel * (c // groups) * out
        params = weights + (out if op.has_bias else 0) + (2 * out if op.bn else 0)
        macs = h2 * w2 * weights + (2 * out * h2 * w2 if op.bn else 0)
        self.rows.append(Layer(name, text, (out, h2, w2), params, macs))
        return (out, h2, w2)

    def se(self, name: str, shape: Shape, op: SE) -> Shape:
        c, h, w = shape
        s = op.squeeze
        self.rows.append(Layer(name, f"se {c}->{s}->{c}", shape, c * s + s + s * c + c, c * h * w + 2 * c * s))
        return shape

    def pool(self, name: str, shape: Shape, op: Pool) -> Shape:
        text = f"{op.kind}pool {op.kernel}x{op.kernel}/{op.stride}" + ("" if op.padding is None else f" pad {op.padding}")
        h2, w2 = self._spatial(name, text, shape, op.kernel, op.stride, op.pad)
        out = (shape[0], h2, w2)
        self.rows.append(Layer(name, text, out, 0, 0))
        return out

    def seq(self, name: str, shape: Shape, op: Seq) -> Shape:
        x = shape
        for child, layer in op.layers:
            x = self.run(f"{name}.{child}", x, layer)
        if isinstance(op.shortcut, Conv):
            projected = self.conv(f"{name}.shortcut", shape, op.shortcut)
            if projected != x:
                raise ShapeError(f"{name}: its shortcut gives {projected}, its layers {x}")
        elif op.shortcut == "identity" and x != shape:
            raise ShapeError(f"{name}: an identity shortcut needs the layers to keep the shape {shape}, got {x}")
        return x

    def concat(self, name: str, shape: Shape, op: Concat) -> Shape:
        outs = [self.run(f"{name}.{child}", shape, layer) for child, layer in op.branches]
        if len({o[1:] for o in outs}) != 1:
            raise ShapeError(f"{name}: its branches' maps differ ({', '.join(f'{o[2]}x{o[1]}' for o in outs)})")
        return (sum(o[0] for o in outs), outs[0][1], outs[0][2])
