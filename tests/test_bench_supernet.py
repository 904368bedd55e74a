"""``bench/supernet.py --reference-only``: the standalone reference trained without a supernet, its second run
shared between processes by claims, and what a process that died left trained by the figures' own run."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.model.build import build_model
from nasbox.search.propose import init_seed
from nasbox.study.schema import StudyAttr
from nasbox.study.storage import open_study

ROOT = Path(__file__).resolve().parents[1]
ARGV = ["--dataset", "synthetic", "--space", "mobilenet", "--standalone", "3", "--standalone-epochs", "0.05",
        "--device", "cpu"]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_supernet", ROOT / "bench" / "supernet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(module, monkeypatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", ["supernet.py", *ARGV, *argv])
    module.main()


def test_the_reference_alone_is_trained_without_a_supernet_and_its_second_run_shared_by_claims(tmp_path, monkeypatch):
    bench, out = _bench(), tmp_path / "out"
    _run(bench, monkeypatch, "--out", str(out), "--reference-only", "--val-fraction", "0.5")
    assert not (out / "supernets").exists()  # no supernet trained
    study = open_study("standalone", reports_dir=out)
    # the reference validates on the share --val-fraction holds out (the search's own option)
    halves = load_dataset("synthetic", val_fraction=0.5).spec
    assert halves.val_size != load_dataset("synthetic").spec.val_size
    assert study.user_attrs[StudyAttr.RUN]["splits"]["val"] == halves.val_size
    trials = bench._done(study)
    assert len(trials) == 3
    space, data, device = bench._bound(bench.argparse.Namespace(**{
        "device": "cpu", "dataset": "synthetic", "data_dir": None, "subset": None, "val_fraction": 0.5,
        "space": "mobilenet"}),
        list(bench.CPU_SPACES["mobilenet"]))
    ids = [space.from_params(t.params).arch_id for t in trials]
    assert len(set(ids)) == 3
    # the second run trains each subnet as the search trained it, but with seed 1 (initialisation and order)
    trained: list[tuple[str, int]] = []

    def train_model(model, train, val, config, spec, device):
        assert len(val) == halves.val_size  # the second run validates on the --val-fraction split too
        trained.append((model.arch.arch_id, config.seed))
        again = build_model(model.arch, seed=init_seed(model.arch.arch_id, 1))  # seed 1's initialisation
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
        return types.SimpleNamespace(accuracy=0.5 + len(trained) / 100)

    monkeypatch.setattr("nasbox.train.brief.train_model", train_model)
    # another process holds the second subnet: this one leaves it and trains the others
    (out / "standalone-seed1.claims").mkdir()
    (out / "standalone-seed1.claims" / ids[1]).touch()
    _run(bench, monkeypatch, "--out", str(out), "--reference-only", "--noise", "--val-fraction", "0.5")
    assert trained == [(ids[0], 1), (ids[2], 1)]
    kept = json.loads((out / "standalone-seed1.json").read_text())
    assert kept == {ids[0]: 0.51, ids[2]: 0.52}  # both results merged into the one file, under its lock
    # that process died: the figures' run (no claims) trains what it left, and keeps what the others trained
    args = bench.argparse.Namespace(dataset="synthetic", subset=None, standalone_epochs=0.05, search_batch_size=32)
    kept = bench.second_run(args, space, data, device, out, trials)
    assert trained[2:] == [(ids[1], 1)]
    assert kept == {ids[0]: 0.51, ids[2]: 0.52, ids[1]: 0.53}
    # rerun: everything is kept, nothing is trained again
    assert bench.second_run(args, space, data, device, out, trials) == kept and len(trained) == 3


@pytest.mark.slow  # a supernet trained and scored: about a minute
def test_the_supernets_seed_is_its_own_and_the_reference_is_kept(tmp_path, monkeypatch):
    bench, out, figures = _bench(), tmp_path / "out", tmp_path / "figures.json"
    _run(bench, monkeypatch, "--out", str(out), "--reference-only", "--standalone", "2")
    reference = [(t.number, t.params, t.datetime_start) for t in bench._done(open_study("standalone", reports_dir=out))]
    _run(bench, monkeypatch, "--out", str(out), "--standalone", "2", "--epochs", "1", "--budget", "0",
         "--supernet-seed", "3", "--json", str(figures))
    kept = json.loads((out / "supernets" / "net" / "metrics.json").read_text())
    assert kept["config"]["seed"] == 3 and json.loads(figures.read_text())["supernet_seed"] == 3
    again = [(t.number, t.params, t.datetime_start) for t in bench._done(open_study("standalone", reports_dir=out))]
    assert again == reference  # the same trials, not trained again
