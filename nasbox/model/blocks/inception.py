"""The inception module of GoogLeNet (Szegedy et al., 2015)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbox.model.blocks.base import Block, register_block
from nasbox.model.checks import check_int, check_kernel
from nasbox.model.ops import Concat, Conv, Op, Pool, Seq

__all__ = ["Inception"]


@register_block
@dataclass(frozen=True)
class Inception(Block):
    """Inception module ("Going Deeper with Convolutions", Szegedy et al., 2015).

    Four branches concatenated on channels: ``1x1 (b1) | 1x1 (b3_reduce) -> 3x3 (b3) |
    1x1 (b5_reduce) -> k5 x k5 (b5) | 3x3/1 max-pool -> 1x1 (pool_proj)``, every conv
    followed by BatchNorm and the activation. The paper's third branch is 5x5 (``k5=5``);
    torchvision's GoogLeNet uses 3x3 there (``k5=3``). Output channels:
    ``b1 + b3 + b5 + pool_proj``; the map size is kept.
    """

    type: ClassVar[str] = "inception"
    tag: ClassVar[str] = "inc"
    tokens: ClassVar[dict[str, str]] = {"b1": "a", "b3_reduce": "br", "b3": "b", "b5_reduce": "cr", "b5": "cc",
                                        "pool_proj": "p", "k5": "kc"}

    b1: int
    b3_reduce: int
    b3: int
    b5_reduce: int
    b5: int
    pool_proj: int
    k5: int = 5
    act: str = "relu"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("b1", "b3_reduce", "b3", "b5_reduce", "b5", "pool_proj"):
            check_int(name, getattr(self, name))
        check_kernel(self.k5, "k5")

    @property
    def out_channels(self) -> int:
        return self.b1 + self.b3 + self.b5 + self.pool_proj

    @property
    def stride(self) -> int:
        return 1

    def layers(self, in_channels: int) -> Op:
        def branch(reduce: int, out: int, kernel: int) -> Seq:
            return Seq((("reduce", Conv(reduce, 1, act=self.act)), ("conv", Conv(out, kernel, act=self.act))))

        return Concat((
            ("branch1", Conv(self.b1, 1, act=self.act)),
            ("branch3", branch(self.b3_reduce, self.b3, 3)),
            ("branch5", branch(self.b5_reduce, self.b5, self.k5)),
            ("branch_pool", Seq((("pool", Pool("max", 3, 1)), ("proj", Conv(self.pool_proj, 1, act=self.act))))),
        ))
