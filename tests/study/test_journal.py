"""Tests of nasbox.study.journal: a torn last record is healed, mid-file damage is refused and salvaged, and an
append that fails part-way (a full disk) is undone."""

from __future__ import annotations

import errno
import json
import os

import optuna
import pytest
from optuna.trial import TrialState

from nasbox.errors import DiskFullError
from nasbox.study import journal as journal_mod
from nasbox.study.journal import Journal, JournalDamaged, NasboxJournalStorage
from nasbox.study.journal_check import health, journal_note, salvage, scan


def optuna_view(path) -> optuna.Study:
    """The study as plain Optuna reads it (its own journal backend, no healing)."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name="s", storage=storage)


def make_study(path, trials: int = 3) -> optuna.Study:
    study = optuna.create_study(study_name="s", storage=NasboxJournalStorage(path))
    for i in range(trials):
        t = study.ask()
        t.suggest_int("x", 0, 10)
        t.set_user_attr("status", "complete")
        study.tell(t, float(i))
    return study


def complete(study: optuna.Study) -> list[tuple[int, float]]:
    return [(t.number, t.value) for t in study.get_trials() if t.state == TrialState.COMPLETE]


def test_a_torn_tail_of_every_length_is_cut_and_the_study_goes_on(tmp_path):
    """Every prefix of a record (1 byte up to the whole record without its line end) left at the end by an
    append cut short: the next append cuts it (keeping a copy), every complete record is still read, and the
    journal stays readable by Optuna's own reader."""
    pristine = tmp_path / "pristine.log"
    make_study(pristine)
    before = complete(optuna_view(pristine))
    record = b'{"op_code":8,"worker_id":"w-1","trial_id":1,"user_attr":{"accuracy":0.97531}}'
    lengths = range(1, len(record) + 1)
    for cut in lengths:
        path = tmp_path / f"torn{cut}.log"
        path.write_bytes(pristine.read_bytes() + record[:cut])
        study = optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))  # a reader: reads around it
        assert complete(study) == before
        t = study.ask()  # the first append after the tear
        study.tell(t, 99.0)
        assert complete(optuna_view(path)) == [*before, (t.number, 99.0)], cut
        copies = list(tmp_path.glob(f"torn{cut}.log.torn-*"))
        assert len(copies) == 1 and copies[0].read_bytes() == record[:cut]
        assert scan(path).torn == 0 and scan(path).damage is None


def test_a_worker_that_opens_a_torn_journal_cuts_it_first_and_says_so(tmp_path):
    path = tmp_path / "journal.log"
    make_study(path)
    size = path.stat().st_size
    torn = b'{"op_code":6,"worker_id":"w-1","trial_id":2,"sta'
    with path.open("ab") as f:
        f.write(torn)
    assert health(path).pending_torn == len(torn)
    assert "ends in 48 bytes of an unfinished record" in journal_note(NasboxJournalStorage(path))  # a reader: kept
    storage = NasboxJournalStorage(path, heal=True)
    assert path.stat().st_size == size
    (tail,) = storage.journal.healed
    assert tail.offset == size and tail.size == len(torn) and tail.copy.read_bytes() == torn
    assert "dropped 48 bytes of 1 torn last record" in journal_note(storage)


def test_whole_unreadable_lines_at_the_end_are_a_torn_tail_too(tmp_path):
    """A crash can leave zeros (with line ends) where a record was being written: unreadable to the end."""
    path = tmp_path / "journal.log"
    make_study(path)
    before = complete(optuna_view(path))
    size = path.stat().st_size
    with path.open("ab") as f:
        f.write(b"\x00" * 40 + b"\n" + b"\x00" * 7 + b"\n")
    found = scan(path)
    assert found.torn == 49 and found.damage is None and found.bad_lines == 2
    study = optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))
    assert complete(study) == before  # Optuna's reader would raise on the second unreadable line
    study.tell(study.ask(), 5.0)
    assert path.read_bytes().count(b"\x00") == 0 and complete(optuna_view(path))[-1] == (len(before), 5.0)
    assert scan(path).records > 0 and path.stat().st_size > size


def test_damage_before_the_last_record_is_refused_with_its_offset_and_salvaged(tmp_path):
    """What an older writer left after a torn tail: the next record glued to the torn bytes, more after it."""
    path = tmp_path / "journal.log"
    make_study(path, trials=2)
    offset = path.stat().st_size
    torn = b'{"op_code":4,"worker_id":"w-9","study_id":0,"datetime_st'
    with path.open("ab") as f:
        f.write(torn)  # torn, then an append glued on
    study = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path))))
    with pytest.raises(AttributeError):  # Optuna's own writer glues its record to the torn bytes ...
        study.ask()
    with pytest.raises(json.JSONDecodeError):  # ... and from the next record on nothing reads the journal
        study.ask()
    with pytest.raises(JournalDamaged) as caught:
        optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))
    assert f"damaged at byte {offset:,}" in str(caught.value) and "nasbox doctor" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert scan(path).damage == offset
    done = salvage(path)
    assert done.damaged == [offset] and done.recovered == 1 and done.backup.is_file()
    assert done.dropped_bytes == len(torn)  # the torn bytes, and nothing else
    assert done.backup.read_bytes().startswith(path.read_bytes()[:offset])  # the damaged journal kept as it was
    view = optuna_view(path)
    assert complete(view) == [(0, 0.0), (1, 1.0)]
    # the record glued to the torn bytes is recovered, and the one after it kept
    assert [t.state for t in view.get_trials()] == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING] * 2
    assert scan(path).damage is None
    assert "repaired by 'nasbox doctor --repair'" in journal_note(NasboxJournalStorage(path))


def test_a_read_that_crossed_a_heal_in_another_process_reads_again(tmp_path, monkeypatch):
    """A reader may see torn bytes and, after another process cut them and appended, the new record's end on
    the same line: an unreadable line with a record after it, that a fresh look no longer finds."""
    path = tmp_path / "journal.log"
    make_study(path, trials=2)
    good = path.read_bytes()
    lines = good.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-2]) + b"garbled" + lines[-2][7:] + lines[-1])  # as the racing read saw it
    real_scan = journal_mod.scan
    rescans = []

    def heal_finished_then_scan(p):
        path.write_bytes(good)  # the other process's heal and append are done by now
        rescans.append(p)
        return real_scan(p)

    monkeypatch.setattr(journal_mod, "scan", heal_finished_then_scan)
    study = optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))
    assert rescans and complete(study) == [(0, 0.0), (1, 1.0)]


def _fail_after(limit: int):
    """An ``os.write`` that writes ``limit`` bytes in all, then raises ENOSPC: a disk that fills mid-append."""
    real = os.write
    left = [limit]

    def write(fd, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real(fd, bytes(data[:left[0]]))
        left[0] -= n
        return n

    return write


def test_an_append_that_fills_the_disk_part_way_is_undone(tmp_path, monkeypatch):
    path = tmp_path / "journal.log"
    study = make_study(path, trials=2)
    size, before = path.stat().st_size, path.read_bytes()
    monkeypatch.setattr(journal_mod.os, "write", _fail_after(20))
    with pytest.raises(DiskFullError) as caught:
        study.ask()
    assert path.stat().st_size == size and path.read_bytes() == before  # the 20 bytes written were cut again
    assert str(path) in str(caught.value) and "free some space" in str(caught.value)
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    study = optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))
    study.tell(study.ask(), 3.0)  # with space again it goes on
    assert complete(optuna_view(path)) == [(0, 0.0), (1, 1.0), (2, 3.0)]


def test_journal_backend_is_the_default_storage_of_a_search(tmp_path):
    from nasbox.study.storage import open_storage

    storage, display = open_storage(None, tmp_path)
    assert isinstance(storage, NasboxJournalStorage) and isinstance(storage.journal, Journal)
    assert display == str(tmp_path / "journal.log")


def test_an_append_on_a_real_full_disk_is_one_line_and_the_journal_ends_in_a_complete_record(small_disk):
    disk = small_disk(256)
    path = disk.path / "journal.log"
    study = make_study(path, trials=2)
    trial = study.ask()
    before = path.read_bytes()
    disk.fill(leave=0)
    attr = {"proxies": "x" * 8192}  # larger than what the file system's last block may still hold
    with pytest.raises(DiskFullError) as caught:
        trial.set_user_attr("big", attr)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before  # nothing torn left by the failed append
    (disk.path / "filler").unlink()
    study.tell(trial, 4.0)
    assert complete(optuna_view(path)) == [(0, 0.0), (1, 1.0), (2, 4.0)]


def test_a_snapshot_spares_replaying_the_records_before_it_and_gives_the_same_study(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_mod, "_SNAPSHOT_MIN_BYTES", 0)
    path = tmp_path / "journal.log"
    study = make_study(path, trials=101)  # Optuna asks for a snapshot every 100 trials
    for i in range(5):  # records after the snapshot
        study.tell(study.ask(), 1000.0 + i)
    snapshot = path.with_name("journal.log.snapshot")
    assert snapshot.is_file()
    parsed = []
    real = journal_mod.parse_record
    monkeypatch.setattr(journal_mod, "parse_record", lambda line: parsed.append(1) or real(line))
    fast = optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))
    lines = path.read_bytes().count(b"\n")
    assert 0 < len(parsed) < lines / 10  # only the records after the snapshot were read
    assert complete(fast) == complete(optuna_view(path)) and len(complete(fast)) == 106
    fast.tell(fast.ask(), 7.0)  # and it goes on writing where the journal ends
    assert complete(optuna_view(path))[-1] == (106, 7.0)


def test_a_snapshot_of_another_journal_or_with_foreign_classes_is_passed_over(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setattr(journal_mod, "_SNAPSHOT_MIN_BYTES", 0)
    path = tmp_path / "journal.log"
    make_study(path, trials=101)
    snapshot = path.with_name("journal.log.snapshot")
    header, data = snapshot.read_bytes().split(b"\n", 1)
    expected = complete(optuna_view(path))
    # the journal was replaced by another (its bytes before the snapshot's offset differ): a full replay
    other = tmp_path / "other.log"
    make_study(other, trials=101)
    path.write_bytes(other.read_bytes())
    assert complete(optuna.load_study(study_name="s", storage=NasboxJournalStorage(path))) == complete(optuna_view(other))
    # a snapshot that would run code when unpickled is refused, not loaded
    make_study(path.with_name("fresh.log"), trials=101)
    fresh = path.with_name("fresh.log")
    ran = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {ran}",))

    good_header = fresh.with_name("fresh.log.snapshot").read_bytes().split(b"\n", 1)[0]
    fresh.with_name("fresh.log.snapshot").write_bytes(good_header + b"\n" + pickle.dumps(Evil()))
    study = optuna.load_study(study_name="s", storage=NasboxJournalStorage(fresh))
    assert not ran.exists() and len(complete(study)) == 101
    assert header and data and expected  # the first journal's own snapshot was well formed
