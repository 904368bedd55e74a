"""The Pareto report of a study: an offline HTML page, Markdown, PNG plots and CSV tables.

Plain data is computed first (:mod:`~nasbox.report.collect`, :mod:`~nasbox.report.fronts`,
:mod:`~nasbox.report.hypervolume`, :mod:`~nasbox.report.candidates`, :mod:`~nasbox.report.accuracy`,
:mod:`~nasbox.report.commands`, :mod:`~nasbox.report.screening`, :mod:`~nasbox.report.setup_info`,
:mod:`~nasbox.report.labels`), then rendered (:mod:`~nasbox.report.page`, :mod:`~nasbox.report.page_tables`,
:mod:`~nasbox.report.plotly_figs`, :mod:`~nasbox.report.front_layout`, :mod:`~nasbox.report.png`,
:mod:`~nasbox.report.markdown`, :mod:`~nasbox.report.layers`), as Optuna's
``visualization/_pareto_front.py`` separates ``_get_pareto_front_info`` from its plot. Both pages lead with
the answer: the Pareto-optimal candidates and the commands that train and export them, then the fronts.

Example::

    >>> from nasbox.report import build_report, open_study, report_dir_for
    >>> study = open_study("seed_cnn-mnist5k")                   # reports/seed_cnn-mnist5k/journal.log
    >>> report = build_report(study, report_dir_for(study.study_name))
    >>> report.index                                             # reports/seed_cnn-mnist5k/index.html
"""

from __future__ import annotations

from nasbox.report.build import Report, build_report, write_report
from nasbox.report.collect import ReportData, TrialRow, collect
from nasbox.report.fronts import FrontInfo, front_info
from nasbox.report.hypervolume import HypervolumeInfo, hypervolume_info
from nasbox.report.source import open_study, report_dir_for

__all__ = [
    "FrontInfo",
    "HypervolumeInfo",
    "Report",
    "ReportData",
    "TrialRow",
    "build_report",
    "collect",
    "front_info",
    "hypervolume_info",
    "open_study",
    "report_dir_for",
    "write_report",
]
