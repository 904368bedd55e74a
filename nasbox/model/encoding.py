"""The compact string encoding of architectures (timm's block strings are the model).

``i1x28x28n10 | stem:cn_c16 | cn_c32*2+max2 | rb_c64_s2 | ir_c24_k5_s2_se0.25_hswish+min3s2 | gap_fc512-d0.5_d0.2``

Sections are separated by `` | ``: the input (``i<C>x<H>x<W>n<classes>``, ``r<R>`` appended
for a resolution), the stem (only when present, prefixed ``stem:``), one section per stage,
and the head. A stage lists its blocks separated by ``,``; repeated identical blocks are
written once with ``*n``; ``+max2`` is a 2x2/2 max-pool (``+max3s2``: kernel 3, stride 2).
A block is its kind's tag (``cn`` conv, ``rb`` residual, ``ds`` depthwise separable, ``ir``
inverted residual, ``inc`` inception, or a registered kind's own), then the fields that
differ from their defaults as ``<token><value>`` (a text field's value is free text of
``[a-z0-9.~-]``, none of the separators: a cell's genotype, ``ncsep3~0-skip~1-…``), the
activation if not the default (``linear`` for none) and the kind's flags (``nobn``,
``bias``/``nobias``). The head is
``gap`` or ``flatten``, hidden FCs ``fc<width>[-<act>][-d<dropout>]``, then the
classifier's dropout ``d<p>``. Floats are written positionally (never with an exponent,
whose sign would clash with the separators).

The encoding works on the genotype's JSON form (:meth:`Architecture.to_dict`), and knows
block kinds only through their registration (:mod:`nasbox.model.blocks.base`), so a kind
of the user's is encoded like nasbox's own. ``decode(encode(a)) == a``.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

from nasbox.model.blocks.base import ACT_TOKENS, block_kind, check_text, field_types, kind_for_tag

__all__ = ["decode_architecture", "decode_block", "encode_architecture", "encode_block"]

_TOKEN_ACTS = {v: k for k, v in ACT_TOKENS.items()}


def _fmt(x: float) -> str:
    """Shortest exact positional text of a float (``repr``'s digits, never an exponent,
    whose ``-``/``+`` would clash with the encoding's separators), no trailing ``.0``."""
    text = format(Decimal(repr(float(x))), "f")
    return text[:-2] if text.endswith(".0") else text


def encode_architecture(arch: dict[str, Any]) -> str:
    """The encoding of a genotype in its JSON form (see the module docstring)."""
    c, h, w = arch["input_shape"]
    parts = [f"i{c}x{h}x{w}n{arch['num_classes']}" + (f"r{arch['resolution']}" if arch.get("resolution") else "")]
    stem = arch.get("stem") or {"blocks": [], "pool": None}
    if stem["blocks"] or stem["pool"] is not None:
        parts.append("stem:" + _encode_stage(stem))
    parts.extend(_encode_stage(s) for s in arch["stages"])
    parts.append(_encode_head(arch["head"]))
    return " | ".join(parts)


def decode_architecture(text: str) -> dict[str, Any]:
    """The genotype JSON form of an encoding; ``ValueError`` naming what is malformed."""
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
    stem = {"blocks": [], "pool": None}
    if body and body[0].startswith("stem:"):
        stem = _decode_stage(body[0][len("stem:"):])
        body = body[1:]
    return {"input_shape": [int(c), int(h), int(w)], "num_classes": int(n), "resolution": int(r) if r else None,
            "stem": stem, "stages": [_decode_stage(s) for s in body], "head": _decode_head(parts[-1])}


def encode_block(block: dict[str, Any]) -> str:
    """timm-style block string of a block's JSON form, e.g. ``ir_k3_s2_e6_c24_se0.25_relu6``."""
    cls = block_kind(block["type"])
    tokens, extra = [cls.tag], []
    for f in dataclasses.fields(cls):
        value = block.get(f.name, f.default)
        at_default = f.default is not dataclasses.MISSING and value == f.default
        if f.name == "act":
            if not at_default:
                extra.append("linear" if value is None else ACT_TOKENS[value])
        elif f.name in cls.flags:
            if not at_default:
                extra.append(cls.flags[f.name][value])
        elif f.name in cls.texts:
            if not at_default:
                check_text(cls, f.name, value)
                tokens.append(cls.texts[f.name] + value)
        elif not at_default:
            tokens.append(cls.tokens[f.name] + (_fmt(value) if isinstance(value, float) else str(value)))
    return "_".join(tokens + extra)


def decode_block(token: str) -> dict[str, Any]:
    """The JSON form of a block string (its fields checked when the block is made)."""
    tag, *rest = token.split("_")
    cls = kind_for_tag(tag)
    types = field_types(cls)
    prefixes = {v: k for k, v in cls.tokens.items()}
    text_prefixes = {v: k for k, v in cls.texts.items()}
    flag_tokens = {tok: (name, value) for name, mapping in cls.flags.items() for value, tok in mapping.items()}
    kwargs: dict[str, Any] = {}
    for tok in rest:
        if tok in _TOKEN_ACTS:
            name, value = "act", _TOKEN_ACTS[tok]
        elif tok == "linear":
            name, value = "act", None
        elif tok in flag_tokens:
            name, value = flag_tokens[tok]
        else:
            m = re.fullmatch(r"([a-z]+)([0-9.]+(?:e-?\d+)?)", tok)
            text = next((p for p in text_prefixes if tok.startswith(p) and len(tok) > len(p)), None)
            if m and m.group(1) in prefixes:
                name = prefixes[m.group(1)]
                value = float(m.group(2)) if types[name] is float else int(m.group(2))
            elif text is not None:  # registration keeps a text prefix from beginning any other prefix
                name, value = text_prefixes[text], tok[len(text):]
            else:
                raise ValueError(f"bad token {tok!r} in block {token!r}")
        if name in kwargs:
            raise ValueError(f"field {name!r} given twice in block {token!r}")
        kwargs[name] = value
    return {"type": cls.type, **kwargs}


def _encode_stage(s: dict[str, Any]) -> str:
    tokens = [encode_block(b) for b in s["blocks"]]
    runs: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j] == tokens[i]:
            j += 1
        runs.append(tokens[i] + (f"*{j - i}" if j - i > 1 else ""))
        i = j
    text = ",".join(runs) if runs else "-"
    pool = s.get("pool")
    if pool is not None:
        text += f"+{pool['kind']}{pool['kernel']}" + (f"s{pool['stride']}" if pool["stride"] != pool["kernel"] else "")
        text += f"p{pool['padding']}" if pool.get("padding") is not None else ""
    return text


def _decode_stage(text: str) -> dict[str, Any]:
    text = text.strip()
    pool = None
    if "+" in text:
        text, pool_text = text.split("+", 1)
        m = re.fullmatch(r"(max|avg|min)(\d+)(?:s(\d+))?(?:p(\d+))?", pool_text)
        if not m:
            raise ValueError(f"bad pool {pool_text!r}; expected e.g. 'max2', 'avg3s2' or 'max3s2p0'")
        k = int(m.group(2))
        pool = {"kind": m.group(1), "kernel": k, "stride": int(m.group(3)) if m.group(3) else k}
        if m.group(4) is not None:
            pool["padding"] = int(m.group(4))
    blocks: list[dict[str, Any]] = []
    if text and text != "-":
        for run in text.split(","):
            token, _, count = run.partition("*")
            if count and (not count.isdigit() or int(count) < 1):
                raise ValueError(f"bad repeat count {count!r} in {run!r}; expected a positive integer")
            blocks.extend([decode_block(token)] * (int(count) if count else 1))
    return {"blocks": blocks, "pool": pool}


def _encode_head(h: dict[str, Any]) -> str:
    tokens = [h["pool"]]
    for f in h["fc"]:
        tok = f"fc{f['width']}"
        if f["act"] != "relu":
            tok += f"-{ACT_TOKENS[f['act']]}"
        if f["dropout"]:
            tok += f"-d{_fmt(f['dropout'])}"
        tokens.append(tok)
    if h["dropout"]:
        tokens.append(f"d{_fmt(h['dropout'])}")
    return "_".join(tokens)


def _decode_head(text: str) -> dict[str, Any]:
    pool, *rest = text.split("_")
    fcs: list[dict[str, Any]] = []
    dropout = 0.0
    for tok in rest:
        if tok.startswith("fc"):
            width, *opts = tok[2:].split("-")
            act, drop = "relu", 0.0
            for o in opts:
                if o.startswith("d") and re.fullmatch(r"d[0-9.e-]+", o):
                    drop = float(o[1:])
                elif o in _TOKEN_ACTS:
                    act = _TOKEN_ACTS[o]
                else:
                    raise ValueError(f"bad FC option {o!r} in {tok!r}")
            if not width.isdigit():
                raise ValueError(f"bad FC width {width!r} in {tok!r}")
            fcs.append({"width": int(width), "act": act, "dropout": drop})
        elif tok.startswith("d"):
            try:
                dropout = float(tok[1:])
            except ValueError:
                raise ValueError(f"bad head dropout {tok!r} in {text!r}") from None
        else:
            raise ValueError(f"bad head token {tok!r} in {text!r}")
    return {"pool": pool, "fc": fcs, "dropout": dropout}
