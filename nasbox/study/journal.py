"""The embedded storage's journal file, made to survive a torn record and a full disk.

Optuna's journal file (``JournalFileBackend``) is a log of JSON records, one per line, appended under a
lock file. An append stopped half-way -- a power cut, a killed container, a full disk -- leaves a *torn
tail*: bytes of a record without its line end. Optuna's reader skips a broken *last* line, but the next
append is glued to it, and from then on every reader of the journal fails. :class:`Journal` is the same
file format with a write-ahead log's discipline:

- before every append it checks, under the journal's own lock, that the file ends in a complete record
  (its last line ends and parses); if not, it copies the torn bytes to ``journal.log.torn-<offset>-<time>`` beside the journal and
  truncates them, so earlier records stay readable and the new one starts on a fresh line;
- an append that fails (a full disk) is undone, so the file never ends in a record of its own making
  half-written, and raises :class:`~nasbox.errors.DiskFullError`;
- a journal damaged *before* its last record (an unreadable line with records after it) is refused with
  :class:`JournalDamaged`, one line naming the byte offset, instead of Optuna's ``JSONDecodeError``;
  :func:`salvage` (``nasbox doctor --repair``) keeps every readable record in a new journal.

:mod:`nasbox.study.journal_check` says what a journal holds, for ``nasbox doctor`` and the report.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.storages.journal._base import BaseJournalSnapshot
from optuna.storages.journal._file import get_lock_file
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult

from nasbox.errors import StorageError
from nasbox.files import atomic_write, disk_full, is_disk_full
from nasbox.study.journal_check import complete_end, parse_record, scan

__all__ = ["Journal", "JournalDamaged", "NasboxJournalStorage", "TornTail"]



class JournalDamaged(StorageError):
    """A journal with an unreadable record before its last one: Optuna cannot replay past it."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path, self.offset = path, offset
        super().__init__(f"the study journal {path} is damaged at byte {offset:,} (an unreadable record with more "
                         f"after it); 'nasbox doctor --storage {path} --repair' keeps every readable record in a new "
                         "journal (the damaged one is kept beside it)")


class TornTail(NamedTuple):
    """Bytes of an unfinished last record that were cut from a journal (and kept in ``copy``)."""

    offset: int
    size: int
    copy: Path


class Journal(JournalFileBackend, BaseJournalSnapshot):
    """Optuna's journal file backend that heals a torn tail before appending and refuses mid-file damage.

    It also keeps a snapshot of the replayed study beside the journal (``journal.log.snapshot``), which
    Optuna's journal storage asks for when it opens: a study of 10,000 trials is then read from the snapshot
    and the records after it instead of replaying every record (:meth:`save_snapshot`).

    Args:
        path: the journal file (created if missing).

    Attributes:
        healed: the torn tails this process cut, oldest first.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            super().__init__(str(self.path), lock_obj=JournalFileOpenLock(str(self.path)))
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(self.path, "the study journal") from None
            raise
        self.healed: list[TornTail] = []
        self._read_upto: tuple[int, int] = (0, 0)  # (log number, byte offset) where the last read ended
        self._snapshot_size = 0  # the journal's size at the newest snapshot this process knows of

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` as one write, after healing a torn tail; undone if it fails part-way."""
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        with get_lock_file(self._lock):
            self.heal()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except OSError as exc:
                    with contextlib.suppress(OSError):  # shrinking needs no space
                        os.ftruncate(fd, start)
                        os.fsync(fd)
                    if is_disk_full(exc):
                        raise disk_full(self.path, "the study journal") from None
                    raise
            finally:
                os.close(fd)

    def heal_now(self) -> TornTail | None:
        """:meth:`heal` under the journal's lock."""
        with get_lock_file(self._lock):
            return self.heal()

    def heal(self) -> TornTail | None:
        """Cut a torn tail (kept in a copy beside the journal); the caller holds the journal's lock."""
        with open(self.path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            keep = complete_end(f, size)
            if keep == size:
                return None
            f.seek(keep)
            torn = f.read(size - keep)
            copy = self.path.with_name(f"{self.path.name}.torn-{keep}-{time.strftime('%Y%m%dT%H%M%S')}")
            atomic_write(copy, torn)
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        tail = TornTail(keep, len(torn), copy)
        self.healed.append(tail)
        return tail

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """The records from number ``log_number_from`` on, as Optuna's reader gives them, except that unreadable
        lines at the end (a torn tail) are passed over however many there are, and an unreadable line with a
        record after it raises :class:`JournalDamaged` (unless a fresh read finds it was a heal in another
        process that this read crossed: then it reads on from there)."""
        for _ in range(3):
            damaged: list[int] = []
            for log in self._read_from(log_number_from, damaged):
                yield log
                log_number_from += 1
            if not damaged:
                return
            found = scan(self.path).damage
            if found is not None:
                raise JournalDamaged(self.path, found)
        raise JournalDamaged(self.path, damaged[0])

    def _read_from(self, log_number_from: int, damaged: list[int]) -> Iterator[dict[str, Any]]:
        """Readable records from ``log_number_from`` on; stops at a mid-file unreadable line (its offset appended
        to ``damaged``). Lines past the size the file had when reading began are left to the next read."""
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            number = log_number_from if log_number_from in self._log_number_offset else 0
            offset = self._log_number_offset[number]
            f.seek(offset)
            bad: int | None = None
            for line in f:
                if offset + len(line) > size:
                    return
                record = parse_record(line)
                if record is None:
                    bad = offset if bad is None else bad
                elif bad is not None:
                    damaged.append(bad)
                    return
                else:
                    self._log_number_offset[number + 1] = offset + len(line)
                    self._read_upto = (number + 1, offset + len(line))
                    if number >= log_number_from:
                        yield record
                    number += 1
                offset += len(line)

    # ---- snapshots (Optuna's BaseJournalSnapshot)
    @property
    def snapshot_path(self) -> Path:
        return self.path.with_name(self.path.name + ".snapshot")

    def save_snapshot(self, snapshot: bytes) -> None:
        """Keep Optuna's pickled replay of the records read so far, when the journal grew by a quarter since the
        last one (and is past 1 MB): snapshots then cost a bounded share of a search however long it runs."""
        number, offset = self._read_upto
        if offset < max(_SNAPSHOT_MIN_BYTES, _SNAPSHOT_GROWTH * self._snapshot_size):
            return
        header = {"format": 1, "log_number": number, "offset": offset, "tail": self._tail_hash(offset)}
        with contextlib.suppress(OSError):  # a snapshot is an optimisation: a failed one costs nothing
            atomic_write(self.snapshot_path, json.dumps(header).encode() + b"\n" + snapshot)
            self._snapshot_size = offset

    def load_snapshot(self) -> bytes | None:
        """The snapshot, if it belongs to this journal (the records it replayed are still there, byte for byte
        at their end); the next read then starts after them."""
        try:
            with open(self.snapshot_path, "rb") as f:
                header = json.loads(f.readline())
                data = f.read()
            number, offset = int(header["log_number"]), int(header["offset"])
            if header.get("format") != 1 or os.path.getsize(self.path) < offset or self._tail_hash(offset) != header["tail"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._log_number_offset[number] = offset
        self._snapshot_size = offset
        return data

    def _tail_hash(self, offset: int) -> str:
        """A hash of the 4 KiB of the journal before ``offset``: a snapshot is of this journal's prefix."""
        with open(self.path, "rb") as f:
            f.seek(max(0, offset - 4096))
            return hashlib.sha256(f.read(min(offset, 4096))).hexdigest()


class NasboxJournalStorage(JournalStorage):
    """Optuna's journal storage on a :class:`Journal`, with several attributes of a trial in one append.

    Args:
        path: the journal file.
        heal: cut a torn tail now, before the journal is read (a search's worker); otherwise it is cut by the
            first append, if any (a report only reads).
    """

    def __init__(self, path: str | Path, *, heal: bool = False) -> None:
        self.journal = Journal(path)
        if heal:
            self.journal.heal_now()
        super().__init__(self.journal)

    def restore_replay_result(self, snapshot: bytes) -> None:
        """Optuna's, with a restricted unpickler; a snapshot that does not load is passed over (every record is
        replayed then)."""
        try:
            result = _SnapshotUnpickler(io.BytesIO(snapshot)).load()
        except Exception:  # any failure: replay from the start
            self.journal._log_number_offset = {0: 0}
            return
        if not isinstance(result, JournalStorageReplayResult):
            self.journal._log_number_offset = {0: 0}
            return
        result._worker_id_prefix = self._worker_id_prefix
        result._worker_id_to_owned_trial_id = {}
        result._last_created_trial_id_by_this_process = -1
        self._replay_result = result

    def set_trial_user_attrs(self, trial_id: int, attrs: dict[str, Any], *, defer: bool = False) -> None:
        """Write several user attributes of a trial as one append (one lock, one flush to disk): a record each,
        as Optuna's replay reads them. ``defer`` is for database storages (written with the trial's end); a
        journal writes at once."""
        if not attrs:
            return
        with self._thread_lock:
            worker = self._replay_result.worker_id
            self._backend.append_logs([{"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": worker,
                                        "trial_id": trial_id, "user_attr": {k: v}} for k, v in attrs.items()])
            self._sync_with_backend()


_SNAPSHOT_MIN_BYTES = 1 << 20
_SNAPSHOT_GROWTH = 1.25
#: what a snapshot may hold: Optuna's replay result and the plain values in it (nothing else is unpickled)
_SNAPSHOT_CLASSES = {
    ("optuna.storages.journal._storage", "JournalStorageReplayResult"), ("optuna.trial._frozen", "FrozenTrial"),
    ("optuna.trial._state", "TrialState"), ("optuna.study._study_direction", "StudyDirection"),
    ("optuna.study._frozen", "FrozenStudy"), ("datetime", "datetime"), ("builtins", "set"), ("builtins", "frozenset"),
    ("collections", "defaultdict"), ("collections", "OrderedDict"),
    *(("optuna.distributions", name) for name in ("FloatDistribution", "IntDistribution", "CategoricalDistribution",
                                                   "UniformDistribution", "LogUniformDistribution",
                                                   "DiscreteUniformDistribution", "IntUniformDistribution",
                                                   "IntLogUniformDistribution")),
}


class _SnapshotUnpickler(pickle.Unpickler):
    """Unpickles a snapshot, refusing any class but the few a replay result holds (a snapshot is a file in a
    study folder: it must not be able to run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SNAPSHOT_CLASSES:
            raise pickle.UnpicklingError(f"a journal snapshot may not hold {module}.{name}")
        return super().find_class(module, name)
