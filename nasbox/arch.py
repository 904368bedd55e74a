"""The architecture genotype: a whole CNN as frozen, JSON-serialisable plain data.

A genotype never holds callables or tensors: tuples, ints, floats, strings and ``None``
only, so it can be hashed, stored on an Optuna trial, written to JSON and compared. The
builder (:mod:`nasbox.build`) turns it into an ``nn.Module``; the analysis
(:mod:`nasbox.analysis`) computes shapes, parameters and MACs from it without torch.

Input channels of every block are *derived* from the previous block's output, so a
genotype's channels always chain; padding is always ``(kernel - 1) // 2`` ("same" for odd
kernels, ``P = (F - 1) / 2`` in the design notes).

Layout of a network::

    Architecture(input_shape=(C, H, W), num_classes,
                 resolution=None | R,          # resize the input to R x R first
                 stem=Stage(...),              # stage 0, may be empty
                 stages=(Stage(blocks=(...), pool=Pool | None), ...),
                 head=Head(pool="gap" | "flatten", fc=(FC(...), ...), dropout))
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "ACTIVATIONS",
    "POOL_KINDS",
    "Architecture",
    "Block",
    "ConvBlock",
    "DepthwiseSeparable",
    "FC",
    "Head",
    "Inception",
    "InvertedResidual",
    "Pool",
    "ResidualBlock",
    "Stage",
    "block_from_dict",
]

ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "silu", "hardswish", "gelu", "leaky_relu")
POOL_KINDS: tuple[str, ...] = ("max", "avg", "min")
HEAD_POOLS: tuple[str, ...] = ("gap", "flatten")


def _check_int(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {name}={value!r}")


def _check_kernel(value: Any) -> None:
    _check_int("kernel", value)
    if value % 2 == 0:
        raise ValueError(f"kernel must be odd so that padding (F - 1) / 2 keeps the size, got kernel={value!r}")


def _check_act(value: Any) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got act={value!r}")


def _check_ratio(name: str, value: Any, high: float = 1.0, high_inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {name}={value!r}")
    value = float(value) + 0.0  # -0.0 -> 0.0, so equal genotypes serialise equally
    ok = 0.0 <= value <= high if high_inclusive else 0.0 <= value < high
    if not ok:
        raise ValueError(f"{name} must lie in [0, {high}{']' if high_inclusive else ')'}, got {name}={value!r}")
    return value


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class ConvBlock:
    """Conv -> BatchNorm -> activation (bias only when there is no BatchNorm).

    Args:
        out_channels: K, the number of filters.
        kernel: F, an odd filter size (1, 3, 5, 7; 11 for AlexNet's first layer).
        stride: S.
        act: activation after the convolution (``None`` for a linear projection).
        bn: BatchNorm after the convolution.
        bias: a conv bias even before BatchNorm (torchvision's VGG-BN has one); the
            default ``None`` means "bias exactly when there is no BatchNorm".
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str | None = "relu"
    bn: bool = True
    bias: bool | None = None
    type: ClassVar[str] = "conv"
    tag: ClassVar[str] = "cn"

    def __post_init__(self) -> None:
        _check_int("out_channels", self.out_channels)
        _check_kernel(self.kernel)
        _check_int("stride", self.stride)
        if self.act is not None:
            _check_act(self.act)
        if not isinstance(self.bn, bool):
            raise ValueError(f"bn must be a bool, got bn={self.bn!r}")
        if self.bias is not None and not isinstance(self.bias, bool):
            raise ValueError(f"bias must be a bool or None, got bias={self.bias!r}")
        if self.bias == (not self.bn):  # the explicit value equals the automatic one
            object.__setattr__(self, "bias", None)

    @property
    def has_bias(self) -> bool:
        return (not self.bn) if self.bias is None else self.bias


@dataclass(frozen=True)
class ResidualBlock:
    """ResNet basic block generalised to ``n_convs`` convolutions (He et al., 2016).

    ``x -> [conv-BN-act] * (n_convs - 1) -> conv-BN -> (SE) -> + shortcut(x) -> act``.
    The first convolution carries the stride; the shortcut is the identity when shape is
    kept and a 1x1 conv + BN projection when stride or channels change. With
    ``se_ratio > 0`` an SE module (Hu et al., 2018) with ``max(1, int(out * se_ratio))``
    squeeze channels recalibrates the residual branch (SE-ResNet uses 1/16).
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str = "relu"
    n_convs: int = 2
    se_ratio: float = 0.0
    type: ClassVar[str] = "residual"
    tag: ClassVar[str] = "rb"

    def __post_init__(self) -> None:
        _check_int("out_channels", self.out_channels)
        _check_kernel(self.kernel)
        _check_int("stride", self.stride)
        _check_act(self.act)
        _check_int("n_convs", self.n_convs)
        object.__setattr__(self, "se_ratio", _check_ratio("se_ratio", self.se_ratio))


@dataclass(frozen=True)
class DepthwiseSeparable:
    """MobileNetV1 depthwise separable conv (Howard et al., 2017).

    ``depthwise kxk conv-BN-act -> (SE) -> pointwise 1x1 conv-BN-act``; no shortcut.
    SE squeeze channels: ``max(1, int(in_channels * se_ratio))``.
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str = "relu"
    se_ratio: float = 0.0
    type: ClassVar[str] = "dwsep"
    tag: ClassVar[str] = "ds"

    def __post_init__(self) -> None:
        _check_int("out_channels", self.out_channels)
        _check_kernel(self.kernel)
        _check_int("stride", self.stride)
        _check_act(self.act)
        object.__setattr__(self, "se_ratio", _check_ratio("se_ratio", self.se_ratio))


@dataclass(frozen=True)
class InvertedResidual:
    """MobileNetV2 inverted residual / EfficientNet MBConv (Sandler et al., 2018; Tan & Le, 2019).

    ``1x1 expand conv-BN-act (skipped when expansion == 1) -> depthwise kxk conv-BN-act ->
    (SE) -> 1x1 linear projection conv-BN``, plus the identity when ``stride == 1`` and
    input and output channels agree. Hidden width ``int(round(in_channels * expansion))``;
    SE squeeze channels ``max(1, int(in_channels * se_ratio))`` (EfficientNet's rule).
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 6.0
    act: str = "relu6"
    se_ratio: float = 0.0
    type: ClassVar[str] = "mbconv"
    tag: ClassVar[str] = "ir"

    def __post_init__(self) -> None:
        _check_int("out_channels", self.out_channels)
        _check_kernel(self.kernel)
        _check_int("stride", self.stride)
        _check_act(self.act)
        if (isinstance(self.expansion, bool) or not isinstance(self.expansion, (int, float))
                or not math.isfinite(self.expansion) or self.expansion < 1):
            raise ValueError(f"expansion must be a number >= 1, got expansion={self.expansion!r}")
        object.__setattr__(self, "expansion", float(self.expansion))
        object.__setattr__(self, "se_ratio", _check_ratio("se_ratio", self.se_ratio))


@dataclass(frozen=True)
class Inception:
    """GoogLeNet inception module (Szegedy et al., 2015), concatenating four branches.

    ``1x1 (b1) | 1x1 (b3_reduce) -> kxk (b3) | 1x1 (b5_reduce) -> k5 x k5 (b5) |
    3x3/1 max-pool -> 1x1 (pool_proj)``, every conv followed by BN and the activation.
    The paper's third branch is 5x5 (``k5=5``); torchvision's GoogLeNet uses 3x3 there
    (``k5=3``). Output channels: ``b1 + b3 + b5 + pool_proj``.
    """

    b1: int
    b3_reduce: int
    b3: int
    b5_reduce: int
    b5: int
    pool_proj: int
    k5: int = 5
    act: str = "relu"
    type: ClassVar[str] = "inception"
    tag: ClassVar[str] = "inc"

    def __post_init__(self) -> None:
        for name in ("b1", "b3_reduce", "b3", "b5_reduce", "b5", "pool_proj"):
            _check_int(name, getattr(self, name))
        _check_kernel(self.k5)
        _check_act(self.act)

    @property
    def out_channels(self) -> int:
        return self.b1 + self.b3 + self.b5 + self.pool_proj

    @property
    def stride(self) -> int:
        return 1


Block = ConvBlock | ResidualBlock | DepthwiseSeparable | InvertedResidual | Inception
BLOCK_TYPES: dict[str, type] = {
    cls.type: cls for cls in (ConvBlock, ResidualBlock, DepthwiseSeparable, InvertedResidual, Inception)
}


def block_from_dict(data: dict[str, Any]) -> Block:
    """Inverse of ``Architecture``'s block serialisation: ``{"type": ..., **fields}``."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"a block must be a mapping with a 'type' key, got {data!r}")
    kind = data["type"]
    cls = BLOCK_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown block type {kind!r}; known: {', '.join(BLOCK_TYPES)}")
    kwargs = {k: v for k, v in data.items() if k != "type"}
    allowed = {f.name for f in fields(cls)}
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} for block type {kind!r}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise ValueError(f"bad block {data!r}: {exc}") from None


# --------------------------------------------------------------------------- stages, head


@dataclass(frozen=True)
class Pool:
    """Spatial pooling after a stage: max, average or min (``-maxpool(-x)``).

    Padding ``(kernel - 1) // 2`` like the convs, so 3x3/2 and 2x2/2 both halve an even map.
    """

    kind: str = "max"
    kernel: int = 2
    stride: int = 2

    def __post_init__(self) -> None:
        if self.kind not in POOL_KINDS:
            raise ValueError(f"pool kind must be one of {', '.join(POOL_KINDS)}, got kind={self.kind!r}")
        _check_int("kernel", self.kernel)
        _check_int("stride", self.stride)


@dataclass(frozen=True)
class Stage:
    """``blocks`` in sequence, then an optional ``pool``: ``(Conv) * N + Pooling``."""

    blocks: tuple[Block, ...] = ()
    pool: Pool | None = None

    def __post_init__(self) -> None:
        blocks = tuple(self.blocks)
        for b in blocks:
            if not isinstance(b, tuple(BLOCK_TYPES.values())):
                raise ValueError(f"a stage holds blocks, got {b!r}")
        object.__setattr__(self, "blocks", blocks)
        if self.pool is not None and not isinstance(self.pool, Pool):
            raise ValueError(f"pool must be a Pool or None, got pool={self.pool!r}")


@dataclass(frozen=True)
class FC:
    """A hidden fully connected layer: Linear -> activation -> Dropout(dropout)."""

    width: int
    act: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_int("width", self.width)
        _check_act(self.act)
        object.__setattr__(self, "dropout", _check_ratio("dropout", self.dropout, high_inclusive=False))


@dataclass(frozen=True)
class Head:
    """Classifier: ``gap`` (global average pool) or ``flatten``, hidden FCs, then
    Dropout(dropout) -> Linear(num_classes). Softmax is left to the loss."""

    pool: str = "gap"
    fc: tuple[FC, ...] = ()
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.pool not in HEAD_POOLS:
            raise ValueError(f"head pool must be one of {', '.join(HEAD_POOLS)}, got pool={self.pool!r}")
        object.__setattr__(self, "fc", tuple(self.fc))
        for f in self.fc:
            if not isinstance(f, FC):
                raise ValueError(f"head.fc holds FC layers, got {f!r}")
        object.__setattr__(self, "dropout", _check_ratio("dropout", self.dropout, high_inclusive=False))


# --------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class Architecture:
    """A whole image classifier as data.

    Args:
        input_shape: ``(C, H, W)`` of the images the network is fed.
        num_classes: outputs of the final linear layer.
        stages: the body; stage ``i`` is named ``stage{i+1}`` in layer tables.
        head: classifier head.
        stem: an optional first stage, named ``stem``.
        resolution: when set, the input is resized (bilinear) to ``resolution`` x
            ``resolution`` before the stem: EfficientNet's resolution scaling.
    """

    input_shape: tuple[int, int, int]
    num_classes: int
    stages: tuple[Stage, ...]
    head: Head = field(default_factory=Head)
    stem: Stage = field(default_factory=Stage)
    resolution: int | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got input_shape={self.input_shape!r}")
        for name, v in zip(("channels", "height", "width"), shape, strict=True):
            _check_int(f"input {name}", v)
        object.__setattr__(self, "input_shape", shape)
        _check_int("num_classes", self.num_classes)
        object.__setattr__(self, "stages", tuple(self.stages))
        for s in self.stages:
            if not isinstance(s, Stage):
                raise ValueError(f"stages holds Stage objects, got {s!r}")
        if not isinstance(self.stem, Stage):
            raise ValueError(f"stem must be a Stage, got stem={self.stem!r}")
        if not isinstance(self.head, Head):
            raise ValueError(f"head must be a Head, got head={self.head!r}")
        if self.resolution is not None:
            _check_int("resolution", self.resolution)

    # ---- iteration helpers
    def named_stages(self) -> list[tuple[str, Stage]]:
        """``[("stem", stem), ("stage1", ...), ...]``; the stem only when it has content."""
        out = []
        if self.stem.blocks or self.stem.pool is not None:
            out.append(("stem", self.stem))
        out.extend((f"stage{i + 1}", s) for i, s in enumerate(self.stages))
        return out

    @property
    def num_blocks(self) -> int:
        return sum(len(s.blocks) for _, s in self.named_stages())

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists; blocks carry their ``type``."""

        def block(b: Block) -> dict[str, Any]:
            return {"type": b.type, **{f.name: getattr(b, f.name) for f in fields(b)}}

        def stage(s: Stage) -> dict[str, Any]:
            return {
                "blocks": [block(b) for b in s.blocks],
                "pool": None if s.pool is None else {"kind": s.pool.kind, "kernel": s.pool.kernel, "stride": s.pool.stride},
            }

        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "resolution": self.resolution,
            "stem": stage(self.stem),
            "stages": [stage(s) for s in self.stages],
            "head": {
                "pool": self.head.pool,
                "fc": [{"width": f.width, "act": f.act, "dropout": f.dropout} for f in self.head.fc],
                "dropout": self.head.dropout,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """Inverse of :meth:`to_dict`. Raises ``ValueError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an architecture must be a JSON object, got {type(data).__name__}")
        known = {"input_shape", "num_classes", "resolution", "stem", "stages", "head"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown architecture field(s) {sorted(unknown)}")
        for key in ("input_shape", "num_classes", "stages"):
            if key not in data:
                raise ValueError(f"architecture is missing the field {key!r}")

        def stage(d: Any) -> Stage:
            if not isinstance(d, dict):
                raise ValueError(f"a stage must be an object, got {d!r}")
            extra = set(d) - {"blocks", "pool"}
            if extra:
                raise ValueError(f"unknown stage field(s) {sorted(extra)}")
            pool = d.get("pool")
            return Stage(
                blocks=tuple(block_from_dict(b) for b in d.get("blocks", [])),
                pool=None if pool is None else Pool(**pool),
            )

        head = data.get("head", {})
        if not isinstance(head, dict):
            raise ValueError(f"head must be an object, got {head!r}")
        extra = set(head) - {"pool", "fc", "dropout"}
        if extra:
            raise ValueError(f"unknown head field(s) {sorted(extra)}")
        try:
            return cls(
                input_shape=tuple(data["input_shape"]),
                num_classes=data["num_classes"],
                resolution=data.get("resolution"),
                stem=stage(data.get("stem", {})),
                stages=tuple(stage(s) for s in data["stages"]),
                head=Head(
                    pool=head.get("pool", "gap"),
                    fc=tuple(FC(**f) for f in head.get("fc", [])),
                    dropout=head.get("dropout", 0.0),
                ),
            )
        except TypeError as exc:  # wrong or missing keyword in a nested mapping
            raise ValueError(f"malformed architecture: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=indent is not None)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @property
    def arch_id(self) -> str:
        """Stable 12-hex-digit id: the start of the SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    def canonical_json(self) -> str:
        """The genotype as JSON with sorted keys and no spaces: one text per genotype."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    # ---- compact string encoding (nasbox.encoding)
    def encode(self) -> str:
        """A short, exact, human-readable string; :meth:`decode` inverts it.

        Example: ``i1x28x28n10 | cn_c32*2+max2 | rb_c64_s2 | gap_d0.2``; see
        :mod:`nasbox.encoding` for the grammar.
        """
        from nasbox.encoding import encode_architecture

        return encode_architecture(self)

    @classmethod
    def decode(cls, text: str) -> Architecture:
        """The architecture of an :meth:`encode` string; ``ValueError`` for a malformed one."""
        from nasbox.encoding import decode_architecture

        return decode_architecture(text)

    def __str__(self) -> str:
        return self.encode()
