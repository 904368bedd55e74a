"""Number formatting and escaping shared by the HTML page, the Markdown and the plots."""

from __future__ import annotations

import html
import json
from typing import Any

from nasbox.report.accuracy import UNKNOWN_SIZE_DECIMALS, AccuracyScale, Scored
from nasbox.report.collect import TrialRow
from nasbox.study.schema import TrialStatus

__all__ = ["PROXY_LABELS", "esc", "fmt_acc", "fmt_count", "fmt_interval", "fmt_missing", "fmt_ms", "fmt_objective",
           "fmt_proxies", "fmt_score", "fmt_score_long", "hover_text", "proxy_label", "script_json", "wrap_encoding"]

#: how the report names the zero-cost proxies (any other name is shown as it is)
PROXY_LABELS = {"synflow": "synflow", "naswot": "NASWOT", "jacob_cov": "jacob_cov"}


def esc(value: Any) -> str:
    """HTML-escape any value (quotes included), ``None`` as ``-``."""
    return html.escape("-" if value is None else str(value), quote=True)


def fmt_count(n: float | None) -> str:
    """``1234567`` -> ``1.23M``; ``None`` or NaN -> ``-``."""
    if n is None or n != n:
        return "-"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def fmt_acc(a: float | None) -> str:
    """A share to 4 decimals (``0.8667``), for figures that are not a split's accuracy; see :func:`fmt_score`."""
    return "-" if a is None or a != a else f"{a:.4f}"


def _pct(value: float, decimals: int) -> str:
    return f"{100 * value:.{decimals}f}"


def fmt_score(s: Scored | None) -> str:
    """An accuracy as a percentage to the decimals its split supports: ``86.7%``; ``None`` -> ``-``."""
    return "-" if s is None else f"{_pct(s.value, s.decimals)}%"


def fmt_interval(s: Scored | None) -> str:
    """Its 95 % Wilson interval, ``79.0–92.0%``; ``-`` when the split's size is not known."""
    if s is None or s.interval is None:
        return "-"
    return f"{_pct(s.interval[0], s.decimals)}–{_pct(s.interval[1], s.decimals)}%"


def fmt_score_long(s: Scored | None) -> str:
    """``86.7% (95% CI 79.0–92.0%, 90 validation images)``, for hover labels and sentences."""
    if s is None:
        return "-"
    if s.interval is None:
        return f"{fmt_score(s)} (split size not known: no interval)"
    return f"{fmt_score(s)} (95% CI {fmt_interval(s)}, {s.n:,} validation images)"


def fmt_ms(ms: float | None) -> str:
    """``None`` or NaN (a latency not measured: a table gave the accuracy and no latency was wanted) -> ``-``."""
    return "-" if ms is None or ms != ms else f"{ms:.3g}"


def fmt_objective(name: str, value: float) -> str:
    """A value of an objective with its unit: counts as ``1.23M``, latency in ms."""
    if name in ("macs", "flops", "params"):
        return fmt_count(value)
    if name == "latency":
        return f"{fmt_ms(value)} ms"
    return f"{value:.4g}"


def fmt_missing(rows: list[TrialRow], limit: int | None = None) -> str:
    """Trials without a value on an axis, as plain text: ``#7 (failed), #9 (running)`` (the first
    ``limit``, then a count), and the screened-out proposals only as a count (there are many)."""
    listed = [t for t in rows if t.status != TrialStatus.SCREENED]
    shown = listed if limit is None else listed[:limit]
    text = ", ".join(f"#{t.number} ({t.status})" for t in shown)
    if len(listed) > len(shown):
        text += f" and {len(listed) - len(shown)} more"
    screened = len(rows) - len(listed)
    if screened:
        text += f"{', plus ' if text else ''}{screened} screened out"
    return text


def proxy_label(name: str) -> str:
    """A proxy's name as the report writes it (``naswot`` -> ``NASWOT``)."""
    return PROXY_LABELS.get(name, name)


def fmt_proxies(scores: dict[str, float]) -> str:
    """``synflow 3.57, NASWOT 451, jacob_cov -122``: 3 significant digits, ``-inf`` for a failed proxy."""
    return ", ".join(f"{proxy_label(name)} {value:.3g}" for name, value in scores.items())


def wrap_encoding(encoding: str | None, sep: str = "<br>") -> str:
    """An escaped encoding, one section per line (sections are `` | ``-separated)."""
    if not encoding:
        return "-"
    return sep.join(esc(part.strip()) for part in encoding.split("|"))


def hover_text(t: TrialRow, score: Scored | None = None, note: str = "") -> str:
    """Hover label of a trial for Plotly (escaped; Plotly renders ``<br>`` and ``<b>``); ``score``: its accuracy as
    :meth:`AccuracyScale.of <nasbox.report.accuracy.AccuracyScale.of>` gives it (default: on a split of unknown size)."""
    if score is None and t.accuracy is not None:
        score = AccuracyScale(None, UNKNOWN_SIZE_DECIMALS).of(t.accuracy)
    lines = [f"<b>trial #{t.number}</b> · {esc(t.status)}" + (f" · {esc(note)}" if note else "")]
    if score is not None:
        lines.append(f"accuracy {fmt_score_long(score)}" + (" at its rung" if t.status == TrialStatus.STOPPED else ""))
    if t.stopped_at is not None:
        of = f" (of {t.budget_iterations})" if t.budget_iterations is not None else ""
        lines.append(f"stopped at iteration {t.stopped_at}{of}")
    macs = f"MACs {fmt_count(t.macs)} (FLOPs {fmt_count(t.flops)})"
    if t.costs_from_analysis:
        macs += " from the genotype"
    lines.append(macs)
    lines.append(f"params {fmt_count(t.params)}")
    if t.latency_ms is not None:
        lines.append(f"latency {fmt_ms(t.latency_ms)} ms (IQR {fmt_ms(t.latency_iqr_ms)})")
    if t.repeat_of is not None:
        lines.append(f"repeat of trial #{t.repeat_of}")
    if t.proxies:
        lines.append(f"proxies: {esc(fmt_proxies(t.proxies))}")
    if t.reason and t.status not in (TrialStatus.COMPLETE, TrialStatus.REPEAT):
        lines.append(esc(t.reason[:160]))
    lines.append(wrap_encoding(t.encoding))
    return "<br>".join(lines)


def script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
