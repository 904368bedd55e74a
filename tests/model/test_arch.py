"""Tests of the genotype (nasbox.model.arch): immutability, serialisation, ids, and no torch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from tests.model.support import BLOCK_CLASSES, every_block_arch, sample_archs

ROOT = Path(__file__).resolve().parents[2]  # the project: the tests import as tests.model.support


def _frozen_cases():
    a = every_block_arch()
    return [
        (ConvBlock(8), "out_channels", 9),
        (ResidualBlock(8), "stride", 2),
        (DepthwiseSeparable(8), "kernel", 5),
        (InvertedResidual(8), "expansion", 4.0),
        (Inception(1, 1, 1, 1, 1, 1), "b1", 2),
        (Pool(), "kind", "avg"),
        (Pool(), "padding", 1),
        (Stage(), "blocks", ()),
        (FC(8), "width", 9),
        (Head(), "pool", "flatten"),
        (a, "num_classes", 3),
        (a, "resolution", None),
    ]


@pytest.mark.parametrize(("obj", "name", "value"), _frozen_cases())
def test_frozen(obj, name, value):
    before = getattr(obj, name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, value)
    assert getattr(obj, name) == before


def test_hashable_and_equal_by_value():
    a, b = every_block_arch(), every_block_arch()
    assert a is not b and a == b and hash(a) == hash(b)
    assert len({a, b, sample_archs()[1]}) == 2


def _is_plain(x) -> bool:
    if isinstance(x, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in x.items())
    if isinstance(x, list):
        return all(_is_plain(v) for v in x)
    return x is None or isinstance(x, (str, int, float, bool))


@pytest.mark.parametrize("arch", sample_archs(), ids=lambda a: a.arch_id)
def test_dict_json_and_string_round_trips(arch):
    d = arch.to_dict()
    assert _is_plain(d)
    assert Architecture.from_dict(d) == arch
    assert Architecture.from_dict(json.loads(json.dumps(d))) == arch
    assert Architecture.from_json(arch.to_json()) == arch
    assert Architecture.from_json(arch.to_json(indent=2)) == arch
    text = arch.encode()
    assert str(arch) == text
    decoded = Architecture.decode(text)
    assert decoded == arch
    assert decoded.encode() == text
    assert decoded.arch_id == arch.arch_id
    assert "\n" not in text


def test_to_dict_does_not_alias_and_is_a_fresh_copy():
    a = every_block_arch()
    d = a.to_dict()
    d["stages"][0]["blocks"][0]["out_channels"] = 999
    assert a.to_dict()["stages"][0]["blocks"][0]["out_channels"] == 8


def test_every_block_arch_really_covers_everything():
    a = every_block_arch()
    blocks = [b for _, s in a.named_stages() for b in s.blocks]
    assert {type(b) for b in blocks} == set(BLOCK_CLASSES)
    assert {s.pool.kind for _, s in a.named_stages() if s.pool} == {"max", "avg", "min"}
    assert {f.act for f in a.head.fc} >= {"leaky_relu"}
    assert {(b.bn, b.bias) for b in blocks if isinstance(b, ConvBlock)} >= {(False, None), (True, True), (False, False)}


def _canonical_id(a: Architecture) -> str:
    canonical = json.dumps(a.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def test_arch_id_is_sha256_of_canonical_json():
    for a in sample_archs():
        assert len(a.arch_id) == 12 and int(a.arch_id, 16) >= 0
        assert a.arch_id == _canonical_id(a)
    assert len({a.arch_id for a in sample_archs()}) == len(sample_archs())


def test_arch_id_stable_across_processes():
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from tests.model.support import sample_archs; "
        "print(json.dumps([a.arch_id for a in sample_archs()]))"
    )
    here = [a.arch_id for a in sample_archs()]
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                             env=env, check=True, timeout=60)
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here


# alternative valid values for every field of every genotype class
_ALTERNATIVES = {
    ConvBlock: {"out_channels": 9, "kernel": 5, "stride": 2, "act": "gelu", "bn": False, "bias": True},
    ResidualBlock: {"out_channels": 9, "kernel": 5, "stride": 2, "act": "gelu", "n_convs": 3, "se_ratio": 0.25},
    DepthwiseSeparable: {"out_channels": 9, "kernel": 5, "stride": 2, "act": "gelu", "se_ratio": 0.25},
    InvertedResidual: {"out_channels": 9, "kernel": 5, "stride": 2, "expansion": 4, "act": "gelu", "se_ratio": 0.25},
    Inception: {"b1": 9, "b3_reduce": 9, "b3": 9, "b5_reduce": 9, "b5": 9, "pool_proj": 9, "k5": 3, "act": "gelu"},
    Pool: {"kind": "min", "kernel": 3, "stride": 1, "padding": 1},
    FC: {"width": 9, "act": "gelu", "dropout": 0.5},
    Head: {"pool": "flatten", "fc": (FC(5),), "dropout": 0.5},
}


def test_arch_id_changes_when_any_field_changes():
    base_blocks = {
        ConvBlock: ConvBlock(8),
        ResidualBlock: ResidualBlock(8),
        DepthwiseSeparable: DepthwiseSeparable(8),
        InvertedResidual: InvertedResidual(8),
        Inception: Inception(2, 2, 2, 2, 2, 2),
    }
    base = Architecture((3, 16, 16), 10, (Stage(tuple(base_blocks.values()), Pool()),),
                        head=Head(fc=(FC(16),)), stem=Stage((ConvBlock(4),)))
    seen = {base.arch_id: "base"}
    variants: dict[str, Architecture] = {}
    for cls, alts in _ALTERNATIVES.items():
        assert set(alts) == {f.name for f in dataclasses.fields(cls)}, f"{cls.__name__}: a field has no mutation"
    for i, (cls, block) in enumerate(base_blocks.items()):
        for name, value in _ALTERNATIVES[cls].items():
            blocks = list(base.stages[0].blocks)
            blocks[i] = dataclasses.replace(block, **{name: value})
            variants[f"{cls.__name__}.{name}"] = dataclasses.replace(
                base, stages=(Stage(tuple(blocks), base.stages[0].pool),))
    for name, value in _ALTERNATIVES[Pool].items():
        stage = Stage(base.stages[0].blocks, dataclasses.replace(Pool(), **{name: value}))
        variants[f"Pool.{name}"] = dataclasses.replace(base, stages=(stage,))
    variants["Stage.pool=None"] = dataclasses.replace(base, stages=(Stage(base.stages[0].blocks),))
    for name, value in _ALTERNATIVES[FC].items():
        head = dataclasses.replace(base.head, fc=(dataclasses.replace(base.head.fc[0], **{name: value}),))
        variants[f"FC.{name}"] = dataclasses.replace(base, head=head)
    for name, value in _ALTERNATIVES[Head].items():
        variants[f"Head.{name}"] = dataclasses.replace(base, head=dataclasses.replace(base.head, **{name: value}))
    arch_alts = {
        "input_shape": (1, 16, 16),
        "num_classes": 11,
        "stages": base.stages * 2,
        "head": Head(),
        "stem": Stage(),
        "resolution": 24,
    }
    assert set(arch_alts) == {f.name for f in dataclasses.fields(Architecture)}
    for name, value in arch_alts.items():
        variants[f"Architecture.{name}"] = dataclasses.replace(base, **{name: value})
    variants["input_shape H"] = dataclasses.replace(base, input_shape=(3, 17, 16))
    variants["input_shape W"] = dataclasses.replace(base, input_shape=(3, 16, 17))
    variants["block order"] = dataclasses.replace(
        base, stages=(Stage(tuple(reversed(base.stages[0].blocks)), base.stages[0].pool),))
    for label, v in variants.items():
        assert v != base, label
        assert v.arch_id not in seen, (label, seen.get(v.arch_id))
        seen[v.arch_id] = label
        assert Architecture.decode(v.encode()) == v, label
        assert Architecture.from_dict(v.to_dict()) == v, label


def test_int_and_float_spellings_give_one_id():
    def arch(expansion, se, drop, hdrop):
        return Architecture(
            (3, 16, 16), 10,
            (Stage((InvertedResidual(16, expansion=expansion, se_ratio=se), ResidualBlock(16, se_ratio=se))),),
            head=Head(fc=(FC(8, dropout=drop),), dropout=hdrop),
        )

    a, b = arch(6, 0, 0, 0), arch(6.0, 0.0, 0.0, 0.0)
    assert a == b and a.arch_id == b.arch_id and a.encode() == b.encode()
    c, d = arch(2, 1, 0, 0), arch(2.0, 1.0, 0.0, 0.0)
    assert c == d and c.arch_id == d.arch_id
    assert a.arch_id != c.arch_id
    data = a.to_dict()
    data["stages"][0]["blocks"][0]["expansion"] = 6  # an int in JSON
    assert Architecture.from_dict(data).arch_id == a.arch_id


def test_explicit_default_bias_is_the_same_genotype():
    def arch(block):
        return Architecture((1, 8, 8), 2, (Stage((block,)),))

    assert arch(ConvBlock(8, bias=False)).arch_id == arch(ConvBlock(8)).arch_id
    assert arch(ConvBlock(8, bn=False, bias=True)).arch_id == arch(ConvBlock(8, bn=False)).arch_id
    assert arch(ConvBlock(8, bias=True)).arch_id != arch(ConvBlock(8)).arch_id
    assert arch(ConvBlock(8, bn=False, bias=False)).arch_id != arch(ConvBlock(8, bn=False)).arch_id
    assert ConvBlock(8, bias=True).has_bias and not ConvBlock(8).has_bias
    assert ConvBlock(8, bn=False).has_bias and not ConvBlock(8, bn=False, bias=False).has_bias


def test_equal_genotypes_have_equal_ids_signed_zero():
    a = Architecture((1, 8, 8), 3, (Stage((ResidualBlock(4, se_ratio=-0.0),)),))
    b = Architecture((1, 8, 8), 3, (Stage((ResidualBlock(4, se_ratio=0.0),)),))
    assert a == b
    assert a.arch_id == b.arch_id


def _base_dict() -> dict:
    return every_block_arch().to_dict()


def _mutate(path, value=None, delete=False):
    def go():
        d = _base_dict()
        node = d
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return d

    return go


BAD_DICTS = [
    ("unknown top-level", _mutate(("colour",), "red"), "colour"),
    ("missing input_shape", _mutate(("input_shape",), delete=True), "input_shape"),
    ("missing num_classes", _mutate(("num_classes",), delete=True), "num_classes"),
    ("missing stages", _mutate(("stages",), delete=True), "stages"),
    ("num_classes str", _mutate(("num_classes",), "10"), "num_classes"),
    ("num_classes float", _mutate(("num_classes",), 10.0), "num_classes"),
    ("input_shape int", _mutate(("input_shape",), 28), ""),
    ("input_shape short", _mutate(("input_shape",), [1, 28]), "input_shape"),
    ("resolution str", _mutate(("resolution",), "32"), "resolution"),
    ("stages int", _mutate(("stages",), 5), ""),
    ("stage not object", _mutate(("stages", 0), "cn_c8"), "stage"),
    ("block without type", _mutate(("stages", 0, "blocks", 0), {"out_channels": 8}), "type"),
    ("unknown block type", _mutate(("stages", 0, "blocks", 0), {"type": "transformer"}), "transformer"),
    ("unknown block field", _mutate(("stages", 0, "blocks", 0, "colour"), "red"), "colour"),
    ("missing block field", _mutate(("stages", 0, "blocks", 0, "out_channels"), delete=True), "out_channels"),
    ("kernel float", _mutate(("stages", 0, "blocks", 0, "kernel"), 3.0), "kernel"),
    ("kernel str", _mutate(("stages", 0, "blocks", 0, "kernel"), "3"), "kernel"),
    ("bn int", _mutate(("stages", 0, "blocks", 0, "bn"), 0), "bn"),
    ("expansion str", _mutate(("stages", 2, "blocks", 2, "expansion"), "4"), "expansion"),
    ("pool unknown key", _mutate(("stages", 0, "pool", "size"), 2), "size"),
    ("pool string", _mutate(("stages", 0, "pool"), "max"), ""),
    ("pool kind", _mutate(("stages", 0, "pool", "kind"), "median"), "kind"),
    ("head string", _mutate(("head",), "gap"), "head"),
    ("head pool", _mutate(("head", "pool"), "max"), "pool"),
    ("fc missing width", _mutate(("head", "fc", 0, "width"), delete=True), "width"),
    ("fc unknown key", _mutate(("head", "fc", 0, "units"), 8), "units"),
    ("fc dropout", _mutate(("head", "fc", 0, "dropout"), 1.5), "dropout"),
    ("stem not object", _mutate(("stem",), [1, 2]), "stage"),
]


@pytest.mark.parametrize(("label", "make", "needle"), BAD_DICTS, ids=[c[0] for c in BAD_DICTS])
def test_from_dict_rejects_malformed_input(label, make, needle):
    with pytest.raises(ValueError, match=needle or None):
        Architecture.from_dict(make())


@pytest.mark.parametrize("data", [None, [], "arch", 3])
def test_from_dict_rejects_non_objects(data):
    with pytest.raises(ValueError):
        Architecture.from_dict(data)


def test_from_dict_rejects_unknown_stage_key():
    d = _base_dict()
    d["stages"][0]["blox"] = []
    with pytest.raises(ValueError, match="blox"):
        Architecture.from_dict(d)


def test_from_dict_rejects_unknown_head_key():
    d = _base_dict()
    d["head"]["fcs"] = [{"width": 5, "act": "relu", "dropout": 0.0}]  # typo of "fc": silently dropped
    with pytest.raises(ValueError, match="fcs"):
        Architecture.from_dict(d)


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1, 2]", "null", '{"input_shape": [1, 28, 28]}', "not json at all"],
)
def test_from_json_rejects_garbage(text):
    with pytest.raises(ValueError):
        Architecture.from_json(text)


def test_arch_and_analysis_do_not_import_torch():
    code = (
        "import sys; import nasbox.model.arch, nasbox.model.analysis, nasbox.zoo.genotypes; "
        "from nasbox.model.analysis import analyze; "
        "sys.path.insert(0, sys.argv[1]); from tests.model.support import sample_archs; analyze(sample_archs()[1]); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"
