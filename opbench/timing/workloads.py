"""What one case's timed calls run on: the case (op, direction, shape, layout, dtype, device, cache regime), its input
buffer and windows no call has seen, the calls themselves, and the memory a case needs.

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
    cache: str = "warm"  # one of timing.coldcache.CACHES

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
        return (self.op.name, name, dtype_name(self.dtype), self.direction, self.shape_text, self.layout, self.cache)

    @property
    def tensor_bytes(self) -> int:
        """Bytes of one tensor of the case: x, grad, or an output."""
        return self.numel * self.dtype.itemsize


class Workload:
    """The input buffers of one case (one per input of the op, and the upstream gradient's), their windows
    and the float64 reference of what each call must return."""

    def __init__(self, case: Case, windows: int, seed: int = 1):
        self.case, self.windows = case, windows
        span = inputs.layout_elements(case.shape, case.layout)
        length = span + (windows - 1) * SHIFT
        self.sources = case.op.random_inputs(length, case.dtype, case.device, 3.0, seed)
        self.source_grad = inputs.random_input(length, case.dtype, case.device, scale=1.0, seed=seed + 1)
        self.xs, self.grad = [x.clone() for x in self.sources], self.source_grad.clone()
        self._source_expected = self._expected = None
        self.shift = 0
        self.plain = [tuple(self.window(x, k) for x in self.xs) for k in range(windows)]
        # Leaves share storage and version counters with the plain windows.
        self.leaves = [tuple(view.detach().requires_grad_() for view in views) for views in self.plain]
        self.grads = [self.window(self.grad, k) for k in range(windows)]
        self._outputs: list[torch.Tensor] | None = None
        # COPY's target, zeroed now: its pages are resident before any timing (COPY pays no page faults); in
        # the case's layout, so that the limit is a copy of the same bytes in the same order (a transposing
        # copy into a contiguous target runs at a fraction of the bandwidth)
        target = torch.zeros(span, dtype=case.dtype, device=case.device)
        self.copy_target = inputs.layout_view(target, case.shape, case.layout)

    @property
    def x(self) -> torch.Tensor:
        """The first input's buffer: what the COPY yardstick copies."""
        return self.xs[0]

    def window(self, buffer: torch.Tensor, k: int) -> torch.Tensor:
        """Window k of a buffer laid out like the inputs (an input, the gradient, their references): the
        case's shape and layout at offset k * SHIFT."""
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
        """Rotate the buffers' values for this round, in place, through an alias that bumps no version counter."""
        self.shift = shift = round_index * ROTATION % self.x.numel()
        self.current = [torch.roll(source, shift) for source in (*self.sources, self.source_grad)]
        self._expected = None
        for live, current in zip((*self.xs, self.grad), self.current):
            live.data.copy_(current)
        for output in self._outputs or ():  # a result left from the last round must not pass for this one
            output.fill_(math.nan)

    def expected(self) -> tuple[torch.Tensor, ...]:
        """The float64 references over the whole buffers for this round: the output (fwd), or each input's
        gradient (Op.expected_grads)."""
        op = self.case.op
        if self._source_expected is None:  # once, then rotated with the buffers
            self._source_expected = (
                (op.expected(*self.sources),)
                if self.case.direction == "fwd"
                else op.expected_grads(self.source_grad, *self.sources)
            )
        if self._expected is None:
            self._expected = tuple(torch.roll(reference, self.shift) for reference in self._source_expected)
        return self._expected

    def restore_if_changed(self) -> str | None:
        """None when the buffers hold what this round put there; else restore them and say what changed."""
        names = [f"input {name}" if len(self.xs) > 1 else "input" for name in self.case.op.inputs]
        for what, live, current in zip((*names, "upstream gradient"), (*self.xs, self.grad), self.current):
            if not torch.equal(live, current):  # the common case costs one comparison, no allocation
                where = int((live != current).nonzero()[0].item())
                detail = (
                    f"changed its {what}: element {where} of the buffer is {live[where].item():.6g}, "
                    f"was {current[where].item():.6g}"
                )
                for buffer, value in zip((*self.xs, self.grad), self.current):
                    buffer.data.copy_(value)
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
        return [functools.partial(workload.copy_target.copy_, workload.plain[w][0]) for w in windows]
    if isinstance(entry, IntoOutput):
        outputs = workload.outputs
        if direction == "fwd":
            return [functools.partial(entry, *workload.plain[w], outputs[w]) for w in windows]
        return [functools.partial(entry, workload.grads[w], *workload.plain[w], outputs[w]) for w in windows]
    if baseline:  # a yardstick: one tensor's traffic (clone of the first input)
        return [functools.partial(entry, workload.plain[w][0]) for w in windows]
    if direction == "fwd":
        return [functools.partial(entry, *workload.plain[w]) for w in windows]
    if direction == "fwd+bwd":
        return [functools.partial(_forward_backward, entry, workload.leaves[w], workload.grads[w]) for w in windows]
    graphs = [entry(*leaves) for leaves in workload.leaves[: min(count, workload.windows)]]
    return [
        functools.partial(torch.autograd.grad, graphs[w], workload.leaves[w], workload.grads[w], retain_graph=True)
        for w in windows
    ]


def _forward_backward(entry, xs, grad):
    return torch.autograd.grad(entry(*xs), xs, grad)


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


def outputs_of(result) -> tuple[torch.Tensor, ...]:
    """The tensors a call produced: the output of a forward, the inputs' gradients of a backward."""
    return result if isinstance(result, tuple) else (result,)


def yardsticks() -> dict[str, Callable]:
    """The yardstick entries of every case: COPY into the pass's one target, and a clone."""
    return {COPY: CopyIntoTarget(), CLONE: torch.clone}
