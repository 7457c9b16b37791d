"""LeNet-5 exactly as the reference lab builds it, with its activation (GELU in the lab) supplied by any registered
implementation of any op; for an op of several inputs (a gated op), the gated LeNet-5."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from opbench.spec.activations import GELU, Op


class Activation(nn.Module):
    """Wraps an implementation as a module. At a site that widens (split, after a linear layer of
    len(op.inputs) times the features) its inputs are the features' chunks along the last dimension:
    a gated op's gate, up = h.chunk(2, -1), strided halves. Elsewhere (after convolutions and pooling)
    the op runs along its first input, the others at 1 (Op.along): a gated op's activation."""

    def __init__(self, function: Callable[..., torch.Tensor], op: Op, name: str = "", split: bool = False):
        super().__init__()
        self.function, self.op, self.name, self.split = function, op, name, split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(*(x.chunk(len(self.op.inputs), -1) if self.split else self.op.along(x)))

    def extra_repr(self) -> str:
        return self.name


def lenet5(activation: Callable[..., torch.Tensor], name: str = "", op: Op = GELU) -> nn.Sequential:
    """28x28 -> conv 5x5 (6) -> 24x24 -> pool -> 12x12 -> conv 5x5 (16) -> 8x8 -> pool -> 4x4 -> 256 -> 120 -> 84 -> 10.

    The activation follows each convolution, each pooling and the two hidden linear layers, as in the lab.
    For an op of k inputs the two hidden linear layers are k times as wide, their outputs the op's
    inputs (gated: Linear(256, 2 x 120) -> swiglu -> 120, Linear(120, 2 x 84) -> 84, GLU blocks); for
    one input this is the lab's network.
    """
    width = len(op.inputs)

    def act(split: bool = False) -> Activation:
        return Activation(activation, op, name, split)

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
        nn.Linear(256, width * 120),
        act(split=True),
        nn.Linear(120, width * 84),
        act(split=True),
        nn.Linear(84, 10),
    )
