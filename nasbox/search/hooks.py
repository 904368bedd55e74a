"""What a search does beside its trials, for its outputs: hooks called at fixed points of a worker's search.

A :class:`Hook` is told when the search starts and ends, when a trial ends, before a latency is timed and when
a candidate starts training. Two come with nasbox: :class:`ClassicsLatency` (the classic networks' batch-1
latency on the search's device, measured once before the first trial and recorded in the study, so that the
report places them on every cost axis) and :class:`LiveReportHook` (the report rebuilt while the search runs,
:mod:`~nasbox.search.live`, never while a latency is timed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from filelock import Timeout
from optuna.trial import FrozenTrial

from nasbox.search.events import ClassicsMeasured
from nasbox.search.live import LiveReport
from nasbox.search.services import Services
from nasbox.search.tracking import Callback
from nasbox.study.schema import StudyAttr
from nasbox.zoo.latency import latency_cache_path

__all__ = ["Callbacks", "ClassicsLatency", "Hook", "Hooks", "LiveReportHook"]

_log = logging.getLogger(__name__)


class Hook:
    """A search's extra at fixed points; each method does nothing unless overridden."""

    def started(self, s: Services) -> None:
        """Before the first trial of this worker."""

    def timing(self) -> None:
        """A latency is about to be timed: nothing else may run on the machine."""

    def training(self) -> None:
        """A candidate starts training: work may run beside it."""

    def trial_done(self, trial: FrozenTrial) -> None:
        """A trial of this worker ended (``trial`` as told)."""

    def ended(self) -> None:
        """The worker's trials are done (or interrupted); its outputs are written next."""


class Hooks(Hook):
    """Several hooks, called in turn."""

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self.hooks = list(hooks)

    def started(self, s: Services) -> None:
        for h in self.hooks:
            h.started(s)

    def timing(self) -> None:
        for h in self.hooks:
            h.timing()

    def training(self) -> None:
        for h in self.hooks:
            h.training()

    def trial_done(self, trial: FrozenTrial) -> None:
        for h in self.hooks:
            h.trial_done(trial)

    def ended(self) -> None:
        for h in self.hooks:
            h.ended()


class ClassicsLatency(Hook):
    """The classic networks' latency on this device at the study's input (cached per machine), recorded in the
    study for its report; once per study and device. A failure never stops the search."""

    def started(self, s: Services) -> None:
        recorded = s.study.user_attrs.get(StudyAttr.CLASSICS) or {}
        if recorded.get("device") == str(s.device):
            return
        t0 = time.perf_counter()
        try:
            found = s.costs.classics(s.space.input_shape, s.space.num_classes)
        except Timeout:  # another worker holds the cache's lock for long: its study records them
            _log.warning("the classic networks' latency cache stayed locked; not measuring them here")
            return
        except Exception as exc:  # a report's extra never stops a search (an unwritable cache, say)
            _log.warning("could not measure the classic networks' latency: %s: %s", type(exc).__name__, exc)
            return
        s.study.set_user_attr(StudyAttr.CLASSICS, {"device": str(s.device), "models": found})
        s.progress(ClassicsMeasured(len(found), time.perf_counter() - t0,
                                    str(latency_cache_path(s.device, s.config.latency_threads))))


class LiveReportHook(Hook):
    """The report rebuilt in the background every N trials or M seconds (``build`` writes it)."""

    def __init__(self, build: Callable[[], object] | None, *, every: int, every_s: float) -> None:
        self.live = LiveReport(build, every=every, every_s=every_s)

    @property
    def enabled(self) -> bool:
        return self.live.enabled

    def timing(self) -> None:
        self.live.wait()  # no report rendering while a latency is timed

    def training(self) -> None:
        self.live.start_if_due()  # the report renders while the candidate trains

    def trial_done(self, trial: FrozenTrial) -> None:
        self.live.trial_done()

    def ended(self) -> None:
        self.live.wait()


class Callbacks(Hook):
    """Optuna callbacks (``callback(study, frozen_trial)``: experiment trackers, a user's own) called with each
    trial this worker ran, once told, as ``study.optimize`` calls them. A callback that fails is reported once
    and the search goes on: a tracker's server being away costs the log, not the study."""

    def __init__(self, study: Any, callbacks: list[Callback]) -> None:
        self.study, self.callbacks = study, list(callbacks)
        self.failed: set[int] = set()

    def trial_done(self, trial: FrozenTrial) -> None:
        for i, callback in enumerate(self.callbacks):
            try:
                callback(self.study, trial)
            except Exception as exc:  # a tracker's failure never stops the search
                if i not in self.failed:
                    self.failed.add(i)
                    _log.warning("a trial callback failed (%s: %s); the search goes on", type(exc).__name__, exc)

    def ended(self) -> None:
        for callback in self.callbacks:
            close = getattr(callback, "close", None)
            if close is not None:
                close()
