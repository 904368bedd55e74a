"""A study's candidates and data, found again after its search: for full training, export and the final rung."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasbox.errors import ConfigError, SpaceError
from nasbox.model.arch import Architecture
from nasbox.spaces import study_space
from nasbox.study.schema import Attr, StudyAttr, StudyPaths

__all__ = ["study_data_options", "trial_arch"]


def study_data_options(study: Any) -> dict[str, Any]:
    """The :func:`nasbox.data.load_dataset` keywords a study's search used (same splits, same test)."""
    c = study.user_attrs.get(StudyAttr.CONFIG) or {}
    if not c.get("dataset"):
        raise ConfigError(f"study {study.study_name!r} does not record its dataset; pass --dataset")
    options = dict(c.get("dataset_options") or {})
    if "synthetic_shape" in options:
        options["synthetic_shape"] = tuple(options["synthetic_shape"])
    return {"name": c["dataset"], "data_dir": c.get("data_dir"), "subset": c.get("subset"),
            "val_fraction": c.get("val_fraction", 0.1), "seed": c.get("seed", 0), **options}


def trial_arch(study: Any, number: int, reports_dir: str | Path) -> tuple[Architecture, Any]:
    """The genotype of a study's trial and the trial: its stored ``archs/<arch_id>.json`` if it is still the one
    recorded, else its parameters re-sampled through the study's space (checked to give the recorded ``arch_id``).

    Raises:
        ConfigError: no such trial, or its genotype cannot be found again.
    """
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    t = trials.get(number)
    if t is None:
        have = f"trials 0..{max(trials)}" if trials else "no trial"
        raise ConfigError(f"study {study.study_name!r} has no trial {number} (it has {have})")
    try:  # first: a user's space file registers the block kinds its genotypes use
        space = study_space(study.user_attrs)
    except SpaceError:
        space = None
    arch_id = t.user_attrs.get(Attr.ARCH_ID)
    path = StudyPaths.of(study.study_name, reports_dir).arch_json(str(arch_id))
    if arch_id and path.is_file():  # the stored genotype, if it is still the one recorded
        try:
            arch = Architecture.from_json(path.read_text())
            if arch.arch_id == arch_id:
                return arch, t
        except (ValueError, UnicodeDecodeError):
            pass
    if not t.params or space is None:
        raise ConfigError(f"trial {number} of study {study.study_name!r} has no stored genotype ({path} is missing "
                          "or altered) and no parameters to re-sample it from")
    arch = space.from_params(t.params)
    if arch_id and arch.arch_id != arch_id:
        raise ConfigError(f"trial {number}'s parameters re-sample to genotype {arch.arch_id}, not the recorded "
                          f"{arch_id} (the space changed, and {path} is missing or altered)")
    return arch, t
