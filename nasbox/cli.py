"""The ``nasbox`` command line: argument parsing and presentation only.

Every user error ends as one line, ``error: <what and how to fix>``, and exit code 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from nasbox.errors import ConfigError, NasboxError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def _shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W or CxHxW, got {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive integers C,H,W, got {text!r}")
    return shape  # type: ignore[return-value]


def _space_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="set a bound of the space, e.g. m_max=6 or kernels=3,5 (repeatable)")
    p.add_argument("--space-config", metavar="FILE.toml", help="bounds from a TOML file ([space] table)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasbox", description="Neural architecture search and efficient networks for PyTorch.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("show", help="per-layer table of a space's sample, a zoo network or an arch JSON file")
    p.add_argument("target", help="space name (or file.py:Class), zoo name, or path to an architecture JSON")
    p.add_argument("--input", type=_shape, default=None, metavar="C,H,W",
                   help="input shape (default 3,32,32; an arch JSON carries its own)")
    p.add_argument("--classes", type=int, default=None, help="number of classes (default 10)")
    p.add_argument("--seed", type=int, default=0, help="which random sample of a space to show")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _space_options(p)

    p = sub.add_parser("zoo", help="list the classic networks")
    p.add_argument("--input", type=_shape, default=(3, 32, 32), metavar="C,H,W")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--json", action="store_true")
    return parser


# --------------------------------------------------------------------------- commands


def _console():
    from rich.console import Console

    return Console(highlight=False)


def cmd_spaces(args: argparse.Namespace) -> int:
    from nasbox.space import list_spaces

    rows = []
    for cls in list_spaces():
        space = cls()
        rows.append({"name": cls.name, "description": cls.description, "rules": list(cls.rules),
                     "size": space.size(), "size_estimate": space.size_estimate(), "bounds": _jsonable(space.bounds())})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="search spaces (sizes for the default bounds)")
    for col in ("name", "description", "rules", "size"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["description"], "; ".join(r["rules"]) or "-", r["size_estimate"])
    _console().print(table)
    return 0


def _resolve_target(args: argparse.Namespace) -> tuple[str, Any]:
    """``(title, Architecture)`` for a space name/spec, a zoo name or a JSON file."""
    from nasbox.arch import Architecture
    from nasbox.space import get_space, load_space, parse_space_args
    from nasbox.zoo import ZOO_NAMES, get_zoo

    target = args.target
    shape = args.input or (3, 32, 32)
    classes = args.classes or 10
    if target in ZOO_NAMES:
        return f"zoo: {target}", get_zoo(target, shape, classes)
    path = Path(target)
    if target.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"architecture file {target!r} does not exist")
        try:
            arch = Architecture.from_json(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"malformed architecture file {target!r}: {exc}") from None
        if args.input or args.classes:
            arch = Architecture.from_dict({**arch.to_dict(), "input_shape": list(shape) if args.input else
                                           list(arch.input_shape), "num_classes": args.classes or arch.num_classes})
        return f"architecture: {target}", arch
    load_space(target)  # raises a clear SpaceError for an unknown name
    space = get_space(target, input_shape=shape, num_classes=classes,
                      args=parse_space_args(args.space_arg), toml_file=args.space_config)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    arch = space.sample(study.ask())
    return f"space {space.name}, random sample (seed {args.seed})\n{space.describe()}", arch


def cmd_show(args: argparse.Namespace) -> int:
    from nasbox.analysis import analyze

    title, arch = _resolve_target(args)
    info = analyze(arch)
    if args.json:
        print(json.dumps({"arch_id": arch.arch_id, "encoding": arch.encode(), "architecture": arch.to_dict(),
                          **info.to_dict()}, indent=2))
        return 0
    from rich.table import Table

    console = _console()
    console.print(title)
    console.print(f"encoding: {arch.encode()}")
    console.print(f"arch_id:  {arch.arch_id}")
    table = Table(show_footer=True)
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("output W x H x D", justify="right")
    table.add_column("params", justify="right", footer=f"{info.params:,}")
    table.add_column("MACs", justify="right", footer=f"{info.macs:,}")
    for r in info.layers:
        c, h, w = r.out_shape
        table.add_row(r.name, r.op, f"{w} x {h} x {c}", f"{r.params:,}", f"{r.macs:,}")
    console.print(table)
    console.print(f"params {info.params:,} | MACs {info.macs:,} | FLOPs {info.flops:,} (FLOPs = 2 x MACs; "
                  "BatchNorm counted as 2 MACs per output element, as fvcore does)")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from nasbox.analysis import analyze
    from nasbox.zoo import get_zoo, list_zoo

    rows = []
    for name, desc in list_zoo():
        info = analyze(get_zoo(name, args.input, args.classes))
        rows.append({"name": name, "description": desc, "params": info.params, "macs": info.macs})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    c, h, w = args.input
    table = Table(title=f"classic networks at {c}x{h}x{w}, {args.classes} classes")
    for col, just in (("name", "left"), ("description", "left"), ("params", "right"), ("MACs", "right")):
        table.add_column(col, justify=just)
    for r in rows:
        table.add_row(r["name"], r["description"], f"{r['params']:,}", f"{r['macs']:,}")
    _console().print(table)
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


COMMANDS = {"spaces": cmd_spaces, "show": cmd_show, "zoo": cmd_zoo}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except NasboxError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
