"""A hand-made study for the report tests, with hostile strings in every field a page shows."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState, create_trial

from nasbox.model.analysis import analyze
from nasbox.report import report_dir_for
from nasbox.spaces import get_space
from nasbox.study.storage import open_storage

DATA = {"synthetic_shape": (3, 16, 16), "synthetic_size": 300}


TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}


EVIL = "<script>alert('x')</script>&\"'"


EVIL_STUDY = f"evil{EVIL}"


DIRS = [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * 3


def _encodings(n: int) -> list[str]:
    space = get_space("seed_cnn", input_shape=(3, 16, 16), num_classes=10, args=TINY)
    out = []
    for seed in range(n):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        out.append(space.sample(study.ask()).encode())
    return out


def _metrics(encoding: str) -> dict:
    from nasbox.model.arch import Architecture

    arch = Architecture.decode(encoding)
    info = analyze(arch)
    return {"encoding": encoding, "arch_id": arch.arch_id, "macs": info.macs, "flops": info.flops, "params": info.params}


def make_study(reports: Path, name: str = EVIL_STUDY, *, finished: bool = True) -> optuna.Study:
    """Every kind of trial: 0-3 complete, 4 a repeat of 1, 5 infeasible, 6 failed (genotype known),
    7 failed with an undecodable, hostile encoding, 8 lost, 9 running."""
    storage, _ = open_storage(None, report_dir_for(name, reports))
    study = optuna.create_study(study_name=name, storage=storage, directions=DIRS)
    config = {"space": "seed_cnn", "space_args": {**TINY, "note": EVIL}, "dataset": "synthetic",
              "dataset_options": {"synthetic_shape": [3, 16, 16], "synthetic_size": 300}, "val_fraction": 0.1,
              "epochs": None, "iterations": 4, "batch_size": 32, "lr": 0.1, "sampler": "random", "seed": 0,
              "budget": 10, "max_macs": 10**9, "device": "cpu", "latency_threads": 1, "storage": None}
    study.set_user_attr("config", config)
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs", "params", "latency"], "space": "seed_cnn",
                                  "space_bounds": {"channels": [4, 8], "evil": EVIL}, "dataset": "synthetic",
                                  "input_shape": [3, 16, 16], "num_classes": 10})
    study.set_user_attr("run", {"splits": {"train": 243, "val": 27, "test": 30}, "versions": {"optuna": "5.0.0"}})
    if not finished:
        study.ask()
        return study
    enc = _encodings(8)
    common = {"device": "cpu", "fidelity": {"iterations": 4, "batch_size": 32}, "iterations": 4, "epochs": 0.571}
    done = [(0.60, 0.30), (0.70, 0.50), (0.50, 0.20), (0.40, 0.45)]
    for i, (acc, lat) in enumerate(done):
        m = _metrics(enc[i])
        attrs = {**common, **m, "status": "complete", "accuracy": acc, "latency_ms": lat, "latency_iqr_ms": lat / 50}
        study.add_trial(create_trial(values=[acc, m["macs"], m["params"], lat], user_attrs=attrs,
                                     system_attrs={"constraints:max_macs": -1.0}))
    repeat = {**study.trials[1].user_attrs, "status": "repeat", "repeat_of": 1}
    study.add_trial(create_trial(values=study.trials[1].values, user_attrs=repeat,
                                 system_attrs={"constraints:max_macs": -1.0}))
    m = _metrics(enc[5])
    study.add_trial(create_trial(values=[0.0, m["macs"], m["params"], float("inf")],
                                 user_attrs={**common, **m, "status": "infeasible", "accuracy": 0.0,
                                             "infeasible": f"macs {m['macs']} > 1"},
                                 system_attrs={"constraints:max_macs": 5.0}))
    m = _metrics(enc[6])
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
        **common, "encoding": m["encoding"], "arch_id": m["arch_id"], "status": "failed",
        "fail_reason": f"TrainingError: the loss became nan {EVIL}"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
        **common, "encoding": f"<img src=x onerror=alert(1)>{EVIL}", "arch_id": "0badc0ffee00", "status": "failed",
        "fail_reason": "ShapeError: bad"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={**common, **_metrics(enc[7]), "lost": "interrupted"}))
    running = study.ask()
    running.set_user_attr("encoding", enc[0])
    return study


def write_zoo_scores(reports: Path, study: optuna.Study, accuracies: dict[str, float]) -> Path:
    """A zoo cache holding scores for the study's fidelity (as ``nasbox zoo --study`` writes it), so that a report
    draws those classic networks on the plot at their accuracy."""
    import json

    from nasbox.zoo.costs import classic_costs
    from nasbox.zoo.scores import cache_path, settings_from_config

    settings = settings_from_config(study.user_attrs["config"], "cpu")
    setup = study.user_attrs["setup"]
    costs = {c.name: c for c in classic_costs(tuple(setup["input_shape"]), setup["num_classes"])}
    models = {}
    for i, (name, accuracy) in enumerate(accuracies.items()):
        entry = costs[name].to_dict()
        entry.update(status="complete", accuracy=accuracy, latency_ms=1.0 + 0.01 * i, latency_iqr_ms=0.01)
        models[name] = entry
    path = cache_path(reports, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "key": settings.key(), "key_fields": settings.key_fields(),
                                "models": models}))
    return path
