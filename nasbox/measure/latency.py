"""Batch-1 latency of a built model, as every report defines it.

**latency**: median milliseconds of a batch-1 forward pass under
``torch.inference_mode()``, with a fixed number of CPU threads and CUDA
synchronisation, after warming up until consecutive windows of timings agree; the
spread is the interquartile range.

On a CUDA device the forward pass is captured once in a CUDA graph and the graph is
replayed (``cuda_graph``): a small network's batch-1 pass is a few dozen kernels of a
few microseconds each, so eager timing measures the host's launch path (Python, the
dispatcher, the driver), which varies between processes by more than the network's own
work; a replayed graph launches them all at once, which is also how a latency-bound
deployment runs them. A model whose forward pass cannot be captured (it synchronises
with the host, or uses an operation graphs do not support), or whose replay does not
give what an eager call gives, is timed eagerly, and the result says so
(``Latency.cuda_graph``).
"""

from __future__ import annotations

import copy
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ['Latency', 'measure_latency']


@dataclass(frozen=True)
class Latency:
    """Batch-1 latency: median and interquartile range in milliseconds."""

    median_ms: float
    iqr_ms: float
    runs: int
    warmup_runs: int
    threads: int
    device: str
    cuda_graph: bool = False  # timed as a replayed CUDA graph (CUDA only)

    def to_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _graphed(model: nn.Module, x: torch.Tensor) -> Callable[[], object] | None:
    """``model(x)`` captured in a CUDA graph, as a function that replays it; ``None`` when
    the forward pass cannot be captured (the capture's error is discarded: eager timing
    serves instead) or when a replay does not give what an eager call gives (host-side
    state, such as a Python number the forward pass changes, is frozen into a graph)."""
    stream = torch.cuda.Stream(x.device)
    stream.wait_stream(torch.cuda.current_stream(x.device))
    try:
        with torch.cuda.stream(stream):  # warm-up off the default stream, as capture requires
            for _ in range(3):
                model(x)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with warnings.catch_warnings():  # a module without kernels (the latency table's nn.Identity) is no mistake
            warnings.filterwarnings("ignore", message="The CUDA Graph is empty")
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                captured = model(x)
        graph.replay()
        replayed = [t.clone() for t in _tensors(captured)]
        same = outputs_match(replayed, _tensors(model(x)))
        torch.cuda.synchronize(x.device)
    except Exception:  # noqa: BLE001 - any capture failure means: time it eagerly
        try:
            torch.cuda.synchronize(x.device)
        except RuntimeError:
            pass
        return None
    return graph.replay if same else None


def _tensors(output: object) -> list[torch.Tensor]:
    """The tensors of a forward pass's output (a tensor, or nested tuples, lists and dicts of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def outputs_match(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    """Whether two forward passes gave the same tensors, to the precision of a replayed kernel
    (the same kernels on the same input; cuDNN may pick another algorithm eagerly)."""
    def close(x: torch.Tensor, y: torch.Tensor) -> bool:
        return x.shape == y.shape and torch.allclose(x.float(), y.float(), rtol=1e-3, atol=1e-5, equal_nan=True)

    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))


def _timer(call: Callable[[], object], device: torch.device) -> Callable[[], float]:
    """Milliseconds of one call, synchronised on CUDA before and after."""

    def timed() -> float:
        _sync(device)
        t0 = time.perf_counter()
        call()
        _sync(device)
        return (time.perf_counter() - t0) * 1e3

    return timed


def _warm_up(timed: Callable[[], float], window: int, tolerance: float, min_s: float, max_s: float) -> int:
    """Call in windows until two consecutive windows' medians agree within ``tolerance`` (and ``min_s`` has
    passed), or ``max_s`` passes; the calls made."""
    calls, start, previous = 0, time.perf_counter(), None
    while True:
        current = statistics.median(timed() for _ in range(window))
        calls += window
        settled = previous is not None and abs(current - previous) <= tolerance * max(previous, 1e-6)
        if (settled and time.perf_counter() - start >= min_s) or time.perf_counter() - start > max_s:
            return calls
        previous = current


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    device: str | torch.device = "cpu",
    cuda_graph: bool | None = None,
    threads: int = 1,
    window: int = 10,
    tolerance: float = 0.05,
    max_warmup_s: float = 10.0,
    min_warmup_s: float | None = None,
    min_runs: int = 20,
    max_runs: int = 60,
    budget_s: float = 1.0,
    channels_last: bool = False,
) -> Latency:
    """Median batch-1 forward latency of a fresh copy of ``model`` in eval mode.

    Warm-up runs in windows of ``window`` calls until the medians of two consecutive
    windows differ by less than ``tolerance`` (or ``max_warmup_s`` passes): the first
    calls in a process, or right after training at a large batch, can be 10-100x slower
    than steady state. On CUDA the warm-up lasts at least ``min_warmup_s`` (default 0.5 s)
    so that the GPU's clocks have ramped up. Then at least ``min_runs`` and at most ``max_runs`` timed calls,
    within about ``budget_s`` seconds. CPU timing uses ``threads`` intra-op threads
    (restored afterwards); CUDA timing synchronises around every call. ``cuda_graph``
    (default: on for CUDA devices) times replays of the forward pass captured in a CUDA
    graph, falling back to eager calls when it cannot be captured.
    """
    if window < 2 or min_runs < 2 or max_runs < min_runs:
        raise ValueError(f"need window >= 2 and 2 <= min_runs <= max_runs, got {window=}, {min_runs=}, {max_runs=}")
    device = torch.device(device)
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    if min_warmup_s is None:  # a GPU's clocks take a moment to ramp up; a CPU's are steady
        min_warmup_s = 0.5 if device.type == "cuda" else 0.0
    model, x = copy.deepcopy(model).to(device).eval(), torch.randn(1, *input_shape, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    old_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)
    gc.collect()
    try:
        with torch.inference_mode():
            replay = _graphed(model, x) if cuda_graph else None
            timed = _timer(replay or (lambda: model(x)), device)
            warmup = _warm_up(timed, window, tolerance, min_warmup_s, max_warmup_s)
            times: list[float] = []
            t_start = time.perf_counter()
            while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - t_start < budget_s):
                times.append(timed())
    finally:
        torch.set_num_threads(old_threads)
    q1, _, q3 = statistics.quantiles(times, n=4)
    return Latency(statistics.median(times), q3 - q1, len(times), warmup, threads if device.type == "cpu" else 0,
                   str(device), replay is not None)
