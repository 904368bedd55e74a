"""Where a study lives: Optuna's journal file (the embedded default) or any storage URL.

The journal file storage works for several processes on one machine. For several
machines, give an RDB URL (PostgreSQL): that is Optuna's documented way to distribute a
study, and it comes with heartbeats that fail the trials of dead workers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nasbox.errors import StorageError

__all__ = ["JOURNAL_NAME", "mask_url", "open_storage", "process_alive", "process_start_time"]

JOURNAL_NAME = "journal.log"
HEARTBEAT_INTERVAL_S = 60
GRACE_PERIOD_S = 180


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_storage(url: str | None, report_dir: Path) -> tuple[Any, str]:
    """Open the study storage: ``(storage, display text without password)``.

    ``url=None`` uses a journal file in ``report_dir`` (created if needed).

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
        try:
            storage = optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=GRACE_PERIOD_S,
                engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
            )
        except Exception as exc:  # sqlalchemy raises many kinds of errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"cannot open storage {display}: {mask_url(first)}") from None
        return storage, display
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
