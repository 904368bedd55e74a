"""Tests of the final rung (nasbox.search.final, nasbox final, search --final): which candidates, full training
tested once, records in the study, resuming, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nasbox.cli import main
from nasbox.errors import ConfigError
from nasbox.search.final import FinalSettings, choose
from nasbox.study.result import SearchResult
from nasbox.study.schema import FINAL_CLASSIC, FINAL_SETTINGS, FINAL_TRIAL
from nasbox.study.storage import open_study
from tests.cli.test_cli import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ["search", "--dataset", "synthetic", "--iterations", "20", "--budget", "5", "--no-classics", "--sampler",
          "random", "--report-every", "0", "--study", "f", "--space-arg", "channels=4,8", "--space-arg", "kernels=3",
          "--space-arg", "n_max=1", "--space-arg", "l_max=0", "--space-arg", "heads=gap"]


def _front(rows: list[tuple[int, float, float, float]]) -> SearchResult:
    df = pd.DataFrame(rows, columns=["number", "accuracy", "macs", "params"])
    df["encoding"] = [f"g{n}" for n in df["number"]]
    return SearchResult("s", "journal", Path("."), df, df.copy(), ("accuracy", "macs", "params"), [])


def test_choose_takes_the_extremes_the_knee_and_then_spreads_along_the_front():
    # accuracy rises steeply to #2 (the knee), then slowly; #4 is the cheapest in params, #0 in MACs
    result = _front([(0, 0.50, 1e4, 900), (1, 0.80, 3e4, 800), (2, 0.90, 1e5, 700), (3, 0.91, 1e6, 600),
                     (4, 0.92, 1e7, 100), (5, 0.85, 5e4, 750)])
    picks = dict(choose(result, 3))
    assert list(picks) == [4, 0, 2]
    assert picks[4] == "the most accurate; the cheapest in parameters" and picks[0] == "the cheapest in MACs"
    assert picks[2] == "the knee of accuracy against MACs"
    assert [n for n, _ in choose(result, 2)] == [4, 0]  # the first reasons first when places are few
    more = choose(result, 5)
    assert [n for n, _ in more][:3] == [4, 0, 2] and all(w == "spread along the front" for _, w in more[3:])
    assert {n for n, _ in more[3:]} <= {1, 3, 5} and len(choose(result, 10)) == 6  # each trial once


def test_choose_refuses_a_front_without_a_trained_candidate():
    with pytest.raises(ConfigError, match="no trained candidate"):
        choose(_front([]), 2)


def test_bad_final_input_is_one_line_and_writes_nothing(capsys, tmp_path):
    reports = str(tmp_path / "r")
    for argv, needle in ((["--final", "0"], "--final"), (["--final", "2", "--final-epochs", "0"], "--final-epochs"),
                         (["--final", "2", "--final-classics", "lenet5"], "unknown: 'lenet5'")):
        code = main([*SEARCH, "--reports-dir", reports, *argv])
        assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not Path(reports).exists()
    code = main(["final", "--study", "nosuch", "--reports-dir", reports])
    assert_one_line_error(code, capsys.readouterr().err, "no study 'nosuch'")
    with pytest.raises(ConfigError, match="--final-epochs"):
        FinalSettings(epochs=0)


def _final_cmd(reports: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "nasbox.cli", "final", "--study", "f", "--reports-dir", str(reports), "--top", "2",
            "--epochs", str(epochs), "--classics", "mobilenet_v2", "--batch-size", "32", "--device", "cpu"]


@pytest.mark.slow
def test_a_final_rung_trains_two_candidates_and_a_classic_tests_them_once_and_resumes(capsys, tmp_path):
    reports = tmp_path / "r"
    common = ["--reports-dir", str(reports)]
    assert main([*SEARCH, *common]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # killed mid-run (SIGKILL, once the first network's first epoch is checkpointed): the rerun resumes
    proc = subprocess.Popen(_final_cmd(reports, 3), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    deadline = time.time() + 600
    while time.time() < deadline and not list((reports / "f" / "final").glob("*/checkpoint.pt")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = next((reports / "f" / "final").glob("*/checkpoint.pt")).parent.name
    done = subprocess.run(_final_cmd(reports, 3), capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resuming after epoch" in done.stdout and first in done.stdout
    study = open_study("f", reports_dir=reports)
    records = {k: v for k, v in study.user_attrs.items() if k.startswith((FINAL_TRIAL, FINAL_CLASSIC))}
    assert sorted(r["kind"] for r in records.values()) == ["candidate", "candidate", "classic"]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["epochs"] == 3 for r in records.values())
    assert study.user_attrs[FINAL_SETTINGS]["epochs"] == 3
    df = pd.read_csv(reports / "f" / "trials.csv")
    finalised = df.dropna(subset=["final_test_accuracy"])
    assert len(finalised) == 2
    for _, row in finalised.iterrows():
        assert row["final_test_accuracy"] == pytest.approx(records[f"{FINAL_TRIAL}{int(row['number'])}"]["test_accuracy"])
    # a rerun trains nothing; other epochs are refused, as a search with another fidelity is
    stamps = {p: p.stat().st_mtime_ns for p in (reports / "f" / "final").glob("*/checkpoint.pt")}
    again = subprocess.run(_final_cmd(reports, 3), capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "epoch 1/3" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    other = subprocess.run(_final_cmd(reports, 4), capture_output=True, text=True, env=env, timeout=600)
    assert other.returncode == 2 and "was run with epochs=3 (now 4)" in other.stderr


def test_a_moved_data_folder_or_no_trained_candidate_is_one_line_and_data_dir_points_to_the_new_folder(capsys, tmp_path):
    from tests.data.support import _write_cifar

    reports, data = tmp_path / "r", tmp_path / "cifar"
    _write_cifar(data, per_batch=20)
    tiny = ["--space-arg", "channels=4,8", "--space-arg", "kernels=3", "--space-arg", "n_max=1", "--space-arg",
            "l_max=0", "--space-arg", "heads=gap", "--no-classics", "--report-every", "0", "--reports-dir", str(reports)]
    assert main(["search", "--dataset", "cifar10", "--data-dir", str(data), "--iterations", "3", "--budget", "2",
                 "--study", "moved", *tiny]) == 0
    data.rename(tmp_path / "elsewhere")
    final = ["final", "--study", "moved", "--reports-dir", str(reports), "--top", "1", "--epochs", "1", "--classics",
             "none", "--batch-size", "16"]
    capsys.readouterr()
    assert_one_line_error(main(final), capsys.readouterr().err, f"data directory {data} does not exist")
    assert not (reports / "moved" / "final").exists()
    assert main([*final, "--data-dir", str(tmp_path / "elsewhere")]) == 0
    assert "final rung of 'moved': 1 network tested" in capsys.readouterr().out
    assert [k for k in open_study("moved", reports_dir=reports).user_attrs if k.startswith(FINAL_TRIAL)]
    # a study whose every candidate was rejected has nothing to finalise
    assert main(["search", "--dataset", "synthetic", "--budget", "2", "--max-macs", "1", "--study", "none", *tiny]) == 0
    capsys.readouterr()
    assert_one_line_error(main(["final", "--study", "none", "--reports-dir", str(reports), "--classics", "none"]),
                          capsys.readouterr().err, "no trained candidate")
    assert not (reports / "none" / "final").exists()
