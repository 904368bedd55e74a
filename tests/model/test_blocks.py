"""Tests of nasbox.model.blocks: each kind's checks (ValueError naming the field), normalised values, JSON of a
block, the registry."""

from __future__ import annotations

import dataclasses

import pytest

from nasbox.model.arch import ACTIVATIONS, FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock, block_from_dict
from tests.model.support import BLOCK_CLASSES, every_block_arch

INVALID = [
    # (factory, field name that the message must contain)
    (lambda: ConvBlock(16, kernel=2), "kernel"),
    (lambda: ConvBlock(16, kernel=4), "kernel"),
    (lambda: ConvBlock(16, kernel=0), "kernel"),
    (lambda: ConvBlock(16, kernel=-3), "kernel"),
    (lambda: ConvBlock(16, kernel=3.0), "kernel"),
    (lambda: ConvBlock(16, kernel=True), "kernel"),
    (lambda: ConvBlock(16, stride=0), "stride"),
    (lambda: ConvBlock(16, stride=True), "stride"),
    (lambda: ConvBlock(0), "out_channels"),
    (lambda: ConvBlock(True), "out_channels"),
    (lambda: ConvBlock(16.0), "out_channels"),
    (lambda: ConvBlock(16, act="tanh"), "act"),
    (lambda: ConvBlock(16, act="ReLU"), "act"),
    (lambda: ConvBlock(16, bn=1), "bn"),
    (lambda: ConvBlock(16, bn=None), "bn"),
    (lambda: ConvBlock(16, bias=1), "bias"),
    (lambda: ResidualBlock(16, kernel=6), "kernel"),
    (lambda: ResidualBlock(16, stride=0), "stride"),
    (lambda: ResidualBlock(16, n_convs=0), "n_convs"),
    (lambda: ResidualBlock(16, n_convs=True), "n_convs"),
    (lambda: ResidualBlock(16, se_ratio=-0.1), "se_ratio"),
    (lambda: ResidualBlock(16, se_ratio=1.5), "se_ratio"),
    (lambda: ResidualBlock(16, se_ratio=True), "se_ratio"),
    (lambda: ResidualBlock(16, se_ratio="0.25"), "se_ratio"),
    (lambda: ResidualBlock(16, act=None), "act"),
    (lambda: ResidualBlock(16, act="swish"), "act"),
    (lambda: ResidualBlock(False), "out_channels"),
    (lambda: DepthwiseSeparable(16, kernel=0), "kernel"),
    (lambda: DepthwiseSeparable(16, kernel=8), "kernel"),
    (lambda: DepthwiseSeparable(16, stride=0), "stride"),
    (lambda: DepthwiseSeparable(16, se_ratio=2), "se_ratio"),
    (lambda: DepthwiseSeparable(16, act="mish"), "act"),
    (lambda: DepthwiseSeparable(True), "out_channels"),
    (lambda: InvertedResidual(16, expansion=0.5), "expansion"),
    (lambda: InvertedResidual(16, expansion=0), "expansion"),
    (lambda: InvertedResidual(16, expansion=True), "expansion"),
    (lambda: InvertedResidual(16, expansion="6"), "expansion"),
    (lambda: InvertedResidual(16, se_ratio=1.01), "se_ratio"),
    (lambda: InvertedResidual(16, se_ratio=-1e-9), "se_ratio"),
    (lambda: InvertedResidual(16, kernel=2), "kernel"),
    (lambda: InvertedResidual(16, stride=0), "stride"),
    (lambda: InvertedResidual(16, act="elu"), "act"),
    (lambda: InvertedResidual(16, act=None), "act"),
    (lambda: Inception(0, 8, 8, 8, 8, 8), "b1"),
    (lambda: Inception(8, True, 8, 8, 8, 8), "b3_reduce"),
    (lambda: Inception(8, 8, 2.5, 8, 8, 8), "b3"),
    (lambda: Inception(8, 8, 8, -1, 8, 8), "b5_reduce"),
    (lambda: Inception(8, 8, 8, 8, 0, 8), "b5"),
    (lambda: Inception(8, 8, 8, 8, 8, True), "pool_proj"),
    (lambda: Inception(8, 8, 8, 8, 8, 8, k5=4), "k5"),
    (lambda: Inception(8, 8, 8, 8, 8, 8, act="sigmoid"), "act"),
    (lambda: Pool("median"), "kind"),
    (lambda: Pool("max", 0), "kernel"),
    (lambda: Pool("max", 2, 0), "stride"),
    (lambda: Pool("max", True), "kernel"),
    (lambda: Pool("avg", 2, True), "stride"),
    (lambda: FC(0), "width"),
    (lambda: FC(True), "width"),
    (lambda: FC(64, act="tanh"), "act"),
    (lambda: FC(64, act=None), "act"),
    (lambda: FC(64, dropout=1.0), "dropout"),
    (lambda: FC(64, dropout=-0.1), "dropout"),
    (lambda: FC(64, dropout=True), "dropout"),
    (lambda: Head(pool="max"), "pool"),
    (lambda: Head(dropout=1.0), "dropout"),
    (lambda: Head(fc=({"width": 8},)), "fc"),
    (lambda: Stage(("conv",)), "block"),
    (lambda: Stage((ConvBlock(8),), pool="max"), "pool"),
    (lambda: Architecture((1, 28), 10, ()), "input_shape"),
    (lambda: Architecture((1, 28, 28, 1), 10, ()), "input_shape"),
    (lambda: Architecture((0, 28, 28), 10, ()), "channels"),
    (lambda: Architecture((1, 28.0, 28), 10, ()), "height"),
    (lambda: Architecture((1, 28, True), 10, ()), "width"),
    (lambda: Architecture((1, 28, 28), 0, ()), "num_classes"),
    (lambda: Architecture((1, 28, 28), True, ()), "num_classes"),
    (lambda: Architecture((1, 28, 28), 10, (), resolution=0), "resolution"),
    (lambda: Architecture((1, 28, 28), 10, (), resolution=True), "resolution"),
    (lambda: Architecture((1, 28, 28), 10, (ConvBlock(8),)), "Stage"),
    (lambda: Architecture((1, 28, 28), 10, (), stem=(ConvBlock(8),)), "stem"),
    (lambda: Architecture((1, 28, 28), 10, (), head="gap"), "head"),
]


@pytest.mark.parametrize(("factory", "field"), INVALID)
def test_invalid_values_raise_value_error_naming_the_field(factory, field):
    with pytest.raises(ValueError, match=field):
        factory()


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_listed_activation_is_accepted(act):
    assert ConvBlock(8, act=act).act == act
    assert ResidualBlock(8, act=act).act == act
    assert DepthwiseSeparable(8, act=act).act == act
    assert InvertedResidual(8, act=act).act == act
    assert Inception(1, 1, 1, 1, 1, 1, act=act).act == act
    assert FC(8, act=act).act == act
    assert "leaky_relu" in ACTIVATIONS


def test_boundary_values_are_accepted():
    assert ResidualBlock(8, se_ratio=0).se_ratio == 0.0
    assert ResidualBlock(8, se_ratio=1).se_ratio == 1.0
    assert InvertedResidual(8, expansion=1).expansion == 1.0
    assert ConvBlock(8, kernel=1, stride=1).kernel == 1
    assert FC(8, dropout=0).dropout == 0.0
    assert Head(dropout=0.999).dropout == 0.999
    assert Pool("max", 2, 2).kernel == 2  # even pool kernels are fine (2x2/2)
    assert Architecture((1, 1, 1), 1, ()).input_shape == (1, 1, 1)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_expansion_is_rejected(value):
    with pytest.raises(ValueError, match="expansion"):
        InvertedResidual(16, expansion=value)


def test_normalised_types():
    a = Architecture([1, 28, 28], 10, [Stage([ConvBlock(8)])], head=Head(fc=[FC(8)]))
    assert isinstance(a.input_shape, tuple) and isinstance(a.stages, tuple)
    assert isinstance(a.stages[0].blocks, tuple) and isinstance(a.head.fc, tuple)
    assert isinstance(InvertedResidual(8, expansion=6).expansion, float)
    assert isinstance(ResidualBlock(8, se_ratio=0).se_ratio, float)
    assert isinstance(FC(8, dropout=0).dropout, float)
    assert isinstance(Head(dropout=0).dropout, float)


def test_block_from_dict():
    for cls in BLOCK_CLASSES:
        blocks = [b for _, s in every_block_arch().named_stages() for b in s.blocks if type(b) is cls]
        for b in blocks:
            d = {"type": cls.type, **dataclasses.asdict(b)}
            assert block_from_dict(d) == b
    with pytest.raises(ValueError, match="type"):
        block_from_dict({"out_channels": 8})
    with pytest.raises(ValueError, match="unknown"):
        block_from_dict({"type": "conv", "out_channels": 8, "depth": 2})


def test_block_from_dict_missing_field_is_a_value_error():
    with pytest.raises(ValueError, match="out_channels"):
        block_from_dict({"type": "conv", "kernel": 3})


# --------------------------------------------------------------------------- the registry


def test_the_built_in_kinds_are_registered_under_their_types_and_tags():
    from nasbox.model.blocks import block_kind, block_kinds, kind_for_tag

    assert set(BLOCK_CLASSES) <= set(block_kinds())
    for cls in BLOCK_CLASSES:
        assert block_kind(cls.type) is cls and kind_for_tag(cls.tag) is cls
    with pytest.raises(ValueError, match="unknown block type 'nope'.*conv"):
        block_kind("nope")


def _kind(name: str = "Probe", *, fields=(("out_channels", int),), **namespace):
    import dataclasses

    from nasbox.model.blocks import Block

    ns = {"type": "probe", "tag": "pb", "tokens": {"out_channels": "c"}, **namespace}
    return dataclasses.make_dataclass(name, list(fields), bases=(Block,), frozen=True, namespace=ns)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: type("Undecorated", (_kind(),), {"type": "undecorated", "tag": "ud"}), "frozen dataclass itself"),
    (lambda: _kind(type="Bad Type"), "type of lower-case"),
    (lambda: _kind(tag="relu"), "no activation"),
    (lambda: _kind(tag="cn"), "tag 'cn' is taken"),
    (lambda: _kind(type="conv", tag="pbx"), "type 'conv' is taken"),
    (lambda: _kind(tokens={}), "needs a token"),
    (lambda: _kind(fields=(("out_channels", int), ("mode", str)), tokens={"out_channels": "c", "mode": "m"}),
     "must be an int or a float"),
    (lambda: _kind(fields=(("a", int), ("b", int)), tokens={"a": "c", "b": "c"}), "distinct"),
])
def test_registering_a_malformed_kind_says_what_is_wrong(make, match):
    from nasbox.model.blocks import register_block

    with pytest.raises(ValueError, match=match):
        register_block(make())


def test_a_kind_without_layers_says_so():
    from nasbox.model.ops import Walker

    probe = _kind("NoLayers", type="nolayers", tag="nl")
    with pytest.raises(NotImplementedError, match="neither layers"):
        probe(4).analyze(Walker(), "b", (3, 8, 8))
