"""The compact string encoding of architectures (timm's block strings are the model).

``i1x28x28n10 | stem:cn_c16 | cn_c32*2+max2 | rb_c64_s2 | ir_c24_k5_s2_se0.25_hswish+min3s2 | gap_fc512-d0.5_d0.2``

Sections are separated by `` | ``: the input (``i<C>x<H>x<W>n<classes>``, ``r<R>`` appended
for a resolution), the stem (only when present, prefixed ``stem:``), one section per stage,
and the head. A stage lists its blocks separated by ``,``; repeated identical blocks are
written once with ``*n``; ``+max2`` is a 2x2/2 max-pool (``+max3s2``: kernel 3, stride 2).
A block is its tag (``cn`` conv, ``rb`` residual, ``ds`` depthwise separable, ``ir``
inverted residual, ``inc`` inception), then the fields that differ from their defaults,
the activation if not the default (``linear`` for none) and ``nobn``/``bias``/``nobias``
flags. The head is ``gap`` or ``flatten``, hidden FCs ``fc<width>[-<act>][-d<dropout>]``,
then the classifier's dropout ``d<p>``. Floats are written positionally (never with an
exponent, whose sign would clash with the separators). ``decode(encode(a)) == a``.
"""

from __future__ import annotations

import re
from dataclasses import fields
from decimal import Decimal
from typing import Any

from nasbox.arch import BLOCK_TYPES, FC, Architecture, Block, ConvBlock, Head, Pool, Stage

__all__ = ["decode_architecture", "decode_block", "encode_architecture", "encode_block"]



def _fmt(x: float) -> str:
    """Shortest exact positional text of a float (``repr``'s digits, never an exponent,
    whose ``-``/``+`` would clash with the encoding's separators), no trailing ``.0``."""
    text = format(Decimal(repr(float(x))), "f")
    return text[:-2] if text.endswith(".0") else text


def encode_architecture(arch: Architecture) -> str:
    """The encoding of ``arch`` (see the module docstring)."""
    c, h, w = arch.input_shape
    parts = [f"i{c}x{h}x{w}n{arch.num_classes}" + (f"r{arch.resolution}" if arch.resolution else "")]
    if arch.stem.blocks or arch.stem.pool is not None:
        parts.append("stem:" + _encode_stage(arch.stem))
    parts.extend(_encode_stage(s) for s in arch.stages)
    parts.append(_encode_head(arch.head))
    return " | ".join(parts)


def decode_architecture(text: str) -> Architecture:
    """The architecture of an encoding; ``ValueError`` naming what is malformed."""
    if not isinstance(text, str):
        raise ValueError(f"an encoded architecture is a string, got {type(text).__name__}")
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2:
        raise ValueError(f"an encoded architecture has an input and a head section, got {text!r}")
    m = re.fullmatch(r"i(\d+)x(\d+)x(\d+)n(\d+)(?:r(\d+))?", parts[0])
    if not m:
        raise ValueError(f"bad input section {parts[0]!r}; expected e.g. 'i3x32x32n10'")
    c, h, w, n, r = m.groups()
    body = parts[1:-1]
    stem = Stage()
    if body and body[0].startswith("stem:"):
        stem = _decode_stage(body[0][len("stem:"):])
        body = body[1:]
    return Architecture(
        input_shape=(int(c), int(h), int(w)),
        num_classes=int(n),
        resolution=int(r) if r else None,
        stem=stem,
        stages=tuple(_decode_stage(s) for s in body),
        head=_decode_head(parts[-1]),
    )


# field -> (token prefix, default). Tokens are "<prefix><value>", joined by "_" after the tag.
_FIELD_TOKENS: dict[str, str] = {
    "kernel": "k",
    "stride": "s",
    "expansion": "e",
    "out_channels": "c",
    "n_convs": "n",
    "se_ratio": "se",
    "b1": "a",
    "b3_reduce": "br",
    "b3": "b",
    "b5_reduce": "cr",
    "b5": "cc",
    "pool_proj": "p",
    "k5": "kc",
}
_TOKEN_FIELDS = {v: k for k, v in _FIELD_TOKENS.items()}
_OMIT_DEFAULT = frozenset({"kernel", "stride", "n_convs", "se_ratio", "k5", "expansion"})
# activation short names in encodings (no "_", which separates tokens)
_ACT_SHORT = {"relu": "relu", "relu6": "relu6", "silu": "silu", "hardswish": "hswish", "gelu": "gelu", "leaky_relu": "lrelu"}
_SHORT_ACT = {v: k for k, v in _ACT_SHORT.items()}


def encode_block(b: Block) -> str:
    """timm-style block string, e.g. ``ir_k3_s2_e6_c24_se0.25_relu6``.

    Tag (``cn`` conv, ``rb`` residual, ``ds`` depthwise separable, ``ir`` inverted
    residual, ``inc`` inception), then the fields that differ from their defaults, then
    the activation (``linear`` for none), ``nobn`` for a conv without BatchNorm and
    ``bias``/``nobias`` where a conv's bias differs from the automatic choice.
    """
    tokens = [b.tag]
    for f in fields(b):
        name = f.name
        if name in ("act", "bn", "bias"):
            continue
        value = getattr(b, name)
        if name in _OMIT_DEFAULT and value == f.default:
            continue
        text = _fmt(value) if isinstance(value, float) else str(value)
        tokens.append(_FIELD_TOKENS[name] + text)
    act = b.act
    default_act = next(f.default for f in fields(b) if f.name == "act")
    if act != default_act:
        tokens.append("linear" if act is None else _ACT_SHORT[act])
    if isinstance(b, ConvBlock) and not b.bn:
        tokens.append("nobn")
    if isinstance(b, ConvBlock) and b.bias is not None:
        tokens.append("bias" if b.bias else "nobias")
    return "_".join(tokens)


def decode_block(token: str) -> Block:
    tag, *rest = token.split("_")
    cls = next((c for c in BLOCK_TYPES.values() if c.tag == tag), None)
    if cls is None:
        raise ValueError(f"unknown block tag {tag!r} in {token!r}")
    kwargs: dict[str, Any] = {}
    for tok in rest:
        if tok in _SHORT_ACT:
            kwargs["act"] = _SHORT_ACT[tok]
        elif tok == "linear":
            kwargs["act"] = None
        elif tok == "nobn":
            kwargs["bn"] = False
        elif tok in ("bias", "nobias"):
            kwargs["bias"] = tok == "bias"
        else:
            m = re.fullmatch(r"([a-z]+)([0-9.]+(?:e-?\d+)?)", tok)
            if not m or m.group(1) not in _TOKEN_FIELDS:
                raise ValueError(f"bad token {tok!r} in block {token!r}")
            name = _TOKEN_FIELDS[m.group(1)]
            value = m.group(2)
            if name in kwargs:
                raise ValueError(f"field {name!r} given twice in block {token!r}")
            kwargs[name] = float(value) if name in ("se_ratio", "expansion") else int(value)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad block {token!r}: {exc}") from None


def _encode_stage(s: Stage) -> str:
    tokens = [encode_block(b) for b in s.blocks]
    runs: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j] == tokens[i]:
            j += 1
        runs.append(tokens[i] + (f"*{j - i}" if j - i > 1 else ""))
        i = j
    text = ",".join(runs) if runs else "-"
    if s.pool is not None:
        p = s.pool
        text += f"+{p.kind}{p.kernel}" + (f"s{p.stride}" if p.stride != p.kernel else "")
    return text


def _decode_stage(text: str) -> Stage:
    text = text.strip()
    pool = None
    if "+" in text:
        text, pool_text = text.split("+", 1)
        m = re.fullmatch(r"(max|avg|min)(\d+)(?:s(\d+))?", pool_text)
        if not m:
            raise ValueError(f"bad pool {pool_text!r}; expected e.g. 'max2' or 'avg3s2'")
        k = int(m.group(2))
        pool = Pool(m.group(1), k, int(m.group(3)) if m.group(3) else k)
    blocks: list[Block] = []
    if text and text != "-":
        for run in text.split(","):
            token, _, count = run.partition("*")
            if count and (not count.isdigit() or int(count) < 1):
                raise ValueError(f"bad repeat count {count!r} in {run!r}; expected a positive integer")
            blocks.extend([decode_block(token)] * (int(count) if count else 1))
    return Stage(tuple(blocks), pool)


def _encode_head(h: Head) -> str:
    tokens = [h.pool]
    for f in h.fc:
        tok = f"fc{f.width}"
        if f.act != "relu":
            tok += f"-{_ACT_SHORT[f.act]}"
        if f.dropout:
            tok += f"-d{_fmt(f.dropout)}"
        tokens.append(tok)
    if h.dropout:
        tokens.append(f"d{_fmt(h.dropout)}")
    return "_".join(tokens)


def _decode_head(text: str) -> Head:
    pool, *rest = text.split("_")
    fcs: list[FC] = []
    dropout = 0.0
    for tok in rest:
        if tok.startswith("fc"):
            width, *opts = tok[2:].split("-")
            act, drop = "relu", 0.0
            for o in opts:
                if o.startswith("d") and re.fullmatch(r"d[0-9.e-]+", o):
                    drop = float(o[1:])
                elif o in _SHORT_ACT:
                    act = _SHORT_ACT[o]
                else:
                    raise ValueError(f"bad FC option {o!r} in {tok!r}")
            fcs.append(FC(int(width), act, drop))
        elif tok.startswith("d"):
            dropout = float(tok[1:])
        else:
            raise ValueError(f"bad head token {tok!r} in {text!r}")
    return Head(pool, tuple(fcs), dropout)
