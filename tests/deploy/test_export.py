"""Tests of nasbox.deploy.export: ONNX and TorchScript files of trained and untrained candidates,
checked against PyTorch, timed in onnxruntime, the latency recorded in the study."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.deploy.candidate import resolve_candidate
from nasbox.deploy.export import (
    ExportError,
    export,
    export_model,
    onnx_latencies,
    onnxruntime_latency,
    record_onnx_latency,
    verify_onnx,
)
from nasbox.errors import ConfigError
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.search import SearchConfig, run_search
from nasbox.spaces import list_spaces
from nasbox.study.storage import open_study
from nasbox.train.checkpoint import CHECKPOINT_NAME, CheckpointError
from nasbox.train.full import FullTrainConfig, full_train
from nasbox.zoo import ZOO_NAMES, get_zoo

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
HAS_DYNAMO = importlib.util.find_spec("onnxscript") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed (pip install 'nasbox[onnx]')")
needs_dynamo = pytest.mark.skipif(not HAS_DYNAMO, reason="onnxscript (the dynamo ONNX exporter) is not installed")

STUDY = "tiny"
TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}
# every kind of layer the seed space can sample: min pool, modern activations, a flatten head with FCs and dropout
SEED_MIX = Architecture(
    input_shape=(3, 16, 16), num_classes=10,
    stages=(Stage((ConvBlock(8, 3, act="hardswish"), ConvBlock(8, 5, act="gelu")), Pool("min")),
            Stage((ConvBlock(12, 7, act="leaky_relu"),), Pool("avg", 3, 2)),
            Stage((ConvBlock(16, 1, act="relu6", bn=False),), Pool("max"))),
    head=Head("flatten", (FC(32, "silu", 0.2),), dropout=0.1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny study and its trial 0 trained for 1 epoch: (reports_dir, arch, checkpoint path)."""
    reports = tmp_path_factory.mktemp("ex") / "reports"
    options = {"synthetic_shape": (3, 16, 16), "synthetic_size": 300}
    run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=options,
                            iterations=4, batch_size=32, budget=2, reports_dir=str(reports), device="cpu", study=STUDY))
    arch, _ = resolve_candidate(study=STUDY, trial=0, reports_dir=reports)
    out = reports / STUDY / "models" / "trial0"
    full_train(arch, load_dataset("synthetic", **options), FullTrainConfig(epochs=1, batch_size=32), out, device="cpu")
    return reports, arch, out / CHECKPOINT_NAME


def _scrambled(arch: Architecture) -> torch.nn.Module:
    """A network with outputs of order 1 and BatchNorm statistics away from (0, 1), so that a
    comparison within 1e-4 means something (a fresh network's logits are ~1e-2 or smaller)."""
    model = build_model(arch, seed=0).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
        model.head.classifier.weight.normal_(0, 1.0 / model.head.classifier.in_features ** 0.5, generator=g)
    return model


def _relative(model: torch.nn.Module, arch: Architecture, diff: float) -> float:
    with torch.inference_mode():
        scale = model(torch.randn(3, *arch.input_shape, generator=torch.Generator().manual_seed(1))).abs().max()
    assert scale > 1e-2, "outputs too small for a meaningful comparison"
    return diff / float(scale)


@needs_ort
@pytest.mark.parametrize("exporter", ["legacy", pytest.param("dynamo", marks=needs_dynamo)])
def test_an_untrained_candidate_exports_to_onnx_matching_pytorch(exporter, tmp_path):
    model = _scrambled(SEED_MIX)
    result = export_model(model, SEED_MIX, tmp_path / "m.onnx", exporter=exporter)
    assert result.exporter == exporter and result.path.is_file() and result.arch_id == SEED_MIX.arch_id
    assert result.max_abs_diff <= 1e-4 and _relative(model, SEED_MIX, result.max_abs_diff) < 1e-4
    assert verify_onnx(model, result.path, batch=1) <= 1e-4  # the batch axis is dynamic
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


@needs_ort
def test_the_trained_checkpoint_exports_and_verifies(trained, tmp_path):
    _, arch, checkpoint = trained
    result = export(None, tmp_path / "trained.onnx", checkpoint=checkpoint)
    assert result.arch_id == arch.arch_id and result.weights.startswith("trained (epoch 1 of 1")
    assert result.exporter == ("dynamo" if HAS_DYNAMO else "legacy") and result.max_abs_diff <= 1e-4
    untrained = export(arch, tmp_path / "untrained.onnx", exporter="legacy")
    assert untrained.weights.startswith("untrained")


@needs_ort
@pytest.mark.parametrize("space", [cls.name for cls in list_spaces()])
def test_every_space_example_exports_to_onnx(space, tmp_path):
    cls = {c.name: c for c in list_spaces()}[space]
    arch = cls(input_shape=(3, 32, 32), num_classes=10).example()
    model = _scrambled(arch)
    result = export_model(model, arch, tmp_path / f"{space}.onnx", exporter="legacy")
    assert _relative(model, arch, result.max_abs_diff) < 1e-4


@pytest.mark.slow
@needs_ort
@pytest.mark.parametrize("exporter", ["legacy", pytest.param("dynamo", marks=needs_dynamo)])
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_every_zoo_network_exports_to_onnx(name, exporter, tmp_path):
    arch = get_zoo(name, (3, 32, 32), 10)
    model = _scrambled(arch)
    result = export_model(model, arch, tmp_path / f"{name}.onnx", exporter=exporter)
    assert result.max_abs_diff <= 1e-4


def test_torchscript_output_equals_pytorch(trained, tmp_path):
    _, arch, checkpoint = trained
    result = export(None, tmp_path / "m.torchscript.pt", checkpoint=checkpoint, format="torchscript")
    assert result.exporter == "jit.trace" and result.max_abs_diff == 0.0
    model = _scrambled(SEED_MIX)
    assert export_model(model, SEED_MIX, tmp_path / "mix.pt", format="torchscript").max_abs_diff == 0.0


@needs_ort
def test_onnxruntime_latency_is_positive_and_recorded_in_the_study(trained, tmp_path):
    reports, arch, checkpoint = trained
    path = export(None, tmp_path / "m.onnx", checkpoint=checkpoint, exporter="legacy").path
    latency = onnxruntime_latency(path, arch.input_shape, min_runs=5, max_runs=10, window=3, max_warmup_s=1.0)
    assert latency.median_ms > 0 and latency.threads == 1 and latency.device == "onnxruntime-cpu"
    key = record_onnx_latency(STUDY, 0, latency.median_ms, latency=latency, weights="trained", reports_dir=reports)
    assert key == "onnx_latency.0"
    recorded = onnx_latencies(open_study(STUDY, None, reports))
    assert recorded[0]["latency_ms"] == latency.median_ms and recorded[0]["threads"] == 1
    with pytest.raises(ConfigError, match="no trial 7"):
        record_onnx_latency(STUDY, 7, 1.0, reports_dir=reports)
    with pytest.raises(ConfigError, match="positive"):
        record_onnx_latency(STUDY, 0, 0.0, reports_dir=reports)


def test_bad_requests_are_clear_errors(trained, tmp_path):
    _, arch, checkpoint = trained
    with pytest.raises(ConfigError, match="unknown export format"):
        export(arch, tmp_path / "m.x", format="tflite")
    with pytest.raises(ConfigError, match="unknown ONNX exporter"):
        export(arch, tmp_path / "m.onnx", exporter="magic")
    with pytest.raises(ConfigError, match="give a genotype or a checkpoint"):
        export(None, tmp_path / "m.onnx")
    with pytest.raises(CheckpointError, match="not the requested"):
        export(SEED_MIX, tmp_path / "m.onnx", checkpoint=checkpoint)
    if HAS_ORT:
        (tmp_path / "bad.onnx").write_bytes(b"not onnx")
        with pytest.raises(ExportError, match="cannot load"):
            verify_onnx(build_model(arch), tmp_path / "bad.onnx")
