"""``nasbox supernet train``: refuses what is not elastic in one line, trains, stops and resumes."""

from __future__ import annotations

from nasbox.cli import main
from nasbox.supernet.measured import measured
from tests.supernet.test_weights import SMALL


def _space_args() -> list[str]:
    return [a for k, v in SMALL["mobilenet"].items() for a in ("--space-arg", f"{k}={v}")]


def test_a_space_with_a_choice_that_is_not_elastic_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["supernet", "train", "--space", "mobilenet", "--dataset", "synthetic", "--reports-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "act (relu6, hardswish)" in err and "--space-arg" in err
    assert not (tmp_path / "supernets").exists()
    fixed = ["--space-arg", "stages_min=3", "--space-arg", "depth_max=1", "--space-arg", "widths=8", "--space-arg",
             "kernels=3", "--space-arg", "se_choices=false", "--space-arg", "activations=relu"]
    code = main(["supernet", "train", "--space", "resnet", *fixed, "--dataset", "synthetic", "--reports-dir", str(tmp_path)])
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


NB201 = ["--space", "nb201", "--space-arg", "channels=4", "--space-arg", "cells=1", "--dataset", "synthetic",
         "--subset", "120"]


def test_options_of_the_other_kind_of_supernet_are_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["--space", "mobilenet", *_space_args(), "--sampling", "fair"],
                 ["--space", "mobilenet", *_space_args(), "--few-shot", "node1.in0"],
                 [*NB201, "--sampling", "sandwich"], [*NB201, "--few-shot", "node7.in0"],
                 [*NB201, "--few-shot", "node1.in0", "--split-epoch", "10", "--epochs", "10"]):
        code = main(["supernet", "train", *argv, "--dataset", "synthetic", "--reports-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "supernets").exists()


def test_a_one_shot_nb201_supernet_trains_and_a_search_scores_its_paths(tmp_path, capsys):
    argv = ["supernet", "train", *NB201, "--epochs", "1", "--batch-size", "16", "--calibration-images", "32",
            "--sampling", "uniform", "--paths", "2", "--reports-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "one-shot supernet of nb201" in out and "2 random path(s), gradients averaged, per step" in out
    assert "mean of 3 random subnets" in out and "supernet trained" in out
    folder = tmp_path / "supernets" / "nb201-synthetic"
    assert f"--dataset synthetic --subset 120 --evaluator supernet:{folder}" in " ".join(out.split())
    code = main(["search", *NB201, "--evaluator", f"supernet:{folder}", "--budget", "3", "--sampler", "random",
                 "--objectives", "accuracy,params", "--reports-dir", str(tmp_path), "--no-classics",
                 "--report-every", "0", "--study", "nb"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "inherited weights of nb201-synthetic" in out
    assert " ".join(measured("nb201", "params+synflow").short().split()) in " ".join(out.split())  # how well such estimates rank
    from nasbox.study.schema import Attr
    from nasbox.study.storage import open_study

    trials = open_study("nb", reports_dir=tmp_path).get_trials(deepcopy=False)
    scored = [t for t in trials if t.user_attrs.get(Attr.EVALUATOR) == "supernet"]
    assert len(scored) == 3 and all(0 <= t.user_attrs[Attr.ACCURACY] <= 1 for t in scored if Attr.ACCURACY in t.user_attrs)
    report = " ".join((tmp_path / "nb" / "report.md").read_text().split())
    assert "One-shot choices (every edge holds every op)" in report and "mean of 3 random subnets" in report
    figure = measured("nb201", "params+synflow")  # the benchmark's, for estimates joined with the prior (the default)
    assert f"as nasbox's benchmark measured it: Kendall's τ {figure.range()} against" in report


def test_a_one_shot_darts_supernet_trains_and_a_search_scores_its_paths_without_claiming_a_measured_tau(tmp_path,
                                                                                                        capsys):
    darts = ["--space", "darts", "--space-arg", "channels=4", "--dataset", "synthetic", "--subset", "120"]
    argv = ["supernet", "train", *darts, "--epochs", "1", "--batch-size", "16", "--calibration-images", "32",
            "--reports-dir", str(tmp_path)]
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "one-shot supernet of darts" in out and "fair" in out and "supernet trained" in out
    assert "normal.node*.in*, reduce.node*.in* (one-shot: up to 0, 1, 2, 3, 4)" in out  # each node: the states before it
    folder = tmp_path / "supernets" / "darts-synthetic"
    code = main(["search", *darts, "--evaluator", f"supernet:{folder}", "--budget", "3", "--sampler", "random",
                 "--objectives", "accuracy,params", "--reports-dir", str(tmp_path), "--no-classics",
                 "--report-every", "0", "--study", "d"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "inherited weights of darts-synthetic" in out and "measured:" not in out  # no benchmark for darts
    from nasbox.study.schema import Attr
    from nasbox.study.storage import open_study

    trials = open_study("d", reports_dir=tmp_path).get_trials(deepcopy=False)
    scored = [t for t in trials if t.user_attrs.get(Attr.EVALUATOR) == "supernet" and Attr.ACCURACY in t.user_attrs]
    assert len(scored) == 3 and all(0 <= t.user_attrs[Attr.ACCURACY] <= 1 for t in scored)
    assert len({t.user_attrs[Attr.PARAMS] for t in scored}) == 3, "three different cells, each counted as a network"
