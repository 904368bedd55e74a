"""The checkpoint file of a fully trained candidate: plain data only, checked when loaded.

A checkpoint is one ``torch.save`` file of a dict of tensors and plain values, so it loads
with ``torch.load(weights_only=True)``, which builds tensors, dicts, lists, strings and
numbers and refuses every other object before anything of it runs:

============================  ==============================================================
``format``, ``version``       ``"nasbox-checkpoint"``, 1
``genotype``                  the canonical JSON of the :class:`~nasbox.model.arch.Architecture`
``genotype_sha256``           SHA-256 of that JSON (its first 12 hex digits are the arch_id)
``config``, ``data``          the training recipe and the dataset's spec, as JSON
``epoch``, ``finished``       epochs done; whether the run is complete (and tested)
``history``                   per-epoch metrics, as JSON
``test_accuracy``             the one test-split score of a finished run, else ``None``
``command``, ``source``       the command line that reproduces the run; where the genotype came from
``model``                     the ``state_dict``
``optimizer``, ``scheduler``  their ``state_dict`` s
``rng``                       ``{"cpu": ByteTensor, "cuda": ByteTensor | None}``
============================  ==============================================================
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasbox.errors import ConfigError
from nasbox.files import atomic_write
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model

__all__ = [
    "CHECKPOINT_NAME",
    "Checkpoint",
    "CheckpointError",
    "genotype_json",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "nasbox-checkpoint"
VERSION = 1


class CheckpointError(ConfigError):
    """A checkpoint is unreadable, tampered with, or does not match the requested run."""


def genotype_json(arch: Architecture) -> str:
    """The canonical JSON of a genotype (:meth:`Architecture.canonical_json`; its SHA-256 starts with the ``arch_id``)."""
    return arch.canonical_json()


@dataclass
class Checkpoint:
    """A checked checkpoint: the genotype, its weights in ``model`` (CPU, eval mode) and the run's state.

    ``state`` is the raw dict, for the optimizer, scheduler and RNG states of a resumed run.
    """

    path: Path
    arch: Architecture
    model: nn.Module
    epoch: int
    finished: bool
    config: dict[str, Any]
    data: dict[str, Any]
    history: list[dict[str, Any]]
    test_accuracy: float | None
    command: str | None
    source: str | None
    state: dict[str, Any] = field(repr=False)


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": str, "version": int, "genotype": str, "genotype_sha256": str, "config": str, "data": str,
    "epoch": int, "finished": bool, "history": str, "model": dict, "optimizer": dict, "scheduler": dict, "rng": dict,
    "test_accuracy": (float, type(None)), "command": (str, type(None)), "source": (str, type(None)),
}


def save_checkpoint(path: str | Path, arch: Architecture, *, config: dict[str, Any], data: dict[str, Any], epoch: int,
                    finished: bool, history: list[dict[str, Any]], test_accuracy: float | None, command: str | None,
                    source: str | None, model: dict[str, Any], optimizer: dict[str, Any], scheduler: dict[str, Any],
                    rng: dict[str, Any]) -> None:
    """Write a checkpoint atomically (see the module docstring for its fields)."""
    genotype = genotype_json(arch)
    raw = {"format": FORMAT, "version": VERSION, "genotype": genotype,
           "genotype_sha256": hashlib.sha256(genotype.encode()).hexdigest(), "config": json.dumps(config),
           "data": json.dumps(data), "epoch": epoch, "finished": finished, "history": json.dumps(history),
           "test_accuracy": test_accuracy, "command": command, "source": source, "model": model,
           "optimizer": optimizer, "scheduler": scheduler, "rng": rng}
    buffer = io.BytesIO()  # serialised first: a full disk then fails the plain write, with its errno
    torch.save(raw, buffer)
    atomic_write(Path(path), buffer.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint with ``torch.load(weights_only=True)``: nothing in it is executed.

    Checked: the fields and their types, the genotype JSON against its SHA-256 (this catches
    edits and corruption; a forger who rewrites both is stopped by the next check and by
    ``weights_only``), the genotype itself, and the weights against the genotype's layers
    (names and shapes, strictly).

    Raises:
        CheckpointError: unreadable, not a nasbox checkpoint, or tampered with.
    """
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as exc:  # UnpicklingError for foreign objects, RuntimeError for a damaged archive
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(f"refused to load {path}: it holds objects other than tensors and plain data, or is "
                              f"damaged ({first})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nasbox checkpoint")
    bad = [k for k, kind in _FIELDS.items() if not isinstance(raw.get(k), kind)]
    if bad or raw["version"] != VERSION:
        raise CheckpointError(f"{path} is damaged or of another version: bad field(s) {', '.join(bad) or 'version'}")
    if hashlib.sha256(raw["genotype"].encode()).hexdigest() != raw["genotype_sha256"]:
        raise CheckpointError(f"{path} was tampered with: its genotype JSON does not match its SHA-256")
    try:
        arch = Architecture.from_json(raw["genotype"])
        config, data, history = (json.loads(raw[k]) for k in ("config", "data", "history"))
    except ValueError as exc:
        raise CheckpointError(f"{path} holds an invalid genotype or metadata: {exc}") from None

    try:
        model = build_model(arch, seed=0)
        model.load_state_dict(raw["model"], strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:  # ShapeError is a ValueError
        detail = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"{path}: the weights do not match the genotype {arch.arch_id} ({detail})") from None
    return Checkpoint(path, arch, model.eval(), raw["epoch"], raw["finished"], config, data, history,
                      raw["test_accuracy"], raw["command"], raw["source"], raw)
