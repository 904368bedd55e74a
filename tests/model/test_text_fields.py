"""Text fields of block kinds (``texts``): ``str`` values with a token, free text of a safe alphabet.

A kind whose genotype holds text (a DARTS cell, ``sep3~0-skip~1-…``) names its prefix in ``texts``;
the value is written after it and read back by the prefix. Values must keep clear of the encoding's
separators, and registration refuses prefixes whose tokens could not be told apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from nasbox.model import Architecture, Stage, register_block
from nasbox.model.blocks import TEXT_ALPHABET, Block, ConvBlock
from nasbox.model.encoding import decode_block, encode_block
from nasbox.model.ops import Conv, Op


@register_block
@dataclass(frozen=True)
class Scripted(Block):
    """A probe kind: ``n`` numeric and ``nc`` text (a numeric prefix may begin a text prefix)."""

    type: ClassVar[str] = "scripted"
    tag: ClassVar[str] = "scr"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "n": "n"}
    texts: ClassVar[dict[str, str]] = {"script": "nc", "note": "t"}
    flags: ClassVar[dict[str, dict]] = {"bn": {False: "nobn"}}

    out_channels: int
    script: str
    n: int = 1
    note: str = "plain"
    bn: bool = True

    def layers(self, in_channels: int) -> Op:
        return Conv(self.out_channels, 3, bn=self.bn)


def _arch(*blocks: Block) -> Architecture:
    return Architecture((3, 8, 8), 4, (Stage(blocks),))


@pytest.mark.parametrize("script", ["a", "sep3~0-sep3~1-skip~0", "0.5", "1e-5", "--~..", "c16", "n2", "relu"])
def test_text_fields_round_trip_through_the_encoding_and_json(script):
    block = Scripted(8, script, n=3, note="x.y~z-1", bn=False)
    arch = _arch(block, Scripted(8, script), ConvBlock(8))
    text = arch.encode()
    assert Architecture.decode(text) == arch and Architecture.from_json(arch.to_json()) == arch
    token = encode_block(block.to_dict())
    assert token == f"scr_c8_nc{script}_n3_tx.y~z-1_nobn"
    assert decode_block(token) == {"type": "scripted", "out_channels": 8, "script": script, "n": 3, "note": "x.y~z-1",
                                   "bn": False}
    assert encode_block(Scripted(8, script).to_dict()) == f"scr_c8_nc{script}"  # the default note is left out


@pytest.mark.parametrize("bad", ["a_b", "a,b", "a*2", "a+max2", "a|b", "a b", "", "Sep3", "é", "a:b"])
def test_a_value_with_a_forbidden_character_is_refused(bad):
    with pytest.raises(ValueError, match=rf"script must be text of the characters \[{TEXT_ALPHABET}\]"):
        Scripted(8, bad)
    with pytest.raises(ValueError, match="script must be text"):
        encode_block({"type": "scripted", "out_channels": 8, "script": bad})


def test_a_value_that_is_no_str_is_refused():
    with pytest.raises(ValueError, match="script must be text"):
        Scripted(8, 3)  # type: ignore[arg-type]


def test_a_value_reading_as_a_flag_or_an_activation_is_refused():
    act = _kind("Actclash", texts={"mode": "re"})
    with pytest.raises(ValueError, match="would read as the token 'relu'"):
        act(mode="lu")
    assert act(mode="lax").mode == "lax"
    flag = _kind("Flagclash", fields=(("mode", str), ("bn", bool, dataclasses.field(default=True))),
                 texts={"mode": "no"}, flags={"bn": {False: "nobn"}})
    with pytest.raises(ValueError, match="would read as the token 'nobn'"):
        flag(mode="bn")
    assert decode_block(encode_block(flag(mode="bnx", bn=False).to_dict())) == {"type": "flagclash", "mode": "bnx",
                                                                                 "bn": False}


def test_decoding_refuses_a_bare_prefix_and_bad_text():
    with pytest.raises(ValueError, match="bad token 'nc'"):
        decode_block("scr_c8_nc")
    with pytest.raises(ValueError, match="script must be text"):
        Architecture.decode("i3x8x8n4 | scr_c8_ncA | gap")
    with pytest.raises(ValueError, match="given twice"):
        decode_block("scr_c8_nca_ncb")


def _kind(name: str, *, fields=(("mode", str),), **namespace):
    ns = {"type": name.lower(), "tag": "t" + name.lower(), "tokens": {}, **namespace}
    return register_block(dataclasses.make_dataclass(name, list(fields), bases=(Block,), frozen=True, namespace=ns))


@pytest.mark.parametrize(("make", "match"), [
    (lambda: _kind("Typed", fields=(("mode", int),), texts={"mode": "m"}), "text token \\(texts\\) must be a str"),
    (lambda: _kind("Optional", fields=(("mode", str | None),), texts={"mode": "m"}), "must be a str"),
    (lambda: _kind("Both", tokens={"mode": "m"}, texts={"mode": "m"}), "both tokens and texts"),
    (lambda: _kind("Nowhere", texts={"mode": "m", "other": "o"}), "texts names no field \\['other'\\]"),
    (lambda: _kind("Begins", fields=(("mode", str), ("count", int)), tokens={"count": "mc"}, texts={"mode": "m"}),
     "text prefix 'm' begins the prefix 'mc'"),
    (lambda: _kind("Texts", fields=(("a", str), ("b", str)), texts={"a": "x", "b": "xy"}), "begins the prefix 'xy'"),
    (lambda: _kind("Same", fields=(("a", str), ("b", int)), tokens={"b": "x"}, texts={"a": "x"}), "distinct"),
    (lambda: _kind("Upper", texts={"mode": "M"}), "distinct lower-case"),
    (lambda: _kind("Untokened"), "needs a token \\(tokens, texts\\) or flags"),
])
def test_registering_a_malformed_text_field_says_what_is_wrong(make, match):
    with pytest.raises(ValueError, match=match):
        make()
