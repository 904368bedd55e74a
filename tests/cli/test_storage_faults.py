"""Faults a study survives, as a user meets them on the command line: a torn journal, a damaged one, a full disk.

Each test reaches its fault for real: the journal's bytes are cut or garbled on disk, and the full disk is a
small tmpfs (skipped where mounting one is not allowed) filled to the last byte.
"""

from __future__ import annotations

import optuna
import pytest

from nasbox.cli import main
from nasbox.study.journal_check import scan
from nasbox.study.schema import count_finished
from tests.cli.test_cli import assert_one_line_error

TINY = ["--space-arg", "channels=4,8", "--space-arg", "kernels=3", "--space-arg", "n_max=1", "--space-arg", "m_max=4",
        "--space-arg", "l_max=0", "--space-arg", "heads=gap"]


def search(capsys, reports, budget: int, *extra: str) -> tuple[int, str, str]:
    code = main(["search", "--dataset", "synthetic", "--iterations", "3", "--batch-size", "16", "--budget", str(budget),
                 "--reports-dir", str(reports), "--study", "s", "--sampler", "random", "--device", "cpu",
                 "--no-classics", "--report-every", "0", *TINY, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def plain_optuna(journal) -> optuna.Study:
    backend = optuna.storages.journal.JournalFileBackend(str(journal))
    return optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(backend))


def test_a_search_resumed_after_a_torn_tail_keeps_every_finished_trial(capsys, tmp_path, one_thread):
    journal = tmp_path / "s" / "journal.log"
    assert search(capsys, tmp_path, 2)[0] == 0
    finished = {t.number: t.values for t in plain_optuna(journal).trials}
    last = journal.read_bytes().splitlines(keepends=True)[-1]
    with journal.open("ab") as f:
        f.write(last[: len(last) // 2])  # an append cut half-way: the same record again, torn
    code, out, _ = search(capsys, tmp_path, 4)
    assert code == 0 and f"journal: dropped a torn last record of {len(last) // 2:,} bytes" in out
    study = plain_optuna(journal)  # Optuna's own reader: no error
    assert count_finished(study.trials) == 4
    assert {t.number: t.values for t in study.trials if t.number in finished} == finished
    assert main(["report", "--study", "s", "--reports-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"dropped {len(last) // 2:,} bytes of 1 torn last record" in out
    assert "dropped" in (tmp_path / "s" / "report.md").read_text()


def test_a_journal_damaged_mid_file_is_refused_in_one_line_and_doctor_repairs_it(capsys, tmp_path, one_thread):
    journal = tmp_path / "s" / "journal.log"
    assert search(capsys, tmp_path, 2)[0] == 0
    lines = journal.read_bytes().splitlines(keepends=True)
    offset = sum(len(line) for line in lines[:10])
    lines[10] = lines[10][:20] + lines[11]  # a torn record with the next one glued to it
    del lines[11]
    journal.write_bytes(b"".join(lines))
    for argv in (["report", "--study", "s", "--reports-dir", str(tmp_path)], None):
        code, _, err = (main(argv), *capsys.readouterr()) if argv else search(capsys, tmp_path, 3)
        assert_one_line_error(code, err, f"damaged at byte {offset:,}", "nasbox doctor")
    damaged = journal.read_bytes()
    assert main(["doctor", "--study", "s", "--reports-dir", str(tmp_path)]) == 1  # says so, changes nothing
    assert "DAMAGED" in capsys.readouterr().out and journal.read_bytes() == damaged
    assert main(["doctor", "--study", "s", "--reports-dir", str(tmp_path), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "1 recovered from inside damaged lines" in out and "study 's': 2 trials (2 complete)" in out
    assert scan(journal).damage is None
    assert list((tmp_path / "s").glob("journal.log.damaged-*"))[0].read_bytes() == damaged
    assert search(capsys, tmp_path, 3)[0] == 0 and count_finished(plain_optuna(journal).trials) == 3


def test_doctor_refuses_a_missing_study_in_one_line(capsys, tmp_path):
    code = main(["doctor", "--study", "nosuch", "--reports-dir", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr().err, "no study journal", "nosuch")


def test_a_full_disk_at_the_report_is_one_line_and_the_same_command_ends_with_the_report(capsys, small_disk,
                                                                                         one_thread):
    disk = small_disk(16 * 1024)
    reports = disk.path / "reports"
    assert search(capsys, reports, 2)[0] == 0
    journal = reports / "s" / "journal.log"
    (reports / "s" / "index.html").unlink()
    before = journal.read_bytes()
    disk.fill(leave=0)
    code, _, err = (main(["report", "--study", "s", "--reports-dir", str(reports)]), *capsys.readouterr())
    assert_one_line_error(code, err, "no space left on the disk of", "run the same command again")
    assert journal.read_bytes() == before and not list(reports.rglob("*.tmp"))
    (disk.path / "filler").unlink()
    assert main(["report", "--study", "s", "--reports-dir", str(reports)]) == 0
    assert (reports / "s" / "index.html").is_file()


def test_a_search_that_fills_the_disk_stops_in_one_line_and_its_rerun_finishes(capsys, small_disk, one_thread):
    disk = small_disk(16 * 1024)
    reports = disk.path / "reports"
    assert search(capsys, reports, 1)[0] == 0
    disk.fill(leave=2 * 1024)
    code, _, err = search(capsys, reports, 3)
    assert_one_line_error(code, err, "no space left on the disk of", str(reports / "s"))
    journal = reports / "s" / "journal.log"
    assert scan(journal).torn == 0 and scan(journal).damage is None
    assert not list(reports.rglob("*.tmp"))
    (disk.path / "filler").unlink()
    assert search(capsys, reports, 3)[0] == 0
    assert count_finished(plain_optuna(journal).trials) == 3
    assert (reports / "s" / "index.html").is_file()


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_storage_retry_is_one_line(capsys, tmp_path, value):
    code, _, err = search(capsys, tmp_path, 1, "--storage-retry", value)
    assert_one_line_error(code, err, "--storage-retry")
