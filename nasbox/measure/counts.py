"""Parameters and MACs of a built model: the counts the analysis is held to.

* **params**: trainable parameters, ``sum(p.numel() for p in model.parameters() if p.requires_grad)``.
* **MACs**: multiply-accumulates of one forward pass at batch 1, counted by fvcore
  (fvcore's "flops" are MACs); FLOPs = 2 x MACs. BatchNorm counts 2 per output element.
  thop's count is stored beside it as a cross-check (thop also counts activations and
  pooling, so it is a little higher).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

__all__ = ['count_macs', 'count_macs_thop', 'count_params']


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _example(model: nn.Module, input_shape: tuple[int, int, int]) -> torch.Tensor:
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    return torch.zeros(1, *input_shape, device=device)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """fvcore's count of multiply-accumulates at batch 1 (in eval mode, on a copy)."""
    from fvcore.nn import FlopCountAnalysis

    model = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, _example(model, input_shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def count_macs_thop(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """thop's count of MACs at batch 1 (on a copy; thop adds buffers to the modules it visits)."""
    import logging

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from thop import profile

        model = copy.deepcopy(model).eval()
        logging.getLogger("thop").setLevel(logging.ERROR)
        macs, _ = profile(model, inputs=(_example(model, input_shape),), verbose=False)
    return int(macs)
