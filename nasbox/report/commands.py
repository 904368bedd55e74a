"""The commands a report offers to copy: train or export a candidate, score the classic networks.

Each names the study as the search did (quoted for a POSIX shell), its reports folder when it is not
the default one, and its storage when that is a database URL without a password. A password is never
recorded (the search keeps the URL masked), so for such a database the reader gives the URL in
``$NASBOX_STORAGE`` (which the commands read) and :func:`storage_hint` says so.
"""

from __future__ import annotations

import shlex

from nasbox.report.collect import ReportData

__all__ = ["storage_hint", "trial_commands", "zoo_command"]

_DEFAULT_REPORTS = "reports"


def _study_args(data: ReportData) -> list[str]:
    args = ["--study", data.study_name]
    reports = data.config.get("reports_dir")
    if isinstance(reports, str) and reports.rstrip("/") not in ("", _DEFAULT_REPORTS, f"./{_DEFAULT_REPORTS}"):
        args += ["--reports-dir", reports]
    storage = data.config.get("storage")
    if isinstance(storage, str) and "://" in storage and "***" not in storage:
        args += ["--storage", storage]
    return args


def trial_commands(data: ReportData, number: int) -> tuple[str, str]:
    """``nasbox train --study S --trial N`` and ``nasbox export --study S --trial N --format onnx``."""
    args = shlex.join([*_study_args(data), "--trial", str(number)])
    return f"nasbox train {args}", f"nasbox export {args} --format onnx"


def zoo_command(data: ReportData) -> str:
    """``nasbox zoo --study S``: the classic networks trained and scored as this study's candidates were."""
    return f"nasbox zoo {shlex.join(_study_args(data))}"


def storage_hint(data: ReportData) -> str:
    """A sentence when the commands need the storage's URL from the environment, else ``""``."""
    storage = data.config.get("storage")
    if isinstance(storage, str) and "://" in storage and "***" in storage:
        return (f"The study lives in a database with a password ({storage}): set NASBOX_STORAGE to its URL before "
                "running these commands.")
    return ""
