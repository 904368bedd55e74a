"""The classic networks' scores as plain data, and the cache ``nasbox zoo`` keeps them in.

A zoo network is trained with the same recipe, budget (epochs or iterations, batch size,
learning rate) and data split as a study's candidates, on the same kind of device, and
measured the same way (analytic MACs and parameters, batch-1 latency), so that the Pareto
report can place ResNet-18 or MobileNetV2 on the same axes as the searched candidates
(the training itself: :mod:`nasbox.zoo.score`).

Scores are cached in one JSON file per *key* (dataset and its split options, training
fidelity, device), under ``<reports>/zoo-cache/``; a report overlays the cache whose key
matches its study. Several processes may score into one cache (each adds its networks under
the file's lock). This module imports no torch: the report reads it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nasbox.errors import ConfigError, NasboxError
from nasbox.files import update_file
from nasbox.model.arch import Architecture
from nasbox.zoo.genotypes import ZOO_NAMES, get_zoo

__all__ = ["CACHE_DIR", "UNSCORED", "ZooScore", "ZooSettings", "add_to_cache", "cache_path", "is_stale",
           "load_zoo_scores", "read_cache", "settings_from_config"]

CACHE_DIR = "zoo-cache"
#: the status of a classic network whose costs are known but whose accuracy was not scored
UNSCORED = "unscored"
_FORMAT = 1


def _device_name(device: str) -> str:
    return device[:-2] if device.endswith(":0") else device


@dataclass(frozen=True)
class ZooSettings:
    """Data, fidelity and device of a scoring run (the same fields as a study's config).

    ``data_dir`` and ``seed`` are used but are not part of the cache key: the same dataset
    in another folder is the same data, and the seed changes the split, not the setting.
    """

    dataset: str
    device: str
    epochs: float | None = None
    iterations: int | None = None
    batch_size: int = 32
    lr: float = 0.1
    subset: int | None = None
    val_fraction: float = 0.1
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    seed: int = 0
    latency_threads: int = 1

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.iterations is None):
            raise ConfigError("give the zoo's training budget as exactly one of --epochs or --iterations")

    def key_fields(self) -> dict[str, Any]:
        """What must match for a zoo score to be comparable with a study's candidates."""
        return {
            "dataset": {"name": self.dataset, "subset": self.subset, "val_fraction": float(self.val_fraction),
                        "options": _plain(self.dataset_options)},
            "fidelity": {"epochs": None if self.epochs is None else float(self.epochs),
                         "iterations": None if self.iterations is None else int(self.iterations),
                         "batch_size": int(self.batch_size), "lr": float(self.lr), "augment": True},
            "device": _device_name(self.device),
        }

    def key(self) -> str:
        """A readable, unique file stem, e.g. ``mnist5k-e1-b32-cpu-3f2a9c01``."""
        fields = self.key_fields()
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        budget = f"e{self.epochs:g}" if self.epochs is not None else f"i{self.iterations}"
        stem = f"{self.dataset}-{budget}-b{self.batch_size}-{fields['device']}-{digest}"
        return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def settings_from_config(config: dict[str, Any], device: str | None) -> ZooSettings | None:
    """The zoo settings of a study, from its ``config`` user attribute and the device its
    trials ran on; ``None`` when the study does not say enough (e.g. no trial ran yet and
    its device was ``auto``)."""
    if not config.get("dataset"):
        return None
    device = device or (config.get("device") if config.get("device") not in (None, "auto") else None)
    if device is None:
        return None
    try:
        return ZooSettings(
            dataset=config["dataset"], device=device, epochs=config.get("epochs"), iterations=config.get("iterations"),
            batch_size=int(config.get("batch_size") or 32), lr=float(config.get("lr") or 0.1),
            subset=config.get("subset"), val_fraction=float(config.get("val_fraction", 0.1)),
            dataset_options=dict(config.get("dataset_options") or {}), data_dir=config.get("data_dir"),
            seed=int(config.get("seed") or 0), latency_threads=int(config.get("latency_threads") or 1))
    except (ConfigError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ZooScore:
    """One zoo network's score (the metrics a study's trial records)."""

    name: str
    description: str
    status: str  # "complete", "failed" or "unscored" (costs only: see nasbox.zoo.costs)
    accuracy: float | None
    macs: int
    flops: int
    params: int
    latency_ms: float | None
    latency_iqr_ms: float | None
    encoding: str
    arch_id: str
    train_seconds: float | None = None
    iterations: int | None = None
    epochs: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_path(reports_dir: str | Path, settings: ZooSettings) -> Path:
    """``<reports_dir>/zoo-cache/<key>.json``."""
    return Path(reports_dir) / CACHE_DIR / f"{settings.key()}.json"


def read_cache(path: Path) -> dict[str, Any]:
    try:
        return _parse_cache(path.read_text(), path)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"unreadable zoo cache {path}: {exc}; delete it to score again") from None


def _parse_cache(text: str | None, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError as exc:
        raise ConfigError(f"unreadable zoo cache {path}: {exc}; delete it to score again") from None
    return data if isinstance(data, dict) and data.get("format") == _FORMAT else {}


def load_zoo_scores(reports_dir: str | Path, settings: ZooSettings | None) -> list[ZooScore]:
    """The cached scores matching ``settings`` (empty when none), in the zoo's order."""

    if settings is None:
        return []
    try:
        data = read_cache(cache_path(reports_dir, settings))
    except ConfigError:
        return []
    if data.get("key_fields") != settings.key_fields():
        return []
    models = data.get("models") or {}
    known = [n for n in ZOO_NAMES if n in models] + sorted(n for n in models if n not in ZOO_NAMES)
    scores = []
    for name in known:
        try:
            scores.append(ZooScore(**models[name]))
        except TypeError:
            continue
    return scores


def add_to_cache(path: Path, settings: ZooSettings, new: dict[str, Any]) -> dict[str, Any]:
    """Merge ``new`` scores into the cache file, under its lock (other processes may be scoring
    other networks into it); return all the networks it then holds."""
    merged: dict[str, Any] = {}

    def update(text: str | None) -> str:
        try:
            old = _parse_cache(text, path)
        except ConfigError:
            old = {}  # a corrupt cache is replaced
        merged.update(old.get("models") or {} if old.get("key_fields") == settings.key_fields() else {})
        merged.update(new)
        payload = {"format": _FORMAT, "key": settings.key(), "key_fields": settings.key_fields(),
                   "settings": _plain(asdict(settings)), "models": merged}
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"

    update_file(path, update)
    return merged


def is_stale(name: str, entry: dict[str, Any]) -> bool:
    """A cached score of an earlier genotype of the network (the zoo's definition changed since)."""
    try:
        old = Architecture.decode(entry["encoding"])
        return get_zoo(name, old.input_shape, old.num_classes).arch_id != entry["arch_id"]
    except (KeyError, TypeError, ValueError, NasboxError):
        return True


