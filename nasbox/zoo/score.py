"""Scoring the classic networks of the zoo the way a study scores its candidates (``nasbox zoo --study``).

Each network is trained with the study's brief-training recipe and fidelity on its data split and device, its
latency measured as a candidate's, and saved to the zoo cache (:mod:`nasbox.zoo.scores`) as soon as it is
scored, so an interrupted run keeps what it finished and a rerun scores only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasbox.data import Data, load_dataset
from nasbox.device import resolve_device
from nasbox.errors import CANDIDATE_ERRORS
from nasbox.measure.latency import measure_latency
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model
from nasbox.train.brief import train_model
from nasbox.train.recipe import TrainConfig
from nasbox.zoo.genotypes import ZOO_NAMES, get_zoo, list_zoo
from nasbox.zoo.scores import ZooScore, ZooSettings, add_to_cache, cache_path, is_stale, read_cache

__all__ = ["ProgressCallback", "score_zoo"]

ProgressCallback = Callable[[dict[str, Any]], None]


def _score_one(name: str, data: Data, settings: ZooSettings, config: TrainConfig, device: Any,
               description: str) -> ZooScore:
    """Train and time one zoo network as a study's candidate; a failure is a ``failed`` score with its reason."""
    spec = data.spec
    arch = get_zoo(name, spec.input_shape, spec.num_classes)
    info = analyze(arch)
    base = dict(name=name, description=description, macs=info.macs, flops=info.flops, params=info.params,
                encoding=arch.encode(), arch_id=arch.arch_id)
    try:
        model = build_model(arch, seed=settings.seed)
        latency = measure_latency(model, arch.input_shape, device=device, threads=settings.latency_threads)
        result = train_model(model, data.train, data.val, config, spec, device=device)
        return ZooScore(**base, status="complete", accuracy=result.accuracy, latency_ms=latency.median_ms,
                        latency_iqr_ms=latency.iqr_ms, train_seconds=result.seconds,
                        iterations=result.budget.iterations, epochs=result.budget.epochs)
    except CANDIDATE_ERRORS as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        return ZooScore(**base, status="failed", accuracy=None, latency_ms=None, latency_iqr_ms=None, reason=reason)


def score_zoo(settings: ZooSettings, models: Sequence[str] | None = None, *, reports_dir: str | Path = "reports",
              force: bool = False, progress: ProgressCallback | None = None) -> tuple[Path, list[ZooScore]]:
    """Train and measure zoo networks with a study's fidelity; cache and return the scores.

    Args:
        settings: data, budget and device (see :func:`settings_from_config`).
        models: zoo names (default: all of :data:`nasbox.zoo.genotypes.ZOO_NAMES`).
        reports_dir: the reports folder; the cache lies in its ``zoo-cache/``.
        force: score again networks that are already cached.
        progress: callback receiving ``{"event": "start"|"model_start"|"model_end", ...}``.

    Returns:
        The cache file and the scores of ``models`` (cached or new).

    Raises:
        SpaceError: an unknown zoo name. DataError/ConfigError: the data cannot be loaded.
    """

    names = list(models) if models else list(ZOO_NAMES)
    for name in names:
        get_zoo(name)  # SpaceError for an unknown name, before any work
    report = progress or (lambda event: None)
    device = resolve_device(settings.device)
    path = cache_path(reports_dir, settings)
    cached = read_cache(path)
    stored: dict[str, Any] = dict(cached.get("models") or {}) if cached.get("key_fields") == settings.key_fields() else {}
    todo = [n for n in names if force or n not in stored or is_stale(n, stored[n])]
    data = spec = None
    if todo:  # the data only when something is to be trained
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.dataset_options.items()}
        data = load_dataset(settings.dataset, data_dir=settings.data_dir, val_fraction=settings.val_fraction,
                            subset=settings.subset, seed=settings.seed, **options).to(device)
        spec = data.spec
    descriptions = dict(list_zoo())
    train_config = TrainConfig(epochs=settings.epochs, iterations=settings.iterations, batch_size=settings.batch_size,
                               lr=settings.lr, seed=settings.seed)
    report({"event": "start", "cache": str(path), "models": names, "device": str(device), "dataset": settings.dataset,
            "n_train": spec.train_size if spec else None, "n_val": spec.val_size if spec else None})
    for name in names:
        if name not in todo:
            report({"event": "model_end", "name": name, "cached": True, **stored[name]})
            continue
        info = analyze(get_zoo(name, spec.input_shape, spec.num_classes))
        report({"event": "model_start", "name": name, "macs": info.macs, "params": info.params})
        t0 = time.perf_counter()
        score = _score_one(name, data, settings, train_config, device, descriptions.get(name, ""))
        stored.update(add_to_cache(path, settings, {name: score.to_dict()}))
        report({"event": "model_end", "name": name, "cached": False, "seconds": time.perf_counter() - t0,
                **stored[name]})
    return path, [ZooScore(**stored[n]) for n in names]
