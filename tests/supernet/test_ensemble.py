"""Several supernets as one evaluator (``--evaluator supernet:A,B``): a candidate's estimate is the mean of each
supernet's own estimate, every supernet is checked against the search, and a wrong list is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from nasbox.cli import main
from nasbox.data import load_dataset
from nasbox.errors import ConfigError
from nasbox.evaluate import Candidate, EvalContext, make_evaluator
from nasbox.model.analysis import analyze
from nasbox.spaces import get_space
from nasbox.study.schema import Attr
from nasbox.study.storage import open_study
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.prior import synflow_of

NB201 = ["--space", "nb201", "--space-arg", "channels=4", "--space-arg", "cells=1", "--dataset", "synthetic",
         "--subset", "120"]
TRAIN = ["--epochs", "1", "--batch-size", "16", "--calibration-images", "32", "--data-seed", "0"]


@pytest.fixture(scope="module")
def supernets(tmp_path_factory) -> Path:
    """Three one-shot nb201 supernets trained by the CLI: seeds 0 and 1 on one data split, and one of wider cells."""
    root = tmp_path_factory.mktemp("ensemble")
    for name, extra in (("s0", []), ("s1", ["--seed", "1"]), ("wide", ["--space-arg", "channels=6"])):
        assert main(["supernet", "train", *NB201, *TRAIN, *extra, "--name", name, "--reports-dir", str(root)]) == 0
    return root / "supernets"


def _evaluator(spec: str, channels: int = 4, prior: str = "none"):
    """The evaluator of ``spec``: the supernets' own estimates unless ``prior`` says otherwise."""
    data = load_dataset("synthetic", seed=0, subset=120)
    space = get_space("nb201", input_shape=data.spec.input_shape, num_classes=data.spec.num_classes,
                      args={"channels": channels, "cells": 1})
    context = EvalContext(data, torch.device("cpu"), None, 1, 16, 0.1, False, 0, options={"supernet_prior": prior},
                          space=space)
    return make_evaluator(spec, context), space


def test_an_ensembles_estimate_is_the_mean_of_its_supernets_own_estimates(supernets):
    a, space = _evaluator(f"supernet:{supernets / 's0'}")
    b, _ = _evaluator(f"supernet:{supernets / 's1'}")
    both, _ = _evaluator(f"supernet:{supernets / 's0'},{supernets / 's1'}")
    rng = random.Random(0)
    archs = [space.sample_random(rng)[1] for _ in range(6)]
    alone = [(a.evaluate(Candidate(x, analyze(x), 0)).accuracy, b.evaluate(Candidate(x, analyze(x), 0)).accuracy)
             for x in archs]
    assert any(x != y for x, y in alone), "the two seeds' supernets must differ for the mean to mean anything"
    for arch, (x, y) in zip(archs, alone, strict=True):
        result = both.evaluate(Candidate(arch, analyze(arch), 0))
        assert result.accuracy == pytest.approx((x + y) / 2, abs=1e-12)
        assert result.details["supernet_estimates"] == [x, y]
    assert both.fidelity()["supernet"] == "s0,s1"
    # one supernet's fidelity is what it was before ensembles (a resumed study compares it), key for key
    digest = hashlib.sha256((supernets / "s0" / "checkpoint.pt").read_bytes()).hexdigest()[:16]
    assert a.fidelity() == {"evaluator": "supernet", "supernet": "s0", "supernet_sha256": digest, "supernet_epochs": 1,
                            "calibration_images": 32}
    assert "supernet_estimates" not in a.evaluate(Candidate(archs[0], analyze(archs[0]), 0)).details
    text = " ".join(both.budget_text().split())
    assert "the mean of 2 supernets' estimates" in text and "s0 (1 epoch)" in text and "s1 (1 epoch)" in text


def test_every_supernet_of_an_ensemble_is_checked_and_a_wrong_list_is_refused(supernets, tmp_path):
    with pytest.raises(ConfigError, match=r"supernet .*wide.* was trained on space 'nb201' with channels=6"):
        _evaluator(f"supernet:{supernets / 's0'},{supernets / 'wide'}")
    with pytest.raises(ConfigError, match="names .* twice"):
        _evaluator(f"supernet:{supernets / 's0'},{supernets / 's1'},{supernets / 's0'}")
    with pytest.raises(ConfigError, match="names one supernet twice"):  # a folder and its checkpoint, or a copy
        _evaluator(f"supernet:{supernets / 's0'},{supernets / 's1'},{supernets / 's0' / 'checkpoint.pt'}")
    copy = tmp_path / "copy"
    shutil.copytree(supernets / "s1", copy)
    with pytest.raises(ConfigError, match="names one supernet twice"):
        _evaluator(f"supernet:{supernets / 's1'},{copy}")
    with pytest.raises(ConfigError, match="empty path"):
        _evaluator(f"supernet:{supernets / 's0'},")
    # a folder whose name holds a comma is one supernet, not two
    odd = tmp_path / "s0,s1"
    shutil.copytree(supernets / "s0", odd)
    assert [m.path.parent for m in _evaluator(f"supernet:{odd}")[0].members] == [odd]


def test_the_reports_curve_shows_every_supernet_of_an_ensemble_and_a_one_shot_ones_paths(supernets, tmp_path,
                                                                                       monkeypatch):
    """The fidelity picture draws the first supernet's loss and validation accuracy and, lighter, every other
    supernet's validation accuracy (their own histories); a one-shot supernet's curve is its random paths'."""
    import nasbox.report.png as png
    from nasbox.report.fidelity import FidelityInfo

    both, _ = _evaluator(f"supernet:{supernets / 's0'},{supernets / 's1'}")
    facts = {"name": "supernet", **both.facts()}
    second = _evaluator(f"supernet:{supernets / 's1'}")[0].facts()["history"]
    assert facts["other_histories"] == [second] and facts["history"] != second
    assert "other_histories" not in _evaluator(f"supernet:{supernets / 's0'}")[0].facts()
    drawn = []
    monkeypatch.setattr(png, "_save", lambda fig, path: drawn.append(fig) or path)
    png.write_fidelity_png(FidelityInfo(facts, 3, (), None), tmp_path / "fidelity.png")
    loss_axis, acc_axis = drawn[0].axes
    labels = [line.get_label() for line in acc_axis.get_lines()]
    assert labels == ["random paths (supernet 1)", "supernet 2"]  # no empty "smallest subnet" line for a one-shot supernet
    faded = acc_axis.get_lines()[1]
    assert list(faded.get_ydata()) == [h["val_accuracy"] for h in second] and faded.get_alpha() < 1
    assert "sampled paths" in loss_axis.get_ylabel() and "the first of 2 supernets" in loss_axis.get_title()


def test_a_search_scored_by_two_supernets_records_both_estimates_and_says_so(supernets, tmp_path, capsys):
    spec = f"supernet:{supernets / 's0'},{supernets / 's1'}"
    code = main(["search", *NB201, "--evaluator", spec, "--budget", "3", "--sampler", "random",
                 "--objectives", "accuracy,params", "--reports-dir", str(tmp_path), "--no-classics",
                 "--report-every", "0", "--study", "ens"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "the mean of 2 supernets' estimates with inherited weights" in out and "measured for one supernet:" in out
    trials = open_study("ens", reports_dir=tmp_path).get_trials(deepcopy=False)
    scored = [t for t in trials if Attr.ACCURACY in t.user_attrs]
    assert len(scored) == 3
    joined, space = _evaluator(spec, prior="auto")
    prior = joined.prior  # a one-shot supernet's default: one prior, of the mean
    assert prior is not None and prior.uses_synflow
    for t in scored:
        x, y = t.user_attrs["supernet_estimates"]
        assert t.user_attrs["inherited_accuracy"] == pytest.approx((x + y) / 2, abs=1e-12)
        arch = space.from_params(t.params)
        assert t.user_attrs[Attr.ACCURACY] == pytest.approx(
            prior.apply((x + y) / 2, t.user_attrs[Attr.PARAMS], synflow_of(arch, (3, 32, 32))))
    table = pd.read_csv(tmp_path / "ens" / "trials.csv").set_index("number")
    for t in scored:
        assert table.loc[t.number, "supernet_estimates"] == ";".join(f"{x:.6g}" for x in t.user_attrs["supernet_estimates"])
    report = " ".join((tmp_path / "ens" / "report.md").read_text().split())
    assert "Accuracy estimated as the mean of 2 supernets' estimates with inherited weights" in report
    # the same supernet twice: one line, exit 2, and no study
    code = main(["search", *NB201, "--evaluator", f"supernet:{supernets / 's0'},{supernets / 's0'}", "--budget", "1",
                 "--reports-dir", str(tmp_path), "--no-classics", "--study", "twice"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "twice" in err
    assert not (tmp_path / "twice").exists()


def test_supernet_train_keeps_the_data_split_of_data_seed_and_says_so(supernets, tmp_path, capsys):
    assert main(["supernet", "train", *NB201, *TRAIN[:-2], "--seed", "2", "--data-seed", "3", "--name", "d3",
                 "--reports-dir", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--subset 120 --seed 3 --evaluator supernet:" in out  # the search must use the supernet's split
    ours = json.loads(json.dumps(load_dataset("synthetic", seed=3, subset=120).spec.to_dict()))
    _, ck = load_supernet(tmp_path / "supernets" / "d3")
    assert ck.data == ours and ck.config["seed"] == 2
    assert load_supernet(supernets / "s1")[1].data == json.loads(json.dumps(  # --seed 1 kept --data-seed 0's split
        load_dataset("synthetic", seed=0, subset=120).spec.to_dict())) != ours
    with pytest.raises(ConfigError, match="other data"):  # the default split (seed 0) is another
        _evaluator(f"supernet:{supernets / 's0'},{tmp_path / 'supernets' / 'd3'}")
