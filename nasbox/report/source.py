"""Opening a study for a report: :func:`nasbox.study.storage.open_study` and the folder the search writes to."""

from nasbox.study.schema import report_dir_for
from nasbox.study.storage import open_study

__all__ = ["open_study", "report_dir_for"]
