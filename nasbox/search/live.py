"""The report while a search runs: rebuilt in a background thread every N trials or M seconds.

However fast trials are (a table lookup takes milliseconds), rebuilding never takes more than
about a fifth of the search's time: a rebuild is due only once ``PACE`` times as long as the last
one took has passed since it ended, so a study of thousands of trials is not slowed down by
rebuilding its page after every few of them.

The rebuild starts when a candidate starts training (the GPU or the CPU's math runs while
the report's Python renders) and is waited for before the next latency measurement, so
that no timing shares the machine with it; every file is replaced atomically, so a reader
never sees half a report. A rebuild that fails is logged and the search goes on: the report
is written again at the end, where an error surfaces.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["PACE", "LiveReport"]

#: the time between the end of a rebuild and the start of the next, at least, in units of its duration
PACE = 4.0

_log = logging.getLogger(__name__)


class LiveReport:
    """Calls ``build()`` (the tables and the report) after every ``every`` trials or ``every_s`` seconds;
    ``build=None`` or ``every=0``: never."""

    def __init__(self, build: Callable[[], object] | None, *, every: int, every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.build = build
        self.every, self.every_s, self.clock = every, every_s, clock
        self.since, self.last = 0, clock()
        self.took, self.ended = 0.0, self.last  # the last rebuild's duration, and when it ended
        self.thread: threading.Thread | None = None
        self.builds = 0  # rebuilds finished (for tests and logs)
        self.error: BaseException | None = None

    @property
    def enabled(self) -> bool:
        return self.build is not None and self.every > 0

    def trial_done(self) -> None:
        """A trial of this worker ended."""
        self.since += 1

    def due(self) -> bool:
        if self.thread is not None and not self.thread.is_alive():  # finished: nobody had to wait for it
            self.thread.join()
            self.thread = None
        now = self.clock()
        return (self.enabled and self.since > 0 and self.thread is None and now - self.ended >= PACE * self.took
                and (self.since >= self.every or now - self.last >= self.every_s))

    def start_if_due(self) -> bool:
        """Start a rebuild when one is due (call as a candidate starts training)."""
        if not self.due():
            return False
        self.since, self.last = 0, self.clock()
        self.thread = threading.Thread(target=self._build, name="nasbox-live-report", daemon=True)
        self.thread.start()
        return True

    def wait(self) -> None:
        """Let a running rebuild finish (call before timing anything, and at the end)."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _build(self) -> None:
        start = self.clock()
        try:
            assert self.build is not None
            self.build()
            self.builds += 1
        except Exception as exc:  # never stop the search; the final report shows the error
            self.error = exc
            _log.warning("rebuilding the report during the search failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.ended = self.clock()
            self.took = self.ended - start
