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

:func:`scan` and :func:`health` say what a journal holds, for ``nasbox doctor`` and the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.storages.journal._file import get_lock_file
from optuna.storages.journal._storage import JournalOperation

from nasbox.errors import StorageError
from nasbox.files import atomic_write, disk_full, is_disk_full

__all__ = ["Journal", "JournalDamaged", "JournalHealth", "JournalScan", "NasboxJournalStorage", "Salvage", "TornTail",
           "health", "journal_note", "salvage", "scan"]

_CHUNK = 1 << 16
_RECORD_START = b'{"op_code":'  # how every record of Optuna's journal begins (json.dumps of its dict)


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


class Journal(JournalFileBackend):
    """Optuna's journal file backend that heals a torn tail before appending and refuses mid-file damage.

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
            keep = _complete_end(f, size)
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
                record = _parse(line)
                if record is None:
                    bad = offset if bad is None else bad
                elif bad is not None:
                    damaged.append(bad)
                    return
                else:
                    self._log_number_offset[number + 1] = offset + len(line)
                    if number >= log_number_from:
                        yield record
                    number += 1
                offset += len(line)


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


def _last_line_end(f: Any, size: int) -> int:
    """The offset just after the file's last line end (0 without one)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        f.seek(start)
        found = f.read(pos - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


def _complete_end(f: Any, size: int) -> int:
    """The offset just after the file's last readable record: what follows it is a torn tail (bytes without
    a line end, or whole lines that do not parse, such as the zeros a crash can leave)."""
    end = _last_line_end(f, size)
    while end > 0:
        start = _last_line_end(f, end - 1)
        f.seek(start)
        if _readable(f.read(end - start)):
            return end
        end = start
    return 0


class JournalScan(NamedTuple):
    """What a journal file holds.

    Attributes:
        size: bytes.
        records: readable records.
        torn: bytes after the last readable record (an unfinished record, or lines that do not parse), which
            the next append cuts.
        damage: offset of the first unreadable line with a readable record after it (Optuna cannot read past it).
        bad_lines: how many lines (the last one included) are unreadable.
    """

    size: int
    records: int
    torn: int
    damage: int | None
    bad_lines: int


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            yield offset, line
            offset += len(line)


def _parse(line: bytes) -> dict[str, Any] | None:
    """A line's record, or ``None`` for a line that is not one (no line end, not JSON, not an object)."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _readable(line: bytes) -> bool:
    return _parse(line) is not None


def scan(path: str | Path) -> JournalScan:
    """Read every line of a journal: readable records, a torn tail, the first mid-file damage."""
    path = Path(path)
    records = bad = size = good_end = 0
    damage: int | None = None
    pending: int | None = None  # an unreadable line is damage once a readable one follows it
    for offset, line in _lines(path):
        size = offset + len(line)
        if _readable(line):
            records += 1
            good_end = size
            if pending is not None and damage is None:
                damage = pending
            pending = None
        else:
            bad += 1
            pending = offset if pending is None else pending
    return JournalScan(size, records, size - good_end if pending is not None else 0, damage, bad)


class Salvage(NamedTuple):
    """The outcome of :func:`salvage`."""

    records: int  # records in the new journal
    recovered: int  # of them, records found inside an unreadable line (glued after a torn one)
    dropped_bytes: int  # bytes of the old journal that are in no record of the new one
    damaged: list[int]  # offsets of the unreadable lines
    backup: Path | None  # where the old journal was kept (None: it was not replaced)


def _pieces(line: bytes) -> list[dict[str, Any]]:
    """The records inside an unreadable line: each ``{"op_code":...`` that parses to its end, such as a
    complete record glued after a torn one."""
    found = []
    start = line.find(_RECORD_START)
    while start >= 0:
        nxt = line.find(_RECORD_START, start + 1)
        piece = line[start:nxt if nxt >= 0 else len(line)].strip()
        with contextlib.suppress(ValueError):
            record = json.loads(piece)
            if isinstance(record, dict):
                found.append(record)
        start = nxt
    return found


def salvage(path: str | Path, *, replace: bool = True) -> Salvage:
    """Keep every readable record of a journal in a new one (under the journal's lock).

    Whole lines that parse are kept as they are; an unreadable line gives up the complete records glued
    inside it (a torn record followed by a whole one); the rest is dropped. With ``replace``, the new
    journal takes the old one's place and the old one is kept as ``journal.log.damaged-<time>``.
    """
    path = Path(path)
    kept: list[bytes] = []
    recovered = dropped = 0
    damaged: list[int] = []
    with get_lock_file(JournalFileOpenLock(str(path))):
        for offset, line in _lines(path):
            if _readable(line):
                kept.append(line)
                continue
            damaged.append(offset)
            pieces = _pieces(line)
            recovered += len(pieces)
            text = [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in pieces]
            kept += text
            dropped += max(0, len(line.rstrip(b"\n")) - sum(len(t) - 1 for t in text))
        backup = None
        if replace and damaged:
            backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
            os.link(path, backup)
            atomic_write(path, b"".join(kept))
    return Salvage(len(kept), recovered, dropped, damaged, backup)


class JournalHealth(NamedTuple):
    """What a report says of its journal: a torn tail not yet cut, and the tails cut before."""

    pending_torn: int
    healed: list[tuple[Path, int]]

    @property
    def healed_bytes(self) -> int:
        return sum(size for _, size in self.healed)


def journal_note(storage: Any) -> str:
    """What a report says of its study's journal: torn tails cut before and one not cut yet ("" when there is
    none, or the storage is not a journal file)."""
    journal = getattr(storage, "journal", None)
    if not isinstance(journal, Journal):
        return ""
    found = health(journal.path)
    parts = []
    if found.healed:
        copies = ", ".join(p.name for p, _ in found.healed[:3]) + (" ..." if len(found.healed) > 3 else "")
        parts.append(f"the study journal dropped {found.healed_bytes:,} bytes of {len(found.healed)} torn last "
                     f"record{'s' if len(found.healed) > 1 else ''} (an append cut short; copies kept: {copies})")
    damaged = sorted(journal.path.parent.glob(f"{journal.path.name}.damaged-*"))
    if damaged:
        parts.append(f"the study journal was repaired by 'nasbox doctor --repair' (every readable record kept; the "
                     f"damaged one kept as {damaged[-1].name})")
    if found.pending_torn:
        parts.append(f"the study journal ends in {found.pending_torn:,} bytes of an unfinished record, not read "
                     "(the next search run cuts them, keeping a copy)")
    return "; ".join(parts)


def health(path: str | Path) -> JournalHealth:
    """A journal's torn tail (if any, read from its end only) and the copies of tails cut before."""
    path = Path(path)
    pending = 0
    with contextlib.suppress(OSError), open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        pending = size - _complete_end(f, size)
    copies = sorted(path.parent.glob(f"{path.name}.torn-*"))
    return JournalHealth(pending, [(c, c.stat().st_size) for c in copies])
