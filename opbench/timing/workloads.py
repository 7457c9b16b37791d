"""What one case's timed calls run on: the case (op, direction, shape, layout, dtype, device), its input buffer and
windows no call has seen, the calls themselves, and the memory a case needs.

Inputs cannot be cached: every call of a block gets its own window of one buffer (its own pointer,
and different values at every position), and between rounds the buffer's values are rotated in
place without bumping its version counter, so a result kept from an earlier call, whatever it was
keyed on, is wrong now (docs/methodology.md, "Verified timing"). A window is a view of the case's
shape and layout (spec.inputs.layout_view) at its own offset of the buffer.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from opbench.core import CLONE, COPY
from opbench.spec import inputs
from opbench.spec.activations import Op
from opbench.spec.devices import dtype_name

# Elements between consecutive input windows: 64 keeps every window 128-byte aligned in every dtype
# (vectorized paths stay on), and shifts the values under each position.
SHIFT = 64
# The calibration's inputs come from other seeds than the timed ones (1 and 2): round 0's first window
# is the seed-1 buffer unrotated, and must not be the input calibration called over and over.
PROBE_SEED = 3
# Elements the buffer rotates by between rounds (a prime: no round repeats another's values).
ROTATION = 7919
# The bwd direction keeps one forward graph (output and saved input) per window alive: at most this many bytes of them.
GRAPH_BYTES = 2 << 30


@dataclass(frozen=True)
class IntoOutput:
    """An out= variant as a timing entry: (x, out) for fwd, (grad, x, out) for bwd."""

    function: Callable

    def __call__(self, *args):
        return self.function(*args)


@dataclass(frozen=True)
class CopyIntoTarget:
    """The COPY baseline as an entry: out.copy_(x) into the pass's one target tensor (Workload.copy_target)."""


@dataclass(frozen=True)
class Case:
    op: Op
    direction: str
    shape: tuple[int, ...]  # an int is a 1-D shape
    dtype: torch.dtype
    device: str
    layout: str = "contiguous"  # one of spec.inputs.LAYOUTS

    def __post_init__(self):
        if isinstance(self.shape, int):
            object.__setattr__(self, "shape", (self.shape,))

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def shape_text(self) -> str:
        """The shape as its CSV cell: '2048x3072', '1048576' in 1-D."""
        return "x".join(map(str, self.shape))

    def row_key(self, name: str) -> tuple[str, ...]:
        """The key of entry `name`'s row in this case, as the witness names its blocks (timing.witness)."""
        return (self.op.name, name, dtype_name(self.dtype), self.direction, self.shape_text, self.layout)

    @property
    def tensor_bytes(self) -> int:
        """Bytes of one tensor of the case: x, grad, or an output."""
        return self.numel * self.dtype.itemsize


class Workload:
    """The input buffer of one case, its windows and the float64 reference of what each call must return."""

    def __init__(self, case: Case, windows: int, seed: int = 1):
        self.case, self.windows = case, windows
        span = inputs.layout_elements(case.shape, case.layout)
        length = span + (windows - 1) * SHIFT
        self.source_x = inputs.random_input(length, case.dtype, case.device, scale=3.0, seed=seed)
        self.source_grad = inputs.random_input(length, case.dtype, case.device, scale=1.0, seed=seed + 1)
        self.x, self.grad = self.source_x.clone(), self.source_grad.clone()
        self._source_expected = self._expected = None
        self.shift = 0
        self.plain = [self.window(self.x, k) for k in range(windows)]
        self.leaves = [view.detach().requires_grad_() for view in self.plain]  # share storage and version
        self.grads = [self.window(self.grad, k) for k in range(windows)]
        self._outputs: list[torch.Tensor] | None = None
        # COPY's target, zeroed now: its pages are resident before any timing (COPY pays no page faults); in
        # the case's layout, so that the limit is a copy of the same bytes in the same order (a transposing
        # copy into a contiguous target runs at a fraction of the bandwidth)
        target = torch.zeros(span, dtype=case.dtype, device=case.device)
        self.copy_target = inputs.layout_view(target, case.shape, case.layout)

    def window(self, buffer: torch.Tensor, k: int) -> torch.Tensor:
        """Window k of a buffer laid out like x (the input, its gradient, their references): the case's
        shape and layout at offset k * SHIFT."""
        return inputs.layout_view(buffer[k * SHIFT :], self.case.shape, self.case.layout)

    @property
    def outputs(self) -> list[torch.Tensor]:
        """One output tensor per window for out= entries, allocated on first use, kept for the case."""
        if self._outputs is None:
            self._outputs = [
                torch.full(self.case.shape, math.nan, dtype=self.case.dtype, device=self.case.device)
                for _ in range(self.windows)
            ]
        return self._outputs

    def refresh(self, round_index: int) -> None:
        """Rotate the buffer's values for this round, in place, through an alias that bumps no version counter."""
        self.shift = shift = round_index * ROTATION % self.x.numel()
        self.current_x, self.current_grad = torch.roll(self.source_x, shift), torch.roll(self.source_grad, shift)
        self._expected = None
        self.x.data.copy_(self.current_x)
        self.grad.data.copy_(self.current_grad)
        for output in self._outputs or ():  # a result left from the last round must not pass for this one
            output.fill_(math.nan)

    def expected(self) -> torch.Tensor:
        """The float64 reference over the whole buffer for this round: the output (fwd) or the input gradient."""
        op = self.case.op
        if self._source_expected is None:  # once, then rotated with the buffer
            self._source_expected = (
                op.expected(self.source_x)
                if self.case.direction == "fwd"
                else op.expected_grad(self.source_grad, self.source_x)
            )
        if self._expected is None:
            self._expected = torch.roll(self._source_expected, self.shift)
        return self._expected

    def restore_if_changed(self) -> str | None:
        """None when the buffers hold what this round put there; else restore them and say what changed."""
        for what, live, current in (
            ("input", self.x, self.current_x),
            ("upstream gradient", self.grad, self.current_grad),
        ):
            if not torch.equal(live, current):  # the common case costs one comparison, no allocation
                where = int((live != current).nonzero()[0].item())
                detail = (
                    f"changed its {what}: element {where} of the buffer is {live[where].item():.6g}, "
                    f"was {current[where].item():.6g}"
                )
                self.x.data.copy_(self.current_x)
                self.grad.data.copy_(self.current_grad)
                return detail
        return None


def windows_for(case: Case, calls_per_block: int) -> int:
    """The windows a pass's Workload holds: one per call of its longest block, so that no two calls of a
    block share an input, and at least 2; for bwd at most GRAPH_BYTES of live graphs, one per window
    (calls then cycle over them, calls_for)."""
    if case.direction == "bwd":
        calls_per_block = min(calls_per_block, GRAPH_BYTES // (2 * case.tensor_bytes))
    return max(2, calls_per_block)


def calls_for(
    entry: Callable, direction: str, workload: Workload, count: int, baseline: bool
) -> list[Callable[[], object]]:
    """`count` no-argument calls of one direction, call k on window k mod windows (graphs built now for bwd)."""
    windows = [k % workload.windows for k in range(count)]
    if isinstance(entry, CopyIntoTarget):
        return [functools.partial(workload.copy_target.copy_, workload.plain[w]) for w in windows]
    if isinstance(entry, IntoOutput):
        outputs = workload.outputs
        if direction == "fwd":
            return [functools.partial(entry, workload.plain[w], outputs[w]) for w in windows]
        return [functools.partial(entry, workload.grads[w], workload.plain[w], outputs[w]) for w in windows]
    if baseline or direction == "fwd":
        return [functools.partial(entry, workload.plain[w]) for w in windows]
    if direction == "fwd+bwd":
        return [functools.partial(_forward_backward, entry, workload.leaves[w], workload.grads[w]) for w in windows]
    graphs = [entry(leaf) for leaf in workload.leaves[: min(count, workload.windows)]]
    return [
        functools.partial(torch.autograd.grad, graphs[w], workload.leaves[w], workload.grads[w], retain_graph=True)
        for w in windows
    ]


def _forward_backward(entry, x, grad):
    return torch.autograd.grad(entry(x), x, grad)


def too_large(numels, dtypes, device: str) -> str | None:
    """Why a case of one of these sizes cannot fit in the device's free memory (naming the size, the
    bytes needed and free), None when all fit: a case holds its input, gradient and their rotated
    copies (6 n s bytes) and float64 references and comparisons (about 64 n bytes)."""
    if device == "cuda":
        free = torch.cuda.mem_get_info()[0]
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for numel in numels:
        for dtype in dtypes:
            needed = numel * (6 * dtype.itemsize + 64)
            if needed > free:
                return (
                    f"{inputs.size_label(numel)}: needs about {needed / 2**30:.1f} GiB in "
                    f"{dtype_name(dtype)}, {free / 2**30:.1f} GiB is free on {device}"
                )
    return None


def output_of(result) -> torch.Tensor:
    """The tensor a call produced: the output of a forward, the input gradient of a backward."""
    return result[0] if isinstance(result, tuple) else result


def yardsticks() -> dict[str, Callable]:
    """The yardstick entries of every case: COPY into the pass's one target, and a clone."""
    return {COPY: CopyIntoTarget(), CLONE: torch.clone}
