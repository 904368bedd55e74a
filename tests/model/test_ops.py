"""Tests of nasbox.model.ops and nasbox.model.layers: each primitive's rows by hand, the shape checks of
shortcuts and branches, and its module (the same names, parameters and output shape)."""

from __future__ import annotations

import pytest
import torch

from nasbox.errors import ShapeError
from nasbox.model.arch import Architecture, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.model.layers import ConcatModule, SeqModule, realize
from nasbox.model.ops import SE, Concat, Conv, Pool, Seq, Walker, conv_out, default_bias


@pytest.mark.parametrize(("w1", "f", "s", "w2"), [(32, 3, 1, 32), (32, 3, 2, 16), (28, 7, 2, 14), (5, 1, 1, 5),
                                              (7, 5, 3, 3)])
def test_conv_out_is_the_design_formula(w1, f, s, w2):
    assert conv_out(w1, f, s) == (w1 - f + 2 * ((f - 1) // 2)) // s + 1 == w2


def test_the_bias_rule_and_conv_rows_by_hand():
    assert default_bias(bn=True) is False and default_bias(bn=False) is True
    walk = Walker()
    assert walk.conv("c", (3, 8, 8), Conv(16, 3, 2, act="relu")) == (16, 4, 4)
    assert walk.conv("d", (16, 4, 4), Conv(1, 3, depthwise=True)) == (16, 4, 4)  # depthwise keeps its input's
    assert walk.conv("p", (16, 4, 4), Conv(8, 1, bn=False)) == (8, 4, 4)
    c, d, p = walk.rows
    assert (c.params, c.macs) == (3 * 3 * 3 * 16 + 2 * 16, 4 * 4 * 3 * 3 * 3 * 16 + 2 * 16 * 4 * 4)
    assert (d.params, d.macs) == (9 * 16 + 32, 4 * 4 * 9 * 16 + 2 * 16 * 16)
    assert (p.params, p.macs) == (16 * 8 + 8, 4 * 4 * 16 * 8)  # no BN: a bias, no BN MACs
    assert c.op == "conv 3x3/2 +bn relu" and d.op == "conv 3x3/1 dw +bn"


def test_se_and_pool_rows():
    walk = Walker()
    assert walk.se("se", (8, 4, 4), SE(2)) == (8, 4, 4)
    assert walk.pool("pool", (8, 4, 4), Pool("min", 3, 2)) == (8, 2, 2)
    se, pool = walk.rows
    assert (se.params, se.macs) == (8 * 2 + 2 + 2 * 8 + 8, 8 * 16 + 2 * 8 * 2) and (pool.params, pool.macs) == (0, 0)
    with pytest.raises(ShapeError, match="p2 .*from 1x1"):
        Walker().pool("p2", (8, 1, 1), Pool("max", 2, 2))


def test_shortcuts_and_branches_must_agree_in_shape():
    with pytest.raises(ShapeError, match="identity shortcut"):
        Walker().run("b", (8, 4, 4), Seq((("c", Conv(16, 3)),), shortcut="identity"))
    with pytest.raises(ShapeError, match="shortcut gives"):
        Walker().run("b", (8, 4, 4), Seq((("c", Conv(16, 3, 2)),), shortcut=Conv(16, 1)))
    with pytest.raises(ShapeError, match="branches' maps differ"):
        Walker().run("b", (8, 4, 4), Concat((("x", Conv(4, 1)), ("y", Conv(4, 3, 2)))))
    with pytest.raises(ValueError, match="shortcut"):
        Seq((), shortcut="sideways")


@pytest.mark.parametrize("op", [
    Seq((("conv1", Conv(8, 3, act="relu")), ("se", SE(2)), ("conv2", Conv(8, 3))), shortcut="identity", post_act="relu"),
    Seq((("conv1", Conv(16, 3, 2, act="silu")),), shortcut=Conv(16, 1, 2), post_act="silu", zero_init_last=True),
    Concat((("a", Conv(4, 1, act="relu")), ("b", Seq((("pool", Pool("max", 3, 1)), ("proj", Conv(2, 1))))))),
])
def test_a_realised_module_has_the_walked_names_params_and_shape(op):
    walk = Walker()
    out = walk.run("x", (8, 8, 8), op)
    module, channels = realize(op, 8)
    assert isinstance(module, (SeqModule, ConcatModule)) and channels == out[0]
    named = dict(module.named_modules())
    for row in walk.rows:
        sub = named[row.name.removeprefix("x.")]
        assert sum(p.numel() for p in sub.parameters()) == row.params, row
    with torch.no_grad():
        assert module.eval()(torch.randn(2, 8, 8, 8)).shape == (2, *out)


def test_pool_padding_is_part_of_the_genotype_and_of_the_module():
    """An explicit padding changes the map, the encoding and the JSON; the default one is not spelled out, so
    genotypes, arch ids and latency-table keys from before are unchanged."""
    assert Pool("max", 3, 2, padding=1) == Pool("max", 3, 2) and repr(Pool("max", 3, 2)).endswith("stride=2)")
    assert Walker().pool("p", (8, 56, 56), Pool("max", 3, 2, padding=0)) == (8, 27, 27)
    assert Walker().pool("p", (8, 56, 56), Pool("max", 3, 2)) == (8, 28, 28)
    with pytest.raises(ValueError, match="padding"):
        Pool("max", 3, 2, padding=2)  # more than half the kernel: PyTorch refuses it too
    arch = Architecture((3, 56, 56), 10, (Stage((ConvBlock(8),), Pool("max", 3, 2, padding=0)),))
    assert "+max3s2p0" in arch.encode()
    assert Architecture.decode(arch.encode()) == arch and Architecture.from_json(arch.to_json()) == arch
    default = Architecture((3, 56, 56), 10, (Stage((ConvBlock(8),), Pool("max", 3, 2)),))
    assert "padding" not in default.to_json() and default.arch_id != arch.arch_id
    with torch.no_grad():
        pool = build_model(arch).stage1.pool
        assert pool.padding == 0 and pool(torch.zeros(1, 8, 56, 56)).shape[-1] == 27
