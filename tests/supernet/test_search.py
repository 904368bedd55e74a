"""Searching with inherited weights (--evaluator supernet:PATH), confirming the best (--confirm) and the report."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nasbox.cli import main
from nasbox.data import load_dataset
from nasbox.errors import ConfigError, EvaluationError
from nasbox.evaluate import Candidate, EvalContext, make_evaluator
from nasbox.model.analysis import analyze
from nasbox.report import write_report
from nasbox.report.collect import collect
from nasbox.report.fidelity import kendall_tau
from nasbox.report.setup_info import setup_facts
from nasbox.search import SearchConfig, run_search
from nasbox.spaces import get_space
from nasbox.study.schema import Attr, TrialStatus, trial_status
from nasbox.study.storage import open_study
from nasbox.supernet import recalibrate
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.train import SupernetConfig, train_supernet
from nasbox.supernet.weights import calibration_batches
from nasbox.train.brief import evaluate
from tests.supernet.test_weights import SHAPE, SMALL

DATA = {"synthetic_shape": SHAPE, "synthetic_classes": 5, "synthetic_size": 200}
ARGS = SMALL["mobilenet"]


@pytest.fixture(scope="module")
def supernet(tmp_path_factory) -> Path:
    data = load_dataset("synthetic", seed=0, **DATA)
    out = tmp_path_factory.mktemp("supernet") / "mobilenet"
    train_supernet(get_space("mobilenet", args=ARGS), data, SupernetConfig(epochs=1, batch_size=16,
                                                                           calibration_images=48), out, device="cpu")
    return out


def config(tmp_path: Path, supernet: Path, **extra) -> SearchConfig:
    options = {"space": "mobilenet", "space_args": dict(ARGS), "dataset": "synthetic", "dataset_options": DATA,
               "evaluator": f"supernet:{supernet}", "budget": 6, "reports_dir": str(tmp_path), "classics": False,
               "report_every": 0, "objectives": ("accuracy", "macs", "params"), "device": "cpu", "sampler": "random",
               "iterations": 5, "batch_size": 16}
    return SearchConfig(**{**options, **extra})


def dominates(a, b, directions):
    better = [(x >= y) if d == "maximize" else (x <= y) for x, y, d in zip(a, b, directions, strict=True)]
    return all(better) and a != b


def test_a_supernet_search_scores_with_inherited_weights_and_confirms_the_best_standalone(tmp_path, supernet):
    result = run_search(config(tmp_path, supernet, confirm=2), outputs=write_report)
    study = open_study(result.study_name, reports_dir=tmp_path)
    trials = study.get_trials(deepcopy=False)
    estimated = [t for t in trials if t.user_attrs.get(Attr.EVALUATOR) == "supernet"]
    confirmed = [t for t in trials if Attr.CONFIRMS in t.user_attrs]
    assert len(estimated) == 6 and len(confirmed) == 2
    # an estimate is what the supernet's weights give that subnet after recalibration, independently recomputed
    net, ck = load_supernet(supernet)
    data = load_dataset("synthetic", seed=0, **DATA)
    batches = calibration_batches(data.train, data.spec, 48, seed=0)
    first = next(t for t in estimated if t.user_attrs[Attr.STATUS] == TrialStatus.COMPLETE)
    arch = get_space("mobilenet", input_shape=SHAPE, num_classes=5, args=ARGS).from_params(first.params)
    model = recalibrate(net.extract(arch), batches)
    assert first.user_attrs[Attr.ACCURACY] == evaluate(model, data.val, data.spec, device=net.net.stem.block1.conv
                                                       .weight.device)
    assert first.user_attrs[Attr.PARAMS] == analyze(arch).params
    assert "train_seconds" not in first.user_attrs and first.user_attrs["eval_seconds"] > 0
    # the confirmations: brief training of non-dominated estimates, the same genotypes, each pointing at its estimate
    by_number = {t.number: t for t in trials}
    directions = ["maximize", "minimize", "minimize"]
    scored = [t for t in estimated if t.user_attrs[Attr.STATUS] == TrialStatus.COMPLETE]
    front = {t.number for t in scored if not any(dominates(o.values, t.values, directions) for o in scored)}
    second = {t.number for t in scored if t.number not in front
              and not any(dominates(o.values, t.values, directions) for o in scored if o.number not in front)}
    sources = set()
    for t in confirmed:
        source = by_number[t.user_attrs[Attr.CONFIRMS]]
        assert t.user_attrs[Attr.EVALUATOR] == "brief" and t.user_attrs[Attr.ARCH_ID] == source.user_attrs[Attr.ARCH_ID]
        assert t.user_attrs["train_seconds"] > 0 and t.user_attrs["iterations"] == 5
        sources.add(source.number)
    # the non-dominated first; the next front only when the first holds fewer than K
    assert sources <= front if len(front) >= 2 else (front <= sources and sources <= front | second)
    # the report sets them side by side
    report = (tmp_path / result.study_name / "report.md").read_text()
    assert "## Estimated and confirmed accuracy" in report and "confirmed by" in report
    assert (tmp_path / result.study_name / "fidelity.png").stat().st_size > 0
    budget = dict(setup_facts(collect(study)))["budget"]  # the report counts by the search's budget rule
    assert budget.startswith("6 trials; 6 counted so far") and budget.endswith("; 2 confirmations beside the budget")
    # resuming trains no confirmation twice
    run_search(config(tmp_path, supernet, confirm=2))
    again = open_study(result.study_name, reports_dir=tmp_path).get_trials(deepcopy=False)
    assert len(again) == len(trials)
    # confirmations are not part of the budget: a larger one adds that many estimates
    run_search(config(tmp_path, supernet, confirm=2, budget=8))
    more = open_study(result.study_name, reports_dir=tmp_path).get_trials(deepcopy=False)
    assert len([t for t in more if t.user_attrs.get(Attr.EVALUATOR) == "supernet"]) == 8


def test_the_search_must_use_the_supernets_space_and_data(tmp_path, supernet):
    with pytest.raises(ConfigError, match="trained on space 'mobilenet' with kernels"):
        run_search(config(tmp_path, supernet, space_args={**ARGS, "kernels": "3"}))
    with pytest.raises(ConfigError, match="other data"):
        run_search(config(tmp_path, supernet, seed=1))
    with pytest.raises(ConfigError, match="--confirm"):
        config(tmp_path, supernet, evaluator="brief", confirm=2).check()
    assert not (tmp_path / "mobilenet-synthetic").exists()  # refused before a study was made


def test_a_genotype_that_is_no_subnet_fails_its_trial_with_the_reason(supernet):
    data = load_dataset("synthetic", seed=0, **DATA)
    space = get_space("mobilenet", input_shape=SHAPE, num_classes=5, args=ARGS)
    evaluator = make_evaluator(f"supernet:{supernet}", EvalContext(data, __import__("torch").device("cpu"), None, 5,
                                                                    16, 0.1, False, 0, space=space))
    other = get_space("mobilenet", input_shape=SHAPE, num_classes=5, args={**ARGS, "kernels": "7"})
    arch = other.sample_random(random.Random(0))[1]
    with pytest.raises(EvaluationError, match="larger than the supernet"):
        evaluator.evaluate(Candidate(arch, analyze(arch), 0))


def test_cli_refuses_a_missing_supernet_and_a_candidate_checkpoint_in_one_line(tmp_path, capsys):
    code = main(["search", "--space", "mobilenet", "--dataset", "synthetic", "--evaluator",
                 f"supernet:{tmp_path / 'nothing'}", "--reports-dir", str(tmp_path), "--no-classics"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "no checkpoint" in err


def test_kendall_tau_matches_closed_forms_and_scipy():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [5, 5, 5]) is None
    # one discordant pair of six: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    x = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(40)]
    y = [v + rng.choice([-0.1, 0.0, 0.1]) for v in x]
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_ctrl_c_during_a_confirmation_loses_only_it_and_a_resume_confirms_it(tmp_path, supernet, monkeypatch):
    import nasbox.evaluate.brief

    real, calls = nasbox.evaluate.brief.train_model, {"n": 0}

    def train(*a, **k):  # the first standalone training is the first confirmation: Ctrl-C there
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", train)
    first = run_search(config(tmp_path, supernet, confirm=2))
    assert first.interrupted and calls["n"] == 1
    trials = open_study(first.study_name, reports_dir=tmp_path).get_trials(deepcopy=False)
    (stopped,) = [t for t in trials if Attr.CONFIRMS in t.user_attrs]
    assert trial_status(stopped) == TrialStatus.LOST and stopped.user_attrs[Attr.LOST] == "interrupted"
    assert len([t for t in trials if t.user_attrs.get(Attr.EVALUATOR) == "supernet"]) == 6  # the estimates stay
    resumed = run_search(config(tmp_path, supernet, confirm=2))
    assert not resumed.interrupted
    trials = open_study(first.study_name, reports_dir=tmp_path).get_trials(deepcopy=False)
    done = [t for t in trials if Attr.CONFIRMS in t.user_attrs and trial_status(t) == TrialStatus.COMPLETE]
    assert len(done) == 2 and len({t.user_attrs[Attr.CONFIRMS] for t in done}) == 2
    assert stopped.user_attrs[Attr.CONFIRMS] in {t.user_attrs[Attr.CONFIRMS] for t in done}  # the one Ctrl-C stopped
    budget = dict(setup_facts(collect(open_study(first.study_name, reports_dir=tmp_path))))["budget"]
    assert budget.endswith("; 2 confirmations beside the budget")  # the lost one is not counted
