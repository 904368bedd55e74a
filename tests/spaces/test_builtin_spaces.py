"""Every registered search space: valid samples, exact round trips, analysis == torch == fvcore.

Parametrized over ``nasbox.spaces.list_spaces()`` (the built-in spaces; a new built-in space
is covered by adding it to the registry) and the input shapes (3, 32, 32) and (1, 28, 28).
For each space and shape, ``N_SAMPLES`` seeded random samples are checked for JSON and
encoding round trips, replay from their parameters, exact parameter counts against the
built ``nn.Module`` and a forward pass; ``N_FVCORE`` of them are traced by fvcore and
compared with the analytical MACs in the default suite, the rest in the slow one (a trace
of an EfficientNet candidate takes up to a second on these two cores).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
import zlib
from typing import Any

import optuna
import pytest
import torch
from fvcore.nn import FlopCountAnalysis

from nasbox.errors import SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.spaces import SearchSpace, get_space, list_spaces

N_SAMPLES = 100
N_TORCH = 40  # samples built and run per space at 3x32x32 in the default suite (all N_SAMPLES in the slow one)
N_FVCORE = 30  # fvcore traces per space at 3x32x32 in the default suite (at least 30, for coverage)
N_FVCORE_SLOW = 100  # ... and in the slow one, which traces the rest
NUM_CLASSES = 7  # not 10, so that a hard-coded class count shows
SHAPES = [(3, 32, 32), (1, 28, 28)]
OTHER_SHAPES = [(3, 64, 64), (3, 224, 224), (3, 8, 8)]
SPACES = list_spaces()
SPACE_IDS = [cls.name for cls in SPACES]

space_param = pytest.mark.parametrize("space_cls", SPACES, ids=SPACE_IDS)
shape_param = pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))


@pytest.fixture(autouse=True, scope="module")
def _quiet_single_thread():
    """One torch thread and a quiet Optuna for this module, restored afterwards.

    The candidates are small: on the 2-core development machine two threads made the first
    forward passes of each new model erratically slow (up to 1 s against 5 ms).
    """
    threads = torch.get_num_threads()
    verbosity = optuna.logging.get_verbosity()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(verbosity)


def _space(space_cls: type[SearchSpace], shape: tuple[int, int, int]) -> SearchSpace:
    return space_cls(input_shape=shape, num_classes=NUM_CLASSES)


Sample = tuple[dict[str, Any], Architecture]


@functools.cache
def _samples(space_cls: type[SearchSpace], shape: tuple[int, int, int]) -> tuple[Sample, ...]:
    """``N_SAMPLES`` seeded random ``(params, genotype)`` pairs, shared by the tests."""
    space = _space(space_cls, shape)
    seed = zlib.crc32(f"{space_cls.name}{shape}".encode())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(N_SAMPLES):
        trial = study.ask()
        arch = space.sample(trial)
        out.append((dict(trial.params), arch))
    return tuple(out)


# --------------------------------------------------------------------------- samples


@space_param
@pytest.mark.parametrize("shape", SHAPES + OTHER_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_sample_is_valid_for_the_input(space_cls, shape):
    for _, arch in _samples(space_cls, shape):
        assert arch.input_shape == shape and arch.num_classes == NUM_CLASSES
        info = analyze(arch)  # raises ShapeError for an invalid genotype
        assert info.params > 0 and info.macs > 0
        assert min(info.body_shape[1:]) >= 1


@space_param
@shape_param
def test_json_and_encoding_round_trips_are_exact(space_cls, shape):
    for _, arch in _samples(space_cls, shape):
        assert Architecture.from_json(arch.to_json()) == arch
        assert Architecture.from_dict(arch.to_dict()) == arch
        assert Architecture.decode(arch.encode()) == arch
        assert Architecture.from_json(arch.to_json()).arch_id == arch.arch_id


@space_param
@shape_param
def test_same_params_give_the_same_genotype(space_cls, shape):
    space = _space(space_cls, shape)
    names = set(space.parameters())
    for params, arch in _samples(space_cls, shape):
        assert set(params) == names  # a fixed search space: every parameter on every trial
        assert space.from_params(params) == arch
        assert space.from_params(params).arch_id == arch.arch_id


# the first samples of each space at 3x32x32 in the default suite; the rest, and every sample at 1x28x28 (the
# same code paths with one input channel), with the slow tests: the tests are the same
SHAPE_PARTS = pytest.mark.parametrize("shape, part", [
    ((3, 32, 32), "first"), pytest.param((3, 32, 32), "rest", marks=pytest.mark.slow),
    pytest.param((1, 28, 28), "all", marks=pytest.mark.slow)], ids=["3x32x32-first", "3x32x32-rest", "1x28x28-all"])


def _part(samples: list, part: str, first: int, last: int = N_SAMPLES) -> list:
    return samples[:first] if part == "first" else samples[first:last] if part == "rest" else samples[:last]


@space_param
@SHAPE_PARTS
def test_params_match_torch_and_forward_gives_logits(space_cls, shape, part):
    _assert_params_match_torch(_part(_samples(space_cls, shape), part, N_TORCH), shape)


def _assert_params_match_torch(samples, shape) -> None:
    assert samples
    x = torch.randn(2, *shape)
    for _, arch in samples:
        model = build_model(arch, seed=0).eval()
        assert sum(p.numel() for p in model.parameters()) == analyze(arch).params, arch.encode()
        with torch.no_grad():
            y = model(x)
        assert y.shape == (2, NUM_CLASSES)
        assert torch.isfinite(y).all()


@space_param
@SHAPE_PARTS
def test_macs_match_fvcore(space_cls, shape, part):
    _assert_macs_match_fvcore(_part(_samples(space_cls, shape), part, N_FVCORE, N_FVCORE_SLOW), shape)


def _assert_macs_match_fvcore(samples, shape) -> None:
    assert samples
    x = torch.zeros(1, *shape)
    for _, arch in samples:
        model = build_model(arch, seed=0).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings
            count = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            traced = count.total()
        assert traced == pytest.approx(analyze(arch).macs, rel=0.01), arch.encode()


@space_param
def test_tiny_input_builds_and_runs(space_cls):
    shape = (3, 8, 8)
    x = torch.randn(2, *shape)
    for _, arch in _samples(space_cls, shape)[:10]:
        model = build_model(arch, seed=0).eval()
        with torch.no_grad():
            assert model(x).shape == (2, NUM_CLASSES)


# --------------------------------------------------------------------------- samplers


def _objective(space: SearchSpace):
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        info = analyze(space.sample(trial))
        return float(info.macs), float(info.params)

    return objective


@space_param
@pytest.mark.parametrize("sampler_name", ["nsga2", "tpe"])
def test_optuna_samplers_work(space_cls, sampler_name):
    space = _space(space_cls, (3, 32, 32))
    if sampler_name == "nsga2":  # 3 generations of 4: crossover and mutation run
        sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    else:  # past its 4 start-up trials, TPE models the (fixed) joint space
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(multivariate=True, group=True, n_startup_trials=4, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(_objective(space), n_trials=12)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 12
    for t in trials:  # what the sampler chose replays to the same candidate
        assert analyze(space.from_params(t.params)).macs == t.values[0]


# --------------------------------------------------------------------------- bounds


@space_param
def test_size_and_describe(space_cls):
    space = space_cls()
    assert space.size() > 1
    n = 1
    for kind, spec in space.parameters().values():
        n *= len(spec) if kind == "categorical" else (spec[1] - spec[0]) // spec[2] + 1
    assert space.size() == n
    text = space.describe()
    assert space.name in text
    for key in space.bounds():
        assert f"  {key} = " in text, key
    analyze(space.example())


@space_param
def test_bounds_from_text_give_the_same_space(space_cls):
    """Every bound survives ``--space-arg key=value`` text (types coerce back exactly)."""

    def text(value: Any) -> str:
        if isinstance(value, tuple):
            return ",".join(text(v) for v in value)
        return str(value).lower() if isinstance(value, bool) else str(value)

    space = space_cls()
    args = {key: text(value) for key, value in space.bounds().items()}
    assert get_space(space_cls.name, args=args) == space


def _bad_bounds(space_cls: type[SearchSpace]) -> list[tuple[str, dict[str, Any]]]:
    """Nonsense bounds derived from the fields: min > max, empty choices, bad activations."""
    space = space_cls()
    bounds = space.bounds()
    cases = []
    for key, value in bounds.items():
        if key.endswith("_min") and key[:-4] + "_max" in bounds:
            cases.append((f"{key}>max", {key: bounds[key[:-4] + "_max"] + 1}))
        if isinstance(value, tuple):
            cases.append((f"{key}=()", {key: ()}))
        if key in ("activations", "act"):
            cases.append((f"{key}=swish", {key: ("swish",) if isinstance(value, tuple) else "swish"}))
    return cases


_BAD = [
    pytest.param(cls, kwargs, id=f"{cls.name}-{case}") for cls in SPACES for case, kwargs in _bad_bounds(cls)
] + [
    pytest.param(cls, kwargs, id=f"{cls.name}-{i}")
    for cls, kwargs_list in (
        (SPACES[SPACE_IDS.index("resnet")], [{"kernels": (4,)}, {"widths": (0,)}, {"depth_min": 0},
                                             {"se_ratio": 0.0}, {"se_choices": ("yes",)}]),
        (SPACES[SPACE_IDS.index("mobilenet")], [{"channels": (16, 24)}, {"strides": (1, 0, 2, 2, 1, 2, 1)},
                                                {"width_mults": (0.0,)}, {"expansions": (0.5,)}, {"dropout": 1.0}]),
        (SPACES[SPACE_IDS.index("efficientnet")], [{"depths": (1, 2)}, {"res_mults": (-1.0,)}, {"kernels": (2,)},
                                                   {"first_expansion": 0.5}, {"last_ratio": 0}]),
    )
    for i, kwargs in enumerate(kwargs_list)
]


@pytest.mark.parametrize("space_cls, kwargs", _BAD)
def test_nonsense_bounds_raise_space_error(space_cls, kwargs):
    with pytest.raises(SpaceError):
        space_cls(**kwargs)


@pytest.mark.parametrize("name", ["resnet", "mobilenet", "efficientnet"])
def test_built_in_spaces_are_registered(name):
    assert name in SPACE_IDS
    cls = SPACES[SPACE_IDS.index(name)]
    assert dataclasses.is_dataclass(cls) and cls.description and cls.rules and cls.__doc__
    for key in cls().parameters():  # stable hierarchical names: "width_mult", "stage2.kernel"
        assert all(part.isidentifier() for part in key.split(".")), key


# --------------------------------------------------------------------------- space specifics


def _params(space: SearchSpace, **overrides: Any) -> dict[str, Any]:
    """Every parameter at its first choice (lowest value), with ``overrides``."""
    params = {name: spec[0] for name, (_, spec) in space.parameters().items()}
    missing = set(overrides) - set(params)
    assert not missing, missing
    return {**params, **overrides}


def test_resnet_stem_strides_and_widths():
    small = get_space("resnet", input_shape=(3, 32, 32))
    arch = small.from_params(_params(small, n_stages=4, width=16, **{"stage2.depth": 2}))
    assert arch.stem.blocks[0].kernel == 3 and arch.stem.blocks[0].stride == 1 and arch.stem.pool is None
    assert [s.blocks[0].out_channels for s in arch.stages] == [16, 32, 64, 128]
    assert [s.blocks[0].stride for s in arch.stages] == [1, 2, 2, 2]
    assert [b.stride for b in arch.stages[1].blocks] == [2, 1]
    assert analyze(arch).body_shape == (128, 4, 4)
    large = small.bind((3, 224, 224), 1000)
    arch = large.from_params(_params(large, n_stages=4))
    assert (arch.stem.blocks[0].kernel, arch.stem.blocks[0].stride, arch.stem.pool.kernel) == (7, 2, 3)
    assert analyze(arch).body_shape[1:] == (7, 7)
    tiny = small.bind((3, 8, 8), 10)  # 8 -> 4 -> 2, then the map is too small to halve
    arch = tiny.from_params(_params(tiny, n_stages=4))
    assert [s.blocks[0].stride for s in arch.stages] == [1, 2, 2, 1]
    se = small.from_params(_params(small, width=16, **{"stage1.se": True}))
    assert se.stages[0].blocks[0].se_ratio == 0.0625 and se.stages[1].blocks[0].se_ratio == 0.0


def test_resnet_covers_resnet18():
    space = get_space("resnet", input_shape=(3, 224, 224), num_classes=1000, args={"widths": "64"})
    params = {"n_stages": 4, "width": 64, "act": "relu"}
    for i in range(1, 5):
        params |= {f"stage{i}.depth": 2, f"stage{i}.kernel": 3, f"stage{i}.se": False}
    info = analyze(space.from_params(params))
    assert info.params == 11_689_512  # torchvision.models.resnet18()
    assert info.body_shape == (512, 7, 7)


def test_mobilenet_channels_are_divisible_and_small_inputs_end_near_2x2():
    from search_spaces.mobilenet import make_divisible

    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == [16, 8, 8, 16, 24, 32, 56, 112]
    for shape, final in (((3, 32, 32), (2, 2)), ((1, 28, 28), (2, 2)), ((3, 224, 224), (7, 7))):
        space = get_space("mobilenet", input_shape=shape)
        arch = space.from_params(_params(space, width_mult=0.35))
        assert analyze(arch).body_shape[1:] == final
        assert all(b.out_channels % 8 == 0 for _, s in arch.named_stages() for b in s.blocks)


def test_mobilenet_covers_mobilenet_v2():
    space = get_space("mobilenet", input_shape=(3, 224, 224), num_classes=1000, args={"depth_max": "4"})
    depths = (1, 2, 3, 4, 3, 3, 1)
    params = {"width_mult": 1.0, "act": "relu6"}
    for i, d in enumerate(depths, start=1):
        params |= {f"stage{i}.expansion": 1.0 if i == 1 else 6.0, f"stage{i}.kernel": 3, f"stage{i}.depth": d,
                   f"stage{i}.se": False}
    info = analyze(space.from_params(params))
    assert info.params == 3_504_872  # torchvision.models.mobilenet_v2()


def test_efficientnet_compound_scaling_and_resolution():
    space = get_space("efficientnet", input_shape=(3, 32, 32))
    arch = space.from_params(_params(space, width_mult=1.0, depth_mult=1.2, res_mult=1.3))
    assert arch.resolution == round(32 * 1.3)
    assert [len(s.blocks) for s in arch.stages[:-1]] == [math.ceil(d * 1.2) for d in (1, 2, 2, 3, 3, 4, 1)]
    assert all(b.se_ratio == 0.25 and b.act == "silu" for s in arch.stages[:-1] for b in s.blocks)
    assert analyze(arch).layers[0].name == "resize"
    assert space.from_params(_params(space, res_mult=1.0)).resolution is None
    b0 = get_space("efficientnet", input_shape=(3, 224, 224), num_classes=1000)
    params = {"width_mult": 1.0, "depth_mult": 1.0, "res_mult": 1.0}
    for i, k in enumerate((3, 3, 5, 3, 5, 5, 3), start=1):
        params[f"stage{i}.kernel"] = k
        if i > 1:
            params[f"stage{i}.expansion"] = 6.0
    info = analyze(b0.from_params(params))
    assert info.params == 5_288_548  # torchvision.models.efficientnet_b0()
    assert info.body_shape == (1280, 7, 7)
