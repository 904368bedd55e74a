"""Tests of nasbox.model.build and nasbox.model.layers: purity, initialisation, structure and forward/backward."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import nasbox
from nasbox.errors import ShapeError
from nasbox.model import layers as B
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from nasbox.model.build import build_model
from tests.model.support import every_block_arch

pytestmark = pytest.mark.usefixtures("one_thread")


SINGLE_BLOCKS = {
    "conv": ConvBlock(8),
    "conv_linear_nobn": ConvBlock(8, kernel=5, stride=2, act=None, bn=False),
    "conv_bn_bias": ConvBlock(8, bias=True, act="leaky_relu"),
    "residual_identity": ResidualBlock(4),
    "residual_projection_se": ResidualBlock(8, stride=2, n_convs=3, se_ratio=0.25, act="silu"),
    "residual_one_conv": ResidualBlock(8, n_convs=1, kernel=1),
    "dwsep": DepthwiseSeparable(8, stride=2),
    "dwsep_se": DepthwiseSeparable(8, kernel=7, se_ratio=0.5, act="hardswish"),
    "mbconv_e1": InvertedResidual(4, expansion=1),
    "mbconv_e6_se": InvertedResidual(4, expansion=6, se_ratio=0.25, act="silu"),
    "mbconv_s2": InvertedResidual(8, stride=2, expansion=2.5, kernel=5),
    "inception": Inception(2, 2, 4, 1, 2, 2),
    "inception_k3_gelu": Inception(2, 2, 4, 1, 2, 2, k5=3, act="gelu"),
}


def one_block(block, input_shape=(4, 8, 8), num_classes=5, **kw) -> Architecture:
    return Architecture(input_shape, num_classes, (Stage((block,)),), **kw)


# --------------------------------------------------------------------------- purity and seeds


def test_same_seed_same_weights_and_structure():
    arch = every_block_arch()
    m1, m2 = build_model(arch, seed=0), build_model(arch, seed=0)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert list(s1) == list(s2)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert str(m1) == str(m2)
    assert m1.arch == arch
    s3 = nasbox.build_model(arch, seed=0).state_dict()
    assert all(torch.equal(s1[k], s3[k]) for k in s1)


def test_different_seeds_differ():
    arch = every_block_arch()
    s0, s1 = build_model(arch, seed=0).state_dict(), build_model(arch, seed=1).state_dict()
    conv_keys = [k for k in s0 if k.endswith("conv.weight")]
    assert conv_keys
    assert all(not torch.equal(s0[k], s1[k]) for k in conv_keys)


def test_seed_leaves_global_rng_untouched():
    torch.manual_seed(1234)
    expected = torch.rand(5)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    build_model(every_block_arch(), seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(5), expected)


def test_without_seed_uses_the_global_rng():
    arch = one_block(ConvBlock(8))
    torch.manual_seed(3)
    a = build_model(arch).state_dict()
    torch.manual_seed(3)
    b = build_model(arch).state_dict()
    assert torch.equal(a["stage1.block1.conv.weight"], b["stage1.block1.conv.weight"])


def test_shape_error_before_building():
    arch = Architecture((1, 4, 4), 2, tuple(Stage(pool=Pool()) for _ in range(3)))
    with pytest.raises(ShapeError, match=r"stage3\.pool"):
        build_model(arch, seed=0)


# --------------------------------------------------------------------------- initialisation


def test_kaiming_normal_fan_out_on_a_large_conv():
    # 128 -> 256 channels, 3x3: fan_out = 256 * 9 and fan_in = 128 * 9 differ by sqrt(2)
    model = build_model(one_block(ConvBlock(256, kernel=3), input_shape=(128, 4, 4)), seed=0)
    w = model.stage1.block1.conv.weight.detach()
    assert w.numel() == 256 * 128 * 9
    expected = math.sqrt(2.0 / (256 * 9))
    assert abs(w.std().item() / expected - 1) < 0.01
    assert abs(w.mean().item()) < 0.01 * expected * 10
    # a 5x5 conv narrowing 64 -> 32 channels
    model = build_model(one_block(ConvBlock(32, kernel=5, bn=False), input_shape=(64, 4, 4)), seed=0)
    conv = model.stage1.block1.conv
    assert abs(conv.weight.std().item() / math.sqrt(2.0 / (32 * 25)) - 1) < 0.02
    assert torch.count_nonzero(conv.bias) == 0


def test_bn_and_linear_init():
    model = build_model(every_block_arch(), seed=0)
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    big = one_block(ConvBlock(64), input_shape=(3, 16, 16), head=Head("flatten", (FC(64),)))
    built = build_model(big, seed=0)
    hidden, classifier = built.head.fc1.linear, built.head.classifier  # 16384 x 64 and 64 x 10 weights
    for m in [*lin, hidden, classifier]:
        assert torch.count_nonzero(m.bias) == 0
    # hidden FC layers feed a ReLU: Kaiming normal, fan-in; the classifier: N(0, 0.01) like torchvision
    assert abs(hidden.weight.std().item() - math.sqrt(2 / hidden.in_features)) < 0.05 * math.sqrt(2 / 16384)
    assert abs(classifier.weight.std().item() - 0.01) < 0.002
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.count_nonzero(m.bias) == 0, name
            assert torch.all(m.running_mean == 0) and torch.all(m.running_var == 1), name


def test_zero_init_of_the_last_bn_in_residual_blocks():
    model = build_model(every_block_arch(), seed=0)
    residuals = [m for m in model.modules() if isinstance(m, B.SeqModule) and m.zero_init_last]
    assert len(residuals) == 2
    for block in residuals:
        convs = [n for n in block.order if n.startswith("conv")]
        last = getattr(block, convs[-1])
        assert torch.count_nonzero(last.bn.weight) == 0
        for name in convs[:-1]:
            assert torch.all(getattr(block, name).bn.weight == 1)
        if block.shortcut is not None:
            assert torch.all(block.shortcut.bn.weight == 1)
    for name, m in model.named_modules():  # no other BN starts at zero
        if isinstance(m, nn.BatchNorm2d) and not any(name.startswith(p) for p in ("stage2.block1.conv2",
                                                                                    "stage2.block2.conv3")):
            assert torch.all(m.weight == 1), name


def test_fresh_residual_block_is_the_identity():
    model = build_model(one_block(ResidualBlock(4, se_ratio=0.5)), seed=0).eval()
    x = torch.rand(2, 4, 8, 8)  # non-negative: relu(x) == x
    with torch.no_grad():
        assert torch.equal(model.stage1.block1(x), x)


# --------------------------------------------------------------------------- forward / backward


@pytest.mark.parametrize("name", list(SINGLE_BLOCKS))
def test_forward_shape_for_every_block_type(name):
    arch = one_block(SINGLE_BLOCKS[name], num_classes=7)
    model = build_model(arch, seed=0)
    x = torch.randn(3, 4, 8, 8)
    out = model(x)
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (3, 7) and torch.isfinite(out).all()


def test_forward_of_the_whole_catalogue_and_eval_determinism():
    arch = every_block_arch()
    model = build_model(arch, seed=0)
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_gradients_flow_without_nans():
    arch = every_block_arch()
    model = build_model(arch, seed=0).train()
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the zero-initialised BN gammas still learn
    assert model.stage2.block1.conv2.bn.weight.grad.abs().sum() > 0


def test_channels_last_input():
    arch = every_block_arch()
    model = build_model(arch, seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model_cl = build_model(arch, seed=0).eval().to(memory_format=torch.channels_last)
        out = model_cl(x.to(memory_format=torch.channels_last))
    assert out.shape == (2, 10)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    model_cl.train()
    loss = model_cl(x.to(memory_format=torch.channels_last)).sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model_cl.parameters())


# --------------------------------------------------------------------------- pools


def _window_min(x: torch.Tensor, k: int, s: int, p: int) -> torch.Tensor:
    x = F.pad(x, (p, p, p, p), value=float("inf"))
    return x.unfold(2, k, s).unfold(3, k, s).amin(dim=(-1, -2))


@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 2), (3, 1), (5, 2)])
def test_min_pool(k, s):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 9)
    p = (k - 1) // 2
    out = B.MinPool2d(k, s, p)(x)
    assert torch.equal(out, -F.max_pool2d(-x, k, s, p))
    assert torch.equal(out, _window_min(x, k, s, p))
    assert not torch.equal(out, F.max_pool2d(x, k, s, p))
    assert (out <= F.max_pool2d(x, k, s, p)).all()


def test_pool_kinds_in_built_models():
    kinds = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d, "min": B.MinPool2d}
    x = torch.randn(1, 2, 8, 8)
    for kind, cls in kinds.items():
        model = build_model(Architecture((2, 8, 8), 3, (Stage(pool=Pool(kind, 3, 2)),)), seed=0)
        assert isinstance(model.stage1.pool, cls)
        out = model.stage1(x)
        assert out.shape == (1, 2, 4, 4)
        if kind == "min":
            assert torch.equal(out, _window_min(x, 3, 2, 1))
        if kind == "max":
            assert torch.equal(out, -_window_min(-x, 3, 2, 1))


# --------------------------------------------------------------------------- block structure


@pytest.mark.parametrize(
    ("cin", "cout", "stride", "projection"),
    [(4, 4, 1, False), (4, 8, 1, True), (4, 4, 2, True), (4, 8, 2, True)],
)
def test_residual_shortcut(cin, cout, stride, projection):
    model = build_model(one_block(ResidualBlock(cout, stride=stride), input_shape=(cin, 8, 8)), seed=0)
    names = dict(model.named_modules())
    assert ("stage1.block1.shortcut.conv" in names) == projection
    if projection:
        conv = names["stage1.block1.shortcut.conv"]
        assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
        assert (conv.in_channels, conv.out_channels) == (cin, cout)
        assert isinstance(names["stage1.block1.shortcut.bn"], nn.BatchNorm2d)
    else:
        assert model.stage1.block1.shortcut is None


@pytest.mark.parametrize(
    ("cin", "cout", "stride", "identity"),
    [(8, 8, 1, True), (8, 16, 1, False), (8, 8, 2, False), (16, 8, 1, False)],
)
def test_inverted_residual_shortcut_only_when_shape_kept(cin, cout, stride, identity):
    model = build_model(one_block(InvertedResidual(cout, stride=stride, expansion=2), input_shape=(cin, 8, 8)),
                        seed=0).eval()
    block = model.stage1.block1
    assert block.identity == identity
    with torch.no_grad():  # silence the branch: what remains is the shortcut
        block.conv_pwl.bn.weight.zero_()
        block.conv_pwl.bn.bias.zero_()
        x = torch.randn(2, cin, 8, 8)
        out = block(x)
    if identity:
        assert torch.equal(out, x)
    else:
        assert torch.count_nonzero(out) == 0


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_inverted_residual_expansion_one_has_no_expansion_conv():
    e1 = build_model(one_block(InvertedResidual(8, expansion=1), input_shape=(8, 8, 8)), seed=0).stage1.block1
    conv_pw = getattr(e1, "conv_pw", None)  # absent, or a parameter-free placeholder
    assert conv_pw is None or (_convs(conv_pw) == [] and not list(conv_pw.parameters()))
    assert len(_convs(e1)) == 2  # depthwise + linear projection
    assert e1.conv_dw.conv.groups == 8 and e1.conv_dw.conv.in_channels == 8
    e6 = build_model(one_block(InvertedResidual(8, expansion=6), input_shape=(8, 8, 8)), seed=0).stage1.block1
    assert len(_convs(e6)) == 3
    assert e6.conv_pw.conv.out_channels == 48 and e6.conv_dw.conv.groups == 48
    assert "act" not in dict(e6.conv_pwl.named_children())  # linear bottleneck


def test_depthwise_separable_structure():
    block = build_model(one_block(DepthwiseSeparable(16, stride=2, se_ratio=0.25), input_shape=(8, 8, 8)),
                        seed=0).stage1.block1
    assert block.conv_dw.conv.groups == 8 and block.conv_dw.conv.stride == (2, 2)
    assert block.conv_pw.conv.kernel_size == (1, 1) and block.conv_pw.conv.out_channels == 16
    assert isinstance(block.se, B.SqueezeExcite) and block.se.fc1.out_channels == 2


def test_inception_concatenates_the_four_branches():
    arch = one_block(Inception(2, 3, 4, 1, 5, 6, k5=5), input_shape=(8, 6, 6))
    block = build_model(arch, seed=0).eval().stage1.block1
    with torch.no_grad():
        out = block(torch.randn(1, 8, 6, 6))
    assert out.shape == (1, 2 + 4 + 5 + 6, 6, 6)
    assert block.branch5.conv.conv.kernel_size == (5, 5)
    assert isinstance(block.branch_pool.pool, nn.MaxPool2d)


@pytest.mark.parametrize(
    ("act", "cls"),
    [("relu", nn.ReLU), ("relu6", nn.ReLU6), ("silu", nn.SiLU), ("hardswish", nn.Hardswish), ("gelu", nn.GELU),
     ("leaky_relu", nn.LeakyReLU)],
)
def test_activation_modules(act, cls):
    model = build_model(one_block(ConvBlock(4, act=act), head=Head(fc=(FC(8, act=act),))), seed=0)
    assert type(model.stage1.block1.act) is cls
    assert type(model.head.fc1.act) is cls
    assert type(B.make_activation(act)) is cls


def test_no_activation_and_unknown_activation():
    model = build_model(one_block(ConvBlock(4, act=None)), seed=0)
    assert "act" not in dict(model.stage1.block1.named_children())
    assert isinstance(B.make_activation(None), nn.Identity)
    with pytest.raises(ValueError, match="tanh"):
        B.make_activation("tanh")
    with pytest.raises(ValueError, match="median"):
        B.make_pool("median", 2, 2)


@pytest.mark.parametrize(
    ("bn", "bias", "has_bias"),
    [(True, None, False), (False, None, True), (True, True, True), (False, False, False)],
)
def test_conv_bias_flags(bn, bias, has_bias):
    block = build_model(one_block(ConvBlock(4, bn=bn, bias=bias)), seed=0).stage1.block1
    assert (block.conv.bias is not None) == has_bias
    assert ("bn" in dict(block.named_children())) == bn


def test_head_modules():
    arch = one_block(ConvBlock(4), head=Head("gap", (FC(8, dropout=0.3), FC(6)), dropout=0.2))
    head = build_model(arch, seed=0).head
    assert isinstance(head.pool, nn.AdaptiveAvgPool2d)
    assert isinstance(head.fc1.dropout, nn.Dropout) and head.fc1.dropout.p == 0.3
    assert "dropout" not in dict(head.fc2.named_children())
    assert head.dropout.p == 0.2
    assert (head.classifier.in_features, head.classifier.out_features) == (6, 5)
    flat = build_model(one_block(ConvBlock(4), head=Head("flatten")), seed=0).head
    assert "pool" not in dict(flat.named_children()) and "dropout" not in dict(flat.named_children())
    assert flat.classifier.in_features == 4 * 8 * 8


def test_resize_module():
    arch = Architecture((1, 28, 28), 3, (Stage((ConvBlock(4),)),), resolution=24)
    model = build_model(arch, seed=0).eval()
    seen = []
    model.stage1.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    assert seen == [(2, 1, 24, 24)]
    assert "resize" not in dict(build_model(Architecture((1, 28, 28), 3, (), resolution=28)).named_children())
