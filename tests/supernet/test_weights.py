"""Weight sharing: a subnet's inherited weights are slices of the supernet's, its extracted module computes
what the supernet computes for it, and BatchNorm recalibration touches BatchNorm statistics only."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nasbox.errors import SpaceError
from nasbox.model.analysis import analyze
from nasbox.spaces import get_space
from nasbox.supernet import ElasticSpace, SubnetMismatch, Supernet, recalibrate

SHAPE = (3, 16, 16)
#: each elastic space narrowed to small, fast networks (and its non-elastic choices to one)
SMALL = {
    "mobilenet": {"channels": "16,24", "strides": "1,2", "width_mults": "0.5,1.0", "expansions": "1,3",
                  "kernels": "3,5", "depth_max": 2, "activations": "relu6", "stem_channels": 8, "last_channels": 32},
    "efficientnet": {"channels": "16,24", "depths": "1,2", "strides": "1,2", "width_mults": "0.5,1.0",
                     "depth_mults": "1.0,2.0", "res_mults": "0.75,1.0", "expansions": "1,4", "kernels": "3,5",
                     "stem_channels": 8},
    "resnet": {"stages_min": 2, "stages_max": 2, "widths": "4,8", "activations": "relu", "depth_max": 2,
               "kernels": "3,5"},
    "seed_cnn": {"m_min": 4, "m_max": 4, "n_max": 2, "channels": "4,8", "kernels": "1,3", "activations": "relu",
                 "pools": "max", "skips": "false", "heads": "gap", "l_min": 1, "l_max": 1, "fc_widths": "8,16"},
}


def elastic(name: str, **extra) -> ElasticSpace:
    return ElasticSpace(get_space(name, input_shape=SHAPE, num_classes=5, args={**SMALL[name], **extra}))


def subnets(space: ElasticSpace, n: int = 8):
    rng = random.Random(0)
    return [space.smallest(), space.largest(), *(space.random(rng) for _ in range(n))]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_an_extracted_subnet_computes_what_the_supernet_computes_for_it(name):
    space = elastic(name)
    supernet = Supernet(space, seed=3).eval()
    x = torch.randn(4, *SHAPE)
    archs = subnets(space)
    assert len({a.arch_id for a in archs}) >= 5, "the subnets drawn should differ"
    for arch in archs:
        model = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), supernet(x, arch), rtol=0, atol=1e-6)
        assert sum(p.numel() for p in model.parameters()) == analyze(arch).params


@pytest.mark.parametrize("name", sorted(SMALL))
def test_inherited_tensors_are_the_leading_channels_and_the_kernel_centre(name):
    space = elastic(name)
    supernet = Supernet(space, seed=1)
    big = supernet.net.state_dict()
    arch = space.smallest()
    small = supernet.extract(arch).state_dict()
    assert small.keys() <= big.keys()
    cut = 0
    for key, tensor in small.items():
        ref = big[key]
        index = [slice(0, n) for n in tensor.shape[:2]]
        index += [slice((m - n) // 2, (m - n) // 2 + n) for m, n in zip(ref.shape[2:], tensor.shape[2:], strict=True)]
        assert torch.equal(tensor, ref[tuple(index)] if index else ref), key
        cut += tensor.shape != ref.shape
    assert cut > 0, "the smallest subnet should be smaller than the largest somewhere"


def test_a_smaller_kernel_is_the_centre_of_the_larger_one():
    space = elastic("mobilenet")
    supernet = Supernet(space)
    arch = space.space.from_params({**space.params_at(-1), "stage1.kernel": 3})
    weight = supernet.extract(arch).get_submodule("stage1.block1.conv_dw.conv").weight
    big = supernet.net.get_submodule("stage1.block1.conv_dw.conv").weight
    assert big.shape[-1] == 5 and weight.shape[-1] == 3
    assert torch.equal(weight, big[:, :, 1:4, 1:4].detach())


def test_training_a_subnet_moves_only_the_weights_it_inherits():
    space = elastic("mobilenet")
    supernet = Supernet(space).train()
    arch = space.smallest()
    supernet(torch.randn(4, *SHAPE), arch).square().sum().backward()
    weight = supernet.net.get_submodule("stage1.block1.conv_dw.conv").weight
    used = supernet.extract(arch).get_submodule("stage1.block1.conv_dw.conv").weight.shape
    grad = weight.grad
    inside = grad[:used[0], :, 1:4, 1:4]
    assert inside.abs().sum() > 0
    outside = grad.clone()
    outside[:used[0], :, 1:4, 1:4] = 0
    assert torch.count_nonzero(outside) == 0, "gradient outside the subnet's slice"
    unused = supernet.net.get_submodule("stage1.block2")  # depth 1: the second block is not the smallest's
    assert all(p.grad is None for p in unused.parameters())


def test_recalibration_changes_only_batchnorm_statistics_to_the_data_means():
    space = elastic("resnet")
    model = Supernet(space, seed=0).extract(space.largest())
    model.head.add_module("dropout", nn.Dropout(0.5))  # must not draw from the RNG
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.randn(16, *SHAPE) * 2 + 1, torch.zeros(16, dtype=torch.long)) for _ in range(3)]
    rng = torch.get_rng_state()
    recalibrate(model, batches)
    assert torch.equal(rng, torch.get_rng_state())
    assert not model.training
    after = model.state_dict()
    for key, value in after.items():
        stat = key.endswith(("running_mean", "running_var", "num_batches_tracked"))
        assert torch.equal(value, before[key]) != stat or (stat and key.endswith("num_batches_tracked")), key
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name
    # the stem's BatchNorm now holds the mean of its input (the stem conv's output) over the batches
    conv = model.get_submodule("stem.block1.conv")
    with torch.no_grad():
        means = torch.stack([conv(x).mean((0, 2, 3)) for x, _ in batches]).mean(0)
    torch.testing.assert_close(model.get_submodule("stem.block1.bn").running_mean, means, rtol=1e-4, atol=1e-5)


def test_a_genotype_that_is_no_subnet_is_refused():
    space = elastic("mobilenet")
    supernet = Supernet(space)
    other = elastic("mobilenet", kernels="3,7").largest()  # a 7x7 kernel the supernet does not have
    assert not supernet.fits(other)
    with pytest.raises(SubnetMismatch, match="larger than the supernet"):
        supernet.extract(other)


def test_spaces_with_choices_that_are_not_elastic_are_refused_with_what_to_narrow():
    with pytest.raises(SpaceError, match=r"not elastic.*act \(relu6, hardswish\).*--space-arg"):
        ElasticSpace(get_space("mobilenet", input_shape=SHAPE, num_classes=5))
    with pytest.raises(SpaceError, match=r"stage\*\.pool"):
        ElasticSpace(get_space("seed_cnn", input_shape=SHAPE, num_classes=5))
    with pytest.raises(SpaceError, match="no elastic choices"):
        ElasticSpace(get_space("nb201", input_shape=SHAPE, num_classes=5))
    # a residual stage whose shortcut turns into a projection when its width changes is caught up front
    with pytest.raises(SpaceError, match="not elastic as declared.*shortcut"):
        Supernet(elastic("seed_cnn", skips="true"))
