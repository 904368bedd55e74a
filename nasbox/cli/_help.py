"""Help texts: each option's default stated, and an example per command."""

from __future__ import annotations

import argparse

__all__ = ["EXAMPLES", "HelpFormatter"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """States an option's default after its help (unless the help already speaks of it, or the
    option has no default worth stating), and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unstated = default is None or default is False or default == [] or default is argparse.SUPPRESS
        if unstated or "default" in text or not action.option_strings:  # --help, --version: SUPPRESS
            return text
        shown = ",".join(str(d) for d in default) if isinstance(default, (tuple, list)) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


#: command -> its examples (shown under its --help)
EXAMPLES: dict[str, str] = {
    "nasbox": _examples(
        "nasbox search --budget 50                      # the main job, on the bundled MNIST subset",
        "nasbox report --study seed_cnn-mnist5k         # rebuild a study's report",
        "nasbox <command> --help                        # each command's options and examples"),
    "spaces": _examples("nasbox spaces", "nasbox spaces --json"),
    "show": _examples(
        "nasbox show seed_cnn --input 1,28,28           # a sample of a space, layer by layer",
        "nasbox show resnet18 --input 3,224,224 --classes 1000",
        "nasbox show nb201 --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|'",
        "nasbox show darts --space-arg cells=6 --space-arg channels=36 # a sample in DARTS' evaluation network",
        "nasbox show reports/seed_cnn-mnist5k/archs/<arch_id>.json --json"),
    "search": _examples(
        "nasbox search --budget 50",
        "nasbox search --space mobilenet --dataset cifar10 --data-dir ~/data --budget 200 --epochs 1",
        "nasbox search --study small --max-params 50000 --max-macs 5e6 --budget 50",
        "nasbox search --space my_space.py:MySpace --workers 2 --early-stop"),
    "zoo": _examples(
        "nasbox zoo --input 3,224,224 --classes 1000    # the classic networks and their costs",
        "nasbox zoo --study seed_cnn-mnist5k --models resnet18,mobilenet_v2   # score them like a study"),
    "report": _examples("nasbox report --study seed_cnn-mnist5k",
                        "nasbox report --study shared --storage postgresql://nasbox:***@db-host/nasbox"),
    "train": _examples(
        "nasbox train --study seed_cnn-mnist5k --trial 12 --epochs 30",
        "nasbox train --zoo resnet18 --dataset cifar10 --data-dir ~/data --epochs 30"),
    "supernet": _examples(
        "nasbox supernet train --space mobilenet --space-arg activations=relu6 --dataset mnist5k --epochs 10",
        "nasbox search --space mobilenet --space-arg activations=relu6 --evaluator "
        "supernet:reports/supernets/mobilenet-mnist5k --budget 500 --confirm 5",
        "nasbox supernet train --space nb201 --dataset cifar10 --data-dir ~/data --epochs 30",
        "nasbox search --space nb201 --dataset cifar10 --data-dir ~/data --evaluator "
        "supernet:reports/supernets/nb201-cifar10 --budget 1000 --confirm 5"),
    "export": _examples(
        "nasbox export --study seed_cnn-mnist5k --trial 12 --format onnx",
        "nasbox export --arch my_arch.json --untrained --format torchscript"),
    "final": _examples(
        "nasbox final --study seed_cnn-mnist5k --top 5 --epochs 30",
        "nasbox final --study cifar-mb --classics resnet18,mobilenet_v2,efficientnet_b0 --device cuda",
        "nasbox search --budget 50 --final 5 --final-epochs 30    # a search that ends in its final rung"),
    "doctor": _examples(
        "nasbox doctor --study seed_cnn-mnist5k",
        "nasbox doctor --storage reports/seed_cnn-mnist5k/journal.log --repair",
        "nasbox doctor --storage postgresql://user@host/db"),
}
