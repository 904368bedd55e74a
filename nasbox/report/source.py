"""Opening a study for a report: :func:`nasbox.storage.open_study` and the folder the search writes to."""

from nasbox.storage import open_study, report_dir_for

__all__ = ["open_study", "report_dir_for"]
