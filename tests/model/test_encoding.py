"""Tests of nasbox.model.encoding: readable block strings, exact round trips, malformed strings refused."""

from __future__ import annotations

import pytest

from nasbox.model.arch import FC, Architecture, Head, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, InvertedResidual, ResidualBlock
from tests.model.support import every_block_arch


def test_encoding_is_readable():
    a = every_block_arch()
    text = a.encode()
    sections = text.split(" | ")
    assert sections[0] == "i3x32x32n10r40"
    assert sections[1].startswith("stem:")
    assert len(sections) == 1 + 1 + len(a.stages) + 1
    assert "+max3s2" in sections[1] and "+avg2" in sections[2] and "+min2s1" in sections[4]
    assert sections[6] == "-"  # an empty stage
    ir = InvertedResidual(24, stride=2, se_ratio=0.25)
    two = Architecture((3, 8, 8), 2, (Stage((ir, ir, ConvBlock(8))),)).encode()
    stage = two.split(" | ")[1]
    token, rest = stage.split("*2")
    assert token.split("_")[0] == "ir"
    assert {"c24", "s2", "se0.25"} <= set(token.split("_"))
    assert rest.startswith(",cn")


@pytest.mark.parametrize("tiny", [1e-5, 1.5e-7, 0.1 + 0.2, 1 / 3])
def test_ratios_with_long_or_exponent_reprs_round_trip(tiny):
    """repr(1e-05) has an exponent whose '-' once collided with the head's '-' separator."""
    a = Architecture(
        (1, 8, 8), 3,
        (Stage((ResidualBlock(4, se_ratio=tiny), InvertedResidual(4, expansion=1 + tiny, se_ratio=tiny),
                DepthwiseSeparable(4, se_ratio=tiny))),),
        head=Head(fc=(FC(8, dropout=tiny), FC(4, act="leaky_relu", dropout=tiny)), dropout=tiny),
    )
    text = a.encode()
    assert Architecture.decode(text) == a
    assert "+" not in text  # '+' introduces a pool


GARBAGE = [
    "",
    "garbage",
    "i1x28x28 | gap",
    "x1x28x28n10 | gap",
    "i1x28x28n10 | zz_c3 | gap",
    "i1x28x28n10 | cn | gap",
    "i1x28x28n10 | cn_c16_q5 | gap",
    "i1x28x28n10 | cn_k4_c16 | gap",
    "i1x28x28n10 | cn_c16_k3.5 | gap",
    "i1x28x28n10 | cn_c16*x | gap",
    "i1x28x28n10 | cn_c16+median2 | gap",
    "i1x28x28n10 | cn_c16+max | gap",
    "i1x28x28n10 | cn_c16 | maxpool",
    "i1x28x28n10 | cn_c16 | gap_fcx",
    "i1x28x28n10 | cn_c16 | gap_fc",
    "i1x28x28n10 | cn_c16 | gap_fc32-tanh",
    "i1x28x28n10 | cn_c16 | gap_d1.5",
    "i1x28x28n10 | cn_c16 | gap_zz",
    "i1x28x28n10 | inc_a8 | gap",
    "i1x28x28n10 | ir_c16_e0.5 | gap",
    "i1x28x28n10 | rb_c16_nobn | gap",
    "i1x28x28n10 | ds_c16_se2 | gap",
    "i0x28x28n10 | gap",
    "i1x28x28n0 | gap",
    "i1x28x28n10r0 | gap",
]


@pytest.mark.parametrize("text", GARBAGE)
def test_decode_rejects_garbage(text):
    with pytest.raises(ValueError):
        Architecture.decode(text)


@pytest.mark.parametrize(
    "text",
    ["i1x28x28n10 | cn_c16*0 | gap", "i1x28x28n10 | cn_c16*-1 | gap", "i1x28x28n10 | cn_c16_c32 | gap"],
)
def test_decode_rejects_bad_repeat_counts_and_duplicate_tokens(text):
    with pytest.raises(ValueError):
        Architecture.decode(text)
