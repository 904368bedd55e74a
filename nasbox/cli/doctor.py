"""``nasbox doctor``: what a study's storage holds, and the repair of a damaged journal."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from nasbox.errors import StorageError
from nasbox.study.journal import Journal, NasboxJournalStorage
from nasbox.study.journal_check import JournalScan, health, salvage, scan
from nasbox.study.schema import JOURNAL_NAME, report_dir_for, trial_status
from nasbox.study.storage import open_storage


def _journal_path(args: argparse.Namespace) -> Path | None:
    """The journal file to examine, or ``None`` for a database URL."""
    if args.storage and not Path(args.storage).is_file():
        if "://" in args.storage:
            return None
        raise StorageError(f"no study journal {args.storage}: give the journal file a search wrote "
                           "(reports/<study>/journal.log) or a storage URL")
    if not args.storage and not args.study:
        raise StorageError("say which study: --study NAME (its journal is <reports-dir>/<study>/journal.log) or "
                           "--storage FILE|URL")
    path = Path(args.storage) if args.storage else report_dir_for(args.study, args.reports_dir) / JOURNAL_NAME
    if not path.is_file():
        raise StorageError(f"no study journal {path}: give the --reports-dir the search wrote to, or --storage FILE")
    return path


def _examine(path: Path, found: JournalScan, repair: bool) -> int:
    """Print what the journal holds and repair it if asked; the problems left."""
    print(f"journal {path}: {found.size:,} bytes, {found.records:,} readable records")
    for copy, size in health(path).healed:
        print(f"  healed before: a torn last record of {size:,} bytes was cut (copy: {copy})")
    if found.damage is not None:
        print(f"  DAMAGED at byte {found.damage:,}: an unreadable record with more after it "
              f"({found.bad_lines} unreadable line{'s' if found.bad_lines > 1 else ''} in all); searches and "
              "reports refuse the journal")
        if not repair:
            print(f"  repair: nasbox doctor --storage {path} --repair (keeps every readable record in a new journal; "
                  "the damaged one is kept beside it)")
            return 1
        done = salvage(path)
        print(f"  repaired: {done.records:,} records kept ({done.recovered} recovered from inside damaged lines), "
              f"{done.dropped_bytes:,} bytes dropped; the damaged journal is kept as {done.backup}")
    elif found.torn:
        print(f"  torn tail: {found.torn:,} bytes of an unfinished last record (readers skip it; the next search "
              "run cuts it, keeping a copy)")
        if repair:
            tail = Journal(path).heal_now()
            if tail is not None:
                print(f"  repaired: cut {tail.size:,} bytes (copy: {tail.copy})")
    else:
        print("  intact: every record is complete")
    return 0


def _studies(storage: object, only: str | None) -> None:
    """One line per study of ``storage`` (or the one named): its trials by status."""
    import optuna

    names = optuna.study.get_all_study_names(storage)
    if only is not None and only not in names:
        raise StorageError(f"the storage holds no study named {only!r} (it holds {', '.join(map(repr, names)) or 'none'})")
    for name in [only] if only else names:
        study = optuna.load_study(study_name=name, storage=storage)
        counts = Counter(str(trial_status(t)) for t in study.get_trials(deepcopy=False))
        text = ", ".join(f"{n} {s}" for s, n in counts.most_common()) or "no trials"
        print(f"study {name!r}: {sum(counts.values())} trials ({text})")


def cmd_doctor(args: argparse.Namespace) -> int:
    """Examine a study's storage; ``--repair`` heals a torn tail and salvages a damaged journal. Exit code 1 when
    damage is left unrepaired."""
    path = _journal_path(args)
    if path is None:  # a database: reachable (within --storage-retry), and its studies
        storage, display = open_storage(args.storage, Path(args.reports_dir), retry_s=args.storage_retry)
        print(f"storage {display}: reachable")
        _studies(storage, args.study)
        return 0
    if _examine(path, scan(path), args.repair):
        return 1
    _studies(NasboxJournalStorage(path), args.study)
    return 0
