"""Tests of the zoo: classic networks as genotypes, checked against torchvision and fvcore."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch
import torchvision.models as tvm
from fvcore.nn import FlopCountAnalysis
from torch import nn

from nasbox import Architecture, ConvBlock, Pool, SpaceError, Stage, analyze, build_model
from nasbox.zoo.genotypes import ZOO_NAMES, _fit_to_input, get_zoo, list_zoo

SMALL_SHAPES = [(3, 32, 32), (1, 28, 28)]
ALL_SHAPES = [*SMALL_SHAPES, (3, 64, 64), (3, 224, 224)]
IMAGENET = (3, 224, 224)
CIFAR_RESNET18_PARAMS = 11_173_962  # published count of the CIFAR ResNet-18 for 10 classes

# zoo name -> torchvision constructor with the same topology at 224x224
TORCHVISION = {
    "resnet18": tvm.resnet18,
    "vgg11": tvm.vgg11_bn,
    "vgg16": tvm.vgg16_bn,
    "mobilenet_v2": tvm.mobilenet_v2,
    "efficientnet_b0": tvm.efficientnet_b0,
    "googlenet": lambda num_classes: tvm.googlenet(
        weights=None, num_classes=num_classes, aux_logits=False, init_weights=False
    ),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(p.shape) for p in model.parameters())


def torchvision_model(name: str, num_classes: int) -> nn.Module:
    make = TORCHVISION[name]
    return make(num_classes=num_classes) if name == "googlenet" else make(weights=None, num_classes=num_classes)


def fvcore_macs(model: nn.Module, shape: tuple[int, int, int]) -> int:
    model.eval()
    with torch.no_grad():
        counter = FlopCountAnalysis(model, torch.randn(1, *shape))
        counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(counter.total())


# --------------------------------------------------------------------------- registry


def test_list_zoo_names_and_descriptions() -> None:
    entries = list_zoo()
    assert [name for name, _ in entries] == list(ZOO_NAMES)
    for name, text in entries:
        assert re.search(r"\((?:[^()]*), (19|20)\d\d\)", text), f"{name}: no paper/year in {text!r}"


def test_unknown_name_raises_space_error() -> None:
    with pytest.raises(SpaceError) as info:
        get_zoo("resnet1000")
    assert isinstance(info.value, ValueError)
    for name in ZOO_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("bad", [(3, 32), (0, 32, 32), (3, 32, -1)])
def test_bad_input_shape_raises_value_error(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        get_zoo("resnet18", bad)


def test_bad_num_classes_raises_value_error() -> None:
    with pytest.raises(ValueError):
        get_zoo("resnet18", num_classes=0)


# --------------------------------------------------------------------------- every genotype is valid


@pytest.mark.parametrize("shape", [*ALL_SHAPES, (3, 8, 8), (1, 3, 5), (3, 1, 1), (3, 63, 200)])
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_analyze_passes(name: str, shape: tuple[int, int, int]) -> None:
    for num_classes in (10, 1000):
        arch = get_zoo(name, shape, num_classes)
        assert arch.input_shape == shape and arch.num_classes == num_classes
        info = analyze(arch)
        assert min(info.body_shape[1:]) >= 1
        assert info.params > 0 and info.macs > 0
        assert info.layers[-1].out_shape == (num_classes, 1, 1)


@pytest.mark.parametrize("shape", ALL_SHAPES)
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_serialisation_round_trips(name: str, shape: tuple[int, int, int]) -> None:
    arch = get_zoo(name, shape)
    assert Architecture.from_json(arch.to_json()) == arch
    assert Architecture.from_dict(arch.to_dict()) == arch
    assert Architecture.decode(arch.encode()) == arch
    assert Architecture.decode(arch.encode()).arch_id == arch.arch_id
    assert get_zoo(name, shape) == arch  # deterministic


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_variant_chosen_by_input_size(name: str) -> None:
    # small inputs: the first layer keeps the resolution (no stem downsampling)
    for shape in SMALL_SHAPES:
        first = analyze(get_zoo(name, shape)).layers[0]
        assert first.out_shape[1:] == shape[1:], first
    large = get_zoo(name, IMAGENET)
    if name.startswith("vgg"):  # no stem to shrink: the variants differ in the head
        assert large.head.pool == "flatten" and get_zoo(name, SMALL_SHAPES[0]).head.pool == "gap"
    else:  # ImageNet-style: the stem downsamples
        assert analyze(large).layers[0].out_shape[1] < IMAGENET[1]
    # the published /32 reduction gives 7x7 at 224; the AlexNet family's unpadded pools end at the papers' 6x6
    final = (6, 6) if name in ("alexnet", "zfnet") else (IMAGENET[1] // 32, IMAGENET[2] // 32)
    assert analyze(large).body_shape[1:] == final
    # the switch happens at min(H, W) == 64
    below, at = get_zoo(name, (3, 63, 64)), get_zoo(name, (3, 64, 64))
    assert replace(below, input_shape=at.input_shape) != at
    assert replace(get_zoo(name, (3, 64, 100)), input_shape=at.input_shape) == at


@pytest.mark.parametrize("name", ["vgg11", "vgg16"])
@pytest.mark.parametrize("size", [32, 28, 16, 5])
def test_vgg_keeps_as_many_pools_as_the_input_allows(name: str, size: int) -> None:
    arch = get_zoo(name, (3, size, size))
    n_pools = sum(s.pool is not None for s in arch.stages)
    assert n_pools == min(len(arch.stages), size.bit_length() - 1)  # halvings of `size` that stay >= 1


def test_fit_to_input_drops_only_what_vanishes() -> None:
    stages = tuple(Stage((ConvBlock(8, 3, 2),), Pool("max", 2, 2)) for _ in range(4))
    fits = Architecture((3, 256, 256), 10, stages)
    assert _fit_to_input(fits) == fits
    small = Architecture((3, 4, 4), 10, stages)
    with pytest.raises(ValueError):
        analyze(small)
    fitted = _fit_to_input(small)
    assert min(analyze(fitted).body_shape[1:]) >= 1
    assert [b.out_channels for s in fitted.stages for b in s.blocks] == [8] * 4  # no block is removed
    assert any(s.pool is not None for s in fitted.stages)


# --------------------------------------------------------------------------- torchvision parity


@pytest.mark.parametrize("num_classes", [10, 1000])
def test_cifar_resnet18_matches_torchvision_with_cifar_stem(num_classes: int) -> None:
    tv = tvm.resnet18(weights=None, num_classes=num_classes)
    tv.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    tv.maxpool = nn.Identity()
    ours = build_model(get_zoo("resnet18", (3, 32, 32), num_classes))
    assert n_params(ours) == n_params(tv) == analyze(ours.arch).params
    assert param_shapes(ours) == param_shapes(tv)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert ours.eval()(x).shape == tv.eval()(x).shape == (2, num_classes)
    if num_classes == 10:
        assert n_params(ours) == CIFAR_RESNET18_PARAMS


@pytest.mark.parametrize("num_classes", [10, 1000])
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_imagenet_params_match_torchvision(name: str, num_classes: int) -> None:
    arch = get_zoo(name, IMAGENET, num_classes)
    with torch.device("meta"):  # shapes only: no memory, no init cost
        ours = build_model(arch)
        tv = torchvision_model(name, num_classes)
        x = torch.empty(1, *IMAGENET)
        out_ours, out_tv = ours.eval()(x), tv.eval()(x)
    assert n_params(ours) == n_params(tv) == analyze(arch).params
    assert param_shapes(ours) == param_shapes(tv)
    assert out_ours.shape == out_tv.shape == (1, num_classes)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "googlenet"])
def test_imagenet_forward_matches_torchvision_shape(name: str) -> None:
    x = torch.randn(1, *IMAGENET)
    ours, tv = build_model(get_zoo(name, IMAGENET, 1000)).eval(), torchvision_model(name, 1000).eval()
    with torch.no_grad():
        out_ours, out_tv = ours(x), tv(x)
    assert out_ours.shape == out_tv.shape == (1, 1000)
    assert torch.isfinite(out_ours).all()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_imagenet_macs_match_fvcore(name: str) -> None:
    arch = get_zoo(name, IMAGENET, 1000)
    assert fvcore_macs(build_model(arch), IMAGENET) == analyze(arch).macs


# --------------------------------------------------------------------------- analysis == built model


@pytest.mark.parametrize("shape", SMALL_SHAPES)
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_small_variant_analysis_matches_model(name: str, shape: tuple[int, int, int]) -> None:
    arch = get_zoo(name, shape, 10)
    info = analyze(arch)
    model = build_model(arch, seed=0)
    assert n_params(model) == info.params
    with torch.no_grad():
        out = model.train()(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert fvcore_macs(model, shape) == info.macs


# --------------------------------------------------------------------------- network-specific facts


@pytest.mark.parametrize("shape", [(3, 32, 32), IMAGENET])
def test_se_resnet18_adds_exactly_the_se_modules(shape: tuple[int, int, int]) -> None:
    plain, se = get_zoo("resnet18", shape), get_zoo("se_resnet18", shape)
    widths = [b.out_channels for s in se.stages for b in s.blocks]
    assert {b.se_ratio for s in se.stages for b in s.blocks} == {1 / 16}
    # SE: pool -> 1x1 conv c -> c/16 (bias) -> 1x1 conv c/16 -> c (bias)
    expected = sum(2 * c * (c // 16) + c // 16 + c for c in widths)
    assert analyze(se).params - analyze(plain).params == expected
    assert analyze(se).macs > analyze(plain).macs


@pytest.mark.parametrize("name", ["alexnet", "zfnet"])
def test_alexnet_family_uses_biased_convs_without_bn(name: str) -> None:
    model = build_model(get_zoo(name, (3, 32, 32)))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3  # two hidden FC layers and the classifier
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2


@pytest.mark.parametrize(("name", "kernel", "stride"), [("alexnet", 11, 4), ("zfnet", 7, 2)])
def test_alexnet_family_first_layer_at_imagenet_size(name: str, kernel: int, stride: int) -> None:
    arch = get_zoo(name, IMAGENET)
    first = arch.stages[0].blocks[0]
    assert (first.kernel, first.stride, first.bn) == (kernel, stride, False)
    assert [f.width for f in arch.head.fc] == [4096, 4096]
    assert all(f.dropout == 0.5 for f in arch.head.fc)


@pytest.mark.parametrize("shape", [(3, 32, 32), IMAGENET])
def test_googlenet_uses_torchvision_branch_kernels(shape: tuple[int, int, int]) -> None:
    arch = get_zoo("googlenet", shape)
    modules = [b for s in arch.stages for b in s.blocks if b.type == "inception"]
    assert len(modules) == 9
    assert all(m.k5 == 3 for m in modules)


def _paper_net(first: nn.Conv2d, second_stride: int, groups: int = 1) -> nn.Sequential:
    """The papers' AlexNet / ZFNet at 224x224 written out in torch (paddings as torchvision's ``alexnet``,
    unpadded 3x3/2 max-pools), with ``groups=2`` for the original two-GPU AlexNet."""
    return nn.Sequential(
        first, nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, second_stride, 2, groups=groups), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 384, 3, 1, 1, groups=groups), nn.ReLU(),
        nn.Conv2d(384, 256, 3, 1, 1, groups=groups), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))


@pytest.mark.parametrize(("name", "first", "second_stride", "params"), [
    ("alexnet", nn.Conv2d(3, 96, 11, 4, 2), 1, 62_378_344),
    ("zfnet", nn.Conv2d(3, 96, 7, 2, 3), 2, 62_357_608),
])
def test_alexnet_family_at_imagenet_size_is_the_papers(name, first, second_stride, params) -> None:
    """6x6x256 before the classifier, as in the papers (not torchvision's 64-192 AlexNet, 61,100,840), with the
    parameter count of a hand-written torch model of the same layers; the grouped original is 60,965,224."""
    arch = get_zoo(name, IMAGENET, 1000)
    info = analyze(arch)
    assert info.body_shape == (256, 6, 6)
    reference = _paper_net(first, second_stride)
    assert info.params == n_params(reference) == n_params(build_model(arch)) == params
    assert reference[:-6](torch.zeros(1, *IMAGENET)).shape == (1, 256, 6, 6)
    assert n_params(tvm.alexnet(weights=None)) == 61_100_840 != info.params
    if name == "alexnet":
        assert n_params(_paper_net(nn.Conv2d(3, 96, 11, 4, 2), 1, groups=2)) == 60_965_224
    with torch.no_grad():
        assert build_model(arch).eval()(torch.zeros(1, *IMAGENET)).shape == (1, 1000)


@pytest.mark.parametrize("name", ["alexnet", "zfnet"])
def test_alexnet_family_cifar_variants_keep_their_padded_pools(name) -> None:
    arch = get_zoo(name, (3, 32, 32))
    pools = [s.pool for s in arch.stages if s.pool is not None]
    assert pools and all(p.padding is None and p.pad == 1 for p in pools)
    assert "p0" not in arch.encode()
