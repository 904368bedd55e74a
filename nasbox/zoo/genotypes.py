"""The classic hand-designed CNNs as genotypes (the "zoo").

Each network of the design notes is written in the same language as the search spaces'
candidates (:mod:`nasbox.model.arch`), which shows that the spaces cover them and lets the
Pareto report place them next to searched candidates.

Every network has two variants, chosen by the input size:

* **ImageNet-style** when ``min(H, W) >= 64``: the published topology as run at 224x224.
  Where torchvision has the same topology (ResNet-18, VGG-11/16 with BN, GoogLeNet,
  MobileNetV2, EfficientNet-B0) the built model has exactly torchvision's parameter count
  for the same ``num_classes`` at 224x224.
* **Small-input** (CIFAR-style, also used for 28x28 MNIST): the usual CIFAR adaptations;
  the stem's downsampling is removed, so that a 32x32 image keeps a useful map size.

Whatever the input, a pool or stride that would shrink the feature map below 1x1 is
dropped (:func:`_fit_to_input`), so every zoo genotype passes :func:`nasbox.model.analysis.analyze`
(for example VGG keeps five 2x2 max-pools at 32x32 but only four at 28x28).

Example::

    >>> from nasbox.zoo import get_zoo
    >>> arch = get_zoo("resnet18", input_shape=(3, 32, 32), num_classes=10)
    >>> arch.encode().split(" | ")[1]
    'stem:cn_c64'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import replace

from nasbox.errors import ShapeError, SpaceError
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import Block, ConvBlock, Inception, InvertedResidual, ResidualBlock
from nasbox.model.ops import Walker

__all__ = ["ZOO_NAMES", "get_zoo", "list_zoo"]

ZOO_NAMES: tuple[str, ...] = (
    "alexnet",
    "zfnet",
    "vgg11",
    "vgg16",
    "googlenet",
    "resnet18",
    "se_resnet18",
    "mobilenet_v2",
    "efficientnet_b0",
)

#: Inputs at least this large (on their smaller side) get the ImageNet-style topology.
IMAGENET_MIN_SIZE = 64

_Shape = tuple[int, int, int]
_Body = tuple[Stage, tuple[Stage, ...], Head]  # stem, stages, head


# --------------------------------------------------------------------------- helpers


def _is_large(input_shape: _Shape) -> bool:
    return min(input_shape[1], input_shape[2]) >= IMAGENET_MIN_SIZE


def _fit_to_input(arch: Architecture) -> Architecture:
    """Drop every pool and stride that would shrink the feature map below 1x1.

    Walks the stages through each block's own analysis: a strided block whose output
    would vanish gets stride 1, a pool whose output would vanish is removed. Everything
    else is left as it is, so a genotype that already fits its input is returned unchanged.

    Args:
        arch: a genotype, possibly with more downsampling than its input allows.

    Returns:
        The adapted genotype (a new frozen object; ``arch`` itself is not touched).
    """
    c, h, w = arch.input_shape
    shape = (c, arch.resolution, arch.resolution) if arch.resolution is not None else (c, h, w)

    def fit_stage(stage: Stage) -> Stage:
        nonlocal shape
        blocks: list[Block] = []
        for block in stage.blocks:
            try:
                shape = block.analyze(Walker(), "block", shape)
            except ShapeError:
                if "stride" not in {f.name for f in dataclasses.fields(block)}:
                    raise
                block = replace(block, stride=1)
                shape = block.analyze(Walker(), "block", shape)
            blocks.append(block)
        pool = stage.pool
        if pool is not None:
            try:
                shape = Walker().pool("pool", shape, pool)
            except ShapeError:
                pool = None
        return Stage(tuple(blocks), pool)

    stem = fit_stage(arch.stem)
    stages = tuple(fit_stage(s) for s in arch.stages)
    return replace(arch, stem=stem, stages=stages)


# --------------------------------------------------------------------------- AlexNet, ZFNet


def _plain_cnn(first_kernel: int, first_stride: int, second_stride: int, large: bool) -> _Body:
    """AlexNet-family body: five bias convs without BN, three overlapping 3x3/2 max-pools (unpadded,
    as in the papers, at ImageNet size; padded on small inputs, which keeps the CIFAR variants)."""
    width = 4096 if large else 1024
    pool = Pool("max", 3, 2, padding=0) if large else Pool("max", 3, 2)
    stages = (
        Stage((ConvBlock(96, first_kernel, first_stride, bn=False),), pool),
        Stage((ConvBlock(256, 5, second_stride, bn=False),), pool),
        Stage((ConvBlock(384, 3, bn=False), ConvBlock(384, 3, bn=False), ConvBlock(256, 3, bn=False)), pool),
    )
    head = Head("flatten", (FC(width, dropout=0.5), FC(width, dropout=0.5)))
    return Stage(), stages, head


def _alexnet(large: bool) -> _Body:
    """AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
    Convolutional Neural Networks").

    The paper's widths 96-256-384-384-256 on one device: the two-GPU grouping of conv2, conv4
    and conv5 is not kept (each of those convolutions sees all its input channels), nor is
    local response normalisation. 11x11/4 first conv, unpadded overlapping 3x3/2 max-pools, conv
    biases and no BatchNorm, so that a 224x224 input goes 56 -> 27 -> 13 -> 6 and ends at
    6x6x256 as in the paper; then flatten and two FC-4096 layers with dropout 0.5: 62,378,344
    parameters at 1,000 classes (the grouped original has 60,965,224; torchvision's
    single-tower variant with 64-192-384-256-256 filters 61,100,840). Small inputs: 5x5/1
    first conv, padded pools and FC-1024 layers.
    """
    return _plain_cnn(11, 4, 1, large) if large else _plain_cnn(5, 1, 1, large)


def _zfnet(large: bool) -> _Body:
    """ZFNet (Zeiler & Fergus, 2014, "Visualizing and Understanding Convolutional Networks").

    AlexNet with a smaller, less strided first layer (7x7/2 instead of 11x11/4) and a
    stride-2 second conv; otherwise as :func:`_alexnet` (dense convolutions, as the paper
    trained on one GPU; no LRN, no BatchNorm, conv biases, unpadded pools, FC-4096 x 2 with
    dropout 0.5). A 224x224 input goes 112 -> 55 -> 28 -> 13 -> 6 and ends at 6x6x256 like the
    paper's: 62,357,608 parameters at 1,000 classes. Small inputs: 3x3/1 first conv, padded
    pools and FC-1024 layers.
    """
    return _plain_cnn(7, 2, 2, large) if large else _plain_cnn(3, 1, 2, large)


# --------------------------------------------------------------------------- VGG

_VGG_CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),  # configuration A
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # configuration D
}


def _vgg(config: tuple[tuple[int, ...], ...], large: bool) -> _Body:
    """VGG with BatchNorm (Simonyan & Zisserman, 2015, "Very Deep Convolutional Networks
    for Large-Scale Image Recognition"; BN as in torchvision's ``vgg*_bn``).

    Five groups of 3x3 conv-BN-ReLU (the convs keep their bias, as torchvision's do), each
    closed by a 2x2/2 max-pool. ImageNet-style: flatten (7x7x512 = 25088 features at 224,
    which is what torchvision's ``AdaptiveAvgPool2d(7)`` + flatten gives), FC-4096 x 2 with
    dropout 0.5, classifier. Small inputs: as many of the five pools as the input allows
    (five at 32x32, four at 28x28), then global average pool and FC-512 x 2 with dropout
    0.5 (the common CIFAR head).
    """
    stages = tuple(Stage(tuple(ConvBlock(c, 3, bias=True) for c in group), Pool("max", 2, 2)) for group in config)
    if large:
        head = Head("flatten", (FC(4096, dropout=0.5), FC(4096, dropout=0.5)))
    else:
        head = Head("gap", (FC(512, dropout=0.5), FC(512, dropout=0.5)))
    return Stage(), stages, head


# --------------------------------------------------------------------------- GoogLeNet


def _googlenet(large: bool) -> _Body:
    """GoogLeNet / Inception-v1 (Szegedy et al., 2015, "Going Deeper with Convolutions"),
    as torchvision builds it, without the auxiliary classifiers.

    Every conv is followed by BatchNorm and ReLU (torchvision's ``BasicConv2d``). The third
    branch of each inception module is a 3x3 conv (``Inception(k5=3)``), as in torchvision
    (and its pretrained weights); the paper's module has a 5x5 conv there (``k5=5``). Max
    pools are 3x3/2 except the last, which is 2x2/2, so a 224x224 input ends at 7x7x1024;
    then global average pool, dropout 0.2 and the classifier. Small inputs (the common
    CIFAR port): the stem (7x7/2 conv, pool, 1x1 and 3x3 convs, pool) becomes a single 3x3/1
    conv to 192 channels.
    """
    i3 = (Inception(64, 96, 128, 16, 32, 32, k5=3), Inception(128, 128, 192, 32, 96, 64, k5=3))
    i4 = (
        Inception(192, 96, 208, 16, 48, 64, k5=3),
        Inception(160, 112, 224, 24, 64, 64, k5=3),
        Inception(128, 128, 256, 24, 64, 64, k5=3),
        Inception(112, 144, 288, 32, 64, 64, k5=3),
        Inception(256, 160, 320, 32, 128, 128, k5=3),
    )
    i5 = (Inception(256, 160, 320, 32, 128, 128, k5=3), Inception(384, 192, 384, 48, 128, 128, k5=3))
    body = (Stage(i3, Pool("max", 3, 2)), Stage(i4, Pool("max", 2, 2)), Stage(i5))
    if large:
        stem = Stage((ConvBlock(64, 7, 2),), Pool("max", 3, 2))
        stages = (Stage((ConvBlock(64, 1), ConvBlock(192, 3)), Pool("max", 3, 2)), *body)
    else:
        stem = Stage((ConvBlock(192, 3),))
        stages = body
    return stem, stages, Head("gap", dropout=0.2)


# --------------------------------------------------------------------------- ResNet, SE-ResNet


def _resnet18(large: bool, se_ratio: float = 0.0) -> _Body:
    """ResNet-18 (He et al., 2016, "Deep Residual Learning for Image Recognition").

    ImageNet-style: 7x7/2 conv stem and 3x3/2 max-pool, four stages of two basic blocks
    (``ResidualBlock(n_convs=2)``, widths 64/128/256/512, strides 1/2/2/2, 1x1 projection
    shortcuts where the shape changes), global average pool, linear classifier: the same
    topology and parameter count as torchvision's ``resnet18``. Small inputs: the CIFAR
    stem, a 3x3/1 conv with 64 channels and no max-pool (11,173,962 parameters for 10
    classes). ``se_ratio`` adds squeeze-and-excitation to every block.
    """
    if large:
        stem = Stage((ConvBlock(64, 7, 2),), Pool("max", 3, 2))
    else:
        stem = Stage((ConvBlock(64, 3, 1),))
    stages = tuple(
        Stage((ResidualBlock(width, 3, stride, se_ratio=se_ratio), ResidualBlock(width, 3, 1, se_ratio=se_ratio)))
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2))
    )
    return stem, stages, Head("gap")


def _se_resnet18(large: bool) -> _Body:
    """SE-ResNet-18 (Hu et al., 2018, "Squeeze-and-Excitation Networks").

    :func:`_resnet18` with an SE module of reduction ratio 16 (``se_ratio=1/16``) on the
    residual branch of every basic block, before the addition.
    """
    return _resnet18(large, se_ratio=1 / 16)


# --------------------------------------------------------------------------- MobileNetV2, EfficientNet-B0

# MobileNetV2 (t expansion, c channels, n repeats, s stride), Table 2 of the paper.
_MOBILENET_V2_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# EfficientNet-B0 (expansion, kernel, stride, channels, repeats), Table 1 of the paper.
_EFFICIENTNET_B0_TABLE: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def _first_downsampling(strides: list[int]) -> int:
    """Index of the first stride > 1 in a block table (the stage a CIFAR port sets to 1)."""
    return next(i for i, s in enumerate(strides) if s > 1)


def _mobilenet_v2(large: bool) -> _Body:
    """MobileNetV2 (Sandler et al., 2018, "MobileNetV2: Inverted Residuals and Linear
    Bottlenecks"), width multiplier 1.0, as torchvision's ``mobilenet_v2``.

    3x3/2 conv-BN-ReLU6 stem with 32 channels, the paper's ``(t, c, n, s)`` table of
    inverted residuals (``InvertedResidual``, ReLU6, linear bottleneck; the first block of
    a row carries the stride), a 1x1 conv to 1280 channels with ReLU6, global average
    pool, dropout 0.2 and the classifier. Small inputs (the common CIFAR port): stem stride
    1 and the first downsampling row (``c = 24``) with stride 1.
    """
    strides = [s for *_, s in _MOBILENET_V2_TABLE]
    if not large:
        strides[_first_downsampling(strides)] = 1
    stem = Stage((ConvBlock(32, 3, 2 if large else 1, act="relu6"),))
    stages = tuple(
        Stage(tuple(InvertedResidual(c, 3, stride if i == 0 else 1, t, "relu6") for i in range(n)))
        for (t, c, n, _), stride in zip(_MOBILENET_V2_TABLE, strides, strict=True)
    )
    stages += (Stage((ConvBlock(1280, 1, act="relu6"),)),)
    return stem, stages, Head("gap", dropout=0.2)


def _efficientnet_b0(large: bool) -> _Body:
    """EfficientNet-B0 (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for
    Convolutional Neural Networks"), as torchvision's ``efficientnet_b0``.

    3x3/2 conv-BN-SiLU stem with 32 channels, the B0 table of MBConv blocks
    (``InvertedResidual`` with SiLU and squeeze-and-excitation, ``se_ratio=0.25`` of the
    block's input channels), a 1x1 conv to 1280 channels with SiLU, global average pool,
    dropout 0.2 and the classifier (stochastic depth has no parameters and is left out).
    Small inputs (the common CIFAR port): stem stride 1 and the first downsampling stage
    (``c = 24``) with stride 1.
    """
    strides = [s for _, _, s, _, _ in _EFFICIENTNET_B0_TABLE]
    if not large:
        strides[_first_downsampling(strides)] = 1
    stem = Stage((ConvBlock(32, 3, 2 if large else 1, act="silu"),))
    stages = tuple(
        Stage(tuple(InvertedResidual(c, k, stride if i == 0 else 1, t, "silu", se_ratio=0.25) for i in range(n)))
        for (t, k, _, c, n), stride in zip(_EFFICIENTNET_B0_TABLE, strides, strict=True)
    )
    stages += (Stage((ConvBlock(1280, 1, act="silu"),)),)
    return stem, stages, Head("gap", dropout=0.2)


# --------------------------------------------------------------------------- registry

_BUILDERS: dict[str, Callable[[bool], _Body]] = {
    "alexnet": _alexnet,
    "zfnet": _zfnet,
    "vgg11": lambda large: _vgg(_VGG_CONFIGS["vgg11"], large),
    "vgg16": lambda large: _vgg(_VGG_CONFIGS["vgg16"], large),
    "googlenet": _googlenet,
    "resnet18": _resnet18,
    "se_resnet18": _se_resnet18,
    "mobilenet_v2": _mobilenet_v2,
    "efficientnet_b0": _efficientnet_b0,
}

_DESCRIPTIONS: dict[str, str] = {
    "alexnet": "AlexNet (Krizhevsky et al., 2012): 5 convs with bias, overlapping max-pools, 2 x FC-4096",
    "zfnet": "ZFNet (Zeiler & Fergus, 2014): AlexNet with a 7x7/2 first conv and a 5x5/2 second conv",
    "vgg11": "VGG-11 with BN (Simonyan & Zisserman, 2015): configuration A, 8 3x3 convs, 2 x FC-4096",
    "vgg16": "VGG-16 with BN (Simonyan & Zisserman, 2015): configuration D, 13 3x3 convs, 2 x FC-4096",
    "googlenet": "GoogLeNet (Szegedy et al., 2015): 9 inception modules, torchvision's 3x3 variant, no aux heads",
    "resnet18": "ResNet-18 (He et al., 2016): 8 basic residual blocks, widths 64-512",
    "se_resnet18": "SE-ResNet-18 (Hu et al., 2018): ResNet-18 with squeeze-and-excitation, ratio 1/16",
    "mobilenet_v2": "MobileNetV2 (Sandler et al., 2018): 17 inverted residuals with linear bottlenecks, ReLU6",
    "efficientnet_b0": "EfficientNet-B0 (Tan & Le, 2019): 16 MBConv blocks with SE and SiLU",
}


def list_zoo() -> list[tuple[str, str]]:
    """The zoo's networks, in :data:`ZOO_NAMES` order.

    Returns:
        ``(name, description)`` pairs; each description names the paper and its year.
    """
    return [(name, _DESCRIPTIONS[name]) for name in ZOO_NAMES]


def get_zoo(name: str, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> Architecture:
    """The genotype of a classic network for the given input and number of classes.

    Inputs with ``min(H, W) >= 64`` get the published ImageNet topology, smaller ones the
    CIFAR-style variant; pools and strides the input cannot afford are dropped, so the
    result always passes :func:`nasbox.model.analysis.analyze`.

    Args:
        name: one of :data:`ZOO_NAMES`.
        input_shape: ``(C, H, W)`` of the images.
        num_classes: outputs of the classifier.

    Returns:
        A frozen :class:`~nasbox.model.arch.Architecture`.

    Raises:
        SpaceError: ``name`` is not a zoo network.
        ValueError: ``input_shape`` or ``num_classes`` is invalid.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise SpaceError(f"unknown zoo network {name!r}; known: {', '.join(ZOO_NAMES)}")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape=}")
    shape = tuple(input_shape)
    # validate before branching on the size (Architecture checks the values)
    Architecture(input_shape=shape, num_classes=num_classes, stages=())
    stem, stages, head = builder(_is_large(shape))
    arch = Architecture(input_shape=shape, num_classes=num_classes, stages=stages, head=head, stem=stem)
    return _fit_to_input(arch)
