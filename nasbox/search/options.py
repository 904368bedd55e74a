"""Each search option declared once: a field of :class:`~nasbox.search.config.SearchConfig` made with :func:`option`.

A field's declaration holds its name and type (the annotation), its default, its help, its check and how the
command line spells it. From the declarations alone are derived:

- the ``nasbox search`` options (:func:`add_arguments`): flag, type, default, help and the same check, so a
  bad value is one line and exit code 2 whichever way it comes in;
- :meth:`SearchConfig.check` (:func:`check_options`): one validation per option;
- the Python signature and docstring of :func:`nasbox.search` (:func:`signature`, :func:`docstring`);
- the keys of a ``search.toml`` file (:func:`from_mapping`, :func:`to_toml`);
- the report's list of options (:func:`option_rows`).

This module imports no torch: ``nasbox --help`` builds its parser from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasbox.errors import ConfigError

__all__ = ["Opt", "Rule", "add_arguments", "at_least", "check_options", "docstring", "fraction", "from_mapping",
           "from_namespace", "given_options", "non_empty", "one_of", "option", "option_rows", "options", "positive",
           "read_toml", "seed_range", "signature", "to_toml"]

#: a check: the value -> ``None`` when it is good, else what it must be ("a whole number >= 1")
Rule = Callable[[Any], str | None]
KINDS = ("value", "switch", "toggle", "list", "csv")


@dataclass(frozen=True)
class Opt:
    """How one option is stated (a field's ``metadata["nasbox"]``).

    Attributes:
        help: one line for ``--help``, the docstring and the report.
        check: the rule its value must keep (``None``: any value of its type).
        flag: the command-line flag; ``""``: ``--`` and the name with dashes; ``None``: Python and files only.
        kind: ``value`` (``--flag VALUE``), ``switch`` (present or not), ``toggle`` (``--x/--no-x``), ``list``
            (repeatable, turned into the value by ``convert``), ``csv`` (comma-separated, a tuple).
        metavar: what ``--help`` calls the value.
        choices: the values it may take (for ``--help``; the check enforces them).
        group: the heading it is listed under, and the ``search.toml`` table it belongs to.
        exclusive: options sharing this name may not be given together (``--epochs``, ``--iterations``).
        convert: a ``list`` option's strings -> the value (``--space-arg`` pairs -> a dict).
    """

    help: str
    check: Rule | None = None
    flag: str | None = ""
    kind: str = "value"
    metavar: str | None = None
    choices: tuple[Any, ...] | None = None
    group: str = "search"
    exclusive: str | None = None
    convert: Callable[[list[str]], Any] | None = None


def option(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING,
           **how: Any) -> Any:
    """A search option: a dataclass field with its :class:`Opt` (``help``, ``check``, ``flag``, ``kind``, ...)."""
    if how.get("kind", "value") not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {how.get('kind')=}")
    meta = {"nasbox": Opt(help=help, **how)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def options(cls: type) -> list[tuple[dataclasses.Field, Opt]]:
    """The declared options of a config class, in declaration order."""
    return [(f, f.metadata["nasbox"]) for f in dataclasses.fields(cls) if "nasbox" in f.metadata]


def flag_of(f: dataclasses.Field, o: Opt) -> str | None:
    return None if o.flag is None else (o.flag or "--" + f.name.replace("_", "-"))


def label_of(f: dataclasses.Field, o: Opt) -> str:
    """How errors and the report name an option: its flag, or its name when it has none."""
    return flag_of(f, o) or f.name


def default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


# ---- checks (each says what a good value is)


def at_least(minimum: int) -> Rule:
    """A whole number >= ``minimum`` (``None`` allowed where the type allows it)."""
    return lambda v: None if _whole(v) and v >= minimum else f"a whole number >= {minimum}"


def positive(v: Any) -> str | None:
    return None if _number(v) and v > 0 else "a number > 0"


def fraction(v: Any) -> str | None:
    return None if _number(v) and 0.0 < v < 1.0 else "a fraction between 0 and 1"


def seed_range(v: Any) -> str | None:
    return None if _whole(v) and 0 <= v < 2**32 else "a whole number in [0, 4294967295]"


def non_empty(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty text"


def one_of(*choices: Any) -> Rule:
    return lambda v: None if v in choices else f"one of {', '.join(map(str, choices))}"


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def complaint(f: dataclasses.Field, o: Opt, value: Any) -> str | None:
    """The one-line error of a bad value (``None`` for a good one, and for ``None`` where the default is)."""
    if o.check is None or (value is None and default_of(f) is None):
        return None
    rule = o.check(value)
    return None if rule is None else f"{label_of(f, o)} must be {rule}, got {value!r}"


def check_options(config: Any) -> None:
    """Check every option of ``config``; raises :class:`ConfigError` naming the first bad one."""
    for f, o in options(type(config)):
        text = complaint(f, o, getattr(config, f.name))
        if text is not None:
            raise ConfigError(text)
    given: dict[str, list[str]] = {}
    for f, o in options(type(config)):
        if o.exclusive and getattr(config, f.name) is not None:
            given.setdefault(o.exclusive, []).append(label_of(f, o))
    for names in given.values():
        if len(names) > 1:
            raise ConfigError(f"give either {' or '.join(names)}, not both")


# ---- text (the command line, a file's strings) -> values


def _scalar_type(f: dataclasses.Field, owner: type) -> Any:
    """``int`` for ``int | None``, ``float`` for ``float``, etc."""
    hint = typing.get_type_hints(owner)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is not None else [hint]
    for kind in (bool, int, float, str):
        if kind in args:
            return kind
    return str


def parse_text(f: dataclasses.Field, owner: type, text: str) -> Any:
    """A value of the field's type from text: ``5e6`` is a whole number, ``inf`` and ``nan`` are no numbers."""
    kind = _scalar_type(f, owner)
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {text!r}")
    if kind is int:
        if number != int(number):
            raise ValueError(f"expected a whole number, got {text!r}")
        return int(number)
    return number


def _argparse_type(f: dataclasses.Field, o: Opt, owner: type) -> Callable[[str], Any]:
    """Text -> checked value, with argparse's error (one line, exit code 2, through the CLI's parser)."""

    def parse(text: str) -> Any:
        try:
            value = parse_text(f, owner, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        rule = o.check(value) if o.check else None
        if rule is not None:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__name__ = o.metavar or f.name
    return parse


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add every option of ``cls`` that has a flag to ``parser``, by group; ``dest`` is the field's name."""
    groups: dict[str, Any] = {}
    exclusive: dict[str, Any] = {}
    for f, o in options(cls):
        flag = flag_of(f, o)
        if flag is None:
            continue
        group = groups.get(o.group) or groups.setdefault(o.group, parser.add_argument_group(f"{o.group} options"))
        if o.exclusive:
            group = exclusive.get(o.exclusive) or exclusive.setdefault(o.exclusive, group.add_mutually_exclusive_group())
        default = default_of(f)
        common = {"dest": f.name, "help": o.help}
        if o.kind == "switch":
            group.add_argument(flag, action="store_true", **common)
        elif o.kind == "toggle":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, **common)
        elif o.kind == "list":
            group.add_argument(flag, action="append", default=[], metavar=o.metavar, **common)
        elif o.kind == "csv":
            group.add_argument(flag, default=",".join(map(str, default)), metavar=o.metavar, **common)
        else:
            group.add_argument(flag, type=_argparse_type(f, o, cls), default=default, metavar=o.metavar, **common)


def given_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The options ``argv`` gives explicitly (their ``dest``): parsed again with every default suppressed."""
    saved = [(a, a.default) for a in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_known_args(argv)[0]))
    finally:
        for action, default in saved:
            action.default = default


def from_namespace(cls: type, args: argparse.Namespace, *, base: Mapping[str, Any] | None = None,
                   given: set[str] | None = None, **extra: Any) -> Any:
    """The config of ``cls`` from parsed arguments (``list`` and ``csv`` options converted). With ``base`` (a
    file's values, :func:`from_mapping`), an option takes the file's value unless ``given`` says the command
    line gave it; a ``list`` option's pairs are merged, the command line's last."""
    values = {}
    base = base or {}
    for f, o in options(cls):
        if not hasattr(args, f.name):
            if f.name in base:
                values[f.name] = base[f.name]
            continue
        if f.name in base and (given is None or f.name not in given):
            values[f.name] = base[f.name]
            continue
        value = getattr(args, f.name)
        if o.kind == "list":
            value = o.convert(value) if o.convert else list(value)
            if isinstance(base.get(f.name), dict) and isinstance(value, dict):
                value = {**base[f.name], **value}
        elif o.kind == "csv" and isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        values[f.name] = value
    return cls(**values, **extra)


# ---- files (search.toml) and plain mappings


def read_toml(path: str | Path, cls: type) -> dict[str, Any]:
    """A ``search.toml``'s options (its tables flattened; a ``[space.args]`` table is ``space_args``), checked.

    Raises:
        ConfigError: the file is missing, a folder, not TOML, or names an option that does not exist.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except IsADirectoryError:
        raise ConfigError(f"--config {path} is a folder; give a search.toml file") from None
    except FileNotFoundError:
        raise ConfigError(f"--config {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--config {path} is not a readable TOML file: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in {o.group for _, o in options(cls)}:
            flat.update(value)
        else:
            flat[key] = value
    return from_mapping(cls, flat, source=f"--config {path}")


def from_mapping(cls: type, values: Mapping[str, Any], *, source: str = "the configuration") -> dict[str, Any]:
    """Check the keys of a mapping (a ``search.toml``'s tables flattened) and turn text into values; unknown
    keys are refused with the known ones."""
    known = {f.name: (f, o) for f, o in options(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"{source} has no search option {key!r}; known: {', '.join(known)}")
        f, o = known[name]
        if o.kind == "csv" and isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        elif o.kind == "csv" and isinstance(value, list):
            value = tuple(value)
        elif o.kind == "list" and isinstance(value, list) and o.convert is not None:
            value = o.convert(value)
        elif isinstance(value, str) and _scalar_type(f, cls) is not str and o.kind != "list":
            try:
                value = parse_text(f, cls, value)
            except ValueError as exc:
                raise ConfigError(f"{source}: {key}: {exc}") from None
        out[name] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def to_toml(config: Any, *, header: str = "") -> str:
    """A ``search.toml`` of ``config``: a table per group, every option with a value (``None`` left out)."""
    lines = [f"# {line}" for line in header.splitlines()] + ([""] if header else [])
    by_group: dict[str, list[str]] = {}
    for f, o in options(type(config)):
        value = getattr(config, f.name)
        if value is None or (f.name == "space" and not isinstance(value, str)):
            continue
        by_group.setdefault(o.group, []).append(f"{f.name} = {_toml_value(value)}")
    for group, rows in by_group.items():
        lines += [f"[{group}]", *rows, ""]
    return "\n".join(lines)


# ---- the Python signature and docstring, and the report's rows


def signature(cls: type, *, first: str = "space", extra: Iterable[inspect.Parameter] = ()) -> inspect.Signature:
    """``search(space=..., *, dataset=..., ...)``: ``first`` positional, every other option keyword-only."""
    hints = typing.get_type_hints(cls)
    params = []
    for f, _ in options(cls):
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if f.name == first else inspect.Parameter.KEYWORD_ONLY
        params.append(inspect.Parameter(f.name, kind, default=default_of(f), annotation=hints.get(f.name, Any)))
    params.sort(key=lambda p: p.kind)
    return inspect.Signature([*params, *extra])


def docstring(cls: type, summary: str, *, extra: str = "", returns: str = "") -> str:
    """A Google-style docstring: ``summary``, then one ``Args:`` line per option, grouped as on the command line."""
    lines = [summary, "", "Args:"]
    for f, o in options(cls):
        flag = flag_of(f, o)
        lines.append(f"    {f.name}: {o.help}" + (f" (``{flag}``)" if flag else "")
                     + f"; default {default_of(f)!r}.")
    if extra:
        lines += [extra]
    if returns:
        lines += ["", "Returns:", f"    {returns}"]
    return "\n".join(lines)


def option_rows(config: Mapping[str, Any], cls: type) -> list[tuple[str, str, str]]:
    """``(option, value, what it is)`` for every declared option, the value as a study recorded it (``-`` where
    a study recorded before the option existed has none)."""
    rows = []
    for f, o in options(cls):
        value = config.get(f.name, "-") if isinstance(config, Mapping) else "-"
        rows.append((label_of(f, o), _shown(value), o.help))
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        items = value.items() if isinstance(value, dict) else None
        return (", ".join(f"{k}={v}" for k, v in items) if items is not None else ",".join(map(str, value))) or "-"
    return "default" if value is None else str(value)
