"""Experiment tracking: each trial of a search logged to MLflow or Weights & Biases (``--log``), or to any Optuna
callbacks given to :func:`nasbox.search` (``callbacks=[...]``).

Each is a callback ``callback(study, frozen_trial)`` called with each trial this worker ran, once it is told,
as ``study.optimize`` calls them. MLflow is Optuna's own integration (``optuna-integration``'s
``MLflowCallback``): a run per trial in an experiment named after the study, the objectives as metrics under
their names (``accuracy``, ``macs``, ...), the parameters as parameters, and every attribute of the trial (its
status, fidelity, genotype encoding and measurements) as tags. W&B (:class:`WandbLogger`) logs each trial as a
step of one run per worker: the same values, parameters and record.

    nasbox search --log mlflow                        # MLflow's default store ($MLFLOW_TRACKING_URI)
    nasbox search --log mlflow:sqlite:///mlflow.db    # a local store (or http://mlflow-host:5000)
    nasbox search --log wandb:my-project              # WANDB_MODE=offline keeps it on disk
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from nasbox.errors import ConfigError
from nasbox.study.schema import Attr, trial_status

__all__ = ["TRACKERS", "Callback", "WandbLogger", "check_trackers", "trial_record", "tracker_callbacks"]

#: ``callback(study, frozen_trial)``, as ``study.optimize(callbacks=...)`` takes them
Callback = Callable[[Any, Any], None]
TRACKERS = ("mlflow", "wandb")
#: what W&B is told of a trial beside its values (MLflow tags every attribute)
_RECORD = (Attr.STATUS, Attr.ENCODING, Attr.ARCH_ID, Attr.EVALUATOR, Attr.ACCURACY, Attr.MACS, Attr.PARAMS,
           Attr.LATENCY_MS, Attr.TRAIN_SECONDS, Attr.EPOCHS, Attr.ITERATIONS)


def check_trackers(specs: Sequence[str]) -> str | None:
    """The option's check: each spec names a tracker (``mlflow[:URI]``, ``wandb[:PROJECT]``)."""
    bad = [s for s in specs if s.partition(":")[0] not in TRACKERS]
    return None if not bad else f"{' or '.join(f'{t}[:WHERE]' for t in TRACKERS)} (unknown tracker {bad[0]!r})"


def trial_record(trial: Any) -> dict[str, Any]:
    """A trial as a flat record of numbers and text: its status, genotype, measurements and fidelity."""
    attrs = trial.user_attrs
    record: dict[str, Any] = {"status": str(trial_status(trial)), "trial_number": trial.number}
    record.update({k: attrs[k] for k in _RECORD if k in attrs and k != Attr.STATUS})
    if Attr.FIDELITY in attrs:
        record["fidelity"] = json.dumps(attrs[Attr.FIDELITY], sort_keys=True)
    return record


def _missing(tracker: str, exc: ImportError) -> ConfigError:
    return ConfigError(f"--log {tracker} needs optuna-integration and {tracker} ({exc.name} is not installed): "
                       f"pip install 'nasbox[{tracker}]'")


def _mlflow(where: str, objectives: Sequence[str]) -> Callback:
    try:
        from optuna_integration.mlflow import MLflowCallback
    except ImportError as exc:
        raise _missing("mlflow", exc) from None
    return MLflowCallback(tracking_uri=where or None, metric_name=list(objectives), create_experiment=True,
                          tag_trial_user_attrs=True)


class WandbLogger:
    """Each trial as a step of one W&B run per worker and study: its objectives under their names, its parameters
    (``param/<name>``) and :func:`trial_record`. Written with wandb's own API: optuna-integration's
    ``WeightsAndBiasesCallback`` is deprecated (Optuna 4.9) and logs neither the genotype nor the fidelity."""

    def __init__(self, project: str, objectives: Sequence[str], study_name: str) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise _missing("wandb", exc) from None
        self.wandb, self.project, self.objectives, self.study_name = wandb, project or "nasbox", objectives, study_name
        self.run: Any = None

    def __call__(self, study: Any, trial: Any) -> None:
        if self.run is None:
            self.run = self.wandb.init(project=self.project, name=self.study_name, group=self.study_name,
                                       config={"study": self.study_name, "objectives": list(self.objectives),
                                               "directions": [d.name.lower() for d in study.directions]})
        values = dict(zip(self.objectives, trial.values, strict=True)) if trial.values else {}
        params = {f"param/{k}": v for k, v in trial.params.items()}
        self.run.log({**values, **params, **trial_record(trial)}, step=trial.number)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def tracker_callbacks(specs: Sequence[str], objectives: Sequence[str], study_name: str) -> list[Callback]:
    """The callbacks of ``--log`` specs (``mlflow[:TRACKING_URI]``, ``wandb[:PROJECT]``).

    Raises:
        ConfigError: an unknown tracker, or its package is not installed (one line naming the extra to install).
    """
    out = []
    for spec in specs:
        tracker, _, where = spec.partition(":")
        if tracker == "mlflow":
            out.append(_mlflow(where, objectives))
        elif tracker == "wandb":
            out.append(WandbLogger(where, objectives, study_name))
        else:
            raise ConfigError(f"--log must be {check_trackers([spec])}")
    return out
