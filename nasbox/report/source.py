"""Opening a study for a report: by name, from the default journal file or any storage."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from nasbox.errors import StorageError
from nasbox.storage import JOURNAL_NAME, mask_url, open_storage

__all__ = ["open_study", "report_dir_for"]


def report_dir_for(study_name: str, reports_dir: str | Path = "reports") -> Path:
    """``<reports_dir>/<study name made file-safe>``, the folder the search writes to."""
    from nasbox.search import safe_name  # the one rule for folder names, owned by the search

    return Path(reports_dir) / safe_name(study_name)


def _journal(path: Path) -> optuna.storages.JournalStorage:
    backend = optuna.storages.journal.JournalFileBackend(
        str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
    return optuna.storages.JournalStorage(backend)


def open_study(study_name: str, storage: str | None = None, reports_dir: str | Path = "reports") -> optuna.Study:
    """Load a study to report on, read-only in intent (nothing is created for a bad name).

    Args:
        study_name: the study's name.
        storage: an Optuna storage URL, or the path of a journal file; default: the
            journal file ``<reports_dir>/<study>/journal.log`` that the search writes.
        reports_dir: where the search wrote its report folders.

    Raises:
        StorageError: the storage does not exist or cannot be read, or holds no such study.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is None or Path(storage).is_file():
        path = Path(storage) if storage else report_dir_for(study_name, reports_dir) / JOURNAL_NAME
        if not path.is_file():
            raise StorageError(f"no study {study_name!r}: {path} does not exist; give the --reports-dir the "
                               "search wrote to, or its --storage")
        try:
            backend, display = _journal(path), str(path)
        except OSError as exc:
            raise StorageError(f"cannot read the study journal {path}: {exc.strerror or exc}") from None
    else:
        if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).is_file():
            raise StorageError(f"no study {study_name!r}: the database {storage[len('sqlite:///'):]} does not exist")
        with warnings.catch_warnings():  # heartbeats are marked experimental
            warnings.simplefilter("ignore")
            backend, display = open_storage(storage, report_dir_for(study_name, reports_dir))
        display = mask_url(display)
    try:
        names = optuna.study.get_all_study_names(backend)
    except Exception as exc:  # storage backends raise many kinds of errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot read storage {display}: {mask_url(first)}") from None
    if study_name not in names:
        known = ", ".join(repr(n) for n in sorted(names)[:10]) or "no study"
        raise StorageError(f"no study named {study_name!r} in {display} (it holds {known})")
    return optuna.load_study(study_name=study_name, storage=backend)
