"""The architecture genotype: a whole CNN as frozen, JSON-serialisable plain data.

A genotype never holds callables or tensors: tuples, ints, floats, strings and ``None``
only, so it can be hashed, stored on an Optuna trial, written to JSON and compared. The
builder (:mod:`nasbox.model.build`) turns it into an ``nn.Module``; the analysis
(:mod:`nasbox.model.analysis`) computes shapes, parameters and MACs from it without torch.
Blocks are the registered kinds of :mod:`nasbox.model.blocks`.

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
from dataclasses import dataclass, field
from typing import Any

from nasbox.model import encoding
from nasbox.model.blocks.base import Block, block_from_dict
from nasbox.model.checks import ACTIVATIONS, check_act, check_int, check_ratio
from nasbox.model.ops import POOL_KINDS, Pool

__all__ = ["ACTIVATIONS", "FC", "HEAD_POOLS", "POOL_KINDS", "Architecture", "Head", "Pool", "Stage"]

HEAD_POOLS: tuple[str, ...] = ("gap", "flatten")


def _pool_dict(pool: Pool) -> dict[str, Any]:
    """A stage pool's JSON form (its padding only when it is not the default)."""
    d: dict[str, Any] = {"kind": pool.kind, "kernel": pool.kernel, "stride": pool.stride}
    if pool.padding is not None:
        d["padding"] = pool.padding
    return d


@dataclass(frozen=True)
class Stage:
    """``blocks`` in sequence, then an optional ``pool``: ``(Conv) * N + Pooling``."""

    blocks: tuple[Block, ...] = ()
    pool: Pool | None = None

    def __post_init__(self) -> None:
        blocks = tuple(self.blocks)
        for b in blocks:
            if not isinstance(b, Block):
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
        check_int("width", self.width)
        check_act(self.act)
        object.__setattr__(self, "dropout", check_ratio("dropout", self.dropout, high_inclusive=False))


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
        object.__setattr__(self, "dropout", check_ratio("dropout", self.dropout, high_inclusive=False))


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
            check_int(f"input {name}", v)
        object.__setattr__(self, "input_shape", shape)
        check_int("num_classes", self.num_classes)
        object.__setattr__(self, "stages", tuple(self.stages))
        for s in self.stages:
            if not isinstance(s, Stage):
                raise ValueError(f"stages holds Stage objects, got {s!r}")
        if not isinstance(self.stem, Stage):
            raise ValueError(f"stem must be a Stage, got stem={self.stem!r}")
        if not isinstance(self.head, Head):
            raise ValueError(f"head must be a Head, got head={self.head!r}")
        if self.resolution is not None:
            check_int("resolution", self.resolution)

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

        def stage(s: Stage) -> dict[str, Any]:
            return {
                "blocks": [b.to_dict() for b in s.blocks],
                "pool": None if s.pool is None else _pool_dict(s.pool),
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

    # ---- compact string encoding (nasbox.model.encoding)
    def encode(self) -> str:
        """A short, exact, human-readable string; :meth:`decode` inverts it.

        Example: ``i1x28x28n10 | cn_c32*2+max2 | rb_c64_s2 | gap_d0.2``; see
        :mod:`nasbox.model.encoding` for the grammar.
        """
        return encoding.encode_architecture(self.to_dict())

    @classmethod
    def decode(cls, text: str) -> Architecture:
        """The architecture of an :meth:`encode` string; ``ValueError`` for a malformed one."""
        return cls.from_dict(encoding.decode_architecture(text))

    def __str__(self) -> str:
        return self.encode()
