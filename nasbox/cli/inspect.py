"""``nasbox spaces``, ``nasbox show`` and the ``nasbox zoo`` listing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nasbox.cli._common import _console, _jsonable
from nasbox.errors import ConfigError
from nasbox.model.analysis import analyze, constant_from
from nasbox.model.arch import Architecture
from nasbox.spaces import get_space, list_spaces, load_space, parse_space_args
from nasbox.zoo import ZOO_NAMES, get_zoo, list_zoo


def cmd_spaces(args: argparse.Namespace) -> int:

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


def _resolve_target(args: argparse.Namespace) -> tuple[str, Any, str | None]:
    """``(title, Architecture, arch string)`` for a space name/spec (a sample, or ``--arch``), a zoo name or a
    JSON file; the arch string is the space's (``None`` for a zoo network or a file)."""

    target = args.target
    if args.arch is not None and (target in ZOO_NAMES or Path(target).is_file() or target.endswith(".json")):
        raise ConfigError("--arch names a genotype of a search space: give the space (nasbox show nb201 --arch …)")
    shape = args.input or (3, 32, 32)
    classes = args.classes or 10
    if target in ZOO_NAMES:
        return f"zoo: {target}", get_zoo(target, shape, classes), None
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
        return f"architecture: {target}", arch, None
    load_space(target)  # raises a clear SpaceError for an unknown name
    space = get_space(target, input_shape=shape, num_classes=classes,
                      args=parse_space_args(args.space_arg), toml_file=args.space_config)
    if args.arch is not None:
        arch = space.parse_arch(args.arch)
        return f"space {space.name}, the genotype given\n{space.describe()}", arch, space.arch_string(arch)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    arch = space.sample(study.ask())
    return (f"space {space.name}, random sample (seed {args.seed})\n{space.describe()}", arch,
            space.arch_string(arch))


def cmd_show(args: argparse.Namespace) -> int:

    title, arch, arch_string = _resolve_target(args)
    info = analyze(arch)
    constant = constant_from(arch)
    if args.json:
        extra = {} if arch_string is None or arch_string == arch.encode() else {"arch_string": arch_string}
        print(json.dumps({"arch_id": arch.arch_id, "encoding": arch.encode(), **extra, "disconnected": constant,
                          "architecture": arch.to_dict(), **info.to_dict()}, indent=2))
        return 0
    from rich.table import Table

    console = _console()
    console.print(title)
    console.print(f"encoding: {arch.encode()}", soft_wrap=True)
    if arch_string is not None and arch_string != arch.encode():
        console.print(f"arch:     {arch_string}", soft_wrap=True)
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
    if constant is not None:
        console.print(f"disconnected: the output of {constant} does not depend on its input, so the network "
                      "computes a constant and its accuracy is chance (a search records it without training)")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    """The classic networks and their costs (``--dataset``/``--study`` score them: :func:`cli.score.cmd_zoo_score`)."""
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
