"""Zero-cost proxies: score an untrained candidate on one batch, to pre-screen before training.

Three proxies, each following its reference implementation (the zero-cost-proxies code of
Abdelfattah et al., 2021, "Zero-Cost Proxies for Lightweight NAS", and Mellor et al.'s
NASWOT code). Higher is better for all three; ranking is what matters, not the values.

- :func:`synflow`: data-free synaptic flow (Tanaka et al., 2020).
- :func:`naswot`: log-determinant of the ReLU-code kernel (Mellor et al., 2021).
- :func:`jacob_cov`: correlation of input Jacobians (Mellor et al., 2020, v1 of the same paper).

Every proxy works on a deep copy of the model, so the caller's weights, buffers and mode are
left untouched. :func:`score_proxies` builds a genotype's model and scores it, turning a
failing or non-finite proxy into ``-inf``; :func:`rank_candidates` combines proxies by the
mean of their per-proxy ranks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nasbox.model.arch import Architecture
from nasbox.model.build import build_model

__all__ = [
    "ACTIVATION_TYPES", "PROXIES", "jacob_cov", "mean_proxy_ranks", "naswot", "rank_candidates", "score_proxies", "synflow",
]

#: Modules whose outputs NASWOT turns into binary codes (ReLU and its modern relatives).
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.Hardswish, nn.GELU, nn.ELU, nn.Mish, nn.PReLU,
)

DEFAULT_PROXIES: tuple[str, ...] = ("synflow", "naswot", "jacob_cov")


def _check_batch(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 2:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a B x C x H x W float batch with B >= 2, got {shape=}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point (normalised), got {images.dtype=}")


def _batch_stats_copy(model: nn.Module) -> nn.Module:
    """A deep copy as the references score it: BatchNorm on batch statistics, dropout off."""
    net = copy.deepcopy(model)
    net.eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
    return net


def _synflow_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode, BatchNorm replaced by ``nn.Identity`` and ReLU6 (any ``Hardtanh``) by ReLU."""
    net = copy.deepcopy(model)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.Hardtanh):
                setattr(parent, name, nn.ReLU())
    return net.eval()


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """SynFlow score, as ``log10`` of the synaptic flow (higher is better).

    Tanaka et al., 2020, "Pruning neural networks without any data by iteratively conserving
    synaptic flow"; as a NAS proxy, Abdelfattah et al., 2021, "Zero-Cost Proxies for
    Lightweight NAS". Following their reference (``synflow``, ``bn=False``): on a deep copy
    in eval mode, every parameter is replaced by its absolute value (sign linearisation), the
    network runs in float64 on a single all-ones input, the sum of its output is
    back-propagated, and the score is ``sum |theta * dR/dtheta|`` over the weights of every
    ``Conv2d`` and ``Linear`` layer (biases excluded, as in the reference).

    BatchNorm: the reference scores a copy of the network built without BatchNorm; here every
    BatchNorm module of the copy is replaced by the identity. This also keeps zero-initialised
    residual BatchNorm weights (``init_weights``) from cutting residual branches off.
    ReLU6 is replaced by ReLU: with positive weights and inputs the activations grow past 6,
    where ReLU6 saturates and would stop the flow (MobileNetV2 would score ~1e3 instead of
    ~1e28); ReLU is the identity on the positive signal, as the linearisation intends.

    The raw score is a product of weights along paths and spans many orders of magnitude, so
    its ``log10`` is returned; a network through which no flow passes (an all-zero layer)
    scores ``-inf``. Beyond float64's range (about 1e308) it would be ``+inf``, which
    :func:`score_proxies` treats as a failure; the zoo's networks score at most about 1e29.

    Args:
        model: the network (left untouched).
        input_shape: ``(C, H, W)`` of one input; the data's contents are never used.

    Returns:
        ``log10`` of the synaptic flow.
    """
    if len(input_shape) != 3 or not all(isinstance(v, int) and v > 0 for v in input_shape):
        raise ValueError(f"input_shape must be (C, H, W) positive integers, got {input_shape=}")
    net = _synflow_copy(model).double()
    device = next(net.parameters()).device
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones((1, *input_shape), dtype=torch.float64, device=device)).sum().backward()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear) and m.weight.grad is not None:
            total += (m.weight * m.weight.grad).abs().sum()
    score = total.item()
    return math.log10(score) if score > 0 else -math.inf


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    """NASWOT score: ``log|K|`` of the kernel of binary activation codes (higher is better).

    Mellor et al., 2021, "Neural Architecture Search without Training". Each activation
    module's output (ReLU and the types in :data:`ACTIVATION_TYPES`) is turned into a binary
    code per image, ``c = output > 0`` (for SiLU, GELU, Hardswish, LeakyReLU and ReLU6 this is
    the same as ``input > 0``, the ReLU's code), concatenated over all activations. The
    kernel is ``K = C C^T + (1 - C)(1 - C)^T`` (the number of units on which two images
    agree), and the score is ``slogdet(K)``. A network that gives two images the same code
    makes ``K`` singular and scores ``-inf``.

    As in the reference, the untrained network runs with BatchNorm on batch statistics (on a
    deep copy); dropout is off.

    Args:
        model: the network (left untouched).
        images: a normalised batch ``B x C x H x W``, ``B >= 2``.

    Returns:
        The log-determinant of ``K``.
    """
    _check_batch(images)
    net = _batch_stats_copy(model)
    n = images.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=images.device)

    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes = (output.detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T).add_((1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, ACTIVATION_TYPES)]
    try:
        with torch.no_grad():
            net(images)
    finally:
        for h in handles:
            h.remove()
    if not handles:
        raise ValueError("naswot needs activation modules to hook; the model has none")
    sign, logdet = torch.linalg.slogdet(kernel)
    return logdet.item() if sign.item() > 0 else -math.inf


def jacob_cov(model: nn.Module, images: torch.Tensor, k: float = 1e-5) -> float:
    """Jacobian-covariance score (higher is better).

    Mellor et al., 2020, "Neural Architecture Search without Training" (arXiv v1); the
    ``jacob_cov`` of Abdelfattah et al., 2021. The gradient of the summed output with respect
    to each input image is flattened to one row per image; with ``Sigma`` the correlation
    matrix of those rows and ``lambda`` its eigenvalues, the score is
    ``-sum(log(lambda + k) + 1 / (lambda + k))``: largest when the Jacobians of different
    images are uncorrelated. BatchNorm runs on batch statistics, on a deep copy, as in the
    reference. A network whose Jacobian is constant for some image (no signal reaches the
    input) scores ``-inf``.

    Args:
        model: the network (left untouched).
        images: a normalised batch ``B x C x H x W``, ``B >= 2``.
        k: the reference's regulariser of the eigenvalues.

    Returns:
        The score.
    """
    _check_batch(images)
    net = _batch_stats_copy(model)
    x = images.detach().clone().requires_grad_(True)
    out = net(x).sum()
    if not out.requires_grad:  # nothing trainable or input-dependent reaches the output
        return -math.inf
    out.backward()
    if x.grad is None:  # the output does not depend on the input (a disconnected cell)
        return -math.inf
    jac = x.grad.detach().reshape(x.shape[0], -1).double().cpu().numpy()
    if not np.all(np.isfinite(jac)) or np.any(jac.std(axis=1) == 0):
        return -math.inf
    eig = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0.0, None)
    return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


def _synflow_of_batch(model: nn.Module, images: torch.Tensor) -> float:
    return synflow(model, tuple(int(v) for v in images.shape[1:]))


#: Proxy name -> ``f(model, images) -> float``; :func:`score_proxies` looks names up here.
PROXIES: dict[str, Callable[[nn.Module, torch.Tensor], float]] = {
    "synflow": _synflow_of_batch,
    "naswot": naswot,
    "jacob_cov": jacob_cov,
}


def score_proxies(
    arch: Architecture,
    images: torch.Tensor,
    names: Sequence[str] = DEFAULT_PROXIES,
    seed: int = 0,
) -> dict[str, float]:
    """Build ``arch`` (``build_model(arch, seed=seed)``) and score it with each proxy on one batch.

    Robust by design, for pre-screening inside a search: a proxy that raises, or gives NaN
    or an infinite value, scores ``-inf`` (ranked last) instead of stopping the search.

    Args:
        arch: the candidate genotype.
        images: one normalised batch ``B x C x H x W`` (``B >= 2``) of the search's data; the
            model is built on its device.
        names: proxies to compute, from :data:`PROXIES`.
        seed: weight initialisation seed.

    Returns:
        ``{name: score}`` in the order of ``names``.

    Raises:
        ValueError: an unknown proxy name.
    """
    unknown = [name for name in names if name not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; known: {', '.join(PROXIES)}")
    model = build_model(arch, seed=seed).to(images.device)
    scores: dict[str, float] = {}
    for name in names:
        try:
            value = float(PROXIES[name](model, images))
        except Exception:  # any failure of a proxy ranks the candidate last
            value = -math.inf
        scores[name] = value if math.isfinite(value) else -math.inf
    return scores


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n in ascending order, ties sharing their average rank (``scipy.stats.rankdata``)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2)[inverse]


def mean_proxy_ranks(scores: Sequence[Mapping[str, float]], names: Sequence[str] = DEFAULT_PROXIES) -> np.ndarray:
    """Each candidate's mean over ``names`` of its per-proxy rank (1 = worst, n = best;
    ties share the average rank, NaN counts as ``-inf``), as in the rank-voting of
    Abdelfattah et al., 2021.

    Raises:
        ValueError: ``names`` is empty or a candidate lacks one of them.
    """
    if not names:
        raise ValueError(f"proxy ranking needs at least one proxy name, got {names=}")
    missing = [(i, name) for i, s in enumerate(scores) for name in names if name not in s]
    if missing:
        raise ValueError(f"candidates lack proxy scores (index, name): {missing[:5]}")
    mean_rank = np.zeros(len(scores))
    for name in names:
        values = np.array([float(s[name]) for s in scores], dtype=np.float64)
        mean_rank += _average_ranks(np.where(np.isnan(values), -np.inf, values))
    return mean_rank / len(names) if len(scores) else mean_rank


def rank_candidates(scores: Sequence[Mapping[str, float]], names: Sequence[str] = DEFAULT_PROXIES) -> list[int]:
    """Order candidates by the mean of their per-proxy ranks, best first.

    Per proxy, candidates are ranked by score (higher is better, ties share the average
    rank, NaN counts as ``-inf``); the ranks are averaged over ``names``, as in the
    rank-voting of Abdelfattah et al., 2021. Candidates with equal mean rank keep their
    input order.

    Args:
        scores: one ``{name: score}`` per candidate, e.g. from :func:`score_proxies`.
        names: the proxies to combine.

    Returns:
        Candidate indices, best first.

    Raises:
        ValueError: ``names`` is empty or a candidate lacks one of them.
    """
    mean_rank = mean_proxy_ranks(scores, names)
    return [int(i) for i in np.argsort(-mean_rank, kind="stable")]
