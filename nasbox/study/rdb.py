"""A database storage that rides out an outage: Optuna's ``RDBStorage`` with retries, and attributes in one write.

A PostgreSQL server restarts (a failover, an upgrade, a managed database's maintenance window) and every
connection drops; Optuna's storage then raises ``StorageInternalError`` and the worker dies with it.
:class:`ResilientRDBStorage` retries a storage call that failed for a lost connection, with exponential
backoff, for up to ``retry_s`` seconds (``--storage-retry``), as PostgreSQL's own clients do: connections
are checked before use (``pool_pre_ping``), so the first call after the restart gets a fresh one. While
it waits it says so once ("storage ... unreachable, retrying for 4m"); if the database stays away it
raises :class:`~nasbox.errors.StorageError`, one line, and the study is left as it was.

A call retried after its connection dropped may have committed before the drop. The retries are safe
for every call a search makes: attribute and parameter writes are upserts or ignore a duplicate; a
state change that finds the trial already in that state counts as done; a study found created was
created by the lost attempt. A trial created twice leaves one that no worker holds, which the
stale-trial rules fail (it records no worker). After an outage, :attr:`recovered_at` tells the
stale-trial check to wait a heartbeat grace period, so that no worker's trial is failed because its
heartbeats could not be written while the database was away.

The trials a worker created are written behind and read from memory while they run
(:class:`~nasbox.study.own_trials.OwnTrials`): a trial costs a handful of transactions, not twenty.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import RDBStorage

from nasbox.errors import StorageError
from nasbox.study.own_trials import OwnTrials
from nasbox.study.schema import DEFAULT_RETRY_S

__all__ = ["ResilientRDBStorage", "connection_lost", "fmt_wait"]

_log = logging.getLogger(__name__)
_FIRST_DELAY_S, _MAX_DELAY_S = 0.25, 8.0
#: the storage calls a search makes (Optuna's _CachedStorage calls the private ones)
_RETRIED = ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
            "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
            "get_study_system_attrs", "get_all_studies", "create_new_trial", "_create_new_trial", "set_trial_param",
            "_set_trial_param", "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
            "set_trial_user_attr", "set_trial_system_attr", "get_trial_id_from_study_id_trial_number", "get_trial",
            "get_all_trials", "_get_trials", "get_best_trial", "_get_best_trial_id", "record_heartbeat",
            "_get_stale_trial_ids", "get_trial_user_attrs", "get_trial_system_attrs", "set_trial_user_attrs")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it came from) is a lost, refused or busy database connection -- what
    passes -- rather than a refusal that stays (a wrong password, a database that does not exist)."""
    from sqlalchemy import exc as sa

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, (sa.DisconnectionError, sa.TimeoutError)):
            return True
        if isinstance(seen, (sa.OperationalError, sa.InterfaceError)):
            return _transient(seen.orig)
        seen = seen.__cause__ or seen.__context__
    return False


#: SQLSTATE classes of errors that pass: connection exceptions, operator intervention (a shutdown, a restart)
_TRANSIENT_CLASSES = ("08", "57")
_LASTING = ("password", "authentication", "does not exist", "permission denied", "no such table", "no pg_hba")


def _transient(orig: BaseException | None) -> bool:
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return str(code)[:2] in _TRANSIENT_CLASSES or code == "53300"  # 53300: too many connections
    text = str(orig).lower()
    return not any(word in text for word in _LASTING)


def fmt_wait(seconds: float) -> str:
    """``240`` -> ``4m``, ``90`` -> ``1m30s``, ``8`` -> ``8s``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s".replace("m00s", "m") if minutes else f"{secs}s"


def _reason(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root).strip().splitlines()
    return f"{type(root).__name__}: {text[0][:160]}" if text else type(root).__name__


class ResilientRDBStorage(OwnTrials, RDBStorage):
    """Optuna's ``RDBStorage`` whose calls outlast a database outage of up to ``retry_s`` seconds.

    Args:
        url: the database URL.
        display: the URL as shown to users (no password).
        retry_s: how long a call is retried while the database is unreachable.
        **kwargs: passed to ``RDBStorage`` (heartbeats, engine options).

    Attributes:
        recovered_at: ``time.monotonic()`` when the last outage ended (``None``: none yet).
    """

    def __init__(self, url: str, *, display: str, retry_s: float = DEFAULT_RETRY_S, **kwargs: Any) -> None:
        self.display, self.retry_s = display, float(retry_s)
        self.recovered_at: float | None = None
        self._local = threading.local()
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._own_init()
        self._retrying(lambda: RDBStorage.__init__(self, url, **kwargs), "open")

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for key in ("_local", "_outage_lock", "_own_lock", "_own", "_ended", "_params", "_attrs"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        self._local, self._outage_lock = threading.local(), threading.Lock()
        self._own_init()
        super().__setstate__(state)

    def _retrying(self, call: Callable[[], Any], name: str) -> Any:
        """``call()``, retried with backoff while the connection is lost; nested calls are retried by the outermost."""
        if getattr(self._local, "depth", 0):
            return call()
        self._local.depth = 1
        delay, deadline, failed = _FIRST_DELAY_S, None, False
        try:
            while True:
                try:
                    result = call()
                except (optuna.exceptions.UpdateFinishedTrialError, optuna.exceptions.DuplicatedStudyError):
                    if failed:  # the lost attempt may have done it
                        return self._done_before(name)
                    raise
                except Exception as exc:
                    if not connection_lost(exc):
                        raise
                    now = time.monotonic()
                    deadline = deadline or self._outage(now, exc)
                    if now >= deadline:
                        raise StorageError(f"storage {self.display} unreachable for {fmt_wait(self.retry_s)} "
                                           f"({_reason(exc)}); the study is intact: run the same command again "
                                           "when the database is back (--storage-retry S waits longer)") from None
                    time.sleep(min(delay, deadline - now))
                    delay, failed = min(delay * 2, _MAX_DELAY_S), True
                    continue
                if failed:
                    self._recovered()
                return result
        finally:
            self._local.depth = 0

    def _outage(self, now: float, exc: BaseException) -> float:
        """The retry deadline of a call that just lost its connection; says so once per outage."""
        with self._outage_lock:
            if self._outage_since is None:
                self._outage_since = now
                _log.warning("storage %s unreachable, retrying for %s (%s)", self.display, fmt_wait(self.retry_s),
                             _reason(exc))
        return now + self.retry_s

    def _recovered(self) -> None:
        with self._outage_lock:
            if self._outage_since is not None:
                _log.warning("storage %s reachable again after %.1f s", self.display,
                             time.monotonic() - self._outage_since)
                self._outage_since = None
            self.recovered_at = time.monotonic()

    def _done_before(self, name: str) -> Any:
        """What a retried call returns when its lost attempt had already done it."""
        args, kwargs = self._local.call
        if name == "create_new_study":
            return RDBStorage.get_study_id_from_name(self, kwargs.get("study_name", args[1] if len(args) > 1 else None))
        if name == "set_trial_state_values":
            trial_id = kwargs.get("trial_id", args[0] if args else None)
            state = kwargs.get("state", args[1] if len(args) > 1 else None)
            if RDBStorage.get_trial(self, trial_id).state == state:
                return True
        raise optuna.exceptions.UpdateFinishedTrialError(f"{name}: the trial was finished by another worker")


def _retried(name: str) -> Callable[..., Any]:
    @functools.wraps(getattr(OwnTrials, name, None) or getattr(RDBStorage, name))
    def method(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self._local, "depth", 0):
            self._local.call = (args, kwargs)
        call = getattr(super(ResilientRDBStorage, self), name)  # the own-trial layer, else Optuna's
        return self._retrying(lambda: call(*args, **kwargs), name)

    return method


for _name in _RETRIED:
    setattr(ResilientRDBStorage, _name, _retried(_name))
del _name
