"""The nb201 space against a reference NAS-Bench-201 network written here after the paper's code.

``RefNetwork`` follows NAS-Bench-201's ``TinyNetwork`` / ``InferCell`` (Dong & Yang, 2020): every
edge a module (``none`` multiplies by zero), every node the sum of its edges, a ResNet basic
block with pre-activation convolutions and an average-pool shortcut between stages. nasbox's
analysis, its built model and ``nasbox show`` must agree with it on parameters, and the built
model on outputs once the reference's weights are copied in.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch
from torch import nn

from nasbox.cli import main
from nasbox.errors import SpaceError
from nasbox.model.analysis import analyze, constant_from
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from search_spaces.nb201 import EDGES, OPS, NB201Space, format_nb201, parse_nb201
from tests.spaces.support import text_round_trips

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, k, stride):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out))


class _Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def _ref_op(op, c):
    return {"none": _Zero, "skip_connect": nn.Identity,
            "nor_conv_1x1": lambda: _ReLUConvBN(c, c, 1, 1), "nor_conv_3x3": lambda: _ReLUConvBN(c, c, 3, 1),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False)}[op]()


class _RefCell(nn.Module):
    def __init__(self, cell, c):
        super().__init__()
        self.nodes = cell  # [[(op, input), ...] per node], NAS-Bench-201's genotype
        self.layers = nn.ModuleList(_ref_op(op, c) for node in cell for op, _ in node)

    def forward(self, x):
        states, k = [x], 0
        for node in self.nodes:
            states.append(sum(self.layers[k + n](states[i]) for n, (_, i) in enumerate(node)))
            k += len(node)
        return states[-1]


class _RefReduction(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class RefNetwork(nn.Module):
    def __init__(self, arch_str, c=16, n=5, classes=10, in_channels=3):
        super().__init__()
        cell = [[(entry.split("~")[0], int(entry.split("~")[1])) for entry in group.strip("|").split("|")]
                for group in arch_str.split("+")]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cells, prev = [], c
        for width, reduction in [(c, False)] * n + [(2 * c, True)] + [(2 * c, False)] * n + [(4 * c, True)] \
                + [(4 * c, False)] * n:
            cells.append(_RefReduction(prev, width) if reduction else _RefCell(cell, width))
            prev = width
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU())
        self.classifier = nn.Linear(prev, classes)

    def forward(self, x):
        return self.classifier(self.lastact(self.cells(self.stem(x))).mean((2, 3)))


def _params(module):
    return sum(p.numel() for p in module.parameters())


def _show_json(capsys, arch_str, *extra):
    capsys.readouterr()
    assert main(["show", "nb201", "--arch", arch_str, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("edge", "op"), list(itertools.product(EDGES, OPS)))
def test_params_of_show_equal_pytorchs_for_every_op_on_every_edge(capsys, edge, op):
    edges = {e: "avg_pool_3x3" for e in EDGES}  # a parameter-free background: the edge's own params show
    edges[edge] = op
    arch_str = format_nb201(edges)
    reference = _params(RefNetwork(arch_str))
    shown = _show_json(capsys, arch_str)
    assert shown["params"] == reference
    arch = get_space("nb201").parse_arch(arch_str)
    assert analyze(arch).params == _params(build_model(arch, seed=0)) == reference
    assert shown["arch_string"] == arch_str


def test_the_published_extremes_of_the_space_parameter_counts():
    """NAS-Bench-201 reports 0.073306 to 1.531546 million parameters for its CIFAR-10 networks."""
    space = get_space("nb201")
    counts = {op: analyze(space.network({e: op for e in EDGES})).params for op in OPS}
    assert counts["nor_conv_3x3"] == 1_531_546
    assert counts["none"] == counts["skip_connect"] == counts["avg_pool_3x3"] == 73_306


@pytest.mark.parametrize("seed", range(6))
def test_outputs_equal_the_reference_with_its_weights(seed):
    rng = random.Random(seed)
    arch_str = BEST if seed == 0 else format_nb201({e: rng.choice(OPS) for e in EDGES})
    space = NB201Space(channels=4, cells=2, input_shape=(3, 16, 16), num_classes=5)
    ours = build_model(space.parse_arch(arch_str), seed=seed).eval()
    torch.manual_seed(seed)
    ref = RefNetwork(arch_str, c=4, n=2, classes=5).eval()
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics that are not the identity, so that they must match
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    # the reference holds a module for every edge; nasbox none for "none" edges (nothing to hold)
    ref_state = [v for k, v in ref.state_dict().items() if "num_batches" not in k]
    our_keys = [k for k in ours.state_dict() if "num_batches" not in k]
    assert len(ref_state) == len(our_keys)
    ours.load_state_dict({k: v for k, v in zip(our_keys, ref_state, strict=True)}, strict=False)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


def test_arch_strings_round_trip_through_the_space():
    space = get_space("nb201", input_shape=(1, 28, 28), num_classes=10)
    for params, text in text_round_trips(space):
        assert parse_nb201(text) == {(i, j): params[f"node{j}.in{i}"] for i, j in EDGES}
    assert format_nb201(parse_nb201(BEST)) == BEST


@pytest.mark.parametrize(("text", "needle"), [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "3 node groups"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|none~1|none~2|", "node 2"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NAS-Bench-201 op 'conv_5x5'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "'op~0'"),
])
def test_a_malformed_arch_string_is_one_clear_error(capsys, text, needle):
    with pytest.raises(SpaceError, match=needle):
        get_space("nb201").parse_arch(text)
    assert main(["show", "nb201", "--arch", text]) == 2
    err = capsys.readouterr().err.strip()
    assert needle.strip("'") in err and len(err.splitlines()) == 1


def test_an_op_outside_the_spaces_bounds_is_refused():
    space = get_space("nb201", args={"ops": "none,nor_conv_3x3"})
    with pytest.raises(SpaceError, match="do not fit"):
        space.parse_arch(BEST)


def test_an_encoding_of_another_skeleton_is_refused():
    """nasbox's encoding is read only for a network of this space's bounds (C, N), not any decodable one."""
    wide = get_space("nb201").parse_arch(BEST)
    with pytest.raises(SpaceError, match="not a network of space 'nb201' with its bounds"):
        get_space("nb201", args={"channels": "8"}).parse_arch(wide.encode())
    with pytest.raises(SpaceError, match="not a NAS-Bench-201 network"):
        get_space("nb201").parse_arch(get_space("seed_cnn").example().encode())


def test_disconnected_cells_are_recognised_analytically_and_compute_a_constant():
    """Every cell with 'none' or one other op per edge: the analysis says a cell is disconnected
    exactly when two different batches give the same output from a built (untrained) network."""
    space = NB201Space(channels=4, cells=1, input_shape=(3, 8, 8), num_classes=3)
    x1, x2 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    seen = {True: 0, False: 0}
    for pattern in itertools.product((False, True), repeat=len(EDGES)):  # which edges are live
        op = OPS[2 + sum(pattern) % 3]  # convs and the pool in turn
        arch = space.network({e: op if live else "none" for e, live in zip(EDGES, pattern, strict=True)})
        model = build_model(arch, seed=1).eval()
        with torch.no_grad():
            constant = torch.equal(model(x1), model(x2))
        assert (constant_from(arch) is not None) == constant, space.arch_string(arch)
        seen[constant] += 1
    assert seen[True] > 5 and seen[False] > 5


def test_unused_edges_cost_no_macs_but_keep_their_parameters():
    space = get_space("nb201")
    # node 1 feeds nothing (e12 and e13 are none): the conv on e01 is never needed
    arch = space.parse_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    rows = {r.name: r for r in analyze(arch).layers}
    assert rows["stage1.block1.e01"].macs == 0 and rows["stage1.block1.e01"].params == 16 * 16 * 9 + 32
    assert "unused" in rows["stage1.block1.e01"].op and rows["stage1.block1.e02"].macs > 0


@pytest.mark.slow  # 12 s: a whole search on NB201
def test_a_search_scores_disconnected_cells_at_chance_without_training_them(tmp_path, monkeypatch):
    import nasbox.evaluate.brief
    from nasbox.search import SearchConfig, run_search
    from tests.report.support import DATA

    trained = []
    real = nasbox.evaluate.brief.train_model

    def counting(model, *args, **kwargs):
        trained.append(model.arch.arch_id)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", counting)
    config = SearchConfig(space="nb201", space_args={"channels": "4", "cells": "1", "ops": "none,nor_conv_1x1"},
                          dataset="synthetic", dataset_options=DATA, iterations=2, batch_size=32, budget=10,
                          objectives=("accuracy", "macs"), reports_dir=str(tmp_path), device="cpu",
                          sampler="random", seed=3, study="cells")
    df = run_search(config).trials
    done = df[df["status"] == "complete"]
    cut = done[done["disconnected"].notna()]
    assert len(cut) >= 1 and len(done) - len(cut) >= 1
    assert (cut["accuracy"] == 0.1).all() and (cut["disconnected"] == "stage1.block1").all()
    assert cut["train_seconds"].isna().all()
    assert sorted(trained) == sorted(done[done["disconnected"].isna()]["arch_id"])
    space = get_space("nb201", input_shape=(3, 16, 16), args={"channels": "4", "cells": "1", "ops": "none,nor_conv_1x1"})
    for _, row in done.iterrows():  # the analysis' verdict, from the genotype the trial recorded
        arch = space.parse_arch(row["encoding"])
        assert (constant_from(arch) is not None) == isinstance(row["disconnected"], str)
