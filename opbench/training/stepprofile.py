"""The activation's share of a LeNet-5 training step: torch.profiler over a window of steps after warm-up, time split
into the activation's forward and backward, the rest of forward and backward, and the optimizer.

Attribution, the same for every implementation: the activation modules' forwards run inside
record_function ranges (hooks added for the window only), and the activation's backward is the
autograd engine's evaluation of the nodes those forwards created (their grad_fn names, for example
GeluBackward0 for F.gelu or GeluFunctionBackward for the Python Function). Times are host (CPU)
times of those ranges: on the CPU, where the kernels run inside them, that is the compute; on CUDA
it is the launch and dispatch cost, and the step time (synchronized) says whether it matters.

Step times are measured apart, without the profiler, by the timing engine (timing.engine): every
implementation's training state is kept, and each round runs a block of a few steps of each, after
one untimed step, in a shuffled order, so that drift of a noisy machine hits all of them alike and
the ratio to the baseline is taken per round (a median with its 95% interval; one pass, its rounds
the units). A block whose last loss is not finite fails verification. Profiled one after the other
instead, the steps of two implementations differ by the machine's drift (docs/methodology.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from opbench import core
from opbench.core import Status
from opbench.spec.registry import Implementation
from opbench.timing import engine, stats
from opbench.training import data
from opbench.training.model import Activation, lenet5
from opbench.training.train import BACKWARD, FORWARD, OPTIMIZER, EagerStep, TrainConfig, synchronize

ACTIVATION = "opbench::activation"


@dataclass
class StepProfile:
    op: str
    implementation: str
    device: str
    steps: int
    step_s: list[float]  # wall time of each profiled step
    parts_s: dict[str, float]  # mean seconds per step in each of core.STEP_PARTS


class Stepper:
    """One implementation's LeNet-5 in training (the lab's configuration, device loader): each call is
    one step. Every stepper starts from the same weights and sees the same batches."""

    def __init__(self, impl: Implementation, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor):
        self.impl, self.device = impl, config.device
        torch.manual_seed(config.seed)
        self.model = lenet5(impl, impl.name, impl.op).to(config.device)
        self.step = EagerStep(
            self.model, torch.optim.NAdam(self.model.parameters(), lr=config.lr), nn.CrossEntropyLoss()
        )
        self.batches = data.device_batches(
            images, labels, config.batch_size, torch.Generator().manual_seed(config.seed)
        )

    def __call__(self) -> torch.Tensor:
        return self.step(*next(self.batches))


def training_data(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's training set on the device, once for all steppers."""
    images, labels = data.load_tensors(config.data_root, train=True)
    return images.to(config.device), labels.to(config.device)


def _instrument(model: nn.Module, backward_nodes: set[str]) -> list:
    """Forward hooks: a record_function range around each activation, and the name of the node it creates."""
    handles = []
    for module in model.modules():
        if isinstance(module, Activation):
            ranges = []

            def enter(module, args, ranges=ranges):
                ranges.append(torch.profiler.record_function(ACTIVATION).__enter__())

            def leave(module, args, output, ranges=ranges):
                ranges.pop().__exit__(None, None, None)
                if output.grad_fn is not None:
                    backward_nodes.add(output.grad_fn.name())

            handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


@dataclass
class ProfileConfig:
    """The step profile's window and its step-time rounds: the one source of `opbench profile`'s defaults."""

    steps: int = 100  # steps profiled
    warmup: int = 20  # steps before the profiled window
    rounds: int = 20  # interleaved rounds of unprofiled steps, for step times
    steps_per_round: int = 5  # steps in one round's block


def profile(stepper: Stepper, config: ProfileConfig) -> StepProfile:
    """Run config.warmup steps, then profile config.steps steps and split their time into core.STEP_PARTS."""
    steps, warmup = config.steps, config.warmup
    device = stepper.device
    for _ in range(warmup):
        stepper()
    backward_nodes: set[str] = set()
    handles = _instrument(stepper.model, backward_nodes)
    activities = [torch.profiler.ProfilerActivity.CPU] + (
        [torch.profiler.ProfilerActivity.CUDA] if device == "cuda" else []
    )
    step_s = []
    try:
        with core.native_messages_logged(), torch.profiler.profile(activities=activities) as profiler:
            for _ in range(steps):
                synchronize(device)
                start = time.perf_counter()
                stepper()
                synchronize(device)
                step_s.append(time.perf_counter() - start)
    finally:
        for handle in handles:
            handle.remove()
    totals = dict.fromkeys((FORWARD, BACKWARD, OPTIMIZER, ACTIVATION, "backward nodes"), 0.0)
    node_events = {f"autograd::engine::evaluate_function: {name}" for name in backward_nodes}
    for event in profiler.events():
        seconds = event.time_range.elapsed_us() / 1e6
        if event.name in totals:
            totals[event.name] += seconds
        elif event.name in node_events:
            totals["backward nodes"] += seconds
    per_step = {name: total / steps for name, total in totals.items()}
    parts = {
        "activation forward": per_step[ACTIVATION],
        "other forward": per_step[FORWARD] - per_step[ACTIVATION],
        "activation backward": per_step["backward nodes"],
        "other backward": per_step[BACKWARD] - per_step["backward nodes"],
        "optimizer": per_step[OPTIMIZER],
    }
    # Means throughout, so that the parts add up to the mean step (a median would not).
    parts["rest of step"] = max(0.0, sum(step_s) / steps - sum(parts.values()))
    return StepProfile(stepper.impl.op.name, stepper.impl.name, device, steps, step_s, parts)


def _verify_loss(kept: dict[int, object]) -> str | None:
    loss = float(next(iter(kept.values())))
    return None if math.isfinite(loss) else f"the training loss became {loss}"


def interleaved_step_times(
    steppers: dict[str, Stepper], config: ProfileConfig, seed: int = 0
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Per implementation, the mean step time of each round (synchronized, not profiled), in one pass
    of config.rounds rounds on the timing engine (engine.Rotation); and, for any implementation whose
    step raised or lost a finite loss (it leaves the rotation), its status and detail."""
    rotation = engine.Rotation(steppers, seed)
    rotation.begin_pass()

    def block(name: str, round_index: int) -> engine.Timed:
        stepper = steppers[name]
        steps = engine.Block([stepper] * config.steps_per_round, {config.steps_per_round - 1})
        stepper()  # untimed: the block times steps made back to back
        seconds, kept, disagreement = engine.time_block(steps, stepper.device)
        return seconds, _verify_loss(kept) or disagreement

    for _ in range(config.rounds):
        rotation.round(block)
    times = {name: m.passes[0] for name, m in rotation.results.items() if m.status == Status.OK}
    return times, {name: f"{m.status}: {m.detail}" for name, m in rotation.results.items() if m.status != Status.OK}


def rows(profiles: list[StepProfile], step_times: dict[str, list[float]], baseline: str) -> list[dict]:
    """One row per implementation (of one op): the parts per profiled step and the activation's share of it;
    the unprofiled step time (median of the rounds, 95% interval) and its per-round ratio to the baseline's."""
    base = step_times.get(baseline)
    out = []
    for p in profiles:
        step = stats.median_interval(step_times[p.implementation])
        activation, mean_step = (
            p.parts_s["activation forward"] + p.parts_s["activation backward"],
            sum(p.step_s) / p.steps,
        )
        row = dict(
            op=p.op,
            implementation=p.implementation,
            device=p.device,
            steps=p.steps,
            rounds=len(step_times[p.implementation]),
            step_s=step.median,
            step_low_s=step.low,
            step_high_s=step.high,
            mean_step_s=mean_step,
            activation_s=activation,
            activation_share=activation / mean_step,
            **{f"{part.replace(' ', '_')}_s": seconds for part, seconds in p.parts_s.items()},
        )
        if base is not None:
            ratio = stats.paired_ratio([step_times[p.implementation]], [base])  # one pass: its rounds are the units
            row.update(step_vs_baseline=ratio.median, step_vs_baseline_low=ratio.low, step_vs_baseline_high=ratio.high)
        out.append(row)
    return out
