"""Tests of nasbox.model.analysis: the seed formulas by hand, and agreement with PyTorch, fvcore and thop."""

from __future__ import annotations

import json

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from nasbox.errors import NasboxError, ShapeError
from nasbox.model.analysis import analyze, conv_out, needs_resize
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from nasbox.model.build import build_model
from tests.model.support import every_block_arch

pytestmark = pytest.mark.usefixtures("one_thread")


def out_size(w1: int, f: int, s: int) -> int:
    """The design notes' formula, written out: W2 = (W1 - F + 2P) / S + 1 with P = (F - 1) / 2 (floored)."""
    p = (f - 1) // 2
    return (w1 - f + 2 * p) // s + 1


def rows(arch: Architecture) -> dict:
    return {r.name: r for r in analyze(arch).layers}


def one_block(input_shape, block, **kw) -> Architecture:
    return Architecture(input_shape, 10, (Stage((block,)),), **kw)


# --------------------------------------------------------------------------- catalogue


def catalogue() -> dict[str, Architecture]:
    """Small genotypes that together use every block type, option, pool and head."""
    return {
        "every_block": every_block_arch(),
        "lenet": Architecture(
            (1, 28, 28), 10,
            (Stage((ConvBlock(6, kernel=5, bn=False),), Pool("max", 2, 2)),
             Stage((ConvBlock(16, kernel=5, bn=False),), Pool("avg", 2, 2))),
            head=Head("flatten", (FC(120), FC(84))),
        ),
        "resnet_se": Architecture(
            (3, 16, 16), 7,
            (Stage((ResidualBlock(16), ResidualBlock(16, se_ratio=1 / 16))),
             Stage((ResidualBlock(32, stride=2, kernel=5, act="relu6", n_convs=1),)), Stage(pool=Pool("min", 3, 2))),
            stem=Stage((ConvBlock(16, kernel=7, stride=2),)),
        ),
        "mobilenet": Architecture(
            (3, 24, 24), 5,
            (Stage((DepthwiseSeparable(16), DepthwiseSeparable(24, stride=2, act="hardswish"))),
             Stage((InvertedResidual(24, expansion=3), InvertedResidual(40, stride=2, se_ratio=0.25, act="silu"),
                    InvertedResidual(40, expansion=1.5, kernel=5))),),
            stem=Stage((ConvBlock(16, stride=2, act="relu6"),)),
            resolution=32,
            head=Head(dropout=0.2),
        ),
        "inception": Architecture(
            (3, 12, 12), 4,
            (Stage((Inception(4, 4, 8, 2, 4, 4), Inception(8, 4, 8, 2, 4, 4, k5=3, act="gelu")), Pool("max", 3, 2)),),
            head=Head(fc=(FC(16, "silu", 0.5),)),
        ),
        "same_resolution": Architecture((1, 16, 16), 3, (Stage((ConvBlock(4),), Pool()),), resolution=16),
        "no_body": Architecture((2, 5, 7), 3, (), head=Head("flatten")),
    }


CATALOGUE = catalogue()


# --------------------------------------------------------------------------- formulas by hand


@pytest.mark.parametrize(
    ("w1", "f", "s", "w2"),
    [(28, 5, 1, 28), (28, 3, 1, 28), (32, 3, 2, 16), (7, 3, 2, 4), (7, 5, 2, 4), (7, 1, 2, 4), (7, 7, 3, 3),
     (224, 7, 2, 112), (224, 11, 4, 56), (1, 3, 2, 1), (5, 1, 1, 5)],
)
def test_output_size_formula(w1, f, s, w2):
    assert out_size(w1, f, s) == w2  # the hand values above follow the formula
    assert conv_out(w1, f, s) == w2
    conv = nn.Conv2d(1, 1, f, s, (f - 1) // 2)
    assert conv(torch.zeros(1, 1, w1, w1)).shape[-1] == w2  # and PyTorch agrees


@pytest.mark.parametrize(
    ("w1", "k", "s"), [(28, 2, 2), (7, 2, 2), (7, 3, 2), (8, 3, 1), (9, 4, 2), (2, 2, 1), (5, 5, 5), (1, 3, 2)]
)
@pytest.mark.parametrize("kind", ["max", "avg", "min"])
def test_pool_output_size_matches_pytorch(w1, k, s, kind):
    a = Architecture((1, w1, w1), 2, (Stage(pool=Pool(kind, k, s)),))
    pooled = nn.MaxPool2d(k, s, (k - 1) // 2)(torch.zeros(1, 1, w1, w1))
    r = rows(a)["stage1.pool"]
    assert r.out_shape == (1, pooled.shape[-2], pooled.shape[-1])
    assert r.params == 0 and r.macs == 0


def test_lenet_conv_without_bn():
    # 5x5 conv, 6 filters, on 1x28x28, no BN: F*F*D1*K + K = 5*5*1*6 + 6 = 156
    a = one_block((1, 28, 28), ConvBlock(6, kernel=5, bn=False))
    r = rows(a)["stage1.block1"]
    assert r.params == 5 * 5 * 1 * 6 + 6 == 156
    assert r.out_shape == (6, 28, 28)
    assert r.macs == 28 * 28 * 6 * (5 * 5 * 1)
    an = analyze(a)
    assert an.body_shape == (6, 28, 28)
    assert rows(a)["head.classifier"].params == 6 * 10 + 10
    assert an.params == 156 + 70
    assert an.macs == 117600 + 6 * 28 * 28 + 6 * 10
    assert an.flops == 2 * an.macs


def test_conv_with_bn_has_no_bias_and_2k_bn_params():
    r = rows(one_block((1, 28, 28), ConvBlock(6, kernel=5)))["stage1.block1"]
    assert r.params == 5 * 5 * 1 * 6 + 2 * 6 == 162
    assert r.macs == 28 * 28 * 6 * 25 + 2 * 6 * 28 * 28  # BN: scale and shift per element
    r = rows(one_block((1, 28, 28), ConvBlock(6, kernel=5, bias=True)))["stage1.block1"]
    assert r.params == 5 * 5 * 1 * 6 + 6 + 2 * 6  # VGG-BN style: bias kept before BN
    r = rows(one_block((1, 28, 28), ConvBlock(6, kernel=5, bn=False, bias=False)))["stage1.block1"]
    assert r.params == 5 * 5 * 1 * 6


def test_stride_two_conv():
    r = rows(one_block((3, 32, 32), ConvBlock(32, kernel=3, stride=2)))["stage1.block1"]
    assert r.out_shape == (32, 16, 16)
    assert r.params == 3 * 3 * 3 * 32 + 2 * 32 == 928
    assert r.macs == 16 * 16 * 32 * (3 * 3 * 3) + 2 * 32 * 16 * 16
    r = rows(one_block((3, 7, 9), ConvBlock(4, kernel=5, stride=2, bn=False)))["stage1.block1"]
    assert r.out_shape == (4, out_size(7, 5, 2), out_size(9, 5, 2)) == (4, 4, 5)


def test_depthwise_separable_groups():
    r = rows(one_block((16, 8, 8), DepthwiseSeparable(32)))
    dw, pw = r["stage1.block1.conv_dw"], r["stage1.block1.conv_pw"]
    # depthwise: groups = D1, so each filter sees one channel: F*F*1*D1 weights
    assert dw.out_shape == (16, 8, 8)
    assert dw.params == 3 * 3 * 1 * 16 + 2 * 16 == 176
    assert dw.macs == 8 * 8 * 16 * 3 * 3 + 2 * 16 * 64
    assert pw.out_shape == (32, 8, 8)
    assert pw.params == 16 * 32 + 2 * 32 == 576
    assert pw.macs == 8 * 8 * 32 * 16 + 2 * 32 * 64
    r = rows(one_block((16, 9, 9), DepthwiseSeparable(8, kernel=5, stride=2)))
    assert r["stage1.block1.conv_dw"].out_shape == (16, 5, 5)
    assert r["stage1.block1.conv_dw"].params == 25 * 16 + 32


def test_inverted_residual_by_hand():
    r = rows(one_block((16, 8, 8), InvertedResidual(24, stride=2, expansion=6, se_ratio=0.25)))
    hidden, sq = 96, 4  # 16 * 6; max(1, int(16 * 0.25))
    assert r["stage1.block1.conv_pw"].params == 16 * hidden + 2 * hidden
    assert r["stage1.block1.conv_pw"].out_shape == (hidden, 8, 8)
    assert r["stage1.block1.conv_dw"].params == 9 * hidden + 2 * hidden
    assert r["stage1.block1.conv_dw"].out_shape == (hidden, 4, 4)
    assert r["stage1.block1.conv_dw"].macs == 4 * 4 * hidden * 9 + 2 * hidden * 16
    assert r["stage1.block1.se"].params == hidden * sq + sq + sq * hidden + hidden
    assert r["stage1.block1.se"].macs == hidden * 4 * 4 + 2 * hidden * sq
    assert r["stage1.block1.conv_pwl"].params == hidden * 24 + 2 * 24
    assert r["stage1.block1.conv_pwl"].out_shape == (24, 4, 4)
    r1 = rows(one_block((16, 8, 8), InvertedResidual(16, expansion=1)))
    assert "stage1.block1.conv_pw" not in r1  # expansion 1: no expansion conv
    assert r1["stage1.block1.conv_dw"].params == 9 * 16 + 32
    # the width rules live on the block configs (torchvision's adjust_channels)
    assert InvertedResidual(8, expansion=6.0).hidden_channels(16) == 96
    assert InvertedResidual(8, expansion=1.25).hidden_channels(10) == 12
    assert InvertedResidual(8, se_ratio=0.25).se_channels(16) == 4 and DepthwiseSeparable(8, se_ratio=0.1).se_channels(3) == 1
    assert ResidualBlock(16, se_ratio=0.25).se_channels() == 4 and ResidualBlock(3, se_ratio=0.1).se_channels() == 1


def test_residual_block_by_hand():
    r = rows(one_block((8, 8, 8), ResidualBlock(16, stride=2)))
    assert r["stage1.block1.conv1"].params == 9 * 8 * 16 + 32
    assert r["stage1.block1.conv1"].out_shape == (16, 4, 4)
    assert r["stage1.block1.conv2"].params == 9 * 16 * 16 + 32
    assert r["stage1.block1.shortcut"].params == 8 * 16 + 32
    assert r["stage1.block1.shortcut"].out_shape == (16, 4, 4)
    assert r["stage1.block1.shortcut"].macs == 4 * 4 * 16 * 8 + 2 * 16 * 16
    r = rows(one_block((8, 8, 8), ResidualBlock(8, n_convs=3, se_ratio=0.5)))
    assert "stage1.block1.shortcut" not in r
    assert {"stage1.block1.conv1", "stage1.block1.conv2", "stage1.block1.conv3", "stage1.block1.se"} <= set(r)
    assert r["stage1.block1.se"].params == 8 * 4 + 4 + 4 * 8 + 8
    assert "stage1.block1.shortcut" in rows(one_block((8, 8, 8), ResidualBlock(16)))
    assert "stage1.block1.shortcut" in rows(one_block((8, 8, 8), ResidualBlock(8, stride=2)))


def test_inception_by_hand():
    a = one_block((8, 4, 4), Inception(2, 3, 4, 1, 5, 6, k5=5))
    r = rows(a)
    p = "stage1.block1."
    assert r[p + "branch1"].params == 8 * 2 + 4
    assert r[p + "branch3.reduce"].params == 8 * 3 + 6
    assert r[p + "branch3.conv"].params == 9 * 3 * 4 + 8
    assert r[p + "branch5.reduce"].params == 8 * 1 + 2
    assert r[p + "branch5.conv"].params == 25 * 1 * 5 + 10
    assert r[p + "branch_pool.proj"].params == 8 * 6 + 12
    assert analyze(a).body_shape == (2 + 4 + 5 + 6, 4, 4)


def test_flatten_head_features_are_c_h_w():
    a = Architecture((1, 28, 28), 10, (Stage((ConvBlock(4),), Pool("max", 2, 2)),), head=Head("flatten", (FC(32),)))
    an = analyze(a)
    r = rows(a)
    c, h, w = an.body_shape
    assert (c, h, w) == (4, 14, 14)
    assert r["head.flatten"].out_shape[0] == c * h * w == 784
    assert r["head.fc1"].params == 784 * 32 + 32 and r["head.fc1"].macs == 784 * 32
    assert r["head.classifier"].params == 32 * 10 + 10
    assert build_model(a).head.fc1.linear.in_features == 784
    gap = analyze(Architecture((1, 28, 28), 10, (Stage((ConvBlock(4),), Pool("max", 2, 2)),)))
    assert {r.name: r for r in gap.layers}["head.classifier"].params == 4 * 10 + 10
    assert {r.name: r for r in gap.layers}["head.pool"].macs == 4 * 14 * 14


def test_resize_rows():
    a = Architecture((1, 28, 28), 10, (Stage((ConvBlock(4),)),), resolution=24)
    an = analyze(a)
    first = an.layers[0]
    assert needs_resize(a)
    assert first.name == "resize" and first.out_shape == (1, 24, 24)
    assert first.params == 0 and first.macs == 4 * 1 * 24 * 24  # bilinear: 4 per output element
    assert rows(a)["stage1.block1"].out_shape == (4, 24, 24)
    up = analyze(Architecture((3, 8, 8), 2, (), resolution=16))
    assert up.layers[0].out_shape == (3, 16, 16) and up.body_shape == (3, 16, 16)
    same = Architecture((1, 28, 28), 10, (Stage((ConvBlock(4),)),), resolution=28)
    assert not needs_resize(same) and "resize" not in rows(same)
    assert analyze(same).macs == analyze(Architecture((1, 28, 28), 10, (Stage((ConvBlock(4),)),))).macs
    rect = Architecture((1, 28, 20), 10, (), resolution=20)
    assert needs_resize(rect) and rows(rect)["resize"].out_shape == (1, 20, 20)


def test_analysis_to_dict_is_json():
    an = analyze(CATALOGUE["every_block"])
    d = json.loads(json.dumps(an.to_dict()))
    assert d["params"] == an.params and d["macs"] == an.macs and d["flops"] == 2 * an.macs
    assert [row["name"] for row in d["layers"]] == [r.name for r in an.layers]
    assert sum(row["params"] for row in d["layers"]) == an.params
    assert sum(row["macs"] for row in d["layers"]) == an.macs


# --------------------------------------------------------------------------- against PyTorch and fvcore


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_rows_match_the_built_modules(name):
    arch = CATALOGUE[name]
    an = analyze(arch)
    names = [r.name for r in an.layers]
    assert len(names) == len(set(names))
    model = build_model(arch, seed=0).eval()
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}

    def hook(path):
        def fn(module, inputs, output):
            shapes[path] = tuple(output.shape[1:]) + (1,) * (4 - output.dim())

        return fn

    for r in an.layers:
        assert r.name in modules, f"{r.name} is not a module path of the built model"
        mod_params = sum(p.numel() for p in modules[r.name].parameters())
        assert r.params == mod_params, r.name
        modules[r.name].register_forward_hook(hook(r.name))
    # every parameter belongs to exactly one row: the totals agree
    assert an.params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with torch.no_grad():
        out = model(torch.randn(1, *arch.input_shape))
    assert out.shape == (1, arch.num_classes)
    for r in an.layers:
        assert shapes[r.name] == r.out_shape, r.name


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_macs_equal_fvcore_exactly(name):
    arch = CATALOGUE[name]
    model = build_model(arch, seed=0).eval()
    fca = (FlopCountAnalysis(model, torch.randn(1, *arch.input_shape))
           .unsupported_ops_warnings(False).uncalled_modules_warnings(False))
    an = analyze(arch)
    assert an.macs == fca.total()
    by_module = fca.by_module()
    for r in an.layers:
        assert r.macs == by_module[r.name], r.name


def _thop_leaf_ops(model: nn.Module, x: torch.Tensor) -> tuple[float, dict[str, float]]:
    import thop

    total, _, info = thop.profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    leaves: dict[str, float] = {}

    def walk(prefix: str, d: dict) -> None:
        for key, (ops, _params, sub) in d.items():
            if sub:
                walk(f"{prefix}{key}.", sub)
            else:
                leaves[f"{prefix}{key}"] = ops

    walk("", info)
    return total, leaves


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["every_block", "lenet"])
def test_thop_runs_and_its_conv_linear_part_agrees(name):
    arch = CATALOGUE[name]
    x = torch.randn(1, *arch.input_shape)
    fca = (FlopCountAnalysis(build_model(arch, seed=0).eval(), x)
           .unsupported_ops_warnings(False).uncalled_modules_warnings(False))
    fv = fca.by_module()
    model = build_model(arch, seed=0).eval()
    modules = dict(model.named_modules())
    total, leaves = _thop_leaf_ops(model, x)
    assert total > 0
    paths = [p for p, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert paths and all(p in leaves for p in paths)
    thop_part = sum(leaves[p] for p in paths)
    fv_part = sum(fv[p] for p in paths)
    assert thop_part == fv_part
    for p in paths:
        assert leaves[p] == fv[p], p
    assert total >= thop_part  # thop also counts BN (4 per element) and activations
    assert fv_part <= analyze(arch).macs  # the analysis adds BN, GAP, SE pools and resizes on top


# --------------------------------------------------------------------------- invalid shapes


def test_six_max_pools_on_28_vanish_at_stage5():
    # 28 -> 14 -> 7 -> 3 -> 1 -> 0: the fifth 2x2/2 pool has nothing left to pool
    arch = Architecture((1, 28, 28), 10, tuple(Stage((ConvBlock(4),), Pool("max", 2, 2)) for _ in range(6)))
    with pytest.raises(ShapeError, match=r"stage5\.pool") as info:
        analyze(arch)
    assert isinstance(info.value, ValueError) and isinstance(info.value, NasboxError)
    assert "stage6" not in str(info.value)
    with pytest.raises(ShapeError, match=r"stage5\.pool"):
        build_model(arch)
    four = Architecture((1, 28, 28), 10, arch.stages[:4])
    assert analyze(four).body_shape == (4, 1, 1)
    with torch.no_grad():
        assert build_model(four).eval()(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_shape_error_names_the_layer_in_stem_and_non_square_inputs():
    with pytest.raises(ShapeError, match=r"stem\.pool"):
        analyze(Architecture((1, 1, 1), 2, (), stem=Stage((ConvBlock(4),), Pool("max", 2, 2))))
    # width 4 -> 2 -> 1 -> 0 while the height is still fine
    with pytest.raises(ShapeError, match=r"stage3\.pool"):
        analyze(Architecture((1, 28, 4), 2, tuple(Stage(pool=Pool("avg", 2, 2)) for _ in range(3))))
    # a resize to a small resolution makes the map vanish sooner
    with pytest.raises(ShapeError, match=r"stage2\.pool"):
        analyze(Architecture((1, 28, 28), 2, (Stage(pool=Pool()), Stage(pool=Pool())), resolution=2))


def test_stride_two_conv_on_1x1_keeps_1x1_like_pytorch():
    """With padding (F-1)/2 a strided conv never shrinks a map below 1x1 (W2 = (W1-1)//S + 1 >= 1):
    the analysis must agree with PyTorch here, not reject the candidate."""
    arch = Architecture((4, 1, 1), 3, (Stage((ConvBlock(8, stride=2), ResidualBlock(8, stride=2),
                                              DepthwiseSeparable(8, stride=2), InvertedResidual(8, stride=2))),))
    an = analyze(arch)
    assert an.body_shape == (8, 1, 1)
    assert all(r.out_shape[1:] == (1, 1) for r in an.layers)
    with torch.no_grad():
        assert build_model(arch).eval()(torch.randn(1, 4, 1, 1)).shape == (1, 3)
    for h in range(1, 12):
        for f in (1, 3, 5, 7):
            for s in (1, 2, 3):
                assert conv_out(h, f, s) >= 1
