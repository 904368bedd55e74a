"""Reading a study journal line by line: what it holds (:func:`scan`), its torn tail (:func:`health`), and the
salvage of a damaged one (:func:`salvage`, ``nasbox doctor --repair``). No Optuna storage is opened here."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from optuna.storages.journal import JournalFileOpenLock
from optuna.storages.journal._file import get_lock_file

from nasbox.files import atomic_write

__all__ = ["JournalHealth", "JournalScan", "Salvage", "complete_end", "health", "journal_note", "parse_record",
           "salvage", "scan"]

_CHUNK = 1 << 16
_RECORD_START = b'{"op_code":'  # how every record of Optuna's journal begins (json.dumps of its dict)


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


def complete_end(f: Any, size: int) -> int:
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


def parse_record(line: bytes) -> dict[str, Any] | None:
    """A line's record, or ``None`` for a line that is not one (no line end, not JSON, not an object)."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _readable(line: bytes) -> bool:
    return parse_record(line) is not None


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
    journal = getattr(storage, "journal", None)  # nasbox's journal storage (NasboxJournalStorage)
    if not isinstance(getattr(journal, "path", None), Path):
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
        pending = size - complete_end(f, size)
    copies = sorted(path.parent.glob(f"{path.name}.torn-*"))
    return JournalHealth(pending, [(c, c.stat().st_size) for c in copies])
