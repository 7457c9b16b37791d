"""LeNet-5 MNIST training per implementation: per-epoch loss, accuracy and speed to CSV and TensorBoard."""

from __future__ import annotations

import contextlib
import math
import resource
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from opbench.core import Status, first_line
from opbench.reporting import results
from opbench.spec.registry import Implementation, settings
from opbench.training import data
from opbench.training.model import lenet5

LOADERS = ("dataloader", "device")


class NonFiniteLoss(ArithmeticError):
    """The training loss became nan or inf: the run stops, and says at which step."""


# What makes one training run: a re-run of the same run replaces all of its rows, never some epochs.
# The parts of a training step, as torch.profiler ranges (EagerStep).
FORWARD, BACKWARD, OPTIMIZER = "opbench::forward", "opbench::backward", "opbench::optimizer"
RUN_KEY = ["op", "implementation", "device", "loader", "seed", "lr", "batch_size", "epochs", "max_batches"]
KEY = [*RUN_KEY, "epoch"]


@dataclass
class TrainConfig:
    """The reference lab's configuration: NAdam, lr 3e-3, batch 64, 10 epochs, cross-entropy."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    loader: str = "dataloader"
    device: str = "cpu"
    data_root: str | None = None
    logdir: str | None = "runs"
    max_batches: int | None = None  # per epoch: a subset, for tests
    graph: bool = False  # replay the whole step as a CUDA graph (GraphedStep); CUDA only


class GpuUtilizationSampler(contextlib.AbstractContextManager):
    """Mean GPU utilization over a block, sampled every 50 ms through NVML (nvidia-ml-py), else
    torch.cuda.utilization; `mean` stays None where neither can read it."""

    def __init__(self, device: str):
        self.samples: list[float] = []
        self.read = None
        if device == "cuda":
            try:
                import pynvml

                pynvml.nvmlInit()
                handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
                self.read = lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
            except Exception:
                self.read = torch.cuda.utilization
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.05):
            try:
                self.samples.append(float(self.read()))
            except Exception:  # the reader went away mid-run: keep what was sampled
                return

    def __enter__(self):
        if self.read:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


class EagerStep:
    """One training step as the lab writes it: zero the gradients, forward, loss, backward, optimizer.
    Returns the loss, still on the device: reading it here would wait for the device every step."""

    graphed = False
    why_not_graphed = ""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_function: nn.Module):
        self.model, self.optimizer, self.loss_function = model, optimizer, loss_function

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # set_to_none=False zeroes the gradient tensors in place: a graphed step's replays keep
        # writing into the tensors it captured, so an eager step between them must keep them too.
        self.optimizer.zero_grad(set_to_none=not self.graphed)
        # Named ranges: what opbench.stepprofile splits a step by; a few us per step without a profiler.
        with torch.profiler.record_function(FORWARD):
            loss = self.loss_function(self.model(images), labels)
        with torch.profiler.record_function(BACKWARD):
            loss.backward()
        with torch.profiler.record_function(OPTIMIZER):
            self.optimizer.step()
        return loss.detach()


class GraphedStep(EagerStep):
    """The whole training step captured once as a CUDA graph and replayed for every batch: one launch
    instead of about a hundred kernel launches (LeNet-5's step is launch-bound on a GPU) and no host
    work between them. As torch.cuda.graphs asks: a few eager steps on a side stream first (they
    are real training steps on the first batches), then the capture, with the optimizer created
    capturable (its step count lives on the device). Each batch is copied into static input
    buffers; a batch of another shape (an epoch's partial last batch) runs eagerly on the same
    parameters, gradients and optimizer state. Where capture fails (an implementation that
    synchronizes, or launches outside the capturing stream), the run goes on eagerly and says why."""

    WARMUP_STEPS = 3

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_function: nn.Module):
        super().__init__(model, optimizer, loss_function)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.failed = False

    def _capture(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.static_images, self.static_labels = images.clone(), labels.clone()
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # the gradients are allocated inside the graph's pool
        with torch.cuda.graph(graph):
            self.static_loss = self.loss_function(self.model(self.static_images), self.static_labels)
            self.static_loss.backward()
            self.optimizer.step()
        self.graph, self.graphed = graph, True

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.graph is None and not self.failed and self.eager_steps >= self.WARMUP_STEPS:
            try:
                self._capture(images, labels)
            except Exception as error:
                self.failed, self.why_not_graphed = True, f"trained ungraphed: capture failed: {first_line(error)}"
                self.optimizer.zero_grad(set_to_none=True)
        if self.graph is not None and images.shape == self.static_images.shape:
            self.static_images.copy_(images)
            self.static_labels.copy_(labels)
            self.graph.replay()
            return self.static_loss.detach().clone()  # the next replay overwrites static_loss
        if self.graph is None and not self.failed:  # warm-up: eager, on a side stream
            self.eager_steps += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = super().__call__(images, labels)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        return super().__call__(images, labels)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Test accuracy in percent, in batches of 1000 from tensors already on the device."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            correct += (model(images[start : start + 1000]).argmax(1) == labels[start : start + 1000]).sum().item()
    model.train()
    return 100.0 * correct / len(images)


def failed_row(impl: Implementation, config: TrainConfig, status: Status, detail: str) -> dict:
    """The row of a run that did not train, or stopped: epoch 0, beside any epochs it finished."""
    return dict(
        op=impl.op.name,
        implementation=impl.name,
        device=config.device,
        loader=config.loader,
        seed=config.seed,
        lr=config.lr,
        batch_size=config.batch_size,
        epochs=config.epochs,
        max_batches=config.max_batches or 0,
        epoch=0,
        status=status,
        detail=detail,
    )


def train(impl: Implementation, config: TrainConfig, csv: str | Path | None = None) -> list[dict]:
    """Train LeNet-5 with impl as every activation; returns one row per epoch, each also saved to csv as it ends."""
    with settings([impl]):
        return _train(impl, config, csv)


def _train(impl: Implementation, config: TrainConfig, csv: str | Path | None) -> list[dict]:
    device = config.device
    torch.manual_seed(config.seed)  # the same initial weights for every implementation
    model = lenet5(impl, impl.name, impl.op).to(device)
    optimizer = torch.optim.NAdam(model.parameters(), lr=config.lr, capturable=config.graph)
    step_function = (GraphedStep if config.graph else EagerStep)(model, optimizer, nn.CrossEntropyLoss())
    generator = torch.Generator().manual_seed(config.seed)  # the same batch order for every implementation
    test_images, test_labels = (t.to(device) for t in data.load_tensors(config.data_root, train=False))
    if config.loader == "device":
        train_images, train_labels = (t.to(device) for t in data.load_tensors(config.data_root, train=True))
        n_samples = len(train_images)
        batches = lambda: data.device_batches(train_images, train_labels, config.batch_size, generator)  # noqa: E731
    else:
        loader = data.dataloader(config.data_root, True, config.batch_size, generator)
        n_samples = len(loader.dataset)
        batches = lambda: iter(loader)  # noqa: E731
    steps_per_epoch = -(-n_samples // config.batch_size)
    if config.max_batches:
        steps_per_epoch = min(steps_per_epoch, config.max_batches)
    writer = None
    if config.logdir:
        from torch.utils.tensorboard import SummaryWriter

        seed = f"-seed{config.seed}" if config.seed else ""  # the default seed keeps the folder names of one-seed runs
        run_folder = Path(config.logdir) / f"{impl.op.name}-{impl.name}-{config.loader}-{device}{seed}"
        shutil.rmtree(run_folder, ignore_errors=True)  # a re-run's curve must not overlap the last one's
        writer = SummaryWriter(str(run_folder))
    rows, step = [], 0
    try:
        for epoch in range(1, config.epochs + 1):
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            step_losses, sizes = [], []
            synchronize(device)
            start = time.perf_counter()
            with GpuUtilizationSampler(device) as utilization:
                progress = tqdm(
                    batches(), total=steps_per_epoch, leave=False, desc=f"{impl.op.name} {impl.name} epoch {epoch}"
                )
                for batch, (images, labels) in enumerate(progress):
                    if batch == steps_per_epoch:
                        break
                    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                    # No loss.item() here: it would wait for the device every step. The losses stay on
                    # the device and are read once, after the epoch.
                    step_losses.append(step_function(images, labels))
                    sizes.append(len(labels))
                synchronize(device)
            epoch_s = time.perf_counter() - start
            losses = torch.stack(step_losses).double().cpu()
            seen = sum(sizes)
            train_loss = float((losses * torch.tensor(sizes, dtype=torch.float64)).sum()) / seen
            if writer:
                for value in losses.tolist():
                    step += 1
                    writer.add_scalar("Loss/Train", value, step)
            if not math.isfinite(train_loss):
                first = int((~losses.isfinite()).nonzero()[0].item())
                raise NonFiniteLoss(
                    f"{impl.name}: training loss became {losses[first].item()} at step {first + 1} "
                    f"of epoch {epoch}; training stopped"
                )
            accuracy = evaluate(model, test_images, test_labels)
            row = dict(
                op=impl.op.name,
                implementation=impl.name,
                device=device,
                loader=config.loader,
                seed=config.seed,
                epoch=epoch,
                status=Status.OK,
                train_loss=train_loss,
                test_accuracy=accuracy,
                epoch_s=epoch_s,
                samples_per_s=seen / epoch_s,
                samples=seen,
                batch_size=config.batch_size,
                lr=config.lr,
                epochs=config.epochs,
                max_batches=config.max_batches or 0,  # 0: every batch of an epoch
                # CUDA: the allocator's peak in this epoch. CPU: the process's peak resident set so far
                # (it never falls, so an epoch that leaks shows as growth from one row to the next).
                peak_memory_mb=(
                    torch.cuda.max_memory_allocated() / 2**20
                    if device == "cuda"
                    else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
                gpu_utilization=utilization.mean,
                graphed=step_function.graphed,
                detail=step_function.why_not_graphed,
            )
            rows.append(row)
            if writer:
                writer.add_scalar("Accuracy/Test", accuracy, epoch)
                writer.flush()
            if csv:  # saved as each epoch ends: an interrupted run keeps its finished epochs
                results.save(results.to_frame([row], device), csv, "train", RUN_KEY if epoch == 1 else KEY)
            tqdm.write(
                f"{impl.op.name} {impl.name} [{config.loader}] epoch {epoch}: loss {row['train_loss']:.4f}, "
                f"test accuracy {accuracy:.2f}%, {epoch_s:.1f} s, {row['samples_per_s']:.0f} samples/s"
            )
    finally:
        if writer:
            writer.close()
    return rows
