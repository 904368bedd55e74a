"""Which candidate to train or export: a study's trial, an architecture JSON file or a zoo network.

A search stores every sampled genotype as ``<reports>/<study>/archs/<arch_id>.json`` and
records the ``arch_id`` on its trial; :func:`resolve_candidate` reads that file back (and,
should it be missing or altered, re-samples the trial's parameters through the study's
space, checking that the ``arch_id`` comes out the same). :func:`study_data_options` gives
the dataset settings of a study's search, so that a full training uses the same splits
(and so the same, untouched test split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasbox.data import DatasetSpec
from nasbox.errors import ConfigError, SpaceError
from nasbox.model.arch import Architecture
from nasbox.model.zoo import get_zoo
from nasbox.spaces import study_space
from nasbox.study.schema import Attr, StudyAttr, StudyPaths, trial_status
from nasbox.study.storage import open_study

__all__ = ["model_dir", "resolve_candidate", "study_data_options"]


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


def _trial_arch(study: Any, number: int, reports_dir: str | Path) -> tuple[Architecture, Any]:
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


def resolve_candidate(study: str | None = None, trial: int | None = None, arch_file: str | Path | None = None,
                      zoo: str | None = None, storage: str | None = None, reports_dir: str | Path = "reports",
                      dataset: DatasetSpec | None = None) -> tuple[Architecture, str]:
    """The genotype to train or export and a one-line description of where it came from.

    Exactly one source: ``study`` + ``trial`` (the stored ``archs/<arch_id>.json``, else the
    trial's parameters re-sampled through the study's space), ``arch_file`` or ``zoo`` (for
    the input shape and classes of ``dataset``, which it then requires).

    Raises:
        ConfigError: no or several sources, unknown trial, unreadable file, missing ``dataset``.
        StorageError: unknown study or storage.
        SpaceError: unknown zoo network.
    """
    if sum(x is not None for x in (trial, arch_file, zoo)) != 1:
        raise ConfigError("give exactly one candidate: --study S --trial N, --arch FILE.json or --zoo NAME")
    if trial is not None:
        if study is None:
            raise ConfigError("--trial needs --study")
        arch, t = _trial_arch(open_study(study, storage, reports_dir), trial, reports_dir)
        acc = t.user_attrs.get(Attr.ACCURACY)
        how = trial_status(t)
        return arch, f"study {study!r} trial {trial} ({how}" + (f", search accuracy {acc:.4f})" if acc is not None else ")")
    if arch_file is not None:
        path = Path(arch_file)
        try:
            return Architecture.from_json(path.read_text()), f"architecture file {path}"
        except OSError as exc:
            raise ConfigError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"malformed architecture file {path}: {exc}") from None
    if dataset is None:
        raise ConfigError(f"zoo network {zoo!r} needs a dataset for its input shape and classes")

    return get_zoo(zoo, dataset.input_shape, dataset.num_classes), f"zoo network {zoo}"


def model_dir(reports_dir: str | Path, name: str, study: str | None = None) -> Path:
    """``<reports>/<study>/models/<name>``, or ``<reports>/models/<name>`` without a study."""
    return StudyPaths.of(study, reports_dir).model_dir(name) if study else StudyPaths(Path(reports_dir)).model_dir(name)
