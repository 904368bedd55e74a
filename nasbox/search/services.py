"""What every phase of a worker's search shares: the data, the space, the study and the device's services.

:func:`open_services` does the setting up that used to fill ``Search.__init__``: it checks the options, resolves
the device and the fidelity's defaults, loads the data and the space, makes the main evaluator, opens (or
creates) the study and writes the ``search.toml`` that reproduces it. Nothing here runs a trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nasbox.data import Data, load_dataset
from nasbox.device import resolve_device
from nasbox.evaluate import EvalContext, Evaluator, make_evaluator
from nasbox.files import atomic_write
from nasbox.measure.memory import MemoryLedger
from nasbox.measure.slot import DeviceSlot
from nasbox.search.check import Constraints
from nasbox.search.config import SearchConfig
from nasbox.search.coordinate import Coordinator, Ledger
from nasbox.search.costs import CostMeter
from nasbox.search.events import ProgressCallback, SetupNote
from nasbox.search.record import RepeatIndex
from nasbox.search.session import open_search_study, search_toml, setup_of
from nasbox.spaces import SearchSpace, get_space
from nasbox.study.schema import StudyAttr, StudyPaths, safe_name
from nasbox.study.storage import open_storage, storage_url

__all__ = ["Services", "open_services"]


@dataclass
class Services:
    """One worker's shared state: fixed once the search starts (the phases add their own evaluators)."""

    config: SearchConfig  # with the fidelity's defaults filled in
    device: Any
    data: Data
    space: SearchSpace
    context: EvalContext  # what an evaluator is made from (each phase makes its own)
    evaluator: Evaluator  # the search's own evaluator
    study_name: str
    paths: StudyPaths
    storage: Any
    storage_display: str
    study: optuna.Study
    slot: DeviceSlot
    memory: MemoryLedger
    costs: CostMeter
    constraints: Constraints
    repeats: RepeatIndex
    ledger: Ledger
    coordinator: Coordinator
    progress: ProgressCallback = field(default=lambda event: None)

    @property
    def fidelity(self) -> dict[str, Any]:
        return self.evaluator.fidelity()


def _data(c: SearchConfig) -> Data:
    return load_dataset(c.dataset, data_dir=c.data_dir, download=c.download, val_fraction=c.val_fraction,
                        subset=c.subset, seed=c.seed, **c.dataset_options)


def open_services(config: SearchConfig, progress: ProgressCallback | None = None) -> Services:
    """Check ``config``, load what the search needs and open its study (see the module docstring).

    Raises:
        ConfigError, SpaceError, DataError, StorageError: bad input, one line; no study is created for it.
    """
    progress = progress or (lambda event: None)
    config.check()
    device = resolve_device(config.device)
    c = config.with_defaults(device)
    data = _data(c)
    space = get_space(c.space, input_shape=data.spec.input_shape, num_classes=data.spec.num_classes,
                      args=c.space_args, toml_file=c.space_config)
    data = data.to(device)
    slot = DeviceSlot(device)  # no latency is timed while another process trains on the device
    context = EvalContext(data=data, device=device, epochs=c.epochs, iterations=c.iterations, batch_size=c.batch_size,
                          lr=c.lr, augment=c.augment, seed=c.seed, space=space, pause=slot.pause_point,
                          options={"supernet_prior": c.supernet_prior},
                          note=lambda text: progress(SetupNote(text)))
    evaluator = make_evaluator(c.evaluator, context)
    study_name = c.study or f"{space.name}-{c.dataset}"
    paths = StudyPaths(Path(c.reports_dir) / safe_name(study_name))
    storage, display = open_storage(storage_url(c.storage), paths.root, c.heartbeat_s, c.storage_retry_s)
    setup = setup_of(c, space, evaluator.fidelity())
    study = open_search_study(storage, display, study_name, c, setup)
    atomic_write(paths.search_toml, search_toml(c, setup))  # the options that reproduce the study
    facts = evaluator.facts()
    if facts and study.user_attrs.get(StudyAttr.EVALUATOR) != {"name": evaluator.name, **facts}:
        study.set_user_attr(StudyAttr.EVALUATOR, {"name": evaluator.name, **facts})
    repeats = RepeatIndex()
    ledger = Ledger(on_finished=repeats.add)
    return Services(
        config=c, device=device, data=data, space=space, context=context, evaluator=evaluator, study_name=study_name,
        paths=paths, storage=storage, storage_display=display, study=study, slot=slot, memory=MemoryLedger(device),
        costs=CostMeter(device, threads=c.latency_threads, predict=c.latency == "predict", slot=slot),
        constraints=Constraints(c.max_params, c.max_macs, c.max_latency_ms), repeats=repeats, ledger=ledger,
        coordinator=Coordinator(study, c.budget, c.heartbeat_s, ledger), progress=progress)
