"""The ``nasbox`` command line: argument parsing and presentation only.

Every user error ends as one line, ``error: <what and how to fix>``, and exit code 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any, NoReturn

from nasbox.cli._common import _console as _console  # re-exported: shared by the command modules
from nasbox.cli._common import float_above, fraction, int_at_least, seed
from nasbox.cli._help import EXAMPLES, HelpFormatter
from nasbox.errors import ConfigError, NasboxError
from nasbox.files import is_disk_full
from nasbox.search.config import SearchConfig
from nasbox.search.options import add_arguments
from nasbox.study.schema import DEFAULT_RETRY_S

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """One-line errors; each command states its defaults and shows its examples."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

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


def _candidate_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("candidate (one of --trial, --arch, --zoo; or only --checkpoint for export)")
    g.add_argument("--study", help="the study (its dataset and folder; with --trial, its candidate)")
    g.add_argument("--trial", type=int_at_least(0), help="trial number in the study")
    g.add_argument("--arch", metavar="FILE.json", help="an architecture JSON file")
    g.add_argument("--zoo", metavar="NAME", help="a zoo network (see 'nasbox zoo')")
    g.add_argument("--storage",
                   help="the study's storage URL (default: $NASBOX_STORAGE, else <reports-dir>/<study>/journal.log)")
    g.add_argument("--reports-dir", default="reports", help="where the study folders are")


def _zoo_score_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring (train the networks like a study's candidates, for its report)")
    g.add_argument("--dataset", help="score on this dataset: mnist5k, cifar10, imagefolder, synthetic")
    g.add_argument("--study", help="score with a study's dataset, fidelity and device")
    g.add_argument("--storage", help="the study's storage (with --study; default: $NASBOX_STORAGE, else its journal)")
    g.add_argument("--models", help="comma-separated zoo names (default: all)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float_above(0), help="training per network in epochs (default: as a search's)")
    budget.add_argument("--iterations", type=int_at_least(1), help="training per network in iterations")
    g.add_argument("--batch-size", type=int_at_least(1), default=None, help="default: as a search's")
    g.add_argument("--lr", type=float_above(0), default=None, help="peak learning rate (default: as a search's)")
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--data-dir", help="where the dataset lives")
    g.add_argument("--subset", type=int_at_least(10), help="a stratified subset of N training images, as the study's")
    g.add_argument("--val-fraction", type=fraction, default=None, help="validation share (default 0.1)")
    g.add_argument("--seed", type=seed, default=None, help="split and training seed (default 0)")
    g.add_argument("--reports-dir", default="reports", help="the cache goes to <reports-dir>/zoo-cache/")
    g.add_argument("--force", action="store_true", help="score again networks that are cached")


def _space_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="set a bound of the space, e.g. m_max=6 or kernels=3,5 (repeatable)")
    p.add_argument("--space-config", metavar="FILE.toml", help="bounds from a TOML file ([space] table)")


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked (reading the installed packages' metadata
    costs every other command a tenth of a second)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from importlib.metadata import version

        print(f"nasbox {version('nasbox')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasbox", description="Neural architecture search and efficient networks for PyTorch.",
                     epilog=EXAMPLES["nasbox"])
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = _Commands(parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND"))
    _spaces_command(sub)
    _show_command(sub)
    _search_command(sub)
    _zoo_command(sub)
    _report_command(sub)
    _train_command(sub)
    _supernet_command(sub)
    _export_command(sub)
    _doctor_command(sub)
    _final_command(sub)
    return parser


class _Commands:
    """The subcommands, each with its examples as the epilog of its help."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self.sub.add_parser(name, description=kwargs.get("help"), epilog=EXAMPLES.get(name), **kwargs)


def _spaces_command(sub: Any) -> None:
    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _show_command(sub: Any) -> None:
    p = sub.add_parser("show", help="per-layer table of a space's sample, a zoo network or an arch JSON file")
    p.add_argument("target", help="space name (or file.py:Class), zoo name, or path to an architecture JSON")
    p.add_argument("--input", type=_shape, default=None, metavar="C,H,W",
                   help="input shape (default 3,32,32; an arch JSON carries its own)")
    p.add_argument("--classes", type=int_at_least(1), default=None, help="number of classes (default 10)")
    p.add_argument("--seed", type=seed, default=0, help="which random sample of a space to show")
    p.add_argument("--arch", metavar="TEXT", help="show this genotype of the space instead of a sample: its arch "
                                                  "string (nb201: NAS-Bench-201's '|op~0|+|…|'; darts: DARTS' "
                                                  "\"Genotype(normal=[('sep_conv_3x3', 0), …], …)\") or its encoding")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _space_options(p)


def _search_command(sub: Any) -> None:
    p = sub.add_parser("search", help="search a space: sample, train briefly, score, keep the Pareto front")
    p.add_argument("--config", metavar="FILE.toml",
                   help="options from a search.toml (tables of 'option = value'; a study folder holds the one that "
                        "reproduces it); options given on the command line override it")
    add_arguments(p, SearchConfig)  # every option of SearchConfig, declared there once
    p.add_argument("--workers", type=int_at_least(1), default=1,
                   help="worker processes on this machine sharing the study (one per GPU with --device cuda)")
    p.set_defaults(parser_of_command=p)  # --config: which options the command line gave is read off this parser


def _zoo_command(sub: Any) -> None:
    p = sub.add_parser("zoo", help="list the classic networks; with --dataset or --study, train and score them")
    p.add_argument("--input", type=_shape, default=(3, 32, 32), metavar="C,H,W")
    p.add_argument("--classes", type=int_at_least(1), default=10)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _zoo_score_options(p)


def _report_command(sub: Any) -> None:
    p = sub.add_parser("report", help="rebuild a study's report (HTML page, Markdown, plots, CSVs) from its storage")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--storage", help="Optuna storage URL or journal file (default: $NASBOX_STORAGE, else "
                                     "<reports-dir>/<study>/journal.log)")
    p.add_argument("--reports-dir", default="reports", help="where report folders are (and the zoo cache)")


def _data_options(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--dataset", help=f"default: {default}")
    p.add_argument("--data-dir", help="where the dataset lives (default: the study's)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (cifar10)")
    p.add_argument("--subset", type=int_at_least(10), help="a stratified subset of N training images (default: the study's)")
    p.add_argument("--val-fraction", type=fraction, help="validation share (default: the study's, else 0.1)")


def _recipe_options(p: argparse.ArgumentParser, epochs: int, batch_size: int | None, what: str,
                    batch_help: str = "") -> None:
    """The full-training recipe's options (``nasbox train``, ``nasbox supernet train``)."""
    p.add_argument("--epochs", type=int_at_least(1), default=epochs, help=f"whole epochs (default {epochs})")
    p.add_argument("--batch-size", type=int_at_least(1), default=batch_size,
                   help=batch_help or f"training batch size (default {batch_size})")
    p.add_argument("--lr", type=float_above(0), default=0.1, help="peak learning rate (warm-up, then cosine decay)")
    p.add_argument("--weight-decay", type=float_above(0, inclusive=True), default=5e-4)
    p.add_argument("--seed", type=seed, default=0, help="seed of the initialisation, batch order and augmentation")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="bf16 autocast: auto = on CUDA, and on CPUs with native bf16 for networks without "
                        "depthwise convolutions")
    p.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                   help="channels_last memory format: auto = on CUDA and CPUs (their convolutions run faster in it)")
    p.add_argument("--no-augment", action="store_true", help="no random crop and flip")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--name", help=what)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming the folder's checkpoint")
    p.add_argument("--stop-after", type=int_at_least(1), metavar="EPOCH",
                   help="stop after this epoch (checkpointed); rerun without it to continue")


def _train_command(sub: Any) -> None:
    p = sub.add_parser("train", help="train a candidate fully (a study's trial, an arch JSON or a zoo network), "
                                     "test it once, checkpoint every epoch")
    _candidate_options(p)
    _data_options(p, "the study's dataset (without --study: mnist5k)")
    _recipe_options(p, 30, 128, "model folder <reports-dir>/<study>/models/<name> (default: trial<N>, the zoo "
                                "name or the arch id)")


def _supernet_command(sub: Any) -> None:
    p = sub.add_parser("supernet", help="train a weight-sharing supernet of a space, for --evaluator supernet:PATH")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    what = ("train the supernet of a space: an elastic space's with the sandwich rule (largest, smallest and random "
            "subnets per step) and in-place distillation, a cell space's (nb201, darts) one-shot, every edge holding every "
            "op, on sampled paths; checkpointed every epoch, resumable")
    t = actions.add_parser("train", help=what, description=what, epilog=EXAMPLES["supernet"])
    t.add_argument("--space", default="mobilenet", help="an elastic space: mobilenet (default), efficientnet, resnet, "
                                                      "seed_cnn; the cell spaces nb201 and darts; or path/to/file.py:Class")
    _space_options(t)
    _data_options(t, "mnist5k")
    _recipe_options(t, 10, None, "supernet folder <reports-dir>/supernets/<name> (default: <space>-<dataset>)",
                    "training batch size (default: 64 for an elastic supernet, 32 for a one-shot one, whose estimates "
                    "ranked better at twice the steps per epoch)")
    t.add_argument("--sampling", choices=("auto", "sandwich", "uniform", "fair"), default="auto",
                   help="what a step trains: sandwich (elastic spaces), uniform random paths or fair paths (each group "
                        "takes every op of every edge once; cell spaces); auto: the space's default (sandwich; fair)")
    t.add_argument("--random-subnets", type=int_at_least(0), default=2, metavar="N",
                   help="sandwich: random subnets per step besides the largest and the smallest")
    t.add_argument("--schedule", choices=("auto", "all", "progressive"), default="auto",
                   help="sandwich: sample every elastic choice from the start (all), or shrink progressively (the "
                        "largest subnet first, then elastic resolution, kernel, depth, expansion, width in turn; "
                        "Once-for-All); auto: progressive, which ranked best (bench/RESULTS.md)")
    t.add_argument("--paths", type=int_at_least(1), default=1, metavar="N",
                   help="cell spaces: random paths (uniform) or groups of fair paths (fair) per step")
    t.add_argument("--accumulate", choices=("auto", "mean", "sum"), default="auto",
                   help="a step's gradients of its paths (or of the sandwich's subnets) averaged or summed (FairNAS, "
                        "BigNAS); auto: summed for fair paths, averaged otherwise")
    t.add_argument("--few-shot", metavar="PARAM", default="",
                   help="cell spaces: split the supernet on this parameter (node1.in0), one sub-supernet per choice "
                        "(few-shot NAS), after --split-epoch epochs")
    t.add_argument("--split-epoch", type=int_at_least(0), default=0, metavar="E",
                   help="with --few-shot: the epoch after which the sub-supernets train apart (default 0: from the start)")
    t.add_argument("--init", metavar="PATH", default="",
                   help="start from the weights of this trained supernet (a folder or checkpoint of the same space, "
                        "bounds and data shape) with a schedule of its own: to train it longer, or to split it into few-shot "
                        "sub-supernets that fine-tune it (--few-shot PARAM --split-epoch 0)")
    t.add_argument("--affine-bn", action="store_true",
                   help="cell spaces: the edges' BatchNorms learn a scale and shift (default: not)")
    t.add_argument("--no-distill", action="store_true",
                   help="sandwich: train every subnet on the labels instead of the largest's predictions")
    t.add_argument("--calibration-images", type=int_at_least(1), default=256, metavar="N",
                   help="training images BatchNorm statistics are re-estimated on before a subnet is scored")
    t.add_argument("--data-seed", type=seed, metavar="N",
                   help="seed of the data split (default: --seed): supernets to be averaged (--evaluator "
                        "supernet:A,B) share one split and differ in --seed")
    t.add_argument("--reports-dir", default="reports", help="the supernet folder goes under <reports-dir>/supernets/")


def _export_command(sub: Any) -> None:
    p = sub.add_parser("export", help="export a candidate, trained or untrained, to ONNX or TorchScript")
    _candidate_options(p)
    p.add_argument("--checkpoint", metavar="PATH",
                   help="weights (and genotype) from this checkpoint; default: the candidate's 'nasbox train' "
                        "checkpoint when there is one")
    p.add_argument("--name", help="model folder name, as for 'nasbox train'")
    p.add_argument("--untrained", action="store_true", help="export the random initialisation even if trained")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default="auto",
                   help="ONNX exporter: dynamo (torch.export, needs onnxscript), legacy, or auto")
    p.add_argument("--output", "-o", metavar="PATH", help="default: model.onnx / model.torchscript.pt in the model "
                                                         "folder, or <name>-untrained.* under exports/")
    p.add_argument("--input", type=_shape, metavar="C,H,W", help="input shape of a --zoo network (default: the "
                                                                 "study's, else 3,32,32)")
    p.add_argument("--classes", type=int_at_least(1), help="classes of a --zoo network (default: the study's, else 10)")
    p.add_argument("--atol", type=float_above(0), default=1e-4, help="largest difference from PyTorch accepted")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch")
    p.add_argument("--measure", choices=("onnxruntime",),
                   help="time the ONNX file in onnxruntime (batch 1, CPU); with --study/--trial it is stored in "
                        "the study")
    p.add_argument("--threads", type=int_at_least(1), default=1, help="onnxruntime threads for --measure")


def _final_command(sub: Any) -> None:
    what = ("the final rung of a study: train candidates spread along its front (the most accurate, the cheapest in "
            "each cost, the knee, then the farthest from those) and the classic networks fully, with full training's "
            "recipe, and test each once; checkpointed every epoch, resumable (a finished network is never trained "
            "again); several processes running it share the networks; then rebuild the report")
    p = sub.add_parser("final", help=what)
    p.add_argument("--study", required=True, help="the study")
    p.add_argument("--storage", help="its storage (default: $NASBOX_STORAGE, else <reports-dir>/<study>/journal.log)")
    p.add_argument("--reports-dir", default="reports", help="where the study's folder is")
    p.add_argument("--top", type=int_at_least(1), default=5, metavar="K", help="candidates of the front to train")
    p.add_argument("--epochs", type=int_at_least(1), default=30, help="epochs of full training for every network")
    p.add_argument("--classics", metavar="NAMES", help="comma-separated classic networks, or none (default: all that "
                                                       "fit the input; on a CPU, those whose training takes under "
                                                       "an hour)")
    p.add_argument("--batch-size", type=int_at_least(1), default=128)
    p.add_argument("--lr", type=float_above(0), default=0.1, help="peak learning rate (warm-up, then cosine decay)")
    p.add_argument("--weight-decay", type=float_above(0, inclusive=True), default=5e-4)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-augment", action="store_true", help="no random crop and flip")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="where the study's dataset is now (default: the folder its search used; the "
                                      "split is the search's either way)")
    p.add_argument("--download", action="store_true", help="fetch the dataset into the data folder if it is missing")


def _doctor_command(sub: Any) -> None:
    what = ("examine a study's storage: a journal's records, a torn last record (cut with a copy kept), damage before "
            "the last record (--repair keeps every readable record in a new journal, the damaged one beside it); a "
            "database's reachability; the trials of each study by status. Exit code 1 when damage is left")
    p = sub.add_parser("doctor", help=what)
    p.add_argument("--study", help="the study (its journal is <reports-dir>/<study>/journal.log)")
    p.add_argument("--storage", metavar="FILE|URL", help="a journal file or a storage URL instead")
    p.add_argument("--reports-dir", default="reports", help="where the search wrote the study's folder")
    p.add_argument("--repair", action="store_true", help="cut a torn tail and salvage a damaged journal")
    p.add_argument("--storage-retry", type=float_above(0), default=DEFAULT_RETRY_S, metavar="S",
                   help="how long to wait for an unreachable database")


#: command -> "module:function" of ``nasbox.cli``, imported when the command runs: ``nasbox --help`` and
#: ``nasbox spaces`` load no torch
COMMANDS = {"spaces": "inspect:cmd_spaces", "show": "inspect:cmd_show", "zoo": "inspect:cmd_zoo",
            "search": "search:cmd_search", "report": "score:cmd_report", "train": "model:cmd_train",
            "supernet": "model:cmd_supernet", "export": "model:cmd_export", "doctor": "doctor:cmd_doctor",
            "final": "final:cmd_final"}
_WITH_ARGV = ("search", "train", "supernet", "final")  # commands that print the command line that resumes them


def _parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; an unknown one is refused pointing at its command's help (not the top level's)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        where = f"nasbox {args.command}" if getattr(args, "command", None) else "nasbox"
        raise ConfigError(f"unrecognized arguments: {' '.join(unknown)} (see '{where} --help')")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # anywhere: before or after the command
    argv = [a for a in argv if a != "--debug"]
    if not debug:  # libraries' deprecation notices are not the user's business
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category)
    try:
        return _run(_parse(argv), argv)
    except NasboxError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (``nasbox spaces --json | head -1``): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error when Python flushes at exit
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
    except OSError as exc:  # a full disk that a library's own write met (nasbox's writers raise DiskFullError)
        if debug or not is_disk_full(exc):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"error: no space left on the device{where}: free some space and run the same command again (nothing "
              "written before was lost)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    where = "score:cmd_zoo_score" if args.command == "zoo" and (args.dataset or args.study) else COMMANDS[args.command]
    module, name = where.split(":")
    command = getattr(importlib.import_module(f"nasbox.cli.{module}"), name)
    return command(args, argv) if args.command in _WITH_ARGV else command(args)