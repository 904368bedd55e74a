"""Per-layer shapes, parameters and MACs from the genotype alone (no torch).

The analysis walks an :class:`~nasbox.model.arch.Architecture` through its blocks' own
descriptions (:meth:`Block.analyze`, by default the primitives of :meth:`Block.layers`
walked by :class:`~nasbox.model.ops.Walker`, whose docstring states the formulas), then
its stage pools and head. MACs follow fvcore's convention exactly, so that the analysis
can be checked against a traced count of the built model; besides the primitives':
global average pool 1 per input element, bilinear resize 4 per output element, linear
``in * out``. FLOPs are ``2 * MACs``. Layer names are the module paths of the built model
(``stage2.block1.conv_dw``), so every row can be compared with ``nn.Module`` counts.
"""

from __future__ import annotations

import html
from typing import NamedTuple

from nasbox.model.arch import Architecture
from nasbox.model.blocks.base import Block
from nasbox.model.ops import Layer, Pool, Shape, Walker, conv_out

__all__ = ["Analysis", "Layer", "Part", "analyze", "constant_from", "conv_out", "needs_resize"]


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

    def __repr__(self) -> str:
        return (f"Analysis(params={self.params:,}, macs={self.macs:,}, flops={self.flops:,}, layers={len(self.layers)}, "
                f"body_shape={tuple(self.body_shape)})")

    def _repr_html_(self) -> str:
        """A notebook's view: the per-layer table (output shape, parameters, MACs) and its totals."""
        rows = "".join(
            f"<tr><td><code>{html.escape(r.name)}</code></td><td>{html.escape(r.op)}</td>"
            f"<td style='text-align:right'>{r.out_shape[2]} x {r.out_shape[1]} x {r.out_shape[0]}</td>"
            f"<td style='text-align:right'>{r.params:,}</td><td style='text-align:right'>{r.macs:,}</td></tr>"
            for r in self.layers)
        return (f"<table><thead><tr><th>layer</th><th>op</th><th>output W x H x D</th><th>params</th><th>MACs</th>"
                f"</tr></thead><tbody>{rows}</tbody><tfoot><tr><th colspan='3'>total ({len(self.layers)} layers; "
                f"FLOPs = 2 x MACs = {self.flops:,})</th><th style='text-align:right'>{self.params:,}</th>"
                f"<th style='text-align:right'>{self.macs:,}</th></tr></tfoot></table>")

    def to_pandas(self):  # noqa: ANN201 - pandas is imported here only (the analysis imports no heavy package)
        """The per-layer table as a ``pandas.DataFrame``: ``name``, ``op``, ``channels``, ``height``, ``width``
        (the output's), ``params``, ``macs``; one row per layer, in forward order."""
        import pandas as pd

        return pd.DataFrame([{"name": r.name, "op": r.op, "channels": r.out_shape[0], "height": r.out_shape[1],
                              "width": r.out_shape[2], "params": r.params, "macs": r.macs} for r in self.layers],
                            columns=["name", "op", "channels", "height", "width", "params", "macs"])

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


def needs_resize(arch: Architecture) -> bool:
    """Whether the input is resized before the stem (a ``resolution`` other than its size)."""
    return arch.resolution is not None and (arch.resolution, arch.resolution) != arch.input_shape[1:]


def constant_from(arch: Architecture) -> str | None:
    """The name of the first block whose output ignores its input (:meth:`Block.ignores_input`), or
    ``None``: with one, the network's output is the same for every image, so its accuracy is chance
    whatever it is trained on (a NAS-Bench-201 cell whose output node no edge path reaches)."""
    for stage_name, stage in arch.named_stages():
        for j, block in enumerate(stage.blocks):
            if block.ignores_input():
                return f"{stage_name}.block{j + 1}"
    return None


def analyze(arch: Architecture) -> Analysis:
    """Per-layer output shapes, parameters and MACs, and their totals.

    Raises:
        ShapeError: a stride or pool shrinks the feature map below 1x1; the message names
            the layer.
    """
    walk = Walker()
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
            shape = block.analyze(walk, parts[-1].name, shape)
        if stage.pool is not None:
            parts.append(Part(f"{stage_name}.pool", stage.pool, shape))
            shape = walk.pool(parts[-1].name, shape, stage.pool)
    parts.append(Part("head", None, shape))
    body_shape = shape
    _head_rows(walk, arch, shape)
    rows = tuple(walk.rows)
    return Analysis(rows, sum(r.params for r in rows), sum(r.macs for r in rows), body_shape, tuple(parts))


def _head_rows(walk: Walker, arch: Architecture, shape: Shape) -> None:
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
