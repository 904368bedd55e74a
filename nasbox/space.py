"""Search spaces: the base class, the registry, configuration from text and TOML.

A search space is a small frozen dataclass of *bounds* (plain data) bound to an input
shape and a number of classes. :meth:`SearchSpace.sample` draws a genotype from an
``optuna.Trial`` under stable hierarchical parameter names (``stage2.block1.kernel``) and
builds no model. Spaces sample a fixed set of parameters (up to the maximum depth) so that
samplers that need a fixed search space (NSGA-II) work; parameters of unused stages are
still drawn and simply ignored, and choices that would be invalid for the input (a pool on
a map that is already 1x1) are mapped deterministically to valid ones, so that the same
parameters always give the same, valid genotype.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import random
import sys
import tomllib
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from nasbox.errors import SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture

__all__ = [
    "SearchSpace",
    "get_space",
    "list_spaces",
    "load_space",
    "parse_space_args",
    "register_space",
]

_REGISTRY: dict[str, type[SearchSpace]] = {}
_BUILTIN_MODULES = ("seed_cnn", "resnet", "mobilenet", "efficientnet")


class _Recorder:
    """A stand-in for ``optuna.Trial`` that returns the first (or given) choice."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self.seen: dict[str, tuple[str, Any]] = {}

    def suggest_categorical(self, name: str, choices: Iterable[Any]) -> Any:
        choices = tuple(choices)
        self.seen[name] = ("categorical", choices)
        return self.params.get(name, choices[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.seen[name] = ("int", (low, high, step))
        return int(self.params.get(name, low))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.seen[name] = ("float", (low, high))
        return float(self.params.get(name, low))


class _RandomTrial(_Recorder):
    """A stand-in for ``optuna.Trial`` that draws every parameter uniformly from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def suggest_categorical(self, name: str, choices: Iterable[Any]) -> Any:
        choices = tuple(choices)
        self.params[name] = self.rng.choice(choices)
        return super().suggest_categorical(name, choices)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = self.rng.randrange(low, high + 1, step)
        return super().suggest_int(name, low, high, step=step, log=log)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.params[name] = self.rng.uniform(low, high)
        return super().suggest_float(name, low, high, step=step, log=log)


@dataclasses.dataclass(frozen=True)
class SearchSpace(ABC):
    """Base class of search spaces.

    Subclasses are frozen dataclasses whose fields (all with defaults) are the bounds;
    they set the class attributes ``name``, ``description`` and ``rules`` and implement
    :meth:`sample`. ``input_shape`` and ``num_classes`` bind the space to a dataset.
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    rules: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # lists from TOML or Python become tuples
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if len(self.input_shape) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in self.input_shape):
            raise SpaceError(f"input_shape must be (C, H, W) positive integers, got input_shape={self.input_shape!r}")
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or self.num_classes < 2:
            raise SpaceError(f"num_classes must be an integer >= 2, got num_classes={self.num_classes!r}")
        self.validate()

    # ---- to implement
    def validate(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Check the bounds; raise :class:`SpaceError` quoting the broken rule."""

    @abstractmethod
    def sample(self, trial: Any) -> Architecture:
        """Draw a genotype from an ``optuna.Trial`` (or anything with ``suggest_*``)."""

    # ---- provided
    def bind(self, input_shape: tuple[int, int, int], num_classes: int) -> SearchSpace:
        """The same bounds for another input shape and number of classes."""
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise SpaceError(f"input_shape must be (C, H, W), got {input_shape!r}") from None
        return dataclasses.replace(self, input_shape=shape, num_classes=num_classes)

    def bounds(self) -> dict[str, Any]:
        """The configurable fields and their values (input binding excluded)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("input_shape", "num_classes")
        }

    def from_params(self, params: Mapping[str, Any]) -> Architecture:
        """The genotype for a finished trial's parameters (replays :meth:`sample`)."""
        import optuna

        try:
            return self.sample(optuna.trial.FixedTrial(dict(params)))
        except ValueError as exc:
            raise SpaceError(f"parameters do not fit space {self.name!r}: {exc}") from None

    def sample_random(self, rng: random.Random) -> tuple[dict[str, Any], Architecture]:
        """Uniformly random parameters (without a study) and their genotype."""
        trial = _RandomTrial(rng)
        arch = self.sample(trial)
        return dict(trial.params), arch

    def parameters(self) -> dict[str, tuple[str, Any]]:
        """Every parameter the space samples: ``name -> (kind, choices or range)``."""
        rec = _Recorder()
        self.sample(rec)
        return rec.seen

    def size(self) -> int:
        """Number of distinct parameter combinations (an upper bound on distinct genotypes)."""
        total = 1
        for kind, spec in self.parameters().values():
            if kind == "categorical":
                total *= len(spec)
            elif kind == "int":
                low, high, step = spec
                total *= (high - low) // step + 1
            else:
                raise SpaceError(f"space {self.name!r} has a continuous parameter: its size is infinite")
        return total

    def size_estimate(self) -> str:
        """The size as ``~10^k`` text, for tables (``infinite`` with continuous parameters)."""
        if any(kind == "float" for kind, _ in self.parameters().values()):
            return "infinite"
        n = self.size()
        return f"{n:,}" if n < 1_000_000 else f"~10^{math.log10(n):.1f}"

    def describe(self) -> str:
        """Multi-line text: name, description, rules, bounds and size."""
        lines = [f"{self.name}: {self.description}"]
        c, h, w = self.input_shape
        lines.append(f"  input {c}x{h}x{w}, {self.num_classes} classes")
        for rule in self.rules:
            lines.append(f"  rule: {rule}")
        for key, value in self.bounds().items():
            lines.append(f"  {key} = {_fmt_value(value)}")
        lines.append(f"  size: {self.size_estimate()} parameter combinations")
        return "\n".join(lines)

    def example(self) -> Architecture:
        """The genotype of each parameter's first choice (lowest value)."""
        return self.sample(_Recorder())

    def check(self, arch: Architecture) -> Architecture:
        """Raise :class:`SpaceError` if ``arch`` is not for the bound input and classes, or
        :class:`ShapeError` if a feature map vanishes in it; return it."""
        if arch.input_shape != self.input_shape or arch.num_classes != self.num_classes:
            raise SpaceError(f"architecture is for input {arch.input_shape} with {arch.num_classes} classes, "
                             f"the space is bound to {self.input_shape} with {self.num_classes}")
        analyze(arch)
        return arch


def _fmt_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return repr(value)


# --------------------------------------------------------------------------- registry


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"a registered space needs a name, got {cls.__name__} with name={cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"search_spaces.{module}")


def list_spaces() -> list[type[SearchSpace]]:
    """The registered space classes, built-in ones first."""
    _load_builtins()
    return list(_REGISTRY.values())


def load_space(spec: str) -> type[SearchSpace]:
    """A space class from a registered name, ``path/to/file.py:Class`` or ``pkg.module:Class``."""
    _load_builtins()
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    if ":" not in spec:
        raise SpaceError(f"unknown space {spec!r}; built-in spaces: {', '.join(_REGISTRY)} "
                         f"(or give path/to/file.py:Class or package.module:Class)")
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise SpaceError(f"space file {where!r} does not exist")
        mod_name = f"nasbox_user_space_{abs(hash(str(path.resolve())))}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise SpaceError(f"cannot load space file {where!r}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # a user's file may raise anything
            raise SpaceError(f"space file {where!r} failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise SpaceError(f"cannot import space module {where!r}: {exc}") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
        raise SpaceError(f"{spec!r} is not a SearchSpace subclass")
    return cls


def get_space(
    spec: str | SearchSpace = "seed_cnn",
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    args: Mapping[str, Any] | None = None,
    toml_file: str | Path | None = None,
) -> SearchSpace:
    """Instantiate a space by name or spec with bounds from a TOML file and ``args``.

    ``args`` win over the TOML file; values may be text (``"3,5,7"``) or Python values.
    """
    if isinstance(spec, SearchSpace):
        space = spec
        if args or toml_file:
            space = dataclasses.replace(space, **_coerce_all(type(space), _merged(toml_file, args)))
    else:
        cls = load_space(spec)
        space = cls(**_coerce_all(cls, _merged(toml_file, args)))
    if input_shape is not None or num_classes is not None:
        space = space.bind(space.input_shape if input_shape is None else input_shape,
                           space.num_classes if num_classes is None else num_classes)
    return space


def _merged(toml_file: str | Path | None, args: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if toml_file is not None:
        path = Path(toml_file)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SpaceError(f"space config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpaceError(f"space config file {str(path)!r} is not valid TOML: {exc}") from None
        table = data.get("space", data)
        if not isinstance(table, dict):
            raise SpaceError(f"space config file {str(path)!r} needs a [space] table of bounds, "
                             f"got space = {table!r}")
        merged.update(table)
    merged.update(args or {})
    return merged


def parse_space_args(items: Iterable[str]) -> dict[str, str]:
    """``["m_max=6", "kernels=3,5"]`` -> ``{"m_max": "6", "kernels": "3,5"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SpaceError(f"malformed --space-arg {item!r}: expected key=value, e.g. m_max=6")
        out[key] = value.strip()
    return out


def _coerce_all(cls: type[SearchSpace], values: Mapping[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in fields:
            raise SpaceError(f"space {cls.name!r} has no bound {key!r}; bounds: {', '.join(f for f in fields)}")
        out[key] = _coerce(key, value, hints[key])
    return out


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Turn text from the command line into the field's type (``tuple[int, ...]`` etc.)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is tuple:
        elem = args[0] if args else str
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        return tuple(_coerce(key, v, elem) for v in items)
    if not isinstance(value, str):
        return value
    try:
        if hint is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
    except ValueError:
        raise SpaceError(f"bad value for {key}: {value!r} is not a valid {hint.__name__}") from None
    return value
