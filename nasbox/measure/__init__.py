"""Measuring a built model: parameter and MAC counts, latency, the latency table, zero-cost proxies."""

from __future__ import annotations

from nasbox.device import device_name
from nasbox.measure.counts import count_macs, count_macs_thop, count_params
from nasbox.measure.latency import Latency, measure_latency

__all__ = ["Latency", "count_macs", "count_macs_thop", "count_params", "device_name", "measure_latency"]
