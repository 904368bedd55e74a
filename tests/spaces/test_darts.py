"""The darts space against a reference DARTS network written here after the paper's code.

``RefNetworkCIFAR`` follows ``operations.py`` and ``model.py`` of DARTS' reference code (Liu et al.,
2019; quark0/darts), in eval form: no auxiliary head, no drop-path. Every op is a module (``none``
multiplies by zero), a cell's nodes sum two ops on earlier states and its output concatenates its
four nodes. nasbox's analysis, its built model and ``nasbox show`` must agree with it on parameters,
the built model on outputs once the reference's weights are copied in, the analysis with fvcore on
MACs.
"""

from __future__ import annotations

import json
import random
import warnings
from collections import namedtuple

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from nasbox.cli import main
from nasbox.errors import ShapeError, SpaceError
from nasbox.model.analysis import analyze, constant_from
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from search_spaces.darts import CELLS, DARTS_V2, OPS, DartsCells, DartsSpace, format_cell, parse_cell, parse_genotype
from tests.spaces.support import text_round_trips

# --------------------------------------------------------------------------- the reference (operations.py)


class _ReLUConvBN(nn.Module):
    def __init__(self, c_in, c_out, kernel_size, stride, padding):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
                                nn.BatchNorm2d(c_out))

    def forward(self, x):
        return self.op(x)


class _DilConv(nn.Module):
    def __init__(self, c_in, c_out, kernel_size, stride, padding, dilation):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out))

    def forward(self, x):
        return self.op(x)


class _SepConv(nn.Module):
    def __init__(self, c_in, c_out, kernel_size, stride, padding):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out))

    def forward(self, x):
        return self.op(x)


class _Identity(nn.Module):
    def forward(self, x):
        return x


class _Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.)
        return x[:, :, ::self.stride, ::self.stride].mul(0.)


class _FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        assert c_out % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


_REF_OPS = {
    "none": lambda c, stride: _Zero(stride),
    "avg_pool_3x3": lambda c, stride: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, stride: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda c, stride: _Identity() if stride == 1 else _FactorizedReduce(c, c),
    "sep_conv_3x3": lambda c, stride: _SepConv(c, c, 3, stride, 1),
    "sep_conv_5x5": lambda c, stride: _SepConv(c, c, 5, stride, 2),
    "dil_conv_3x3": lambda c, stride: _DilConv(c, c, 3, stride, 2, 2),
    "dil_conv_5x5": lambda c, stride: _DilConv(c, c, 5, stride, 4, 2),
}

# --------------------------------------------------------------------------- the reference (genotypes.py, model.py)

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

REF_DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)], normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1), ("max_pool_3x3", 0),
            ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)], reduce_concat=[2, 3, 4, 5])


class _Cell(nn.Module):
    def __init__(self, genotype, c_prev_prev, c_prev, c, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = _FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = _ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = _ReLUConvBN(c_prev, c, 1, 1, 0)
        if reduction:
            op_names, indices = zip(*genotype.reduce, strict=True)
            concat = genotype.reduce_concat
        else:
            op_names, indices = zip(*genotype.normal, strict=True)
            concat = genotype.normal_concat
        self._steps = len(op_names) // 2
        self._concat = concat
        self.multiplier = len(concat)
        self._ops = nn.ModuleList()
        for name, index in zip(op_names, indices, strict=True):
            stride = 2 if reduction and index < 2 else 1
            self._ops += [_REF_OPS[name](c, stride)]
        self._indices = indices

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self._steps):
            h1 = self._ops[2 * i](states[self._indices[2 * i]])
            h2 = self._ops[2 * i + 1](states[self._indices[2 * i + 1]])
            states += [h1 + h2]
        return torch.cat([states[i] for i in self._concat], dim=1)


class RefNetworkCIFAR(nn.Module):
    def __init__(self, c, num_classes, layers, genotype, in_channels=3):
        super().__init__()
        stem_multiplier = 3
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            if i in [layers // 3, 2 * layers // 3]:
                c_curr *= 2
                reduction = True
            else:
                reduction = False
            cell = _Cell(genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells += [cell]
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))


# --------------------------------------------------------------------------- helpers


def _ref(normal, reduce, c, n, classes=10, in_channels=3):
    return RefNetworkCIFAR(c, classes, 3 * n + 2, Genotype(list(normal), [2, 3, 4, 5], list(reduce), [2, 3, 4, 5]),
                           in_channels)


def _params(module):
    return sum(p.numel() for p in module.parameters())


def _space(c, n, **kwargs):
    return DartsSpace(channels=c, cells=n, **kwargs)


def _random_cell(rng, ops=OPS):
    return tuple((rng.choice(ops), rng.randrange(i // 2 + 2)) for i in range(8))


def _fvcore(model, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        count = FlopCountAnalysis(model, torch.zeros(1, *shape)).unsupported_ops_warnings(False)
        return count.uncalled_modules_warnings(False).total()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


V2_TEXT = str(REF_DARTS_V2)


# --------------------------------------------------------------------------- parameters


def test_darts_v2_at_the_papers_evaluation_size_has_the_references_parameters(capsys):
    """C = 36, 20 cells (N = 6), CIFAR-10: 3,349,342 parameters (the paper's 3.3M, its auxiliary head aside)."""
    reference = _params(_ref(DARTS_V2["normal"], DARTS_V2["reduce"], 36, 6))
    space = get_space("darts", args={"channels": "36", "cells": "6"})
    arch = space.parse_arch(V2_TEXT)
    assert analyze(arch).params == _params(build_model(arch, seed=0)) == reference == 3_349_342
    capsys.readouterr()
    assert main(["show", "darts", "--arch", V2_TEXT, "--space-arg", "channels=36", "--space-arg", "cells=6", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"] == reference and shown["arch_string"] == V2_TEXT


def test_darts_v2_at_the_search_size_has_the_references_parameters():
    """C = 16, 8 cells (N = 2), the network DARTS searched in (with the derived cells)."""
    reference = _params(_ref(DARTS_V2["normal"], DARTS_V2["reduce"], 16, 2))
    arch = _space(16, 2).network(DARTS_V2["normal"], DARTS_V2["reduce"])
    assert analyze(arch).params == _params(build_model(arch, seed=0)) == reference == 246_106


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("op", OPS)
def test_params_equal_the_references_for_every_op_in_either_cell(capsys, cell, op):
    cells = dict(DARTS_V2)
    cells[cell] = tuple((op, source) for _, source in DARTS_V2["normal" if cell == "normal" else "reduce"])
    reference = _params(_ref(cells["normal"], cells["reduce"], 16, 2))
    space = _space(16, 2)
    arch = space.network(cells["normal"], cells["reduce"])
    assert analyze(arch).params == _params(build_model(arch, seed=0)) == reference
    text = space.arch_string(arch)
    assert text == str(Genotype(list(cells["normal"]), [2, 3, 4, 5], list(cells["reduce"]), [2, 3, 4, 5]))
    capsys.readouterr()
    assert main(["show", "darts", "--arch", text, "--space-arg", "cells=2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == reference


def test_analysis_rows_are_the_built_modules_and_their_parameters():
    arch = _space(8, 1).network(DARTS_V2["normal"], _random_cell(random.Random(4)))
    model = build_model(arch, seed=0)
    modules = dict(model.named_modules())
    rows = analyze(arch).layers
    for row in rows:
        assert row.name in modules, row
        assert _params(modules[row.name]) == row.params, row
    names = {r.name for r in rows}
    assert {"stage1.block1.cell1.pre0", "stage1.block1.cell2.pre1", "stage1.block1.cell5.node3.op1"} <= names
    # every parameter of the model lies in exactly one row's module
    assert sum(r.params for r in rows) == _params(model)


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("seed", range(6))
def test_outputs_equal_the_reference_with_its_weights(seed):
    rng = random.Random(seed)
    if seed == 0:
        normal, reduce = DARTS_V2["normal"], DARTS_V2["reduce"]
    else:  # some cells with none ops (zeros), equal inputs, unread inputs
        normal, reduce = _random_cell(rng), _random_cell(rng)
    n = 1 + seed % 2
    space = DartsSpace(channels=4, cells=n, input_shape=(3, 16, 16), num_classes=5)
    ours = build_model(space.network(normal, reduce), seed=seed).eval()
    torch.manual_seed(seed)
    ref = _ref(normal, reduce, 4, n, classes=5).eval()
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics that are not the identity, so that they must match
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    ref_state = [v for k, v in ref.state_dict().items() if "num_batches" not in k]
    our_keys = [k for k in ours.state_dict() if "num_batches" not in k]
    assert len(ref_state) == len(our_keys)
    ours.load_state_dict(dict(zip(our_keys, ref_state, strict=True)), strict=False)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["dil_conv_3x3", "dil_conv_5x5"])
def test_an_ops_weight_gradient_in_bf16_and_channels_last_on_a_cpu_is_the_fp32_one(op):
    """How nasbox trains on a CPU with native bf16 (AMX, AVX-512 BF16): bf16 autocast, model and input
    channels_last. PyTorch's CPU kernel for a dilated depthwise convolution's weight gradient returns garbage
    there (1e30 and more, or NaN, with torch 2.14, on a 32x32 map; not on 16x16); ``DilatedDepthwiseConv2d``
    computes it in NCHW."""
    from search_spaces.darts_modules import _darts_op

    torch.manual_seed(0)
    module = _darts_op(op, 8, 1)
    x = torch.randn(8, 8, 32, 32)
    y = module(x)
    grad = torch.randn_like(y)
    y.backward(grad)
    expected = {name: p.grad.clone() for name, p in module.named_parameters() if p.dim() == 4}
    module.zero_grad()
    module.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x.contiguous(memory_format=torch.channels_last))
    y.backward(grad.to(y.dtype))
    for name, want in expected.items():
        got = dict(module.named_parameters())[name].grad
        assert torch.isfinite(got).all(), name
        assert (got - want).norm() <= 0.05 * want.norm(), name  # bf16's rounding: about 1 %; the bug: 100 % or more


def test_a_network_whose_output_no_op_links_to_its_input_is_recognised_as_constant():
    """The analysis says a network is constant exactly when two batches give the same output."""
    rng = random.Random(1)
    space = DartsSpace(channels=2, cells=1, input_shape=(3, 8, 8), num_classes=3)
    x1, x2 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    seen = {True: 0, False: 0}
    for _ in range(40):
        normal, reduce = (_random_cell(rng, ("none",) * 5 + ("skip_connect", "avg_pool_3x3", "sep_conv_3x3"))
                          for _ in CELLS)
        arch = space.network(normal, reduce)
        model = build_model(arch, seed=1).eval()
        with torch.no_grad():
            constant = torch.equal(model(x1), model(x2))
        assert (constant_from(arch) is not None) == constant, space.arch_string(arch)
        seen[constant] += 1
    assert seen[True] >= 3 and seen[False] >= 3


# --------------------------------------------------------------------------- MACs


def test_macs_equal_fvcores_on_ours_and_on_the_reference():
    rng = random.Random(7)
    no_none = OPS[:-1]
    genotypes = [(DARTS_V2["normal"], DARTS_V2["reduce"])] + [(_random_cell(rng, no_none), _random_cell(rng, no_none))
                                                              for _ in range(3)]
    shape = (3, 32, 32)
    for normal, reduce in genotypes:
        arch = _space(8, 1).network(normal, reduce)
        macs = analyze(arch).macs
        assert _fvcore(build_model(arch, seed=0).eval(), shape) == macs
        # without none ops the reference computes what nasbox does (its zeros keep their inputs alive)
        assert _fvcore(_ref(normal, reduce, 8, 1).eval(), shape) == macs


@pytest.mark.parametrize("case", ["none ops", "inputs unread", "cells unread", "all none"])
def test_macs_equal_fvcores_where_parts_are_not_computed(case):
    rng = random.Random(3)
    normal, reduce = DARTS_V2["normal"], DARTS_V2["reduce"]
    if case == "none ops":
        normal, reduce = _random_cell(rng), _random_cell(rng)
    elif case == "inputs unread":  # pre1 computes nothing: every op reads state 0 or a node
        normal = tuple(("sep_conv_3x3", 0 if i < 2 else i // 2 + 1) for i in range(8))
    elif case == "cells unread":  # every op reads state 0: the last cell but one is read by no cell
        normal = reduce = tuple(("dil_conv_3x3", 0) for _ in range(8))
    else:
        normal = tuple(("none", 0) for _ in range(8))
    arch = _space(8, 2).network(normal, reduce)
    info = analyze(arch)
    assert _fvcore(build_model(arch, seed=0).eval(), (3, 32, 32)) == info.macs
    uncomputed = [r for r in info.layers if "not computed" in r.op]
    assert all(r.macs == 0 for r in uncomputed)
    if case != "none ops":
        assert uncomputed
    if case == "cells unread":
        assert any(r.name.startswith("stage1.block1.cell7.") for r in uncomputed)


# --------------------------------------------------------------------------- DARTS' genotype text


def test_darts_v2_text_round_trips():
    space = get_space("darts")
    arch = space.parse_arch(V2_TEXT)
    assert arch == space.network(DARTS_V2["normal"], DARTS_V2["reduce"])
    assert space.arch_string(arch) == V2_TEXT
    assert parse_genotype(V2_TEXT) == DARTS_V2
    derived = str(REF_DARTS_V2._replace(normal_concat=range(2, 6), reduce_concat=range(2, 6)))
    assert "range(2, 6)" in derived and space.parse_arch(derived) == arch  # model_search.genotype()'s concat
    tuples = str(REF_DARTS_V2._replace(normal=tuple(REF_DARTS_V2.normal)))
    assert space.parse_arch(tuples) == arch
    assert space.parse_arch(arch.encode()) == arch  # nasbox's encoding is read too
    block = arch.stages[0].blocks[0]
    assert isinstance(block, DartsCells) and block.normal == "sep3~0-sep3~1-sep3~0-sep3~1-sep3~1-skip~0-skip~0-dil3~2"
    assert "_ncsep3~0-sep3~1-" in arch.encode() and "_rcmax3~0-max3~1-skip~2-" in arch.encode()


def test_sampled_genotypes_round_trip_through_darts_text():
    space = get_space("darts", input_shape=(1, 28, 28), num_classes=10)
    for params, text in text_round_trips(space):
        cells = parse_genotype(text)
        for cell in CELLS:
            assert cells[cell] == tuple((params[f"{cell}.node{i // 2}.op{i % 2}"], params[f"{cell}.node{i // 2}.in{i % 2}"])
                                        for i in range(8))
            assert parse_cell(format_cell(cells[cell])) == cells[cell]


_V2_NORMAL = str(REF_DARTS_V2.normal)
_V2_REDUCE = str(REF_DARTS_V2.reduce)


@pytest.mark.parametrize(("text", "needle"), [
    pytest.param("Genotype(normal=[", "not Python syntax", id="syntax"),
    pytest.param("Genotype(normal=[], normal_concat=[2, 3, 4, 5])", "lacks reduce, reduce_concat", id="missing"),
    pytest.param(V2_TEXT[:-1] + ", x=1)", "has the fields", id="unknown-field"),
    pytest.param(V2_TEXT.replace("normal_concat=", "reduce=", 1), "gives reduce twice", id="twice"),
    pytest.param(V2_TEXT.replace(_V2_NORMAL, _V2_NORMAL[:-1] + ", ('none', 0)]"), "normal must list 8 (op, input) pairs",
                 id="nine-pairs"),
    pytest.param(V2_TEXT.replace("dil_conv_3x3", "conv_7x1_1x7"), "unknown DARTS op 'conv_7x1_1x7'", id="op"),
    pytest.param(V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "node 3 reads a state among 0..4",
                 id="input-late"),
    pytest.param(V2_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 2)", 1), "node 0 reads a state among 0..1",
                 id="input-early"),
    pytest.param(V2_TEXT.replace("('max_pool_3x3', 0)", "('max_pool_3x3', '0')", 1),
                 "entry 1 of reduce must be an (op, input)", id="pair"),
    pytest.param(V2_TEXT.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[4, 5]"),
                 "reduce_concat must be [2, 3, 4, 5]", id="concat"),
    pytest.param(V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 5)"), "normal_concat must be",
                 id="concat-range"),
    pytest.param("Genotype(normal=__import__('os').system('true'))", "lacks", id="call"),
    pytest.param(V2_TEXT.replace(_V2_NORMAL, "__import__('os').getcwd()"), "normal must list 8 (op, input) pairs",
                 id="call-in-cell"),
    pytest.param("Genotypes(1)", "reads Genotype(", id="name"),
    pytest.param("bad", "nor DARTS' genotype text, Genotype(normal=[('op', input), ...]", id="neither"),
])
def test_malformed_genotype_text_is_one_clear_error(capsys, text, needle):
    with pytest.raises(SpaceError) as caught:
        get_space("darts").parse_arch(text)
    assert needle in str(caught.value)
    capsys.readouterr()
    assert main(["show", "darts", "--arch", text]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("error: ")


def test_an_op_outside_the_spaces_bounds_is_refused():
    space = get_space("darts", args={"ops": "sep_conv_3x3,max_pool_3x3"})
    with pytest.raises(SpaceError, match="do not fit"):
        space.parse_arch(V2_TEXT)


def test_cells_and_bounds_are_checked():
    with pytest.raises(ValueError, match="8 'op~input' entries"):
        DartsCells(16, 1, "sep3~0", format_cell(DARTS_V2["reduce"]))
    with pytest.raises(ValueError, match="entry 2"):
        DartsCells(16, 1, "sep3~0-conv~1-sep3~0-sep3~1-sep3~1-skip~0-skip~0-dil3~2", format_cell(DARTS_V2["reduce"]))
    with pytest.raises(ValueError, match="node 0 reads"):
        DartsCells(16, 1, "sep3~2-sep3~1-sep3~0-sep3~1-sep3~1-skip~0-skip~0-dil3~2", format_cell(DARTS_V2["reduce"]))
    with pytest.raises(ValueError, match="cells must be an integer"):
        DartsCells(16, 0, format_cell(DARTS_V2["normal"]), format_cell(DARTS_V2["reduce"]))
    with pytest.raises(SpaceError, match="multiples of 4"):
        get_space("darts", input_shape=(3, 30, 30))
    with pytest.raises(SpaceError, match="ops must come from"):
        DartsSpace(ops=("sep_conv_7x7",))
    arch = _space(8, 1).network(DARTS_V2["normal"], DARTS_V2["reduce"])
    odd = Architecture.from_dict({**arch.to_dict(), "input_shape": [3, 6, 6]})  # 6 -> 3: the second reduction fails
    with pytest.raises(ShapeError, match="cell5.pre0.*even map"):
        analyze(odd)


def test_the_space_offers_every_slot_and_its_first_choice_is_a_network():
    space = get_space("darts")
    params = space.parameters()
    assert len(params) == 2 * 2 * 8
    assert params["reduce.node3.in1"] == ("categorical", (0, 1, 2, 3, 4))
    assert params["normal.node0.op0"] == ("categorical", OPS)
    assert space.size() == (8 ** 8 * (2 * 3 * 4 * 5) ** 2) ** 2
    example = space.example()
    assert constant_from(example) is None and analyze(example).body_shape == (4 * 4 * 16, 8, 8)


def test_a_mixed_stacks_ops_round_trip_through_their_codes_and_bad_codes_are_refused():
    from nasbox.spaces import format_ops, parse_ops
    from search_spaces.darts import DartsMixedCells
    from search_spaces.darts_text import CODES

    assert parse_ops(format_ops(OPS, CODES), CODES) == OPS
    assert DartsMixedCells(4, 1, format_ops(("skip_connect", "sep_conv_3x3"), CODES)).op_names() == (
        "skip_connect", "sep_conv_3x3")
    for bad in ("sep3-sep3", "sep3-conv9", "sep3-"):
        with pytest.raises(ValueError, match="distinct codes"):
            DartsMixedCells(4, 1, bad)
