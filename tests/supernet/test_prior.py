"""The priors beside a supernet's estimates (``--supernet-prior``: the parameter count, and synflow): their closed
form, that the evaluator scores its reference subnets as a search scores and keeps them beside the checkpoint, and
that a search records both the joined estimate and the supernet's own."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from nasbox.cli import main
from nasbox.data import load_dataset
from nasbox.errors import ConfigError
from nasbox.evaluate import Candidate, EvalContext, make_evaluator
from nasbox.measure.proxies import synflow
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.report.accuracy import accuracy_scale
from nasbox.report.collect import collect
from nasbox.search.config import SUPERNET_PRIORS
from nasbox.spaces import get_space
from nasbox.study.schema import Attr
from nasbox.study.storage import open_study
from nasbox.supernet import prior as prior_module
from nasbox.supernet.measured import measured
from nasbox.supernet.prior import (
    PRIORS,
    REFERENCE_ARCHS,
    REFERENCE_SUBNETS,
    ParamsPrior,
    reference_archs,
    synflow_of,
)
from nasbox.supernet.train import SupernetConfig, train_supernet

ARGS = {"channels": 4, "cells": 1}
NB201 = ["--space", "nb201", "--space-arg", "channels=4", "--space-arg", "cells=1", "--dataset", "synthetic",
         "--subset", "120"]


def test_the_prior_weighs_estimate_and_parameter_count_equally_in_their_robust_units():
    # estimates 0.1..0.5: median 0.3, IQR 0.2; log-params 1..5: median 3, IQR 2
    prior = ParamsPrior.of([0.5, 0.1, 0.3, 0.2, 0.4], [math.exp(k) for k in (1, 2, 3, 4, 5)])
    assert prior.estimate_median == pytest.approx(0.3) and prior.estimate_iqr == pytest.approx(0.2)
    assert prior.log_params_median == pytest.approx(3) and prior.log_params_iqr == pytest.approx(2)
    assert prior.subnets == 5
    typical = math.exp(prior.log_params_median)
    assert prior.apply(0.3, typical) == pytest.approx(0.3)  # a median subnet of median size keeps its estimate
    assert prior.apply(0.5, typical) == pytest.approx(0.4)  # an estimate a whole IQR up moves half of it
    assert prior.apply(0.3, typical * math.exp(2)) == pytest.approx(0.4)  # so does a size a whole IQR up
    assert prior.apply(0.5, typical * math.exp(-2)) == pytest.approx(0.3)  # and they cancel
    flat = ParamsPrior.of([0.2] * 8, [100, 200, 300, 400] * 2)  # every subnet scored alike: nothing to weigh
    assert flat.apply(0.7, 100) == 0.7
    assert ParamsPrior.of([0.1, 0.2, 0.3, 0.4], [50] * 4).apply(0.25, 10_000) == 0.25


def test_synflow_joins_as_a_third_term_and_a_network_without_flow_is_joined_with_the_parameter_count_alone():
    # synflow 10..50 (log10): median 30, IQR 20
    prior = ParamsPrior.of([0.5, 0.1, 0.3, 0.2, 0.4], [math.exp(k) for k in (1, 2, 3, 4, 5)], [50, 10, 30, 20, 40, None])
    assert prior.synflow_median == pytest.approx(30) and prior.synflow_iqr == pytest.approx(20)
    assert prior.uses_synflow and prior.kind == "params+synflow" and ParamsPrior.of([0.1] * 4, [9] * 4).kind == "params"
    typical = math.exp(prior.log_params_median)
    assert prior.apply(0.3, typical, 30) == pytest.approx(0.3)  # median in all three: the median estimate
    assert prior.apply(0.6, typical, 30) == pytest.approx(0.4)  # an estimate 1.5 IQR up moves a third of that
    assert prior.apply(0.3, typical, 60) == pytest.approx(0.4)  # so does a synflow 1.5 IQR up
    assert prior.apply(0.5, typical, 10) == pytest.approx(0.3)  # and they cancel
    assert prior.apply(0.5, typical, None) == pytest.approx(0.4)  # no flow: estimate and parameter count, halves
    assert prior.apply(0.5, typical, None) == prior._replace(synflow_median=None, synflow_iqr=None).apply(0.5, typical)
    assert ParamsPrior.from_json(prior.to_json()) == prior and "synflow" not in ParamsPrior.of([0.1] * 4, [9] * 4).to_json()
    for key, bad in (("subnets", 5.0), ("subnets", True), ("subnets", 0), ("estimate_iqr", -0.1), ("synflow_iqr", -1.0),
                     ("synflow_median", float("inf"))):
        with pytest.raises(ValueError, match="not a prior"):  # not what to_json writes: a foreign or damaged file
            ParamsPrior.from_json(json.dumps({**prior._asdict(), key: bad}))
    with pytest.raises(ValueError, match="only 3 of 5 random genotypes have a synflow score"):
        ParamsPrior.of([0.1] * 4, [9] * 4, [1.0, None, 2.0, 3.0, None])


def test_synflow_of_a_genotype_is_that_of_its_network_initialised_with_seed_0_and_none_without_flow():
    space = get_space("nb201", input_shape=(3, 16, 16), num_classes=10, args=ARGS)
    arch = space.parse_arch("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    assert isinstance(arch, Architecture)
    own = synflow(build_model(arch, seed=0), (3, 16, 16))
    assert synflow_of(arch, (3, 16, 16)) == own and math.isfinite(own)
    assert synflow(build_model(arch, seed=1), (3, 16, 16)) != own  # the seed is what makes it one number per genotype
    blocked = space.parse_arch("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert synflow(build_model(blocked, seed=0), (3, 16, 16)) == -math.inf  # no path from the input
    assert synflow_of(blocked, (3, 16, 16)) is None


def test_the_searchs_option_takes_the_priors_values():
    assert SUPERNET_PRIORS == PRIORS


@pytest.fixture(scope="module")
def supernet(tmp_path_factory) -> Path:
    data = load_dataset("synthetic", seed=0, subset=120)
    out = tmp_path_factory.mktemp("prior") / "nb201"
    space = get_space("nb201", input_shape=data.spec.input_shape, num_classes=data.spec.num_classes, args=ARGS)
    train_supernet(space, data, SupernetConfig(epochs=1, batch_size=16, calibration_images=32), out, device="cpu")
    return out


def _evaluator(folder: Path, prior: str | None):
    data = load_dataset("synthetic", seed=0, subset=120)
    space = get_space("nb201", input_shape=data.spec.input_shape, num_classes=data.spec.num_classes, args=ARGS)
    options = {} if prior is None else {"supernet_prior": prior}
    context = EvalContext(data, torch.device("cpu"), None, 1, 16, 0.1, False, 0, options=options, space=space)
    return make_evaluator(f"supernet:{folder}", context), space


def test_a_one_shot_supernets_estimate_is_joined_with_a_prior_of_random_subnets_scored_as_a_search_scores(supernet):
    for cached in supernet.glob("prior-*.json"):
        cached.unlink()
    plain, space = _evaluator(supernet, "none")
    assert plain.prior is None and "prior" not in plain.fidelity()
    joined, _ = _evaluator(supernet, None)  # auto: a cell space's one-shot supernet gets params+synflow
    assert joined.fidelity()["prior"] == "params+synflow" and not list(supernet.glob("prior-*.json")), "made on first use"
    assert joined.prior is not None and len(list(supernet.glob("prior-*.json"))) == 1
    # the reference: the first random subnets of the space (seed 0), scored by the supernet alone
    archs = reference_archs(space, REFERENCE_ARCHS)
    own = [plain.evaluate(Candidate(a, analyze(a), 0)).accuracy for a in archs[:REFERENCE_SUBNETS]]
    shape = (3, 32, 32)
    flows = [synflow_of(a, shape) for a in archs]
    assert None in flows, "some random cells pass no flow: this test must reach that case"
    assert joined.prior == ParamsPrior.of(own, [analyze(a).params for a in archs], flows)
    params_only, _ = _evaluator(supernet, "params")
    assert params_only.prior == ParamsPrior.of(own, [analyze(a).params for a in archs])
    assert len(list(supernet.glob("prior-*.json"))) == 2, "each prior kept apart"
    assert joined.prior.estimate_iqr > 0, "the subnets of the trained supernet must score apart for this test to weigh"
    rng = random.Random(5)
    for _ in range(4):
        arch = space.sample_random(rng)[1]
        info = analyze(arch)
        result = joined.evaluate(Candidate(arch, info, 0))
        alone = plain.evaluate(Candidate(arch, info, 0)).accuracy
        assert result.details["inherited_accuracy"] == alone
        assert result.details["synflow"] == synflow_of(arch, shape)  # the score it joined, kept with the trial
        assert result.accuracy == pytest.approx(joined.prior.apply(alone, info.params, synflow_of(arch, shape)))
        assert params_only.evaluate(Candidate(arch, info, 0)).accuracy == pytest.approx(
            params_only.prior.apply(alone, info.params))
    assert "inherited_accuracy" not in plain.evaluate(Candidate(arch, info, 0)).details
    assert "parameter count's and synflow's prior" in joined.budget_text() and "prior" not in plain.budget_text()
    assert "parameter count's prior" in params_only.budget_text()
    assert joined.facts()["prior"]["subnets"] == REFERENCE_SUBNETS


def test_the_prior_is_kept_beside_the_checkpoint_and_made_again_when_unreadable(supernet, monkeypatch):
    for cached in supernet.glob("prior-*.json"):
        cached.unlink()
    first = _evaluator(supernet, "params")[0].prior
    files = list(supernet.glob("prior-*.json"))
    assert len(files) == 1

    def refit(*a, **k):
        raise AssertionError("scored the reference subnets again")

    def locked(*a, **k):
        raise PermissionError("a read-only folder")
    monkeypatch.setattr("nasbox.evaluate.supernet.fit_params_prior", refit)
    monkeypatch.setattr("nasbox.evaluate.supernet.update_file", locked)  # no lock taken to read a kept one
    assert _evaluator(supernet, "params")[0].prior == first  # read back, not scored again
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr("nasbox.evaluate.supernet.fit_params_prior",
                        lambda *a, **k: calls.append(1) or prior_module.fit_params_prior(*a, **k))
    flowing = first._replace(synflow_median=11.0, synflow_iqr=3.0).to_json()  # a prior of the other kind
    for torn in ("{not json", json.dumps({**first._asdict(), "estimate_iqr": None}), "[]", flowing):
        files[0].write_text(torn)
        assert _evaluator(supernet, "params")[0].prior == first
        assert ParamsPrior.from_json(files[0].read_text()) == first  # rewritten whole
    assert calls == [1, 1, 1, 1]


def test_workers_starting_together_score_the_reference_subnets_once(supernet, monkeypatch):
    for cached in supernet.glob("prior-*.json"):
        cached.unlink()
    calls, asked = [], []

    def slow_fit(*a, **k):
        calls.append(time.perf_counter())
        time.sleep(1.0)  # long enough for the other worker to ask for it meanwhile
        prior = prior_module.fit_params_prior(*a, **k)
        calls.append(time.perf_counter())
        return prior
    monkeypatch.setattr("nasbox.evaluate.supernet.fit_params_prior", slow_fit)
    evaluators = [_evaluator(supernet, "params")[0] for _ in range(2)]
    priors = []

    def worker(evaluator) -> None:
        asked.append(time.perf_counter())
        priors.append(evaluator.prior)
    workers = [threading.Thread(target=worker, args=(e,)) for e in evaluators]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(priors) == 2 and priors[0] == priors[1] and len(calls) == 2, "one of them made it"
    assert max(asked) < calls[1], "the second asked while the first was making it: it waited for the lock"


def test_a_study_scored_without_the_prior_resumes_only_without_it_and_is_told_so_before_any_scoring(supernet, tmp_path,
                                                                                                    capsys):
    common = ["search", *NB201, "--evaluator", f"supernet:{supernet}", "--sampler", "random", "--reports-dir", str(tmp_path),
              "--no-classics", "--report-every", "0", "--study", "old"]
    assert main([*common, "--budget", "1", "--supernet-prior", "none"]) == 0
    for cached in supernet.glob("prior-*.json"):
        cached.unlink()
    capsys.readouterr()
    assert main([*common, "--budget", "2"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "prior=None, not prior='params+synflow'" in err and "--supernet-prior none" in err
    assert "scoring 64 random subnets" not in captured.out and not list(supernet.glob("prior-*.json"))
    assert main([*common, "--budget", "2", "--supernet-prior", "none"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the benchmark's figure for the supernet alone, not the join's
    assert " ".join(measured("nb201").short().split()) in out
    assert measured("nb201").tau != measured("nb201", "params+synflow").tau != measured("nb201", "params").tau


def test_a_study_scored_with_another_prior_is_refused_with_the_option_that_resumes_it():
    from nasbox.search.session import check_same_setup
    from nasbox.study.storage import StorageError

    old = {"fidelity": {"evaluator": "supernet", "prior": "params"}}
    with pytest.raises(StorageError, match=r"prior='params', not prior='params\+synflow'.*--supernet-prior params\)$"):
        check_same_setup(old, {"fidelity": {"evaluator": "supernet", "prior": "params+synflow"}}, "study s")
    with pytest.raises(StorageError, match=r"--supernet-prior none\)$"):  # one from before any prior
        check_same_setup({"fidelity": {"evaluator": "supernet"}}, {"fidelity": {"evaluator": "supernet", "prior": "params"}},
                         "study s")
    check_same_setup(old, {"fidelity": {"evaluator": "supernet", "prior": "params"}}, "study s")  # the same: resumes


def test_an_unknown_prior_or_one_without_a_supernet_is_one_line_and_exit_2(supernet, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--supernet-prior 'bayes': one of auto, none, params, params\\+synflow"):
        _evaluator(supernet, "bayes")
    for argv in (["--supernet-prior", "bayes"], ["--supernet-prior", "params"]):
        code = main(["search", *NB201, *argv, "--budget", "1", "--reports-dir", str(tmp_path)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "--supernet-prior" in err, err
    assert not (tmp_path / "nb201-synthetic").exists()


def test_a_search_records_the_joined_estimate_and_the_supernets_own(supernet, tmp_path, capsys):
    assert _evaluator(supernet, None)[0].prior is not None  # its prior made and kept
    code = main(["search", *NB201, "--evaluator", f"supernet:{supernet}", "--budget", "3", "--sampler", "random",
                 "--objectives", "accuracy,params", "--reports-dir", str(tmp_path), "--no-classics",
                 "--report-every", "0", "--study", "p"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "joined with the parameter count's and synflow's prior" in out
    # the prior was kept: a search on a supernet without one says that it makes it, before it starts
    assert "scoring 64 random subnets" not in out
    for cached in supernet.glob("prior-*.json"):
        cached.unlink()
    assert main(["search", *NB201, "--evaluator", f"supernet:{supernet}", "--budget", "1", "--reports-dir",
                 str(tmp_path), "--no-classics", "--report-every", "0", "--study", "made"]) == 0
    made = " ".join(capsys.readouterr().out.split())
    assert "supernet prior (--supernet-prior auto: params+synflow): scoring 64 random subnets and the synflow of 512" \
        in made
    assert made.index("supernet prior made in") < made.index("study made")
    report = " ".join((tmp_path / "p" / "report.md").read_text().split())
    assert ("Each estimate was then joined with the candidate's parameter count and the synflow score of its network "
            "as initialised (--supernet-prior params+synflow)") in report
    assert "random subnets), median parameters" in report and "median synflow 10^" in report
    plain, space = _evaluator(supernet, "none")
    joined, _ = _evaluator(supernet, None)
    trials = [t for t in open_study("p", reports_dir=tmp_path).get_trials(deepcopy=False)
              if t.user_attrs.get(Attr.EVALUATOR) == "supernet"]
    assert len(trials) == 3
    for t in trials:
        arch = space.from_params(t.params)
        own = plain.evaluate(Candidate(arch, analyze(arch), 0)).accuracy
        assert t.user_attrs["inherited_accuracy"] == pytest.approx(own)
        assert t.user_attrs[Attr.ACCURACY] == pytest.approx(
            joined.prior.apply(own, t.user_attrs[Attr.PARAMS], synflow_of(arch, (3, 32, 32))))
    table = pd.read_csv(tmp_path / "p" / "trials.csv").set_index("number")
    for t in trials:
        assert table.loc[t.number, "inherited_accuracy"] == pytest.approx(t.user_attrs["inherited_accuracy"])
    # the report gives a joined estimate no confidence interval of the validation split: it was not measured there
    data = collect(open_study("p", reports_dir=tmp_path))
    scale = accuracy_scale(data)
    rows = [r for r in data.trials if r.evaluator == "supernet"]
    assert len(rows) == 3 and all(r.scored_by == "supernet+prior" for r in rows)
    assert all(scale.of(r.accuracy, r.scored_by).interval is None for r in rows)
    assert scale.of(rows[0].inherited_accuracy, "supernet").interval is not None
