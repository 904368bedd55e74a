"""Which candidate to train or export: a study's trial, an architecture JSON file or a zoo network.

A search stores every sampled genotype as ``<reports>/<study>/archs/<arch_id>.json`` and
records the ``arch_id`` on its trial; :func:`resolve_candidate` reads that file back (and,
should it be missing or altered, re-samples the trial's parameters through the study's
space, checking that the ``arch_id`` comes out the same: :func:`nasbox.search.genotypes.trial_arch`).
:func:`~nasbox.search.genotypes.study_data_options` gives the dataset settings of a study's search, so
that a full training uses the same splits (and so the same, untouched test split).
"""

from __future__ import annotations

from pathlib import Path

from nasbox.data import DatasetSpec
from nasbox.errors import ConfigError
from nasbox.model.arch import Architecture
from nasbox.search.genotypes import study_data_options, trial_arch
from nasbox.study.schema import Attr, StudyPaths, trial_status
from nasbox.study.storage import open_study
from nasbox.zoo import get_zoo

__all__ = ["model_dir", "resolve_candidate", "study_data_options"]


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
        arch, t = trial_arch(open_study(study, storage, reports_dir), trial, reports_dir)
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
