"""``nasbox supernet train``: refuses what is not elastic in one line, trains, stops and resumes."""

from __future__ import annotations

from nasbox.cli import main
from tests.supernet.test_weights import SMALL


def _space_args() -> list[str]:
    return [a for k, v in SMALL["mobilenet"].items() for a in ("--space-arg", f"{k}={v}")]


def test_a_space_with_a_choice_that_is_not_elastic_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["supernet", "train", "--space", "mobilenet", "--dataset", "synthetic", "--reports-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "act (relu6, hardswish)" in err and "--space-arg" in err
    assert not (tmp_path / "supernets").exists()
    code = main(["supernet", "train", "--space", "darts", "--dataset", "synthetic", "--reports-dir", str(tmp_path)])
    assert code == 2 and "no elastic choices" in capsys.readouterr().err


def test_supernet_train_stops_resumes_and_says_how_to_search_with_it(tmp_path, capsys):
    argv = ["supernet", "train", "--space", "mobilenet", *_space_args(), "--dataset", "synthetic", "--epochs", "2",
            "--batch-size", "32", "--subset", "200", "--calibration-images", "64", "--reports-dir", str(tmp_path)]
    assert main([*argv, "--stop-after", "1"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "largest /" in out and "Continue with" in out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "resuming after epoch 1 of 2" in out and "epoch 2/2" in out and "supernet trained" in out
    folder = tmp_path / "supernets" / "mobilenet-synthetic"
    assert "--evaluator supernet:" + str(folder) in out.replace("\n", "")
    assert all((folder / name).stat().st_size > 0 for name in ("checkpoint.pt", "metrics.json", "learning_curve.png"))
