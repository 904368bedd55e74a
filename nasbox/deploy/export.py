"""Export a candidate, trained or not, to ONNX or TorchScript, check it, and time it in onnxruntime.

* ONNX: ``torch.onnx.export`` with the ``torch.export``-based exporter (the default since
  PyTorch 2.9; it needs ``onnxscript``), else the legacy TorchScript-based one
  (``dynamo=False``, deprecated but still shipped); the batch dimension is dynamic. The
  file must give PyTorch's output within ``atol`` in onnxruntime (:func:`verify_onnx`).
* TorchScript: ``torch.jit.trace`` of the eval-mode network (the builder's networks have no
  data-dependent control flow), checked by :func:`verify_torchscript`.
* :func:`onnxruntime_latency`: batch-1 latency of the ONNX file in onnxruntime on the CPU,
  with the same definition and warm-up as :func:`nasbox.measure.measure_latency`.

onnx, onnxruntime and onnxscript come with the ``onnx`` extra: ``pip install 'nasbox[onnx]'``.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbox.errors import ConfigError, NasboxError
from nasbox.files import atomic_write
from nasbox.measure.latency import Latency, measure_latency
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.study.storage import open_study
from nasbox.train.checkpoint import CheckpointError, load_checkpoint

__all__ = [
    "EXPORTERS",
    "FORMATS",
    "ONNX_LATENCY_ATTR",
    "ExportError",
    "Exported",
    "export",
    "export_model",
    "load_for_export",
    "onnx_latencies",
    "onnxruntime_latency",
    "record_onnx_latency",
    "verify_onnx",
    "verify_torchscript",
]

FORMATS = ("onnx", "torchscript")
EXPORTERS = ("auto", "dynamo", "legacy")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
ONNX_LATENCY_ATTR = "onnx_latency"  # study user attribute prefix: "onnx_latency.<trial number>"
INPUT_NAME, OUTPUT_NAME = "input", "logits"
_INSTALL = "install the onnx extra: pip install 'nasbox[onnx]'"


class ExportError(NasboxError):
    """An export failed, or its output does not match PyTorch's."""


@dataclass(frozen=True)
class Exported:
    """An exported file and what it holds."""

    path: Path
    format: str
    arch_id: str
    weights: str  # "trained (epoch k of n)" or "untrained (random init, seed s)"
    exporter: str  # "dynamo", "legacy" or "jit.trace"
    max_abs_diff: float | None  # against PyTorch on random input, None when not verified
    input_shape: tuple[int, int, int] = (3, 32, 32)  # (C, H, W) of one image; the batch axis is dynamic


def load_for_export(arch: Architecture | None = None, checkpoint: str | Path | None = None,
                    seed: int = 0) -> tuple[nn.Module, Architecture, str]:
    """``(model in eval mode on the CPU, genotype, description of the weights)``.

    With ``checkpoint`` the weights (and, without ``arch``, the genotype) come from it; the
    checkpoint is checked by :func:`nasbox.train.checkpoint.load_checkpoint`. Without, the network
    has its random (Kaiming) initialisation.

    Raises:
        CheckpointError: the checkpoint is tampered with or holds another genotype than ``arch``.
        ConfigError: neither ``arch`` nor ``checkpoint`` is given.
    """

    if checkpoint is not None:
        ck = load_checkpoint(checkpoint)
        if arch is not None and ck.arch != arch:
            raise CheckpointError(f"{checkpoint} holds genotype {ck.arch.arch_id}, not the requested {arch.arch_id}")
        epochs = ck.config.get("epochs")
        return ck.model, ck.arch, f"trained (epoch {ck.epoch} of {epochs}, {ck.path})"
    if arch is None:
        raise ConfigError("give a genotype or a checkpoint to export")
    return build_model(arch, seed=seed).eval(), arch, f"untrained (random init, seed {seed})"


def _example(arch: Architecture, batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, *arch.input_shape, generator=torch.Generator().manual_seed(seed))


def export(arch: Architecture | None, path: str | Path, *, checkpoint: str | Path | None = None, format: str = "onnx",
           exporter: str = "auto", verify: bool = True, atol: float = 1e-4, seed: int = 0) -> Exported:
    """Export a candidate, trained (``checkpoint``) or not, to ``path`` and check the file against PyTorch.

    Args:
        arch: the genotype; may be ``None`` when ``checkpoint`` is given.
        path: the file to write (atomically).
        checkpoint: a :func:`nasbox.train.full.full_train` checkpoint with the weights; without
            it the network is exported untrained (random init with ``seed``).
        format, exporter, verify, atol: as for :func:`export_model`.

    Raises:
        CheckpointError: the checkpoint is tampered with or holds another genotype.
        ConfigError: unknown format or exporter.
        ExportError: the export failed or its output differs by more than ``atol``.
    """
    model, arch, weights = load_for_export(arch, checkpoint, seed)
    return export_model(model, arch, path, format=format, exporter=exporter, verify=verify, atol=atol, weights=weights)


def export_model(model: nn.Module, arch: Architecture, path: str | Path, *, format: str = "onnx", exporter: str = "auto",
                 verify: bool = True, atol: float = 1e-4, weights: str = "given") -> Exported:
    """Export a built network of ``arch`` (a copy of it, in eval mode, on the CPU, fp32) to ``path``.

    Args:
        format: ``"onnx"`` or ``"torchscript"``.
        exporter: ONNX only: ``"dynamo"`` (``torch.export``-based, needs onnxscript),
            ``"legacy"`` (TorchScript-based), or ``"auto"`` (dynamo when onnxscript is
            installed, legacy otherwise or when dynamo fails).
        verify: compare the file's output with PyTorch's on random input (ONNX: needs onnxruntime).
        atol: largest absolute difference accepted (a traced TorchScript module normally matches exactly).
        weights: what the weights are, for the result.

    Raises:
        ConfigError: unknown format or exporter.
        ExportError: the export failed or its output differs by more than ``atol``.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown ONNX exporter {exporter!r}; choose from {', '.join(EXPORTERS)}")
    model = copy.deepcopy(model).cpu().float().eval()  # the caller's model stays where and as it is
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export
            traced = torch.jit.trace(model, _example(arch, 2))
            atomic_write(path, lambda p: torch.jit.save(traced, str(p)))
        used = "jit.trace"
        diff = verify_torchscript(model, path, arch.input_shape, atol=atol) if verify else None
    else:
        used = _export_onnx(model, arch, path, exporter)
        diff = verify_onnx(model, path, arch.input_shape, atol=atol) if verify else None
    return Exported(path, format, arch.arch_id, weights, used, diff, arch.input_shape)


def _export_onnx(model: nn.Module, arch: Architecture, path: Path, exporter: str) -> str:
    """Write the ONNX file with the chosen exporter; return the one used."""
    x = _example(arch, 2)  # batch 2: torch.export would specialise a batch of 1
    dynamo_ok = importlib.util.find_spec("onnxscript") is not None
    if exporter == "dynamo" and not dynamo_ok:
        raise ExportError(f"the dynamo ONNX exporter needs onnxscript; {_INSTALL}, or use the legacy exporter")
    order = ["dynamo", "legacy"] if exporter == "auto" and dynamo_ok else ["legacy" if exporter == "auto" else exporter]
    errors = []
    for name in order:
        if name == "dynamo":
            kwargs: dict[str, Any] = {"dynamo": True, "external_data": False,
                                      "dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=65536)},)}
        else:
            kwargs = {"dynamo": False, "dynamic_axes": {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
                atomic_write(path, lambda p, kw=kwargs: torch.onnx.export(
                    model, (x,), str(p), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False, **kw))
            return name
        except Exception as exc:  # exporters raise many kinds of errors
            errors.append(f"{name}: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}")
    raise ExportError(f"ONNX export of {arch.arch_id} failed ({'; '.join(errors)})")


def _session(path: str | Path, threads: int = 1) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(f"onnxruntime is not installed; {_INSTALL}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExportError(f"onnxruntime cannot load {path}: {(str(exc).strip().splitlines() or [''])[0][:200]}") from None


def _compare(name: str, reference: torch.Tensor, got: np.ndarray, atol: float) -> float:
    if got.shape != tuple(reference.shape):
        raise ExportError(f"the {name} output has shape {got.shape}, PyTorch's {tuple(reference.shape)}")
    diff = float(np.max(np.abs(got.astype(np.float64) - reference.double().numpy()))) if got.size else 0.0
    if not diff <= atol:
        raise ExportError(f"the {name} output differs from PyTorch's by {diff:.3g} (more than atol={atol:g})")
    return diff


def verify_onnx(model: nn.Module, path: str | Path, input_shape: tuple[int, int, int] | None = None, *,
                atol: float = 1e-4, batch: int = 3, seed: int = 1) -> float:
    """Max absolute difference between onnxruntime's and PyTorch's output on random input.

    ``input_shape`` defaults to the model's genotype's; ``batch`` differs from the export's
    example batch, which also checks the dynamic batch axis.

    Raises:
        ExportError: onnxruntime is missing, cannot load the file, or the outputs differ by more than ``atol``.
    """
    session = _session(path)
    x = _example_for(model, input_shape, batch, seed)
    with torch.inference_mode():
        reference = model.eval()(x).float()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return _compare("ONNX", reference, got, atol)


def verify_torchscript(model: nn.Module, path: str | Path, input_shape: tuple[int, int, int] | None = None, *,
                       atol: float = 0.0, batch: int = 3, seed: int = 1) -> float:
    """Max absolute difference between the saved TorchScript module's output and the model's (0 expected).

    Raises:
        ExportError: the outputs differ by more than ``atol``.
    """
    x = _example_for(model, input_shape, batch, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
    with torch.inference_mode():
        reference, got = model.eval()(x).float(), loaded(x).float()
    return _compare("TorchScript", reference, got.numpy(), atol)


def _example_for(model: nn.Module, input_shape: tuple[int, int, int] | None, batch: int, seed: int) -> torch.Tensor:
    arch = getattr(model, "arch", None)
    shape = input_shape or (arch.input_shape if arch is not None else None)
    if shape is None:
        raise ConfigError("give the input shape (C, H, W) of a model that is not a nasbox Network")
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))


class _OrtModule(nn.Module):
    """An onnxruntime session behind ``nn.Module.__call__``, so that one latency definition times both."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> Any:
        return self.session.run(None, {self.input_name: x.numpy()})

    def __deepcopy__(self, memo: dict[int, Any]) -> _OrtModule:  # a session cannot be copied; it holds no state
        return self


def onnxruntime_latency(path: str | Path, input_shape: tuple[int, int, int], *, threads: int = 1,
                        **options: Any) -> Latency:
    """Batch-1 latency of an ONNX file in onnxruntime on the CPU (``threads`` intra-op threads).

    Timed exactly as :func:`nasbox.measure.measure_latency` times a PyTorch model: warm-up
    until two consecutive windows agree, then the median and IQR of the timed calls.
    ``options`` go to it (``window``, ``min_runs``, ``budget_s``, ...).

    Raises:
        ExportError: onnxruntime is missing or cannot load the file.
    """
    module = _OrtModule(_session(path, threads))
    latency = measure_latency(module, tuple(input_shape), device="cpu", threads=threads, **options)
    return Latency(latency.median_ms, latency.iqr_ms, latency.runs, latency.warmup_runs, threads, "onnxruntime-cpu")


def record_onnx_latency(study: Any, trial_number: int, ms: float, *, latency: Latency | None = None,
                        weights: str | None = None, storage: str | None = None,
                        reports_dir: str | Path = "reports") -> str:
    """Store a trial's onnxruntime latency in its study; return the attribute's key.

    Optuna refuses new user attributes on a finished trial (the journal storage raises
    ``UpdateFinishedTrialError``), so the figure goes to the study's user attributes under
    ``onnx_latency.<trial number>`` (one key per trial: no read-modify-write race between
    processes); :func:`onnx_latencies` reads them back.

    Args:
        study: an ``optuna.Study`` or a study name (opened from ``storage`` / ``reports_dir``).
        trial_number: the trial the exported genotype came from.
        ms: median batch-1 latency in milliseconds.
        latency: the full measurement, for its IQR, runs and threads.
        weights: what was exported (trained or untrained).

    Raises:
        ConfigError: the study has no such trial, or ``ms`` is not a positive number.
    """
    if isinstance(study, str):

        study = open_study(study, storage, reports_dir)
    if not (isinstance(ms, (int, float)) and ms > 0):
        raise ConfigError(f"latency must be a positive number of milliseconds, got ms={ms!r}")
    if trial_number not in {t.number for t in study.get_trials(deepcopy=False)}:
        raise ConfigError(f"study {study.study_name!r} has no trial {trial_number}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        runtime = version("onnxruntime")
    except PackageNotFoundError:
        runtime = None
    value: dict[str, Any] = {"latency_ms": float(ms), "onnxruntime": runtime, "weights": weights}
    if latency is not None:
        value.update(iqr_ms=latency.iqr_ms, runs=latency.runs, threads=latency.threads)
    key = f"{ONNX_LATENCY_ATTR}.{trial_number}"
    study.set_user_attr(key, value)
    return key


def onnx_latencies(study: Any) -> dict[int, dict[str, Any]]:
    """``{trial number: recorded onnxruntime latency}`` of a study (see :func:`record_onnx_latency`)."""
    prefix = f"{ONNX_LATENCY_ATTR}."
    return {int(k[len(prefix):]): copy.deepcopy(v) for k, v in study.user_attrs.items()
            if k.startswith(prefix) and k[len(prefix):].isdigit()}
