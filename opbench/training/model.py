"""LeNet-5 exactly as the reference lab builds it, with its activation (GELU in the lab) supplied by any registered
implementation of any op."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Activation(nn.Module):
    """Wraps a tensor -> tensor callable (a registered implementation) as a module."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor], name: str = ""):
        super().__init__()
        self.function = function
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)

    def extra_repr(self) -> str:
        return self.name


def lenet5(activation: Callable[[torch.Tensor], torch.Tensor], name: str = "") -> nn.Sequential:
    """28x28 -> conv 5x5 (6) -> 24x24 -> pool -> 12x12 -> conv 5x5 (16) -> 8x8 -> pool -> 4x4 -> 256 -> 120 -> 84 -> 10.

    The activation follows each convolution, each pooling and the two hidden linear layers, as in the lab.
    """

    def act() -> Activation:
        return Activation(activation, name)

    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        act(),
        nn.AvgPool2d(2, 2),
        act(),
        nn.Conv2d(6, 16, 5),
        act(),
        nn.AvgPool2d(2, 2),
        act(),
        nn.Flatten(),
        nn.Linear(256, 120),
        act(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, 10),
    )
