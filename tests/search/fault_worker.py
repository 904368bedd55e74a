"""A ``nasbox`` worker that stops at a chosen moment, for the fault tests (tests/search/test_faults.py).

    python tests/search/fault_worker.py MOMENT MARKER_FILE search ...

runs ``nasbox search ...`` with one hook: when the worker reaches MOMENT it writes
MARKER_FILE (JSON: what it was doing) and then waits, its heartbeat still beating, until
the test kills it with SIGKILL -- so the kill lands exactly at that moment. Moments:

- ``before-first-trial``: the study is open, nothing asked yet;
- ``asked``: a trial was asked, but neither its heartbeat nor its worker was recorded yet;
- ``mid-training``: three optimisation steps into the first candidate's training;
- ``before-tell``: training done and its result recorded on the trial (held by the worker until its
  ``tell``, which writes it with the trial's end), ``tell`` not called;
- ``writing-report``: half of ``index.html`` written to its temporary file, not yet renamed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import optuna

import nasbox.report.build
import nasbox.search.propose
import nasbox.train.recipe
from nasbox.cli import main

MOMENTS = ("before-first-trial", "asked", "mid-training", "before-tell", "writing-report")


def pause(marker: Path, **info: object) -> None:
    marker.write_text(json.dumps(info))
    while True:  # until SIGKILL
        time.sleep(60)


def install(moment: str, marker: Path) -> None:
    if moment == "before-first-trial":
        real_propose = nasbox.search.propose.Proposer.propose

        def propose(self):
            pause(marker)
            return real_propose(self)

        nasbox.search.propose.Proposer.propose = propose
    elif moment == "asked":
        def claim(self, trial):
            pause(marker, trial=trial.number)

        nasbox.search.propose.Proposer._claim = claim
    elif moment == "mid-training":
        real_steps = nasbox.train.recipe.Recipe.steps

        def steps(self, model, batches):
            for i, loss in enumerate(real_steps(self, model, batches)):
                yield loss
                if i == 2:
                    pause(marker)

        nasbox.train.recipe.Recipe.steps = steps
    elif moment == "before-tell":
        real_tell = optuna.study.Study.tell

        def tell(self, trial, values=None, state=None, skip_if_finished=False):
            if values is not None:  # a result, not a FAIL
                number = trial if isinstance(trial, int) else trial.number
                pause(marker, trial=number, attrs=self.get_trials(deepcopy=False)[number].user_attrs)
            return real_tell(self, trial, values, state, skip_if_finished)

        optuna.study.Study.tell = tell
    elif moment == "writing-report":
        real_write = nasbox.report.build.atomic_write

        def atomic_write(path, content, **kw):
            if Path(path).name != "index.html":
                return real_write(path, content, **kw)

            def half(tmp: Path) -> None:
                tmp.write_text(content[: len(content) // 2])
                pause(marker, tmp=str(tmp))

            return real_write(path, half)

        nasbox.report.build.atomic_write = atomic_write
    else:
        raise SystemExit(f"unknown moment {moment!r}; choose from {', '.join(MOMENTS)}")


if __name__ == "__main__":
    install(sys.argv[1], Path(sys.argv[2]))
    sys.exit(main(sys.argv[3:]))
