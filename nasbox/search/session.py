"""Opening a search's study: create it with its setup, or resume it only with the same setup.

A study's *setup* is what every trial's scores depend on -- objectives, space and bounds,
dataset and input, fidelity -- and is recorded when the study is created; resuming with
another setup is refused (:func:`check_same_setup`), one line, nothing written. The
*config* records the search's options (the storage without its password), and the *run
facts* what a report states but the trials do not hold: split sizes, library versions
and the device.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import warnings
from pathlib import Path
from typing import Any

import optuna

from nasbox.device import device_name
from nasbox.errors import StorageError
from nasbox.search.config import SearchConfig
from nasbox.search.options import to_toml
from nasbox.search.samplers import PerTrialSeed
from nasbox.spaces import SearchSpace
from nasbox.study.schema import OBJECTIVES, Attr, StudyAttr
from nasbox.study.storage import without_password

__all__ = ["check_same_setup", "open_search_study", "record_run_facts", "search_toml", "setup_of"]

_VERSIONED = ("nasbox", "torch", "torchvision", "optuna", "numpy", "fvcore", "thop")


def setup_of(config: SearchConfig, space: SearchSpace, fidelity: dict[str, Any]) -> dict[str, Any]:
    """The setup a study of ``config`` records (JSON data)."""
    return {
        "objectives": list(config.objectives),
        "space": space.name,
        "space_bounds": _jsonable(space.bounds()),
        "dataset": config.dataset,
        "input_shape": list(space.input_shape),
        "num_classes": space.num_classes,
        "fidelity": fidelity,
    }


def check_same_setup(old: dict[str, Any], new: dict[str, Any], what: str) -> None:
    """Refuse to resume a study with another setup: objectives, space and bounds, data or
    fidelity (what a trial's scores depend on). A study from before a key was recorded
    passes on that key.

    Raises:
        StorageError: naming the first key that differs, and how.
    """
    for key, value in new.items():
        if key not in old or old[key] == value:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict):
            diff = [k for k in sorted(set(value) | set(old[key])) if old[key].get(k) != value.get(k)]
            was = f"{key} " + ", ".join(f"{k}={old[key].get(k)!r}" for k in diff)
            now = ", ".join(f"{k}={value.get(k)!r}" for k in diff)
        else:
            was, now = f"{key}={old[key]!r}", repr(value)
        hint = ""
        if key == "fidelity" and "prior" in value and "prior" not in old[key]:
            hint = " (a study scored before the supernet prior: --supernet-prior none)"
        elif key == "fidelity" and isinstance(old[key], dict) and old[key].get("prior") not in (None, value.get("prior")):
            hint = f" (a study scored with the {old[key]['prior']} prior: --supernet-prior {old[key]['prior']})"
        raise StorageError(f"{what} was run with {was}, not {now}; use another --study name or the original settings"
                           f"{hint}")


def open_search_study(storage: Any, display: str, name: str, config: SearchConfig, setup: dict[str, Any]) -> optuna.Study:
    """Create the study (recording its setup and config) or load it, checking its setup.

    The sampler is made afresh for each trial with a seed mixed from the seed and the trial number
    (:class:`~nasbox.search.samplers.PerTrialSeed`): a resumed study does not replay the first
    run's random start-up samples, and workers that share a study do not sample in lockstep.

    Raises:
        StorageError: the storage cannot be read, or the study was run with another setup.
    """
    directions = [OBJECTIVES[o].direction for o in config.objectives]
    try:
        existing = optuna.study.get_all_study_names(storage)
    except Exception as exc:  # storage backends raise many kinds of errors
        raise StorageError(f"cannot read storage {display}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if name in existing:
        study = optuna.load_study(study_name=name, storage=storage,
                                  sampler=PerTrialSeed(config.sampler, config.seed, len(directions)))
        old = dict(study.user_attrs.get(StudyAttr.SETUP, {}))
        if "fidelity" not in old:  # a study from before the setup recorded it: its trials did
            recorded = [t.user_attrs[Attr.FIDELITY] for t in study.get_trials(deepcopy=False)
                        if Attr.FIDELITY in t.user_attrs]
            if recorded:
                old["fidelity"] = recorded[0]
        check_same_setup(old, setup, f"study {name!r} in {display}")
        if study.metric_names is None:  # a study from before nasbox named its objectives
            _name_metrics(study, config.objectives)
        return study
    sampler = PerTrialSeed(config.sampler, config.seed, len(directions))
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions,
                                load_if_exists=True)
    study.set_user_attr(StudyAttr.SETUP, setup)
    space = _space_spec(config.space)
    study.set_user_attr(StudyAttr.CONFIG, _jsonable({**dataclasses.asdict(config), "space": setup["space"],
                                                     "space_spec": space, "storage": display}))
    _name_metrics(study, config.objectives)
    return study


def _name_metrics(study: optuna.Study, objectives: tuple[str, ...]) -> None:
    """Optuna's dashboard and API then name the objectives (``study.metric_names``)."""
    with warnings.catch_warnings():  # marked experimental in some Optuna versions
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives))


def search_toml(config: SearchConfig, setup: dict[str, Any]) -> str:
    """The ``search.toml`` that reproduces a study: every option as the search resolved it (the fidelity's
    defaults filled in), the space by its spec and all its bounds."""
    bounds = {k: "none" if v is None else v for k, v in (setup.get("space_bounds") or {}).items()}
    storage = config.storage and without_password(config.storage)
    resolved = dataclasses.replace(config, space=_space_spec(config.space), space_args=bounds, space_config=None,
                                   storage=storage)
    header = (f"nasbox search --config search.toml  (study {setup.get('space')} on {setup.get('dataset')}; "
              "command-line options override this file)")
    if storage != config.storage:
        header += "\nthe storage's password is left out: set $PGPASSWORD or ~/.pgpass, or give --storage"
    return to_toml(resolved, header=header)


def _space_spec(space: str | SearchSpace) -> str:
    """How to load the space again (for reports, training, export in another process): its
    name, ``module:Class``, or ``file.py:Class`` with the file's absolute path."""
    if not isinstance(space, str):
        return f"{type(space).__module__}:{type(space).__qualname__}"
    where, sep, attr = space.rpartition(":")
    return f"{Path(where).resolve()}:{attr}" if sep and where.endswith(".py") else space


def record_run_facts(study: optuna.Study, spec: Any = None, device: Any = None) -> dict[str, Any]:
    """Store what a report needs but the trials do not hold: split sizes, library versions
    and the device's name (the study's ``run`` attribute).

    Args:
        study: the study.
        spec: the dataset's :class:`~nasbox.data.DatasetSpec` (split sizes), if known.
        device: the ``torch.device`` the search ran on, if known.
    """
    facts: dict[str, Any] = dict(study.user_attrs.get(StudyAttr.RUN) or {})
    if spec is not None:
        facts["splits"] = {"train": spec.train_size, "val": spec.val_size, "test": spec.test_size}
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    facts["versions"] = versions
    if device is not None:
        facts["device_name"] = device_name(device)
    if facts != study.user_attrs.get(StudyAttr.RUN):
        study.set_user_attr(StudyAttr.RUN, facts)
    return facts


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
