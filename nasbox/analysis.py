"""Per-layer shapes, parameters and MACs from the genotype alone (no torch).

The formulas are the design notes': a convolution with filter ``F``, stride ``S`` and
padding ``P = (F - 1) // 2`` maps ``W1`` to ``W2 = (W1 - F + 2P) // S + 1`` (``H``
likewise) and ``D1`` channels to ``D2 = K``; it has ``F * F * D1 * K`` weights, plus ``K``
biases without BatchNorm or ``2K`` BatchNorm parameters with it (and no bias, unless a
``ConvBlock`` asks for one explicitly, as torchvision's VGG-BN does).

MACs follow fvcore's convention exactly, so that the analysis can be checked against a
traced count of the built model:

* convolution: ``W2 * H2 * K * F * F * D1 / groups`` (bias not counted);
* linear: ``in * out``;
* BatchNorm (inference): 2 per output element (scale and shift);
* global average pool: 1 per input element; bilinear resize: 4 per output element;
* max/avg/min pooling, activations, residual additions and SE gating: not counted.

FLOPs are ``2 * MACs``. Layer names are the module paths of the built model
(``stage2.block1.conv_dw``), so every row can be compared with ``nn.Module`` counts.
"""

from __future__ import annotations

from typing import NamedTuple

from nasbox.arch import (
    Architecture,
    Block,
    ConvBlock,
    DepthwiseSeparable,
    Inception,
    InvertedResidual,
    Pool,
    ResidualBlock,
)
from nasbox.errors import ShapeError

__all__ = ["Analysis", "Layer", "Part", "analyze", "conv_out", "hidden_channels", "needs_resize", "se_channels"]

Shape = tuple[int, int, int]  # (C, H, W)


class Layer(NamedTuple):
    """One row of the per-layer table."""

    name: str
    op: str
    out_shape: Shape
    params: int
    macs: int


class Part(NamedTuple):
    """A top-level piece of the built model, in forward order, and the shape it is fed."""

    name: str  # module path: "resize", "stage2.block1", "stage2.pool" or "head"
    genotype: Block | Pool | None  # the block or pool; None for the resize and the head
    in_shape: Shape


class Analysis(NamedTuple):
    """Per-layer rows and totals of an architecture."""

    layers: tuple[Layer, ...]
    params: int
    macs: int
    body_shape: Shape  # (C, H, W) the head receives
    parts: tuple[Part, ...] = ()  # resize?, blocks and pools, head: run in turn, they are the model

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict:
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "layers": [
                {"name": r.name, "op": r.op, "out_shape": list(r.out_shape), "params": r.params, "macs": r.macs}
                for r in self.layers
            ],
        }


def conv_out(size: int, kernel: int, stride: int, padding: int | None = None) -> int:
    """``W2 = (W1 - F + 2P) // S + 1`` with ``P = (F - 1) // 2`` unless given."""
    p = (kernel - 1) // 2 if padding is None else padding
    return (size - kernel + 2 * p) // stride + 1


def hidden_channels(in_channels: int, expansion: float) -> int:
    """Hidden width of an inverted residual (torchvision's ``round(in * t)``)."""
    return int(round(in_channels * expansion))


def se_channels(base: int, ratio: float) -> int:
    """Squeeze width of an SE module: ``max(1, int(base * ratio))``."""
    return max(1, int(base * ratio))


class _Walker:
    def __init__(self) -> None:
        self.rows: list[Layer] = []

    def _spatial(self, name: str, op: str, shape: Shape, kernel: int, stride: int) -> tuple[int, int]:
        _, h, w = shape
        h2, w2 = conv_out(h, kernel, stride), conv_out(w, kernel, stride)
        if h2 < 1 or w2 < 1:
            raise ShapeError(
                f"{name} ({op}) shrinks the feature map from {w}x{h} to {max(w2, 0)}x{max(h2, 0)}: "
                f"the input is too small for this many strides or pools"
            )
        return h2, w2

    def conv(
        self, name: str, shape: Shape, out: int, kernel: int, stride: int = 1, groups: int = 1,
        bn: bool = True, act: str | None = None, bias: bool | None = None,
    ) -> Shape:
        c, _, _ = shape
        op = (f"conv {kernel}x{kernel}/{stride}" + (" dw" if groups > 1 else "") + (" +bn" if bn else "")
              + (f" {act}" if act else ""))
        h2, w2 = self._spatial(name, op, shape, kernel, stride)
        weights = kernel * kernel * (c // groups) * out
        has_bias = (not bn) if bias is None else bias
        params = weights + (out if has_bias else 0) + (2 * out if bn else 0)
        macs = h2 * w2 * weights + (2 * out * h2 * w2 if bn else 0)
        self.rows.append(Layer(name, op, (out, h2, w2), params, macs))
        return (out, h2, w2)

    def se(self, name: str, shape: Shape, squeeze: int) -> None:
        c, h, w = shape
        params = c * squeeze + squeeze + squeeze * c + c
        macs = c * h * w + 2 * c * squeeze  # global pool + two 1x1 convs on a 1x1 map
        self.rows.append(Layer(name, f"se {c}->{squeeze}->{c}", shape, params, macs))

    def pool(self, name: str, shape: Shape, pool: Pool) -> Shape:
        op = f"{pool.kind}pool {pool.kernel}x{pool.kernel}/{pool.stride}"
        h2, w2 = self._spatial(name, op, shape, pool.kernel, pool.stride)
        out = (shape[0], h2, w2)
        self.rows.append(Layer(name, op, out, 0, 0))
        return out

    def block(self, name: str, shape: Shape, b: Block) -> Shape:
        if isinstance(b, ConvBlock):
            return self.conv(name, shape, b.out_channels, b.kernel, b.stride, bn=b.bn, act=b.act, bias=b.bias)
        if isinstance(b, ResidualBlock):
            x = shape
            for i in range(b.n_convs):
                last = i == b.n_convs - 1
                x = self.conv(f"{name}.conv{i + 1}", x, b.out_channels, b.kernel, b.stride if i == 0 else 1,
                              act=None if last else b.act)
            if b.se_ratio > 0:
                self.se(f"{name}.se", x, se_channels(b.out_channels, b.se_ratio))
            if b.stride != 1 or shape[0] != b.out_channels:
                self.conv(f"{name}.shortcut", shape, b.out_channels, 1, b.stride)
            return x
        if isinstance(b, DepthwiseSeparable):
            x = self.conv(f"{name}.conv_dw", shape, shape[0], b.kernel, b.stride, groups=shape[0], act=b.act)
            if b.se_ratio > 0:
                self.se(f"{name}.se", x, se_channels(shape[0], b.se_ratio))
            return self.conv(f"{name}.conv_pw", x, b.out_channels, 1, act=b.act)
        if isinstance(b, InvertedResidual):
            hidden = hidden_channels(shape[0], b.expansion)
            x = shape
            if hidden != shape[0]:
                x = self.conv(f"{name}.conv_pw", x, hidden, 1, act=b.act)
            x = self.conv(f"{name}.conv_dw", x, hidden, b.kernel, b.stride, groups=hidden, act=b.act)
            if b.se_ratio > 0:
                self.se(f"{name}.se", x, se_channels(shape[0], b.se_ratio))
            return self.conv(f"{name}.conv_pwl", x, b.out_channels, 1)
        if isinstance(b, Inception):
            self.conv(f"{name}.branch1", shape, b.b1, 1, act=b.act)
            r = self.conv(f"{name}.branch3.reduce", shape, b.b3_reduce, 1, act=b.act)
            self.conv(f"{name}.branch3.conv", r, b.b3, 3, act=b.act)
            r = self.conv(f"{name}.branch5.reduce", shape, b.b5_reduce, 1, act=b.act)
            self.conv(f"{name}.branch5.conv", r, b.b5, b.k5, act=b.act)
            self.conv(f"{name}.branch_pool.proj", shape, b.pool_proj, 1, act=b.act)
            return (b.out_channels, shape[1], shape[2])
        raise TypeError(f"unknown block {b!r}")  # unreachable for validated genotypes


def needs_resize(arch: Architecture) -> bool:
    """Whether the input is resized before the stem (a ``resolution`` other than its size)."""
    return arch.resolution is not None and (arch.resolution, arch.resolution) != arch.input_shape[1:]


def analyze(arch: Architecture) -> Analysis:
    """Per-layer output shapes, parameters and MACs, and their totals.

    Raises:
        ShapeError: a stride or pool shrinks the feature map below 1x1; the message names
            the layer.
    """
    walk = _Walker()
    shape: Shape = arch.input_shape
    parts = []
    if needs_resize(arch):
        parts.append(Part("resize", None, shape))
        shape = (shape[0], arch.resolution, arch.resolution)
        walk.rows.append(Layer("resize", f"bilinear resize to {arch.resolution}x{arch.resolution}", shape, 0,
                               4 * shape[0] * shape[1] * shape[2]))
    for stage_name, stage in arch.named_stages():
        for j, block in enumerate(stage.blocks):
            parts.append(Part(f"{stage_name}.block{j + 1}", block, shape))
            shape = walk.block(parts[-1].name, shape, block)
        if stage.pool is not None:
            parts.append(Part(f"{stage_name}.pool", stage.pool, shape))
            shape = walk.pool(parts[-1].name, shape, stage.pool)
    parts.append(Part("head", None, shape))
    body_shape = shape
    c, h, w = shape
    head = arch.head
    if head.pool == "gap":
        walk.rows.append(Layer("head.pool", "global avg pool", (c, 1, 1), 0, c * h * w))
        features = c
    else:
        walk.rows.append(Layer("head.flatten", "flatten", (c * h * w, 1, 1), 0, 0))
        features = c * h * w
    for i, fc in enumerate(head.fc):
        walk.rows.append(Layer(f"head.fc{i + 1}", f"linear {fc.act}", (fc.width, 1, 1),
                               features * fc.width + fc.width, features * fc.width))
        features = fc.width
    walk.rows.append(Layer("head.classifier", "linear", (arch.num_classes, 1, 1),
                           features * arch.num_classes + arch.num_classes, features * arch.num_classes))
    rows = tuple(walk.rows)
    return Analysis(rows, sum(r.params for r in rows), sum(r.macs for r in rows), body_shape, tuple(parts))
