"""The block protocol and the registry of block kinds (timm's ``register_model`` is the model).

A block kind is one frozen dataclass, in one module, holding everything nasbox knows of it:

* its **genotype fields** (plain data: ints, floats, strings, bools, ``None``) and their
  checks (``__post_init__``, raising ``ValueError``);
* its **layers** (:meth:`Block.layers`): the primitives of :mod:`nasbox.model.ops` it is
  made of, for the input channels it is fed. The analysis (shapes, parameters, MACs)
  and the built ``nn.Module`` both come from this one description;
* its **encoding**: ``type`` (the JSON ``"type"``), ``tag`` (the block string's first
  token, as timm's ``ir`` / ``ds``), ``tokens`` (field -> token prefix for numbers),
  ``texts`` (field -> token prefix for ``str`` fields of free text in :data:`TEXT_ALPHABET`,
  a cell's genotype for instance) and ``flags`` (field -> ``{value: token}`` for the
  others); fields at their default are left out of the string;
* its **latency-table unit key** (:meth:`Block.latency_key`).

Registering (:func:`register_block`, a class decorator) makes a kind known to genotype
JSON, encodings, analysis, building, the report and export; importing the module that
defines it registers it, for nasbox's kinds and for a user's alike::

    @register_block
    @dataclass(frozen=True)
    class Ghost(Block):
        type: ClassVar[str] = "ghost"
        tag: ClassVar[str] = "gh"
        tokens: ClassVar[dict[str, str]] = {"out_channels": "c"}
        out_channels: int

        def layers(self, in_channels: int) -> Op:
            half = self.out_channels // 2
            return Concat((("primary", Conv(half, 1, act="relu")), ("cheap", Conv(half, 3, depthwise=True))))

A kind whose module cannot be written with the primitives overrides :meth:`Block.analyze`
and :meth:`Block.module` instead of :meth:`Block.layers`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from nasbox.model.checks import ACTIVATIONS, check_act, check_int, check_kernel, check_number, check_ratio
from nasbox.model.ops import Op, Shape, Walker

__all__ = ["ACT_TOKENS", "TEXT_ALPHABET", "Block", "block_from_dict", "block_kind", "block_kinds", "check_text",
           "field_types", "kind_for_tag", "register_block"]

# activation -> its token in block strings (no "_", which separates tokens); "linear" is no activation
ACT_TOKENS: dict[str, str] = {"relu": "relu", "relu6": "relu6", "silu": "silu", "hardswish": "hswish",
                              "gelu": "gelu", "leaky_relu": "lrelu"}
assert set(ACT_TOKENS) == set(ACTIVATIONS), "every activation needs a token"
_RESERVED = {*ACT_TOKENS.values(), "linear"}

#: the characters of a text field's value (``texts``): none of the encoding's separators (``_`` between
#: tokens, ``,`` ``*`` ``+`` in stages, ``|`` and spaces between sections)
TEXT_ALPHABET = "a-z0-9.~-"
_TEXT_VALUE = re.compile(f"[{TEXT_ALPHABET}]+")


# the checks of fields with a conventional name (as torchvision's configs name them); a check may
# return the value normalised (a float for a ratio)
_STANDARD_FIELDS: dict[str, Any] = {
    "out_channels": check_int,
    "kernel": lambda name, value: check_kernel(value, name),
    "stride": check_int,
    "n_convs": check_int,
    "act": lambda name, value: check_act(value, name),
    "se_ratio": check_ratio,
    "expansion": lambda name, value: check_number(name, value, 1.0),
}


@dataclasses.dataclass(frozen=True)
class Block:
    """Base class of block kinds (see the module docstring). Subclasses are frozen dataclasses.

    Fields with a conventional name are checked (``ValueError`` naming the field) and normalised
    here: ``out_channels``, ``stride``, ``n_convs`` (integers >= 1), ``kernel`` (odd), ``act``
    (a known activation; ``None`` where the field's type allows it), ``se_ratio`` (in [0, 1])
    and ``expansion`` (>= 1); so are the text fields (``texts``, :func:`check_text`). A kind
    checks its other fields in its own ``__post_init__``, after calling this one.
    """

    type: ClassVar[str] = ""
    tag: ClassVar[str] = ""
    tokens: ClassVar[Mapping[str, str]] = {}
    texts: ClassVar[Mapping[str, str]] = {}
    flags: ClassVar[Mapping[str, Mapping[Any, str]]] = {}

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for name in type(self).texts:
            check_text(type(self), name, getattr(self, name))
        for f in dataclasses.fields(self):
            check, value = _STANDARD_FIELDS.get(f.name), getattr(self, f.name)
            if check is None or (value is None and type(None) in typing.get_args(hints[f.name])):
                continue
            normalised = check(f.name, value)
            if normalised is not None:
                object.__setattr__(self, f.name, normalised)

    def layers(self, in_channels: int) -> Op:
        """The primitives this block is made of when fed ``in_channels`` channels."""
        raise NotImplementedError(f"block kind {type(self).__name__} defines neither layers() nor analyze()/module()")

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        """Append this block's rows to ``walker`` and return its output shape."""
        return walker.run(name, shape, self.layers(shape[0]))

    def module(self, in_channels: int) -> Any:
        """An ``nn.Module`` of the kind's own, or ``None`` (the default) for the module
        realised from :meth:`layers` by the builder."""
        return None

    def ignores_input(self) -> bool:
        """Whether the block's output is the same whatever its input (a cell whose output node no path
        from its input reaches): a network holding one computes a constant, its accuracy is chance."""
        return False

    def latency_key(self) -> str:
        """What sets this block's work in the latency table, besides its input shape."""
        return repr(self)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., **fields}``, the genotype JSON of the block."""
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}


_KINDS: dict[str, type[Block]] = {}


def register_block(cls: type[Block]) -> type[Block]:
    """Class decorator: make a block kind known under ``cls.type`` (and its ``tag``).

    Raises:
        ValueError: ``cls`` is not a frozen dataclass subclassing :class:`Block`, its
            ``type`` or ``tag`` is empty, malformed or taken by another kind, a numeric
            field has no token, a text field (``texts``) is no ``str``, or a text field's
            prefix begins another prefix (its tokens could not be told apart).
    """
    if not (isinstance(cls, type) and issubclass(cls, Block) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"a block kind is a dataclass subclassing Block, got {cls!r}")
    if "__dataclass_fields__" not in cls.__dict__:  # subclassing Block is not enough: its fields are its own
        raise ValueError(f"block kind {cls.__name__} must be a frozen dataclass itself (@dataclass(frozen=True))")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", cls.type or ""):
        raise ValueError(f"block kind {cls.__name__} needs a type of lower-case letters, got type={cls.type!r}")
    if not re.fullmatch(r"[a-z]+", cls.tag or "") or cls.tag in _RESERVED:
        raise ValueError(f"block kind {cls.__name__} needs a tag of lower-case letters that is no activation "
                         f"name, got tag={cls.tag!r}")
    existing = _KINDS.get(cls.type)
    if existing is not None and existing.__qualname__ != cls.__qualname__:  # the same class again may re-register
        raise ValueError(f"block type {cls.type!r} is taken by {existing.__module__}.{existing.__qualname__}")
    for other in _KINDS.values():
        if other.type != cls.type and other.tag == cls.tag:
            raise ValueError(f"block tag {cls.tag!r} is taken by {other.__qualname__}")
    kinds = field_types(cls)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if f.name == "act" or f.name in cls.flags:
            continue
        if f.name in cls.texts:
            if f.name in cls.tokens:
                raise ValueError(f"block kind {cls.__name__}: field {f.name!r} is in both tokens and texts")
            if hints[f.name] is not str:
                raise ValueError(f"block kind {cls.__name__}: field {f.name!r} with a text token (texts) must be a str")
            continue
        if f.name not in cls.tokens:
            raise ValueError(f"block kind {cls.__name__}: field {f.name!r} needs a token (tokens, texts) or flags")
        if kinds[f.name] not in (int, float):
            raise ValueError(f"block kind {cls.__name__}: field {f.name!r} with a token must be an int or a float "
                             "(a str field takes its prefix in texts)")
    unknown = sorted(set(cls.texts) - names)
    if unknown:
        raise ValueError(f"block kind {cls.__name__}: texts names no field {unknown}")
    prefixes = [*cls.tokens.values(), *cls.texts.values()]
    if len(set(prefixes)) != len(prefixes) or not all(re.fullmatch(r"[a-z]+", p) for p in prefixes):
        raise ValueError(f"block kind {cls.__name__}: token prefixes must be distinct lower-case words, got {prefixes}")
    for p in cls.texts.values():  # a text token is its prefix and any text: no other prefix may begin with it
        clash = [q for q in prefixes if q != p and q.startswith(p)]
        if clash:
            raise ValueError(f"block kind {cls.__name__}: the text prefix {p!r} begins the prefix {clash[0]!r}, so "
                             "their tokens could not be told apart")
    _KINDS[cls.type] = cls
    return cls


def check_text(cls: type[Block], name: str, value: Any) -> None:
    """A text field's value (``cls.texts[name]``): a ``str`` of :data:`TEXT_ALPHABET` whose token (prefix and
    value) is no activation or flag token of the kind; ``ValueError`` naming the field otherwise."""
    if not isinstance(value, str) or not _TEXT_VALUE.fullmatch(value):
        raise ValueError(f"{name} must be text of the characters [{TEXT_ALPHABET}] (no '_', ',', '*', '+', '|' or "
                         f"spaces, which separate an encoding's parts), got {name}={value!r}")
    token = cls.texts[name] + value
    if token in _RESERVED or any(token in mapping.values() for mapping in cls.flags.values()):
        raise ValueError(f"{name}={value!r} would read as the token {token!r} of an activation or a flag")


def _field_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; other hints as they are."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A class's evaluated annotations, once per class (evaluating them is the slow part of making a block)."""
    return typing.get_type_hints(cls)


@functools.cache
def _field_types(cls: type[Block]) -> dict[str, Any]:
    return {name: _field_type(hint) for name, hint in _hints(cls).items()
            if name in {f.name for f in dataclasses.fields(cls)}}


def field_types(cls: type[Block]) -> dict[str, Any]:
    """Each field's type (``int``, ``float``, ``str``, ``bool``), ``Optional`` unwrapped."""
    return dict(_field_types(cls))


def block_kinds() -> tuple[type[Block], ...]:
    """The registered kinds, in registration order (nasbox's first)."""
    return tuple(_KINDS.values())


def block_kind(type_name: str) -> type[Block]:
    """The kind registered as ``type_name``; ``ValueError`` naming the known ones."""
    try:
        return _KINDS[type_name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown block type {type_name!r}; known: {', '.join(_KINDS)} (a kind of your own is "
                         "known once the module that registers it is imported)") from None


def kind_for_tag(tag: str) -> type[Block]:
    for cls in _KINDS.values():
        if cls.tag == tag:
            return cls
    raise ValueError(f"unknown block tag {tag!r}; known: {', '.join(c.tag for c in _KINDS.values())}")


def block_from_dict(data: Any) -> Block:
    """The block of its genotype JSON ``{"type": ..., **fields}`` (inverse of :meth:`Block.to_dict`)."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"a block must be a mapping with a 'type' key, got {data!r}")
    cls = block_kind(data["type"])
    kwargs = {k: v for k, v in data.items() if k != "type"}
    unknown = set(kwargs) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} for block type {cls.type!r}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise ValueError(f"bad block {data!r}: {exc}") from None
