"""The registry of search spaces and their configuration from text, TOML and Python.

Built-in spaces live in the top-level ``search_spaces`` package, one module each, and
register themselves with :func:`register_space` when imported; a user's space is named by
``path/to/file.py:Class`` or ``package.module:Class``. Bounds come from a TOML file's
``[space]`` table and ``--space-arg key=value`` (text coerced to the field's type).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import tomllib
import types
import typing
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nasbox.errors import SpaceError
from nasbox.spaces.base import SearchSpace

__all__ = ['get_space', 'list_spaces', 'load_space', 'parse_space_args', 'register_space']


_REGISTRY: dict[str, type[SearchSpace]] = {}


_BUILTIN_MODULES = ("seed_cnn", "resnet", "mobilenet", "efficientnet", "nb201", "darts")


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
    """The registered space classes: the built-in ones in their fixed order (whichever was imported first),
    then the others in the order they registered."""
    _load_builtins()
    rank = {f"search_spaces.{module}": i for i, module in enumerate(_BUILTIN_MODULES)}
    return sorted(_REGISTRY.values(), key=lambda cls: rank.get(cls.__module__, len(rank)))


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
        if path.is_dir():
            raise SpaceError(f"space file {where!r} is a folder; give the Python file that defines the space "
                             "(path/to/file.py:Class)")
        if not path.is_file():
            raise SpaceError(f"space file {where!r} does not exist")
        mod_name = f"nasbox_user_space_{zlib.crc32(str(path.resolve()).encode()):08x}"
        if mod_name in sys.modules:  # loaded once per process: its block kinds are registered once
            return _space_class(sys.modules[mod_name], attr, spec)
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise SpaceError(f"cannot load space file {where!r}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # a user's file may raise anything
            sys.modules.pop(mod_name, None)
            raise SpaceError(f"space file {where!r} failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise SpaceError(f"cannot import space module {where!r}: {exc}") from None
    return _space_class(module, attr, spec)


def _space_class(module: Any, attr: str, spec: str) -> type[SearchSpace]:
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
        except IsADirectoryError:
            raise SpaceError(f"space config file {str(path)!r} is a folder; give a TOML file with a [space] table")\
                from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpaceError(f"space config file {str(path)!r} cannot be read: {exc}") from None
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


def study_space(study_attrs: Mapping[str, Any]) -> SearchSpace | None:
    """The space a study was searched in, from its recorded setup and config (``None`` when
    it does not say): the configured spec (a registered name, ``file.py:Class`` or
    ``module:Class``; importing a user's file also registers the block kinds it defines),
    bound to the study's input, with its bounds.

    Raises:
        SpaceError: the space cannot be loaded any more (a moved file, a renamed class).
    """
    setup = dict(study_attrs.get("setup") or {})
    config = dict(study_attrs.get("config") or {})
    specs = [s for s in (config.get("space_spec"), setup.get("space")) if s]
    if not specs or "input_shape" not in setup:
        return None
    for i, spec in enumerate(specs):
        try:
            return get_space(spec, input_shape=tuple(setup["input_shape"]), num_classes=setup["num_classes"],
                             args=setup.get("space_bounds") or {})
        except SpaceError:
            if i == len(specs) - 1:
                raise
    return None
