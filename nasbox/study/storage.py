"""Where a study lives: Optuna's journal file (the embedded default) or any storage URL.

The journal file storage works for several processes on one machine. For several
machines, give an RDB URL (PostgreSQL): that is Optuna's documented way to distribute a
study, and it comes with heartbeats that fail the trials of dead workers.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import re
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from nasbox.errors import StorageError
from nasbox.study.journal import NasboxJournalStorage
from nasbox.study.rdb import ResilientRDBStorage
from nasbox.study.schema import DEFAULT_RETRY_S, JOURNAL_NAME, Attr, report_dir_for

__all__ = [
    "GRACE_BEATS",
    "Heartbeat",
    "fail_stale_trials",
    "journal_healed",
    "mask_url",
    "open_storage",
    "open_study",
    "process_alive",
    "process_start_time",
    "set_attrs",
    "settle_stale_trials",
    "storage_url",
    "worker_identity",
]

HEARTBEAT_INTERVAL_S = 30
#: the trials that a search in this process holds now: (study name, trial id); another of this process's RUNNING
#: trials was left by a search that stopped (a full disk, an unreachable database) in a process that goes on
_HELD_HERE: set[tuple[str, int]] = set()
GRACE_BEATS = 3  # a RUNNING trial silent for this many heartbeat intervals has lost its worker


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def without_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user@host/db``: a URL to write down, whose
    password the database driver then takes from ``$PGPASSWORD`` or ``~/.pgpass``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", url)


def storage_url(given: str | None) -> str | None:
    """The storage a command uses: the one given, else ``$NASBOX_STORAGE``, else ``None`` (the journal file)."""
    return given or os.environ.get("NASBOX_STORAGE") or None


def open_storage(url: str | None, report_dir: Path, heartbeat_s: int = HEARTBEAT_INTERVAL_S,
                 retry_s: float = DEFAULT_RETRY_S) -> tuple[Any, str]:
    """Open the study storage: ``(storage, display text without password)``.

    ``url=None`` uses a journal file in ``report_dir`` (created if needed) that heals a torn last
    record (:class:`~nasbox.study.journal.Journal`). An RDB URL (PostgreSQL for several machines)
    gets heartbeats every ``heartbeat_s`` seconds -- a RUNNING trial without one for
    ``GRACE_BEATS * heartbeat_s`` is failed by the next worker that asks for a trial, and then known
    as lost (:func:`trial_status`) -- and rides out a database outage of up to ``retry_s`` seconds
    (:class:`~nasbox.study.rdb.ResilientRDBStorage`).

    Raises:
        StorageError: the folder is not writable or the URL cannot be opened.
    """
    if url is None:
        path = Path(report_dir) / JOURNAL_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK):
                raise PermissionError(f"{path.parent} is not writable")
            return NasboxJournalStorage(path, heal=True), str(path)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write the study journal {path}: {exc.strerror or exc}; "
                               "choose a writable --reports-dir") from None
    display = mask_url(url)
    if not url.startswith(("postgresql", "mysql", "sqlite")):
        raise StorageError(f"unsupported storage URL {display}; use postgresql://, mysql://, sqlite:/// or omit it")
    import optuna
    from sqlalchemy.exc import IntegrityError

    engine = {"pool_pre_ping": True} if not url.startswith("sqlite") else None  # connections checked before use
    if url.startswith("postgresql"):
        engine = {**engine, "connect_args": {"connect_timeout": 10}}  # type: ignore[dict-item]
    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = ResilientRDBStorage(url, display=display, retry_s=retry_s, heartbeat_interval=heartbeat_s,
                                              grace_period=GRACE_BEATS * heartbeat_s, engine_kwargs=engine)
            return storage, display
        except IntegrityError:
            # Workers starting together on a new database race to create Optuna's
            # schema; the loser finds it made by the winner on the next try.
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
        except StorageError:
            raise
        except Exception as exc:  # sqlalchemy raises many kinds of errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"cannot open storage {display}: {mask_url(first)}") from None
    raise StorageError(f"cannot open storage {display}: the schema could not be created (concurrent workers)")


def journal_healed(storage: Any) -> list[Any]:
    """The torn journal tails this process cut (:class:`~nasbox.study.journal.TornTail`); none for other storages."""
    journal = getattr(storage, "journal", None)
    return list(journal.healed) if journal is not None else []


def set_attrs(trial: Any, attrs: dict[str, Any], *, defer: bool = False) -> None:
    """Record several user attributes of a running ``optuna.Trial`` in one storage write where the storage
    can (nasbox's journal and database storages), else one by one. ``defer``: a database storage may write
    them with the trial's next write (its end) instead -- only for what is not needed to settle the trial
    should its worker die first (heartbeats settle it there)."""
    if not attrs:
        return
    storage = trial.storage
    backend = getattr(storage, "_backend", storage)  # Optuna wraps an RDBStorage in its _CachedStorage
    batch = getattr(backend, "set_trial_user_attrs", None)
    if batch is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    batch(trial._trial_id, attrs, defer=defer)
    trial._cached_frozen_trial.user_attrs.update(attrs)  # what Trial.set_user_attr keeps up to date too


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


def worker_identity() -> dict[str, Any]:
    """What a trial records of the worker that runs it: host, process id and its start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": process_start_time(pid)}


def _mine(worker: dict[str, Any]) -> bool:
    """Whether a trial's recorded worker is this very process."""
    me = worker_identity()
    return all(worker.get(k) == me[k] for k in ("host", "pid", "pid_start"))


def fail_stale_trials(study: Any) -> None:
    """Fail the RUNNING trials whose worker stopped its heartbeat (RDB storages).

    Optuna writes nothing but the FAIL state (it fails the trial before it would call a
    callback, which then could not write to it); :func:`trial_status` knows such a trial as lost.
    """
    import optuna

    storage = getattr(study._storage, "_backend", study._storage)
    recovered = getattr(storage, "recovered_at", None)
    interval = getattr(storage, "heartbeat_interval", None) or 0
    if recovered is not None and time.monotonic() - recovered < GRACE_BEATS * interval:
        return  # after an outage, live workers' heartbeats resume first: none was written while it lasted
    with warnings.catch_warnings():  # the function is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def settle_stale_trials(study: Any, grace_s: float) -> list[int]:
    """Fail and mark lost the RUNNING trials that nothing else would settle; return their numbers.

    - a trial of this host whose process is gone (the journal storage has no heartbeats);
    - a trial of this very process that no search here holds (one stopped by a full disk, say, in a
      process that goes on: a notebook);
    - a trial that recorded no worker ``grace_s`` seconds after it started: its worker died
      between asking for it and recording itself (heartbeats, which start at that moment
      too, never began for it, so Optuna's check passes it over).

    Trials of live workers and of other hosts are left to their workers and to heartbeats.
    """
    from optuna.trial import TrialState

    host = socket.gethostname()
    now = datetime.datetime.now()
    settled = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(Attr.WORKER)
        if worker is None:
            started = t.datetime_start
            if started is None or (now - started.replace(tzinfo=None)).total_seconds() < grace_s:
                continue
            reason = "stale: its worker ended before recording itself"
        elif worker.get("host") == host and not process_alive(worker.get("pid"), worker.get("pid_start")):
            reason = "stale: its worker process ended without finishing it"
        elif _mine(worker) and (study.study_name, t._trial_id) not in _HELD_HERE:
            reason = "stale: its search in this process ended without finishing it"
        else:
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, Attr.LOST, reason)  # another worker's trial: no Trial object
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            settled.append(t.number)
        except (RuntimeError, ValueError):  # another worker (or a heartbeat check) settled it first
            continue
    return settled


class Heartbeat:
    """A worker's heartbeat: one background thread beats every trial the worker holds.

    Optuna beats only inside ``study.optimize``; nasbox drives trials with ask and tell, so it
    keeps the beat itself, from the moment a trial is asked (:meth:`hold`, which beats at once)
    until it is told (:meth:`release`), pre-screened proposals included. A no-op for storages
    without heartbeats (the journal file). Use as a context manager around the worker's loop.
    """

    def __init__(self, study: Any) -> None:
        self._study_name = study.study_name
        self._here: set[tuple[str, int]] = set()
        self._storage = study._storage  # Study keeps its storage private; the heartbeat API is the storage's
        getter = getattr(self._storage, "get_heartbeat_interval", None)
        self.interval: int | None = getter() if getter else None
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.interval:
            self._thread = threading.Thread(target=self._run, name="nasbox-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _HELD_HERE.difference_update(self._here)

    def hold(self, trial: Any) -> None:
        """Beat ``trial`` now and from now on."""
        self._here.add((self._study_name, trial._trial_id))
        _HELD_HERE.add((self._study_name, trial._trial_id))
        if not self.interval:
            return
        self._storage.record_heartbeat(trial._trial_id)
        with self._lock:
            self._held.add(trial._trial_id)

    def release(self, trial: Any) -> None:
        """Stop beating ``trial`` (it was told)."""
        self._here.discard((self._study_name, trial._trial_id))
        _HELD_HERE.discard((self._study_name, trial._trial_id))
        with self._lock:
            self._held.discard(trial._trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                held = sorted(self._held)
            for trial_id in held:
                with contextlib.suppress(Exception):  # a lost connection must not kill the worker
                    self._storage.record_heartbeat(trial_id)


# ---- opening an existing study (reports, training and export of a candidate)


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
    storage = storage_url(storage)
    if storage is None or Path(storage).is_file():
        path = Path(storage) if storage else report_dir_for(study_name, reports_dir) / JOURNAL_NAME
        if not path.is_file():
            raise StorageError(f"no study {study_name!r}: {path} does not exist; give the --reports-dir the "
                               "search wrote to, or its --storage")
        try:
            backend, display = NasboxJournalStorage(path), str(path)
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
