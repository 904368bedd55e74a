"""A worker's own running trials on a database storage: written behind, read from memory.

Optuna writes each suggested parameter in a transaction of its own and reads the whole trial back several
times on the way (``ask`` builds the trial from the database, ``tell`` reads it twice): on PostgreSQL a
trial of nasbox's cost about 20 round trips that carry nothing new. :class:`OwnTrials`, a mixin of the
database storage, keeps the trials this process created in memory while they run:

- a parameter of an own running trial is recorded in memory and written with the trial's next write
  (its attributes or its end), in the same transaction;
- attributes can be deferred the same way (:meth:`OwnTrials.set_trial_user_attrs` with ``defer=True``):
  a trial's results and its status are written with its end, in one transaction;
- reading an own trial returns the copy in memory, which holds everything written to it, deferred or not;
  reads of the study (Optuna's incremental ``_get_trials``) see the deferred writes too.

What is deferred is lost with the process, as is the trial itself: a worker that dies leaves its trial
RUNNING, and the heartbeat rules settle it. A trial another worker settled meanwhile (its heartbeat was
late) is refused by the database at the next write, exactly as without the cache, and is then forgotten.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility, distribution_to_json, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

__all__ = ["OwnTrials"]

_FINISHED_KEPT = 64  # own trials kept after their end, for the reads that follow a tell


class OwnTrials:
    """Mixin for ``optuna.storages.RDBStorage``: this process's running trials, written behind."""

    def _own_init(self) -> None:
        self._own_lock = threading.RLock()
        self._own: dict[int, FrozenTrial] = {}
        self._ended: OrderedDict[int, FrozenTrial] = OrderedDict()
        self._params: dict[int, list[tuple[str, float, BaseDistribution, BaseDistribution | None]]] = {}
        self._attrs: dict[int, dict[str, Any]] = {}

    # ---- creating and reading
    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        frozen = super()._create_new_trial(study_id, template_trial)  # type: ignore[misc]
        if frozen.state == TrialState.RUNNING:
            with self._own_lock:
                self._own[frozen._trial_id] = copy.deepcopy(frozen)
        return frozen

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._own_lock:
            mine = self._own.get(trial_id) or self._ended.get(trial_id)
            if mine is not None:
                return copy.deepcopy(mine)
        return super().get_trial(trial_id)  # type: ignore[misc]

    def _get_trials(self, study_id: int, states: Any, included_trial_ids: set[int],
                    trial_id_greater_than: int) -> list[FrozenTrial]:
        trials = super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)  # type: ignore[misc]
        with self._own_lock:
            if not (self._params or self._attrs):
                return trials
            return [self._with_deferred(t) if t._trial_id in self._own and not t.state.is_finished() else t
                    for t in trials]

    def _with_deferred(self, trial: FrozenTrial) -> FrozenTrial:
        """A trial read from the database, with the writes deferred in this process."""
        mine = self._own[trial._trial_id]
        trial = copy.copy(trial)
        trial.params, trial.distributions = dict(mine.params), dict(mine.distributions)
        trial.user_attrs = {**trial.user_attrs, **self._attrs.get(trial._trial_id, {})}
        return trial

    # ---- writing
    def _set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                         distribution: BaseDistribution, previous_distribution: BaseDistribution | None) -> None:
        with self._own_lock:
            mine = self._own.get(trial_id)
            if mine is not None:
                self._params.setdefault(trial_id, []).append(
                    (param_name, param_value_internal, distribution, previous_distribution))
                mine.params[param_name] = distribution.to_external_repr(param_value_internal)
                mine.distributions[param_name] = distribution
                return
        super()._set_trial_param(trial_id, param_name, param_value_internal, distribution,  # type: ignore[misc]
                                 previous_distribution)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.set_trial_user_attrs(trial_id, {key: value})

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any], *, defer: bool = False) -> None:
        """Write several user attributes of a running trial in one transaction, with what was deferred for it;
        ``defer``: for an own trial, keep them for its next write (its end) instead."""
        with self._own_lock:
            mine = self._own.get(trial_id)
            if mine is not None and defer:
                self._attrs.setdefault(trial_id, {}).update(attrs)
                mine.user_attrs.update(attrs)
                return
            with self._transaction(trial_id) as (session, _):
                _upsert_attrs(self, session, trial_id, {**self._attrs.get(trial_id, {}), **attrs})
            self._attrs.pop(trial_id, None)
            if mine is not None:
                mine.user_attrs.update(attrs)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._flush(trial_id)
        super().set_trial_system_attr(trial_id, key, value)  # type: ignore[misc]
        with self._own_lock:
            if trial_id in self._own:
                self._own[trial_id].system_attrs[key] = value

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self._flush(trial_id)
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)  # type: ignore[misc]
        with self._own_lock:
            if trial_id in self._own:
                self._own[trial_id].intermediate_values[step] = intermediate_value

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        """Optuna's state change, in the same transaction as the writes deferred for the trial."""
        from sqlalchemy.exc import IntegrityError

        with self._own_lock:
            if trial_id not in self._own:
                return super().set_trial_state_values(trial_id, state, values)  # type: ignore[misc]
            try:
                with self._transaction(trial_id) as (session, trial):
                    _upsert_attrs(self, session, trial_id, self._attrs.get(trial_id, {}))
                    done = _change_state(self, session, trial, state, values)
            except IntegrityError:  # as Optuna's: a race it loses is no error
                return False
            self._attrs.pop(trial_id, None)
            if done:
                self._note_state(trial_id, state, values)
            return done

    def _flush(self, trial_id: int) -> None:
        """Write what was deferred for a trial (before a write of Optuna's own)."""
        with self._own_lock:
            if trial_id in self._params or trial_id in self._attrs:
                with self._transaction(trial_id) as (session, _):
                    _upsert_attrs(self, session, trial_id, self._attrs.get(trial_id, {}))
                self._attrs.pop(trial_id, None)

    @contextlib.contextmanager
    def _transaction(self, trial_id: int) -> Iterator[tuple[Any, Any]]:
        """A transaction on a running trial (its row locked) that first writes the trial's deferred parameters,
        cleared once it commits. A trial finished elsewhere meanwhile raises Optuna's error and is forgotten."""
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        try:
            with _create_scoped_session(self.scoped_session) as session:  # type: ignore[attr-defined]
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                self.check_trial_is_updatable(trial_id, trial.state)  # type: ignore[attr-defined]
                _insert_params(self, session, trial, self._params.get(trial_id, []))
                yield session, trial
        except optuna.exceptions.UpdateFinishedTrialError:
            self._forget(trial_id)
            raise
        self._params.pop(trial_id, None)

    # ---- the copies in memory
    def _note_state(self, trial_id: int, state: TrialState, values: Any) -> None:
        """Record a state change of an own trial in its copy (an ended trial is kept a while, then dropped)."""
        with self._own_lock:
            mine = self._own.get(trial_id)
            if mine is None:
                return
            mine.state = state
            if values is not None:
                mine.values = list(values)
            if state.is_finished():
                mine.datetime_complete = datetime.now()
                self._forget(trial_id)
                self._ended[trial_id] = mine
                while len(self._ended) > _FINISHED_KEPT:
                    self._ended.popitem(last=False)

    def _forget(self, trial_id: int) -> None:
        with self._own_lock:
            self._own.pop(trial_id, None)
            self._params.pop(trial_id, None)
            self._attrs.pop(trial_id, None)


# ---- statements (Optuna's RDB models; one multi-row statement where the database has an upsert)

def _insert(storage: Any) -> Any:
    if storage.engine.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif storage.engine.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    return insert


def _insert_params(storage: Any, session: Any, trial: Any, params: list[tuple[Any, ...]]) -> None:
    """A trial's deferred parameters, checked against the study's earlier distributions as Optuna does."""
    from optuna.storages._rdb import models

    if not params:
        return
    model = models.TrialParamModel
    for name, _, dist, previous in params:
        if previous is None:
            found = (session.query(model).join(models.TrialModel).filter(models.TrialModel.study_id == trial.study_id)
                     .filter(model.param_name == name).first())
            if found is not None:
                check_distribution_compatibility(json_to_distribution(found.distribution_json), dist)
    insert = _insert(storage)
    if insert is None:
        for name, value, dist, _ in params:
            session.add(model(trial_id=trial.trial_id, param_name=name, param_value=value,
                              distribution_json=distribution_to_json(dist)))
        return
    rows = [{"trial_id": trial.trial_id, "param_name": name, "param_value": value,
             "distribution_json": distribution_to_json(dist)} for name, value, dist, _ in params]
    session.execute(insert(model).values(rows).on_conflict_do_nothing(index_elements=[model.trial_id, model.param_name]))


def _upsert_attrs(storage: Any, session: Any, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """User attributes in one INSERT ... ON CONFLICT UPDATE (PostgreSQL, SQLite; one at a time elsewhere)."""
    from optuna.storages._rdb import models

    if not attrs:
        return
    model = models.TrialUserAttributeModel
    insert = _insert(storage)
    if insert is None:
        for key, value in attrs.items():
            storage._set_trial_attr_without_commit(session, model, trial_id, key, value)
        return
    stmt = insert(model).values([{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()])
    session.execute(stmt.on_conflict_do_update(index_elements=[model.trial_id, model.key],
                                               set_={"value_json": stmt.excluded.value_json}))


def _change_state(storage: Any, session: Any, trial: Any, state: TrialState, values: Any) -> bool:
    """Optuna's ``RDBStorage.set_trial_state_values`` (5.x) on a trial row the caller's transaction locked."""
    if values is not None:
        for objective, v in enumerate(values):
            storage._set_trial_value_without_commit(session, trial, objective, v)
    if state == TrialState.RUNNING and trial.state != TrialState.WAITING:
        return False
    trial.state = state
    if state == TrialState.RUNNING:
        trial.datetime_start = datetime.now()
    if state.is_finished():
        trial.datetime_complete = datetime.now()
    return True
