"""A user's own block kinds, end to end: registration, analysis exact against PyTorch and fvcore,
JSON and encoding, build, a search, its report with layer pages, and export (in fresh processes).

Two kinds are defined here: :class:`Sandglass` through nasbox's primitives (its module comes
from :meth:`layers`), and :class:`Ghost` with an analysis and a module of its own (the escape
hatch for layers the primitives cannot write). ``docs/examples/fused_space.py`` is the
documented example of a space file that defines a kind, used here through the CLI.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from nasbox.model import FC, Architecture, Head, Pool, Stage, analyze, block_kind, register_block
from nasbox.model.blocks import Block, ConvBlock
from nasbox.model.build import build_model
from nasbox.model.layers import ConvNormAct
from nasbox.model.ops import Conv, Op, Seq, Shape, Walker
from nasbox.report import write_report
from nasbox.search import SearchConfig, run_search
from nasbox.spaces import SearchSpace
from nasbox.study.schema import StudyPaths

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "fused_space.py"


@register_block
@dataclass(frozen=True)
class Sandglass(Block):
    """MobileNeXt's sandglass block (Zhou et al., 2020): depthwise -> 1x1 reduce -> 1x1 expand -> depthwise."""

    type: ClassVar[str] = "sandglass"
    tag: ClassVar[str] = "sg"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "stride": "s", "reduction": "r"}

    out_channels: int
    stride: int = 1
    reduction: int = 2
    act: str = "relu6"

    def layers(self, in_channels: int) -> Op:
        mid = max(1, in_channels // self.reduction)
        return Seq((("dw1", Conv(in_channels, 3, depthwise=True, act=self.act)), ("reduce", Conv(mid, 1)),
                    ("expand", Conv(self.out_channels, 1, act=self.act)),
                    ("dw2", Conv(self.out_channels, 3, self.stride, depthwise=True))),
                   shortcut="identity" if self.stride == 1 and in_channels == self.out_channels else None)


class _GhostModule(nn.Module):
    def __init__(self, in_channels: int, half: int, act: str) -> None:
        super().__init__()
        self.primary = ConvNormAct(in_channels, half, 1, act=act)
        self.cheap = ConvNormAct(half, half, 3, groups=half, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], 1)


@register_block
@dataclass(frozen=True)
class Ghost(Block):
    """GhostNet's ghost module (Han et al., 2020): half the maps from a 1x1 conv, the other half
    from a cheap depthwise conv of those. Its cheap branch feeds on the primary's output, which
    the primitives' branches (all fed the block's input) do not express: it brings its own
    analysis and module."""

    type: ClassVar[str] = "ghost"
    tag: ClassVar[str] = "gh"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c"}

    out_channels: int
    act: str = "relu"

    def __post_init__(self) -> None:
        if self.out_channels % 2:
            raise ValueError(f"out_channels must be even, got out_channels={self.out_channels}")

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        half = self.out_channels // 2
        primary = walker.conv(f"{name}.primary", shape, Conv(half, 1, act=self.act))
        walker.conv(f"{name}.cheap", primary, Conv(half, 3, depthwise=True, act=self.act))
        return (self.out_channels, primary[1], primary[2])

    def module(self, in_channels: int) -> nn.Module:
        return _GhostModule(in_channels, self.out_channels // 2, self.act)


def custom_arch(shape=(3, 16, 16), classes: int = 5) -> Architecture:
    return Architecture(shape, classes, stages=(
        Stage((ConvBlock(8), Sandglass(8), Sandglass(16, stride=2)), Pool("max")),
        Stage((Ghost(16), Ghost(24), Sandglass(24, reduction=4, act="silu")), None),
    ), head=Head("gap", (FC(16),)))


def test_the_kinds_are_registered_with_their_tags():
    assert block_kind("sandglass") is Sandglass and block_kind("ghost") is Ghost
    with pytest.raises(ValueError, match="taken"):
        register_block(dataclasses.make_dataclass("Impostor", [("out_channels", int)], bases=(Block,), frozen=True,
                                                  namespace={"type": "ghost", "tag": "imp", "tokens": {"out_channels": "c"}}))


def test_analysis_equals_pytorch_and_fvcore_and_rows_are_module_paths():
    arch = custom_arch()
    info = analyze(arch)
    model = build_model(arch, seed=0).eval()
    assert info.params == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        traced = FlopCountAnalysis(model, torch.zeros(1, *arch.input_shape)).unsupported_ops_warnings(False)
        assert traced.total() == info.macs
    modules = dict(model.named_modules())
    for row in info.layers:
        if row.params:
            assert row.name in modules and sum(p.numel() for p in modules[row.name].parameters()) == row.params, row
    assert {"stage1.block2.dw1", "stage2.block1.primary", "stage2.block1.cheap"} <= {r.name for r in info.layers}
    assert model(torch.randn(2, *arch.input_shape)).shape == (2, 5)


def test_json_and_encoding_round_trip():
    arch = custom_arch()
    assert Architecture.from_json(arch.to_json()) == arch
    text = arch.encode()
    assert "sg_c16_s2" in text and "gh_c24" in text and "sg_c24_r4_silu" in text
    assert Architecture.decode(text) == arch
    with pytest.raises(ValueError, match="even"):
        Ghost(7)


@dataclass(frozen=True)
class CustomSpace(SearchSpace):
    widths: tuple[int, ...] = (8, 16)
    name: ClassVar[str] = "custom-blocks"

    def sample(self, trial: Any) -> Architecture:
        w = trial.suggest_categorical("width", self.widths)
        ghost = trial.suggest_categorical("ghost", (False, True))
        second = Ghost(2 * w) if ghost else Sandglass(2 * w, stride=2)
        return Architecture(self.input_shape, self.num_classes, (Stage((ConvBlock(w), Sandglass(w)), Pool("avg")),
                                                                 Stage((second,))), Head("gap"))


def test_a_search_and_its_report_on_the_custom_kinds(tmp_path, one_thread):
    cfg = SearchConfig(space=CustomSpace(), dataset="synthetic", iterations=3, batch_size=16, budget=2, sampler="random",
                       dataset_options={"synthetic_shape": (3, 16, 16), "synthetic_size": 200}, device="cpu",
                       reports_dir=str(tmp_path), study="custom")
    result = run_search(cfg, outputs=write_report)
    assert list(result.trials["status"]) == ["complete", "complete"]
    paths = StudyPaths(result.report_dir)
    for arch_id, encoding in zip(result.trials["arch_id"], result.trials["encoding"], strict=True):
        arch = Architecture.from_json(paths.arch_json(arch_id).read_text())
        assert arch.encode() == encoding and analyze(arch).params in set(result.trials["params"])
        page = paths.arch_page(arch_id).read_text()
        assert "stage1.block2.reduce" in page and (".primary" in page or ".dw2" in page)
    assert "sg_c" in paths.index.read_text()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nasbox.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.mark.slow  # 36 s: four fresh processes (the in-process search of the same kinds stays in the default suite)
def test_a_space_file_with_its_own_kind_searches_reports_and_exports_in_fresh_processes(tmp_path):
    pytest.importorskip("onnx")
    space_file = tmp_path / "my_space.py"
    space_file.write_text(EXAMPLE.read_text())
    common = ["--reports-dir", str(tmp_path / "reports")]
    out = _cli("search", "--space", "my_space.py:FusedSpace", "--dataset", "synthetic", "--iterations", "2",
               "--batch-size", "16", "--budget", "2", "--device", "cpu", "--study", "fused", *common, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    paths = StudyPaths.of("fused", tmp_path / "reports")
    paths.index.unlink()
    # another process, from another folder: the study's recorded space file is imported again
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _cli("report", "--study", "fused", *common, cwd=elsewhere)
    assert out.returncode == 0, out.stderr[-2000:]
    assert paths.index.is_file()
    pages = sorted(paths.archs.glob("*.html"))
    assert pages and all("conv_exp" in p.read_text() for p in pages)
    out = _cli("export", "--study", "fused", "--trial", "0", "--format", "onnx", *common, cwd=elsewhere)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "max |difference| from PyTorch" in out.stdout, out.stdout
    assert (paths.root / "exports" / "trial0-untrained.onnx").stat().st_size > 0


def test_sampled_custom_genotypes_match_torch(one_thread):
    space = CustomSpace(input_shape=(3, 16, 16), num_classes=4)
    for seed in range(4):
        _, arch = space.sample_random(random.Random(seed))
        assert analyze(arch).params == sum(p.numel() for p in build_model(arch).parameters())
