"""The final rung: the front's chosen candidates and the classic networks trained fully, each tested once.

Every score a search ranks by (brief training, a supernet, a table, proxies) estimates what a network reaches when
trained properly; the final rung measures it. It picks ``top`` candidates spread along the study's Pareto front
(:func:`choose`: the most accurate, the cheapest in each cost objective, the knee of accuracy against the first
cost, then the ones farthest from those already picked), adds the classic networks (by default every one the
input allows; on a CPU, those whose training would take over an hour are skipped and named), and trains each with
full training's recipe (:func:`nasbox.train.full.full_train`) for the same number of epochs on the study's
training split, then evaluates the study's test split once. Each network is checkpointed every epoch into
``<study>/final/<name>/`` and resumes where it stopped; several processes share the list (a network another one
trains is left to it). Each result is recorded in the study (``final:trial:<n>``, ``final:classic:<name>``, with
the final fidelity: the recipe's settings), so any ``nasbox report`` of the study shows it; a finished network is
never trained again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna

from nasbox.data import Data
from nasbox.errors import ConfigError, SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.search.genotypes import trial_arch
from nasbox.study.result import SearchResult
from nasbox.study.schema import FINAL_CLASSIC, FINAL_SETTINGS, FINAL_TRIAL, OBJECTIVES, Attr, StudyAttr, StudyPaths
from nasbox.train.brief import train_model
from nasbox.train.full import Busy, FullTrainConfig, full_train
from nasbox.train.recipe import TrainConfig
from nasbox.zoo import ZOO_NAMES, get_zoo

__all__ = ["FinalSettings", "Pick", "choose", "final_records", "plan", "run_final"]

_COST_NAMES = {"macs": "MACs", "flops": "FLOPs", "params": "parameters", "latency": "latency"}


@dataclass(frozen=True)
class FinalSettings:
    """How the final rung trains: full training's recipe (:class:`~nasbox.train.full.FullTrainConfig`) and which
    networks. ``classics=None``: every classic network that fits the input (on a CPU, those under ``cpu_hours``)."""

    top: int = 5
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    seed: int = 0
    amp: str = "auto"
    channels_last: str = "auto"
    augment: bool = True
    classics: tuple[str, ...] | None = None
    cpu_hours: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.top, bool) or not isinstance(self.top, int) or self.top < 1:
            raise ConfigError(f"--final must be a whole number of candidates >= 1, got {self.top!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"--final-epochs must be a whole number >= 1, got {self.epochs!r}")
        unknown = [n for n in self.classics or () if n not in ZOO_NAMES]
        if unknown:
            raise ConfigError(f"unknown classic network {unknown[0]!r}; choose from {', '.join(ZOO_NAMES)} (or none)")

    def config(self) -> FullTrainConfig:
        return FullTrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                               weight_decay=self.weight_decay, seed=self.seed, amp=self.amp,
                               channels_last=self.channels_last, augment=self.augment)

    def fidelity(self) -> dict[str, Any]:
        """The final fidelity every network of the rung shares (what a resumed rung must keep)."""
        return {"rung": "final", **self.config().key()}


class Pick(NamedTuple):
    """A network of the final rung."""

    name: str  # its folder and record: trial17, resnet18
    kind: str  # "candidate" or "classic"
    arch: Architecture
    trial: int | None  # the trial it finalises (candidates)
    why: str  # why it was picked
    latency_ms: float | None = None  # batch-1 latency measured by the search (a candidate's; a classic's at its start)


# ---- which candidates


def choose(result: SearchResult, top: int) -> list[tuple[int, str]]:
    """``top`` trials of the study's Pareto front, spread along it: ``(trial number, why)``.

    In this order, each trial once (a trial picked for several reasons names them all): the most accurate; the
    cheapest in each cost objective; the knee of accuracy against the first cost (:meth:`SearchResult.knee`);
    then, while places are left, the candidate farthest (on accuracy and the log of each cost, each scaled to
    [0, 1] over the front) from every candidate picked so far.

    Raises:
        ConfigError: the study has no trained candidate on its front.
    """
    front = result.pareto
    if front is None or front.empty or "accuracy" not in front or front["accuracy"].isna().all():
        raise ConfigError(f"study {result.study_name!r} has no trained candidate on its front: nothing to finalise")
    picks: dict[int, list[str]] = {}

    def add(number: Any, why: str) -> None:
        picks.setdefault(int(number), []).append(why)

    add(result.best("accuracy")["number"], "the most accurate")
    costs = [o for o in result.objectives if o != "accuracy"]
    for cost in costs:
        add(result.best(cost)["number"], f"the cheapest in {_COST_NAMES.get(cost, cost)}")
    if costs:
        add(result.knee(costs[0])["number"], f"the knee of accuracy against {_COST_NAMES.get(costs[0], costs[0])}")
    chosen = list(picks)[:top]
    for number in _spread(front, costs, chosen, top - len(chosen)):
        picks.setdefault(number, []).append("spread along the front")
        chosen.append(number)
    return [(n, "; ".join(picks[n])) for n in chosen]


def _spread(front: Any, costs: Sequence[str], chosen: list[int], more: int) -> list[int]:
    """Greedy farthest-point picks on the front's normalised (accuracy, log cost...) coordinates."""
    if more <= 0:
        return []
    columns = [("accuracy", False)] + [(OBJECTIVES[c].attr, True) for c in costs if OBJECTIVES[c].attr in front]
    points = []
    for column, log in columns:
        x = front[column].to_numpy(dtype=float)
        x = np.log10(np.clip(x, 1e-12, None)) if log else x
        x = np.nan_to_num(x, nan=np.nanmin(x) if np.isfinite(x).any() else 0.0)
        points.append((x - x.min()) / (np.ptp(x) or 1.0))
    xy, numbers = np.stack(points, axis=1), [int(n) for n in front["number"]]
    taken = [numbers.index(n) for n in chosen if n in numbers]
    out: list[int] = []
    while len(out) < more and len(taken) < len(numbers):
        far = np.min(np.linalg.norm(xy[:, None, :] - xy[None, taken, :], axis=2), axis=1) if taken else np.ones(len(xy))
        far[taken] = -1.0
        best = int(np.argmax(far))
        taken.append(best)
        out.append(numbers[best])
    return out


# ---- the plan


def _classics(study: optuna.Study, settings: FinalSettings, data: Data,
              device: Any) -> tuple[list[Pick], list[tuple[str, str]]]:
    """The classic networks to train, and those left out with the reason (too small an input; over the CPU time)."""
    spec, picks, skipped = data.spec, [], []
    measured = (study.user_attrs.get(StudyAttr.CLASSICS) or {}).get("models") or {}
    for name in settings.classics if settings.classics is not None else ZOO_NAMES:
        try:
            arch = get_zoo(name, spec.input_shape, spec.num_classes)
            analyze(arch)
        except (SpaceError, ValueError) as exc:
            skipped.append((name, f"does not fit the input: {exc}"))
            continue
        if settings.classics is None and str(device).startswith("cpu"):
            hours = estimate_hours(arch, data, settings, device)
            if hours > settings.cpu_hours:
                skipped.append((name, f"about {hours:.1f} h on this CPU, over {settings.cpu_hours:g} h (name it in "
                                      "--classics to train it anyway)"))
                continue
        latency = measured.get(name, {}).get("latency_ms") if measured.get(name, {}).get("arch_id") == arch.arch_id \
            else None
        picks.append(Pick(name, "classic", arch, None, "a classic network", latency))
    return picks, skipped


def estimate_hours(arch: Architecture, data: Data, settings: FinalSettings, device: Any, steps: int = 4) -> float:
    """Full training's hours for ``arch``: a few steps timed at the rung's batch size, times the steps it needs."""
    config = TrainConfig(iterations=steps, batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed,
                         amp=settings.amp, channels_last=settings.channels_last, augment=settings.augment)
    result = train_model(build_model(arch, seed=0), data.train, None, config, data.spec, device=device)
    per_step = result.seconds / max(1, steps)
    return per_step * settings.epochs * math.ceil(len(data.train) / settings.batch_size) / 3600.0


def plan(study: optuna.Study, result: SearchResult, settings: FinalSettings, data: Data, device: Any,
         reports_dir: str | Path) -> tuple[list[Pick], list[tuple[str, str]]]:
    """The networks of the final rung (candidates first) and the classic networks left out, with why."""
    picks = []
    for number, why in choose(result, settings.top):
        arch, trial = trial_arch(study, number, reports_dir)
        picks.append(Pick(f"trial{number}", "candidate", arch, number, why, trial.user_attrs.get(Attr.LATENCY_MS)))
    classics, skipped = _classics(study, settings, data, device)
    return picks + classics, skipped


# ---- training them, and their records


def record_key(pick: Pick) -> str:
    return f"{FINAL_TRIAL}{pick.trial}" if pick.kind == "candidate" else f"{FINAL_CLASSIC}{pick.name}"


def final_records(user_attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A study's final results by record key (``final:trial:<n>``, ``final:classic:<name>``)."""
    return {k: v for k, v in user_attrs.items() if k.startswith((FINAL_TRIAL, FINAL_CLASSIC)) and isinstance(v, dict)}


def check_settings(study: optuna.Study, settings: FinalSettings) -> None:
    """Record the rung's fidelity on its first run; a rerun with another one is refused, as a search's is."""
    recorded = study.user_attrs.get(FINAL_SETTINGS)
    now = settings.fidelity()
    if recorded is None:
        study.set_user_attr(FINAL_SETTINGS, now)
        return
    diff = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    if diff:
        shown = ", ".join(f"{k}={recorded.get(k)!r} (now {now.get(k)!r})" for k in diff)
        raise ConfigError(f"the final rung of study {study.study_name!r} was run with {shown}; rerun it with the same "
                          "settings to resume it")


def _record(study: optuna.Study, pick: Pick, trained: Any, settings: FinalSettings) -> dict[str, Any]:
    info = analyze(pick.arch)
    record = {"name": pick.name, "kind": pick.kind, "trial": pick.trial, "why": pick.why, "arch_id": pick.arch.arch_id,
              "encoding": pick.arch.encode(), "test_accuracy": trained.test_accuracy,
              "val_accuracy": trained.val_accuracy, "epochs": trained.epochs, "seconds": sum(
                  h["seconds"] for h in trained.history), "device": trained.device, "macs": info.macs,
              "params": info.params, "latency_ms": pick.latency_ms, "fidelity": settings.fidelity()}
    study.set_user_attr(record_key(pick), record)
    return record


Progress = Callable[[dict[str, Any]], None]


def run_final(study: optuna.Study, data: Data, settings: FinalSettings, picks: Sequence[Pick], paths: StudyPaths,
              device: Any, *, progress: Progress | None = None, poll_s: float = 2.0) -> list[dict[str, Any]]:
    """Train every network of ``picks`` (skipping the recorded ones), record each, and wait for those another
    process trains; their records, in ``picks``' order."""
    emit = progress or (lambda event: None)
    check_settings(study, settings)
    pending = list(picks)
    while pending:
        recorded = final_records(study.user_attrs)
        waiting = []
        for pick in pending:
            if record_key(pick) in recorded:
                continue
            index = picks.index(pick) + 1
            emit({"event": "network", "index": index, "total": len(picks), "name": pick.name, "why": pick.why,
                  "encoding": pick.arch.encode()})
            try:
                trained = full_train(pick.arch, data, settings.config(), paths.root / "final" / pick.name,
                                     progress=lambda e, i=index: emit({**e, "index": i, "total": len(picks)}),
                                     device=device, source=f"final rung: {pick.name} ({pick.why})")
            except Busy:  # another process trains it: wait for its record
                waiting.append(pick)
                continue
            if trained.finished:
                _record(study, pick, trained, settings)
        pending = waiting
        if pending:
            emit({"event": "waiting", "names": [p.name for p in pending]})
            time.sleep(poll_s)
    records = final_records(study.user_attrs)
    return [records[record_key(p)] for p in picks if record_key(p) in records]




def settings_of(top: int, epochs: int, classics: str | None, **recipe: Any) -> FinalSettings:
    """Settings from the command line's text: ``classics`` is comma-separated names, ``none``, or ``None`` (the
    default: every classic network that fits)."""
    names = None if classics is None else tuple(n.strip() for n in classics.split(",") if n.strip() and n != "none")
    return FinalSettings(top=top, epochs=epochs, classics=names, **recipe)
