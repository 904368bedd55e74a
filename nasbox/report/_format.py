"""Number formatting and escaping shared by the HTML page, the Markdown and the plots."""

from __future__ import annotations

import html
import json
from typing import Any

from nasbox.report.collect import TrialRow

__all__ = ["esc", "fmt_acc", "fmt_count", "fmt_ms", "fmt_objective", "hover_text", "script_json", "wrap_encoding"]


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
    return "-" if a is None else f"{a:.4f}"


def fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.3g}"


def fmt_objective(name: str, value: float) -> str:
    """A value of an objective with its unit: counts as ``1.23M``, latency in ms."""
    if name in ("macs", "flops", "params"):
        return fmt_count(value)
    if name == "latency":
        return f"{fmt_ms(value)} ms"
    return f"{value:.4g}"


def wrap_encoding(encoding: str | None, sep: str = "<br>") -> str:
    """An escaped encoding, one section per line (sections are `` | ``-separated)."""
    if not encoding:
        return "-"
    return sep.join(esc(part.strip()) for part in encoding.split("|"))


def hover_text(t: TrialRow, note: str = "") -> str:
    """Hover label of a trial for Plotly (escaped; Plotly renders ``<br>`` and ``<b>``)."""
    lines = [f"<b>trial #{t.number}</b> · {esc(t.status)}" + (f" · {esc(note)}" if note else "")]
    if t.accuracy is not None:
        lines.append(f"accuracy {fmt_acc(t.accuracy)}")
    macs = f"MACs {fmt_count(t.macs)} (FLOPs {fmt_count(t.flops)})"
    if t.costs_from_analysis:
        macs += " from the genotype"
    lines.append(macs)
    lines.append(f"params {fmt_count(t.params)}")
    if t.latency_ms is not None:
        lines.append(f"latency {fmt_ms(t.latency_ms)} ms (IQR {fmt_ms(t.latency_iqr_ms)})")
    if t.repeat_of is not None:
        lines.append(f"repeat of trial #{t.repeat_of}")
    if t.reason and t.status not in ("complete", "repeat"):
        lines.append(esc(t.reason[:160]))
    lines.append(wrap_encoding(t.encoding))
    return "<br>".join(lines)


def script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
