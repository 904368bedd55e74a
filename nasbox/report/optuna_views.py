"""Which choices matter, and who ran what when: Optuna's own views of a study, for the page.

* **Parameter importance** per objective (``optuna.importance.get_param_importances``, with
  Optuna's default evaluator, drawn as one grouped bar chart), and **parallel coordinates** of the most important
  parameters against accuracy (``plot_parallel_coordinate``). Both are computed on the
  trials that were trained (not the infeasible ones scored 0, nor repeats, whose values are
  another trial's), and only on the parameters every one of those trials has: a space's
  conditional parameters (a fifth stage's kernel applies only when there are five stages:
  :meth:`~nasbox.spaces.SearchSpace.applies`) cannot be compared across trials they do not
  apply to, and are named instead.
* A **timeline by worker**: each trial a bar from its start to its end, on the row of the
  worker (host and process) that ran it, colored by status.

Each view is a plotly figure as JSON, drawn by the page with the plotly bundle in the
reports folder; nothing is fetched.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from nasbox.report.collect import ReportData
from nasbox.report.format import esc
from nasbox.report.plotly_figs import FONT, LARGE_GROUP, STYLE
from nasbox.spaces import SearchSpace
from nasbox.study.schema import Attr, TrialStatus, trial_status

__all__ = ["MAX_TRIALS", "OptunaViews", "importance_figure", "optuna_views", "timeline_figure"]

#: the most recent trained trials the importance and parallel-coordinate views use (cost grows with trials)
MAX_TRIALS = 1000
_PARALLEL_PARAMS = 8  # parameters on the parallel-coordinates plot: the most important for accuracy
_SHOWN_PARAMS = 15  # parameters on the importance plot: the most important over all objectives
# Optuna's notices (experimental features; PED-ANOVA's "low target values", which the negation handles), filtered
# once here: warnings.catch_warnings is not thread-safe, and the report is also built in a search's thread
warnings.filterwarnings("ignore", message=".*set_metric_names is experimental", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message=".*computes the importances of params to achieve low", category=UserWarning)
warnings.filterwarnings("ignore", message=".*`target` is specified, but `target_name`", category=UserWarning)


class OptunaViews(NamedTuple):
    """The figures (id -> plotly JSON) and a caption per view; a view that cannot be drawn yet
    has no figure and its caption says why."""

    figures: dict[str, dict[str, Any]]
    captions: dict[str, str]
    importances: dict[str, dict[str, float]]  # objective -> parameter -> importance (most important first)
    conditional: tuple[str, ...]  # parameters left out: they do not apply to every trained trial


def _trained(study: optuna.Study, space: SearchSpace | None) -> list[FrozenTrial]:
    """The trained trials (the most recent :data:`MAX_TRIALS`), each with only the parameters that
    apply to it (:meth:`SearchSpace.applies`)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if trial_status(t) == TrialStatus.COMPLETE and t.values is not None][-MAX_TRIALS:]
    if space is None:
        return trials
    out = []
    for t in trials:
        try:
            keep = space.applies(t.params)
        except Exception:  # a user's space: its hook must not break the report
            keep = set(t.params)
        out.append(create_trial(values=t.values, params={k: v for k, v in t.params.items() if k in keep},
                                distributions={k: d for k, d in t.distributions.items() if k in keep},
                                user_attrs=t.user_attrs) if keep != set(t.params) else t)
    return out


def _copy(study: optuna.Study, trials: list[FrozenTrial], names: list[str]) -> optuna.Study:
    """An in-memory study of just these trials (Optuna's plots take a study)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(trials)
    copy.set_metric_names(names)
    return copy


def _plain(fig: Any, height: int) -> dict[str, Any]:
    spec = fig.to_plotly_json()
    layout = dict(spec.get("layout") or {})
    layout.pop("template", None)  # plotly's default template: 8 kB per figure, and the page has its own style
    layout.pop("title", None)  # the page titles each view
    layout.update(font=FONT, height=height, paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
                  margin={"l": 150, "r": 20, "t": 40, "b": 40})
    return {"data": spec["data"], "layout": layout}


def _importances(copy: optuna.Study, params: list[str], names: list[str]) -> dict[str, dict[str, float]]:
    """Optuna's importances of ``params`` for each objective named in ``names`` (its evaluator looks for
    low values: an objective to maximise is negated)."""
    out = {}
    for i, (name, direction) in enumerate(zip(copy.metric_names or [], copy.directions, strict=True)):
        if name not in names:
            continue
        sign = -1.0 if direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        scores = optuna.importance.get_param_importances(copy, params=params,
                                                         target=lambda t, i=i, sign=sign: sign * t.values[i])
        out[name] = {k: float(v) for k, v in scores.items()}
    return out


_OBJECTIVE_COLORS = ("#1f6fd1", "#e8871e", "#2ca02c", "#6b4fa0", "#d62728")


def importance_figure(importances: dict[str, dict[str, float]], top: int | None = None) -> dict[str, Any]:
    """Grouped horizontal bars: a parameter per row (the most important over all objectives on top),
    a bar per objective; ``top``: only that many parameters."""
    params = sorted({p for v in importances.values() for p in v},
                    key=lambda p: sum(v.get(p, 0.0) for v in importances.values()))
    params = params[-top:] if top else params
    traces = [{"type": "bar", "orientation": "h", "name": esc(name), "y": [esc(p) for p in params],
               "x": [v.get(p, 0.0) for p in params], "marker": {"color": _OBJECTIVE_COLORS[i % len(_OBJECTIVE_COLORS)]},
               "hovertemplate": "%{y}: %{x:.3f}<extra>" + esc(name).replace("%", "%%") + "</extra>"}
              for i, (name, v) in enumerate(importances.items())]
    layout = {"font": FONT, "barmode": "group", "height": 120 + 7 * len(params) * max(2, len(importances)),
              "margin": {"l": 150, "r": 20, "t": 10, "b": 40}, "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom"},
              "xaxis": {"title": {"text": "importance (each objective's sum is 1)"}, "gridcolor": "#e6e9ee"},
              "yaxis": {"automargin": True}, "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff"}
    return {"data": traces, "layout": layout}


def optuna_views(study: optuna.Study, data: ReportData, space: SearchSpace | None = None) -> OptunaViews:
    """Parameter importance per objective and parallel coordinates (on the trained trials and the
    parameters that apply to every one of them, as ``space`` says), and the timeline by worker."""
    figures = {"timeline": timeline_figure(study)}
    captions = {"timeline": "Each bar a trial, from its start to its end, on the row of the worker that ran it."}
    names = list(data.objectives)
    trials = _trained(study, space)
    all_params = sorted({p for t in trials for p in t.params})
    params = [p for p in all_params if all(p in t.params for t in trials)]
    conditional = tuple(p for p in all_params if p not in params)
    left_out = (f" {len(conditional)} conditional parameter(s) left out (they do not apply to every trained "
                f"candidate): "
                f"{', '.join(conditional[:12])}{' ...' if len(conditional) > 12 else ''}." if conditional else "")
    varied = [p for p in params if len({repr(t.params[p]) for t in trials}) > 1]
    importances: dict[str, dict[str, float]] = {}
    if len(trials) < 3 or not varied:
        why = "needs at least 3 trained candidates and a parameter they differ in"
        captions["importance"] = captions["parallel"] = f"Not drawn yet: {why} ({len(trials)} trained so far)."
        return OptunaViews(figures, captions, importances, conditional)
    copy = _copy(study, trials, names)
    constant = [n for i, n in enumerate(names) if len({t.values[i] for t in trials}) < 2]
    importances = _importances(copy, varied, [n for n in names if n not in constant])
    if not importances:
        captions["importance"] = captions["parallel"] = "Not drawn: every objective has one value over the trials."
        return OptunaViews(figures, captions, importances, conditional)
    figures["importance"] = importance_figure(importances, _SHOWN_PARAMS)
    key = "accuracy" if "accuracy" in importances else next(iter(importances))
    top = list(importances[key])[:_PARALLEL_PARAMS]
    index = names.index(key)
    figures["parallel"] = _plain(optuna.visualization.plot_parallel_coordinate(
        copy, params=top, target=lambda t: t.values[index], target_name=key), 420)
    flat = f" Not shown for {', '.join(constant)}: one value over every trial." if constant else ""
    more = (f" The {len(varied) - _SHOWN_PARAMS} less important parameters are not drawn."
            if len(varied) > _SHOWN_PARAMS else "")
    captions["importance"] = (f"How much of each objective's variation each parameter explains (Optuna's "
                              f"{type(optuna.importance.PedAnovaImportanceEvaluator()).__name__}), over "
                              f"{len(trials)} trained candidates.{more}{left_out}{flat}")
    captions["parallel"] = (f"The {len(top)} parameters that matter most for {key}; each line a trained candidate, "
                            f"colored by its {key}.")
    return OptunaViews(figures, captions, importances, conditional)


def _worker(t: FrozenTrial) -> str:
    w = t.user_attrs.get(Attr.WORKER)
    if isinstance(w, dict) and w.get("host") is not None:
        return esc(f"{w.get('host')} pid {w.get('pid')}")
    return "unknown worker"


def timeline_figure(study: optuna.Study) -> dict[str, Any]:
    """A bar per trial from its start to its end (or now, while running), one row per worker."""
    by_status: dict[str, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is not None:
            by_status.setdefault(trial_status(t), []).append(t)
    end_of = {t.number: t.datetime_complete for ts in by_status.values() for t in ts}
    now = max((d for d in end_of.values() if d is not None), default=None)
    traces = []
    large = sum(len(ts) for ts in by_status.values()) > LARGE_GROUP
    for status, trials in by_status.items():
        group = "front" if status == TrialStatus.COMPLETE else status
        color = STYLE[group][1] if group in STYLE else "#888888"
        ends = [end_of[t.number] or now or t.datetime_start for t in trials]
        if large:  # thousands of bars: WebGL line segments instead (start -> end, a gap between trials)
            traces.append(_segments(status, trials, ends, color))
            continue
        traces.append({
            "type": "bar", "orientation": "h", "name": f"{status} ({len(trials)})",
            "y": [_worker(t) for t in trials], "base": [t.datetime_start.isoformat() for t in trials],
            "x": [max(1.0, (e - t.datetime_start).total_seconds() * 1000) for t, e in zip(trials, ends, strict=True)],
            "customdata": [t.number for t in trials],
            "marker": {"color": color, "line": {"color": "#ffffff", "width": 1}},
            "hovertemplate": "#%{customdata}: " + esc(status) + ", %{x:.0f} ms<extra>%{y}</extra>",
        })
    rows = len({y for tr in traces for y in tr["y"] if y is not None})
    layout = {"font": FONT, "height": 150 + 36 * rows, "barmode": "overlay", "hovermode": "closest", "bargap": 0.4,
              "margin": {"l": 150, "r": 20, "t": 10, "b": 40}, "xaxis": {"type": "date"},
              "yaxis": {"automargin": True}, "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom"},
              "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff"}
    return {"data": traces, "layout": layout}


def _segments(status: str, trials: list[FrozenTrial], ends: list[Any], color: str) -> dict[str, Any]:
    """The timeline of a large study: a trial a thick WebGL line segment from its start to its end."""
    x: list[Any] = []
    y: list[Any] = []
    numbers: list[Any] = []
    for t, end in zip(trials, ends, strict=True):
        worker = _worker(t)
        x += [t.datetime_start.isoformat(), end.isoformat(), None]
        y += [worker, worker, None]
        numbers += [t.number, t.number, None]
    return {"type": "scattergl", "mode": "lines", "name": f"{status} ({len(trials)})", "x": x, "y": y,
            "customdata": numbers, "line": {"color": color, "width": 10},
            "hovertemplate": "#%{customdata}: " + esc(status) + "<extra>%{y}</extra>"}
