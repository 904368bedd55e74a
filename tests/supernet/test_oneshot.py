"""The one-shot supernet of a cell space: a path's extracted network computes what the supernet computes for it,
its parameters are the analysis', fair paths take every op once, and training resumes bit for bit."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.errors import ConfigError, SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from nasbox.supernet import CellSupernet, OneShotSpace, SubnetMismatch, recalibrate
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.train import OneShotTraining, SupernetConfig, resolve, train_supernet

SHAPE = (3, 16, 16)
ARGS = {"channels": 4, "cells": 2}
SPACE_ARGS = {"nb201": ARGS, "darts": {"channels": 4, "cells": 1}}  # darts: a 5-cell network
CONFIG = SupernetConfig(epochs=2, batch_size=16, calibration_images=32)


def one_shot(affine: bool = False, split: str | None = None, space: str = "nb201", **extra) -> OneShotSpace:
    bound = get_space(space, input_shape=SHAPE, num_classes=5, args={**SPACE_ARGS[space], **extra})
    return OneShotSpace(bound, affine=affine, split=split)


def _darts(normal: list[tuple[str, int]], reduce: list[tuple[str, int]]) -> dict:
    return {f"{cell}.node{i // 2}.{key}{i % 2}": value for cell, genotype in (("normal", normal), ("reduce", reduce))
            for i, entry in enumerate(genotype) for key, value in zip(("op", "in"), entry, strict=True)}


def paths(space: OneShotSpace, n: int = 6) -> list:
    """Random paths and the corner cases. nb201: every edge a 3x3 conv, a disconnected cell, a cell whose node 1
    feeds nothing (its edge's op is held, not computed). darts: every op a 3x3 separable conv on an input, every
    op none (the output a constant), a normal cell that reads only the older input (so that cells go uncomputed)
    with both of a node's ops the same op on the same state (one module of the supernet, two of the network),
    a reduction cell of strided skips (factorized reductions) and pools."""
    rng = random.Random(0)
    if space.space.name == "darts":
        sep = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4
        none = [("none", 0)] * 8
        old_only = [("dil_conv_3x3", 0), ("dil_conv_3x3", 0), ("skip_connect", 2), ("sep_conv_5x5", 0),
                    ("none", 3), ("max_pool_3x3", 2), ("avg_pool_3x3", 4), ("none", 0)]
        pools = [("skip_connect", 0), ("max_pool_3x3", 1), ("skip_connect", 1), ("avg_pool_3x3", 2),
                 ("dil_conv_5x5", 3), ("skip_connect", 0), ("sep_conv_3x3", 4), ("max_pool_3x3", 0)]
        fixed = [_darts(sep, sep), _darts(none, none), _darts(old_only, pools)]
        n = min(n, 3)  # a darts path costs ten times an nb201 one; the corner cases are above
    else:
        edges = ("node1.in0", "node2.in0", "node2.in1", "node3.in0", "node3.in1", "node3.in2")
        fixed = [dict.fromkeys(edges, "nor_conv_3x3"), dict.fromkeys(edges, "none"),
                 {**dict.fromkeys(edges, "none"), "node1.in0": "nor_conv_1x1", "node3.in0": "nor_conv_3x3"}]
    return [*(space.space.from_params(p) for p in fixed), *(space.random(rng) for _ in range(n))]


@pytest.mark.parametrize("name", ["nb201", "darts"])
@pytest.mark.parametrize("affine", [False, True])
def test_an_extracted_path_computes_what_the_supernet_computes_for_it_with_the_same_statistics(affine, name):
    space = one_shot(affine, space=name)
    supernet = CellSupernet(space, seed=3)
    with torch.no_grad():  # BatchNorm scales and shifts that are not the initial 1 and 0
        for p in supernet.net.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(16, *SHAPE, generator=generator), torch.zeros(16)) for _ in range(3)]
    x = torch.randn(4, *SHAPE, generator=generator)
    archs = paths(space)
    assert len({a.arch_id for a in archs}) == len(archs)
    for arch in archs:
        model = recalibrate(supernet.extract(arch), batches)
        with supernet.selected(arch):
            recalibrate(supernet.net, batches)  # the path's statistics, in the supernet's own BatchNorms
            with torch.no_grad():
                expected = supernet.net(x)
        with torch.no_grad():
            torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-6)
            torch.testing.assert_close(supernet(x, arch), expected, rtol=0, atol=0)  # same path, eval mode
        assert sum(p.numel() for p in model.parameters()) == analyze(arch).params
    assert not torch.equal(supernet(x, archs[0]), supernet(x, archs[3])), "paths should differ"


def test_a_path_inherits_its_ops_weights_and_a_batchnorm_without_affine_parameters_is_the_identity_scale():
    space = one_shot()
    supernet = CellSupernet(space, seed=1)
    arch = paths(space)[0]  # every edge a 3x3 conv
    state = supernet.extract(arch).state_dict()
    mixed = supernet.net.state_dict()
    assert torch.equal(state["stage2.block2.e12.conv.weight"], mixed["stage2.block2.e12.nor_conv_3x3.conv.weight"])
    assert torch.equal(state["stage1.block1.e01.bn.running_var"], mixed["stage1.block1.e01.nor_conv_3x3.bn.running_var"])
    assert torch.equal(state["stage3.block1.conv_a.bn.weight"], mixed["stage3.block1.conv_a.bn.weight"])  # shared part
    assert torch.equal(state["stage1.block1.e01.bn.weight"], torch.ones(4))
    assert torch.equal(state["stage1.block1.e01.bn.bias"], torch.zeros(4))
    assert "stage1.block1.e01.nor_conv_3x3.bn.weight" not in mixed
    one_by_one = space.space.from_params({**dict.fromkeys(space.choices, "nor_conv_1x1")})
    assert torch.equal(supernet.extract(one_by_one).state_dict()["stage1.block1.e01.conv.weight"],
                       mixed["stage1.block1.e01.nor_conv_1x1.conv.weight"])


def test_a_darts_path_inherits_its_edges_ops_and_both_ops_of_a_node_on_one_edge_share_one_module():
    space = one_shot(space="darts")
    supernet = CellSupernet(space, seed=1)
    arch = paths(space)[2]  # normal: node0 takes dil_conv_3x3 on state 0 twice; reduce: strided skips
    state, mixed = supernet.extract(arch).state_dict(), supernet.net.state_dict()
    cell = "stage1.block1.cell1"  # a normal cell
    for j in (0, 1):
        assert torch.equal(state[f"{cell}.node0.op{j}.dw.weight"], mixed[f"{cell}.node0.s0.dil_conv_3x3.dw.weight"])
    assert torch.equal(state[f"{cell}.node1.op1.dw1.weight"], mixed[f"{cell}.node1.s0.sep_conv_5x5.dw1.weight"])
    assert torch.equal(state[f"{cell}.pre1.conv.weight"], mixed[f"{cell}.pre1.conv.weight"])  # shared by all paths
    assert torch.equal(state[f"{cell}.pre1.bn.weight"], torch.ones(4))  # no affine BatchNorm: scale 1, shift 0
    assert torch.equal(state[f"{cell}.node0.op0.bn.bias"], torch.zeros(4))
    reduction = "stage1.block1.cell2"  # skip_connect on state 0 of a reduction cell: a factorized reduction
    assert torch.equal(state[f"{reduction}.node0.op0.conv_1.weight"], mixed[f"{reduction}.node0.s0.skip_connect.conv_1.weight"])
    assert state[f"{reduction}.node0.op0.conv_1.weight"].shape == (4, 8, 1, 1)  # 2C channels, halved
    assert f"{cell}.node0.op0.dw.weight" not in mixed and f"{cell}.node0.s1.none.weight" not in mixed
    assert sum(p.numel() for p in supernet.extract(arch).parameters()) == analyze(arch).params


def test_fair_darts_paths_take_every_op_of_every_slot_exactly_once_and_every_input_evenly():
    space = one_shot(space="darts")
    rng = random.Random(1)
    groups = [space.fair(rng) for _ in range(3)]
    for group in groups:
        assert len(group) == 8  # eight ops
        cells = [(a.stages[0].blocks[0].genotype(False), a.stages[0].blocks[0].genotype(True)) for a in group]
        for c, cell in enumerate(("normal", "reduce")):
            for i in range(8):
                ops = Counter(genotypes[c][i][0] for genotypes in cells)
                assert ops == Counter(space.choices[f"{cell}.node{i // 2}.op{i % 2}"]), (cell, i)
                inputs = Counter(genotypes[c][i][1] for genotypes in cells)
                assert set(inputs) == set(range(i // 2 + 2)) and max(inputs.values()) - min(inputs.values()) <= 1
    assert groups[0] != groups[1], "each group is shuffled anew"


@pytest.mark.parametrize("name", ["nb201", "darts"])
@pytest.mark.parametrize("affine", [False, True])
def test_the_supernets_analysis_counts_what_pytorch_and_fvcore_count(affine, name):
    fvcore = pytest.importorskip("fvcore.nn")
    arch = one_shot(affine, space=name).arch
    model = build_model(arch, seed=0).eval()
    info = analyze(arch)
    assert sum(p.numel() for p in model.parameters()) == info.params
    flops = fvcore.FlopCountAnalysis(model, torch.randn(1, *SHAPE))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert flops.total() == info.macs


def test_fair_paths_take_every_op_of_every_edge_exactly_once():
    for extra, k in (({}, 5), ({"ops": "skip_connect,nor_conv_3x3,avg_pool_3x3"}, 3)):
        space = one_shot(**extra)
        rng = random.Random(1)
        groups = [space.fair(rng) for _ in range(4)]
        for group in groups:
            assert len(group) == k
            params = [{f"node{j}.in{i}": b.edges()[(i, j)] for (i, j) in b.edges()}
                      for b in (arch.stages[0].blocks[0] for arch in group)]
            for name, choices in space.choices.items():
                assert Counter(p[name] for p in params) == Counter(choices), name
        assert groups[0] != groups[1], "each group is shuffled anew"


def test_a_steps_paths_come_from_the_seed_and_the_step_alone():
    space = one_shot()
    for sampling, groups, per_step in (("uniform", 2, 2), ("fair", 2, 10)):
        config = SupernetConfig(epochs=1, sampling=sampling, paths=groups, distill=False)
        training = OneShotTraining(space, config)
        steps = [training.paths(step) for step in range(4)]
        assert all(len(s) == per_step for s in steps)
        assert steps[2] == OneShotTraining(space, config).paths(2)
        assert len({a.arch_id for s in steps for a in s}) > 4


def test_what_is_no_path_through_the_supernet_is_refused():
    supernet = CellSupernet(one_shot(ops="skip_connect,nor_conv_3x3"))
    other_ops = get_space("nb201", input_shape=SHAPE, num_classes=5, args=ARGS).example()  # 'none' on every edge
    assert not supernet.fits(other_ops)
    with pytest.raises(SubnetMismatch, match="no path"):
        supernet.extract(other_ops)
    deeper = get_space("nb201", input_shape=SHAPE, num_classes=5, args={**ARGS, "cells": 3,
                                                                       "ops": "skip_connect,nor_conv_3x3"}).example()
    with pytest.raises(SubnetMismatch, match="other blocks"):
        supernet.extract(deeper)


def test_resolve_refuses_options_of_the_other_kind():
    nb201 = get_space("nb201", input_shape=SHAPE, num_classes=5, args=ARGS)
    shared, config = resolve(nb201, SupernetConfig(epochs=1))
    assert isinstance(shared, OneShotSpace) and config.sampling == "fair" and not config.distill
    assert config.accumulate == "sum"  # FairNAS's rule, the best-ranking default (bench/RESULTS.md)
    assert resolve(nb201, SupernetConfig(epochs=1, sampling="uniform"))[1].accumulate == "mean"
    with pytest.raises(ConfigError, match="uniform or fair"):
        resolve(nb201, SupernetConfig(epochs=1, sampling="sandwich"))
    mobilenet = get_space("mobilenet", input_shape=SHAPE, num_classes=5)
    with pytest.raises(SpaceError, match="not elastic"):  # its activations are not narrowed
        resolve(mobilenet, SupernetConfig(epochs=1))
    fixed = {"stages_min": 3, "stages_max": 3, "depth_min": 2, "depth_max": 2, "widths": "8", "kernels": "3",
             "se_choices": "false", "activations": "relu"}
    with pytest.raises(SpaceError, match="no elastic choices"):
        resolve(get_space("resnet", input_shape=SHAPE, num_classes=5, args=fixed), SupernetConfig(epochs=1))
    darts, config = resolve(get_space("darts", input_shape=SHAPE, num_classes=5), SupernetConfig(epochs=1))
    assert isinstance(darts, OneShotSpace) and config.sampling == "fair"
    with pytest.raises(SpaceError, match="no few-shot split"):
        resolve(get_space("darts", input_shape=SHAPE, num_classes=5),
                SupernetConfig(epochs=1, split="normal.node0.op0"))


def test_the_batch_size_not_given_is_the_kinds_default_and_one_given_is_kept():
    """A one-shot supernet trains at batch 32 unless told (its estimates ranked better than at 64 for the same
    epochs, bench/RESULTS.md), an elastic one at 64; the CLI leaves the choice to the kind."""
    from nasbox.cli import build_parser
    from nasbox.supernet.train import DEFAULT_BATCH_SIZE

    nb201 = get_space("nb201", input_shape=SHAPE, num_classes=5, args=ARGS)
    resnet = get_space("resnet", input_shape=SHAPE, num_classes=5, args={"activations": "relu", "stages_min": 3,
                                                                        "stages_max": 3})
    assert DEFAULT_BATCH_SIZE == {"one-shot": 32, "elastic": 64}
    assert resolve(nb201, SupernetConfig(epochs=1))[1].batch_size == 32
    assert resolve(resnet, SupernetConfig(epochs=1))[1].batch_size == 64
    assert resolve(nb201, SupernetConfig(epochs=1, batch_size=48))[1].batch_size == 48
    assert resolve(resnet, SupernetConfig(epochs=1, batch_size=8))[1].batch_size == 8
    with pytest.raises(ConfigError, match="batch size"):
        SupernetConfig(epochs=1, batch_size=-1)
    args = build_parser().parse_args(["supernet", "train", "--space", "nb201"])
    assert args.batch_size is None


@pytest.mark.parametrize(("name", "sampling"), [("nb201", "fair"), ("nb201", "uniform"), ("darts", "uniform")])
def test_a_resumed_one_shot_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, name, sampling):
    data = load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_classes=5, synthetic_size=160, seed=0)
    space = get_space(name, args={**SPACE_ARGS[name], "cells": 1})
    config = SupernetConfig(epochs=2, batch_size=16, calibration_images=32, sampling=sampling)
    whole = train_supernet(space, data, config, tmp_path / "whole", device="cpu")
    assert whole.finished and [h["subnets_scored"] for h in whole.history] == [3, 3]
    assert all(0 <= h["val_accuracy"] <= 1 for h in whole.history)
    half = train_supernet(space, data, config, tmp_path / "split", device="cpu", until_epoch=1)
    assert not half.finished
    resumed = train_supernet(space, data, config, tmp_path / "split", device="cpu")
    assert resumed.start_epoch == 1 and resumed.finished
    (a, ck_a), (b, _) = load_supernet(tmp_path / "whole"), load_supernet(tmp_path / "split")
    assert isinstance(a, CellSupernet) and ck_a.config["sampling"] == sampling
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [h["val_accuracy"] for h in whole.history] == [h["val_accuracy"] for h in resumed.history]
    fresh = CellSupernet(OneShotSpace(space.bind(SHAPE, 5)), seed=0).net.state_dict()
    trained = ("nor_conv_3x3.conv.weight", "sep_conv_3x3.pw2.weight")
    assert any(not torch.equal(sa[k], fresh[k]) for k in sa if k.endswith(trained))


def test_a_fair_step_gives_each_op_the_gradient_of_the_path_that_takes_it_averaged_or_summed():
    space = one_shot()
    x, y = torch.randn(8, *SHAPE, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 5
    recipe = SimpleNamespace(scheduler=SimpleNamespace(last_epoch=7), device=torch.device("cpu"), bf16=False,
                             criterion=torch.nn.CrossEntropyLoss())
    grads = {}
    for accumulate in ("mean", "sum"):
        training = OneShotTraining(space, SupernetConfig(epochs=1, sampling="fair", accumulate=accumulate))
        training.make_model(space.arch, training.config, None)
        training.supernet.net.train()
        training.backward(training.supernet.net, recipe, x, y)
        grads[accumulate] = {k: p.grad.clone() for k, p in training.supernet.net.named_parameters()}
    assert all(p is not None for p in grads["sum"].values()), "a fair group trains every op of every edge"
    for key, mean in grads["mean"].items():
        torch.testing.assert_close(grads["sum"][key], mean * 5, rtol=1e-4, atol=1e-6)
    # an op's gradient is that of the one path that took it: its extracted network's, trained alone
    path = next(a for a in OneShotTraining(space, training.config).paths(7)
                if a.stages[0].blocks[0].e01 == "nor_conv_3x3")
    supernet = CellSupernet(space, seed=0)
    model = supernet.extract(path).train()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    torch.testing.assert_close(grads["sum"]["stage1.block1.e01.nor_conv_3x3.conv.weight"],
                               model.get_submodule("stage1.block1.e01.conv").weight.grad, rtol=1e-4, atol=1e-6)


def test_a_few_shot_supernet_scores_a_path_in_the_sub_supernet_of_its_split_choice():
    space = one_shot(split="node1.in0")
    supernet = CellSupernet(space, seed=2)
    assert supernet.merged and sum(p.numel() for p in supernet.net.parameters()) == analyze(space.arch).params
    archs = paths(space)
    conv, other = (next(a for a in archs[3:] if a.stages[0].blocks[0].e01 == op) for op in ("nor_conv_3x3", "nor_conv_1x1"))
    x = torch.randn(4, *SHAPE)
    before = {id(a): supernet.extract(a).state_dict() for a in (conv, other)}
    supernet.unmerge()
    assert not supernet.merged
    for arch in (conv, other):  # split: each sub-supernet starts from the shared weights
        after = supernet.extract(arch).state_dict()
        assert all(torch.equal(after[k], before[id(arch)][k]) for k in after)
    with torch.no_grad():  # the 3x3 sub-supernet's weights move; the 1x1 one's path is unchanged
        supernet.net.get_submodule("stage1.block1.nor_conv_3x3.e02.nor_conv_3x3.conv").weight.add_(1.0)
    supernet.eval()
    for arch, moved in ((conv, True), (other, False)):
        model = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), supernet(x, arch), rtol=0, atol=1e-6)
        same = all(torch.equal(v, before[id(arch)][k]) for k, v in model.state_dict().items())
        assert same != (moved and arch.stages[0].blocks[0].e02 == "nor_conv_3x3"), arch
        assert sum(p.numel() for p in model.parameters()) == analyze(arch).params
    with pytest.raises(SpaceError, match="no parameter"):
        one_shot(split="node9.in0")


def test_a_few_shot_run_resumed_across_its_split_ends_bit_identical(tmp_path):
    data = load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_classes=5, synthetic_size=160, seed=0)
    space = get_space("nb201", args={**ARGS, "cells": 1})
    config = SupernetConfig(epochs=3, batch_size=16, calibration_images=32, sampling="uniform", split="node2.in1",
                            split_epoch=1)
    whole = train_supernet(space, data, config, tmp_path / "whole", device="cpu")
    train_supernet(space, data, config, tmp_path / "split", device="cpu", until_epoch=2)
    train_supernet(space, data, config, tmp_path / "split", device="cpu")
    (a, _), (b, _) = load_supernet(tmp_path / "whole"), load_supernet(tmp_path / "split")
    assert not a.merged and whole.finished
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    copies = {op: torch.cat([v.flatten().float() for k, v in sorted(sa.items()) if k.startswith(f"stage1.block1.{op}.")])
              for op in space.ops}
    assert len({tuple(c.tolist()) for c in copies.values()}) >= 4, "the copies trained apart after the split"
    with pytest.raises(ConfigError, match="never happens"):
        SupernetConfig(epochs=2, split="node1.in0", split_epoch=2)
