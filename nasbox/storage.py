"""Where a study lives: Optuna's journal file (the embedded default) or any storage URL.

The journal file storage works for several processes on one machine. For several
machines, give an RDB URL (PostgreSQL): that is Optuna's documented way to distribute a
study, and it comes with heartbeats that fail the trials of dead workers.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasbox.errors import StorageError

__all__ = [
    "COUNTED",
    "JOURNAL_NAME",
    "count_finished",
    "counts_toward_budget",
    "fail_stale_trials",
    "heartbeat",
    "mask_url",
    "open_storage",
    "open_study",
    "process_alive",
    "process_start_time",
    "report_dir_for",
    "trial_status",
]

JOURNAL_NAME = "journal.log"
HEARTBEAT_INTERVAL_S = 30
LOST = "lost"  # user attribute: why a trial does not count toward the budget
#: the statuses nasbox records for a trial with a result of its own, which counts toward the budget
COUNTED = ("complete", "repeat", "stopped", "infeasible", "failed")
_STATE_STATUS = {"RUNNING": "running", "WAITING": "running"}


def counts_toward_budget(trial: Any) -> bool:
    """Finished with a result of its own: COMPLETE, PRUNED (stopped early), or FAIL unless
    marked :data:`LOST` (interrupted, stale, surplus) or screened out by pre-screening."""
    state, attrs = trial.state.name, trial.user_attrs
    if state == "FAIL":
        return LOST not in attrs and attrs.get("status") != "screened"
    return state in ("COMPLETE", "PRUNED")


def count_finished(trials: Any) -> int:
    """How many of ``trials`` count toward the budget."""
    return sum(counts_toward_budget(t) for t in trials)


def trial_status(trial: Any) -> str:
    """The status of a trial as nasbox reports it: the ``status`` it recorded (one of
    :data:`COUNTED`, or ``screened``), ``lost``, ``running``, else ``failed``."""
    status = trial.user_attrs.get("status")
    if LOST in trial.user_attrs:
        return "lost"
    if status in (*COUNTED, "screened"):
        return status
    return _STATE_STATUS.get(trial.state.name, "failed")


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _mark_stale(study: Any, trial: Any) -> None:
    """Heartbeat callback: a trial failed for a dead worker does not count."""
    study._storage.set_trial_user_attr(trial._trial_id, LOST, "stale: its worker stopped sending heartbeats")


def open_storage(url: str | None, report_dir: Path, heartbeat_s: int = HEARTBEAT_INTERVAL_S) -> tuple[Any, str]:
    """Open the study storage: ``(storage, display text without password)``.

    ``url=None`` uses a journal file in ``report_dir`` (created if needed). An RDB URL
    (PostgreSQL for several machines) gets heartbeats every ``heartbeat_s`` seconds; a
    RUNNING trial without one for ``3 * heartbeat_s`` is failed and marked lost by the
    next worker that asks for a trial.

    Raises:
        StorageError: the folder is not writable or the URL cannot be opened.
    """
    import optuna

    if url is None:
        path = Path(report_dir) / JOURNAL_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK):
                raise PermissionError(f"{path.parent} is not writable")
            backend = optuna.storages.journal.JournalFileBackend(
                str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot write the study journal {path}: {exc.strerror or exc}; "
                               "choose a writable --reports-dir") from None
        return optuna.storages.JournalStorage(backend), str(path)
    display = mask_url(url)
    if url.startswith(("postgresql", "mysql", "sqlite")):
        from sqlalchemy.exc import IntegrityError

        for attempt in range(5):
            try:
                with warnings.catch_warnings():  # heartbeats are marked experimental
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    storage = optuna.storages.RDBStorage(
                        url, heartbeat_interval=heartbeat_s, grace_period=3 * heartbeat_s,
                        engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
                        heartbeat_stale_trial_callback=_mark_stale,
                    )
                return storage, display
            except IntegrityError:
                # Workers starting together on a new database race to create Optuna's
                # schema; the loser finds it made by the winner on the next try.
                time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
            except Exception as exc:  # sqlalchemy raises many kinds of errors
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StorageError(f"cannot open storage {display}: {mask_url(first)}") from None
        raise StorageError(f"cannot open storage {display}: the schema could not be created (concurrent workers)")
    raise StorageError(f"unsupported storage URL {display}; use postgresql://, mysql://, sqlite:/// or omit it")


def process_start_time(pid: int) -> int | None:
    """The start time of a process (clock ticks since boot, Linux) to tell pid reuse apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int | None, start_time: int | None = None) -> bool:
    """Whether ``pid`` is still the same running process on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start_time is not None:
        now = process_start_time(pid)
        return now is None or now == start_time
    return True


def fail_stale_trials(study: Any) -> None:
    """Fail (and mark lost) the RUNNING trials whose worker stopped its heartbeat (RDB storages)."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # the function is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def heartbeat(study: Any, trial: Any) -> Iterator[None]:
    """Record the trial's heartbeat in a background thread while the block runs.

    Optuna beats only inside ``study.optimize``; nasbox drives trials with ask and tell,
    so it keeps the beat itself. A no-op for storages without heartbeats (journal file).
    """
    storage = study._storage  # Study keeps its storage private; the heartbeat API is the storage's
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
    if not interval:
        yield
        return
    trial_id = trial._trial_id
    storage.record_heartbeat(trial_id)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a lost connection must not kill the trial
                storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name="nasbox-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ---- opening an existing study (reports, training and export of a candidate)


def report_dir_for(study_name: str, reports_dir: str | Path = "reports") -> Path:
    """``<reports_dir>/<study name made file-safe>``, the folder the search writes to."""
    from nasbox.search import safe_name  # the one rule for folder names, owned by the search

    return Path(reports_dir) / safe_name(study_name)


def _journal(path: Path) -> Any:
    import optuna

    backend = optuna.storages.journal.JournalFileBackend(
        str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
    return optuna.storages.JournalStorage(backend)


def open_study(study_name: str, storage: str | None = None, reports_dir: str | Path = "reports") -> Any:
    """Load an existing study, read-only in intent (nothing is created for a bad name).

    Args:
        study_name: the study's name.
        storage: an Optuna storage URL, or the path of a journal file; default: the
            journal file ``<reports_dir>/<study>/journal.log`` that the search writes.
        reports_dir: where the search wrote its report folders.

    Raises:
        StorageError: the storage does not exist or cannot be read, or holds no such study.
    """
    import optuna

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
