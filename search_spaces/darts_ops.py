"""The analysis rows of DARTS' ops and preprocessing (:mod:`search_spaces.darts`): parameters and MACs as its modules
(:mod:`search_spaces.darts_modules`) hold and compute them, with or without the BatchNorms' affine parameters.

A BatchNorm counts 2 parameters and 2 MACs per element with a scale and shift, none and 1 MAC per element without
(fvcore's count).
"""

from __future__ import annotations

from nasbox.errors import ShapeError
from nasbox.model.analysis import Layer
from nasbox.model.ops import Shape, Walker, conv_out
from search_spaces.darts_text import Genotype

__all__ = ["factorized_reduce", "mark", "op_rows", "reads", "relu_conv_bn"]


def reads(genotype: Genotype) -> set[int]:
    """The states an op that is not ``none`` reads."""
    return {source for op, source in genotype if op != "none"}


def mark(walker: Walker, note: str) -> None:
    """The last row, not computed when ``note`` says so: its MACs are 0, its parameters stay."""
    if note:
        row = walker.rows[-1]
        walker.rows[-1] = row._replace(op=row.op + note, macs=0)


def _bn(out: int, affine: bool) -> tuple[int, int]:
    """A BatchNorm of ``out`` channels: its parameters and its MACs per pixel."""
    return (2 * out, 2 * out) if affine else (0, out)


def _spatial(name: str, shape: Shape, kernel: int, stride: int) -> tuple[int, int]:
    _, h, w = shape
    h2, w2 = conv_out(h, kernel, stride), conv_out(w, kernel, stride)
    if h2 < 1 or w2 < 1:
        raise ShapeError(f"{name} shrinks the feature map from {w}x{h} below 1x1")
    return h2, w2


def relu_conv_bn(walker: Walker, name: str, shape: Shape, out: int, affine: bool = True) -> Shape:
    """ReLU -> 1x1 conv -> BatchNorm (DARTS' preprocessing)."""
    c, h, w = shape
    params, macs = _bn(out, affine)
    walker.rows.append(Layer(name, "relu conv 1x1/1 +bn", (out, h, w), c * out + params, h * w * (c * out + macs)))
    return (out, h, w)


def factorized_reduce(walker: Walker, name: str, shape: Shape, out: int, affine: bool = True) -> Shape:
    """DARTS' ``FactorizedReduce``: two 1x1/2 convs to ``out / 2`` (one on the map shifted by a pixel), BN."""
    c, h, w = shape
    if h % 2 or w % 2:
        raise ShapeError(f"{name} (factorized reduction) halves an even map, it is fed {w}x{h}: the darts network "
                         "needs an input whose height and width are multiples of 4")
    h2, w2 = h // 2, w // 2
    weights = 2 * c * (out // 2)
    params, macs = _bn(out, affine)
    walker.rows.append(Layer(name, "factorized reduce 1x1/2 +bn", (out, h2, w2), weights + params,
                             h2 * w2 * (weights + macs)))
    return (out, h2, w2)


def op_rows(walker: Walker, name: str, shape: Shape, op: str, stride: int, affine: bool = True) -> Shape:
    """The rows of one of a cell's ops (none for ``none``, which has no module); its output shape."""
    c = shape[0]
    if op == "skip_connect" and stride == 2:
        return factorized_reduce(walker, name, shape, c, affine)
    h2, w2 = _spatial(name, shape, 3, stride)
    out = (c, h2, w2)
    if op in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"):
        k, twice = int(op[-1]), op.startswith("sep")
        params, macs = _bn(c, affine)
        per = k * k * c + c * c  # depthwise and pointwise, once
        text = f"sep conv {k}x{k}/{stride} x2" if twice else f"dil conv {k}x{k}/{stride} dilation 2"
        walker.rows.append(Layer(name, text + " +bn", out, (per + params) * (1 + twice), h2 * w2 * (per + macs) * (1 + twice)))
    elif op in ("max_pool_3x3", "avg_pool_3x3"):
        walker.rows.append(Layer(name, f"{op[:3]}pool 3x3/{stride}", out, 0, 0))
    elif op == "skip_connect":
        walker.rows.append(Layer(name, "identity", out, 0, 0))
    elif op != "none":
        raise ValueError(f"unknown DARTS op {op!r}")
    return out
