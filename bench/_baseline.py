"""The minimal hand-written training loop the benchmarks compare nasbox against.

The recipe's essentials only: SGD with Nesterov momentum, label smoothing, bf16 autocast
and channels_last where nasbox would use them; no scheduler, no augmentation, no logging.
"""

from __future__ import annotations

import torch

from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.train.recipe import TrainConfig, numerics


class MinimalLoop:
    """A model, its optimiser and loss, and one bare training step."""

    def __init__(self, arch: Architecture, device: torch.device) -> None:
        self.device = device
        self.model = build_model(arch, seed=0).to(device)
        self.bf16, self.channels_last = numerics(TrainConfig(epochs=1), device, self.model)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                         weight_decay=5e-4)
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
        if device.type == "cpu":
            torch.set_flush_denormal(True)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimisation step on a normalised batch."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.loss_fn(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def normalizer(data, device: torch.device):
    """``uint8 batch -> normalised float batch`` with the dataset's statistics."""
    mean = torch.tensor(data.spec.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(data.spec.std, device=device).view(1, -1, 1, 1) * 255
    return lambda images: (images.float() - mean) / std
