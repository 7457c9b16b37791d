"""The pipeline as a library: check, sweep, train, profile and report take implementations and config objects
(SweepConfig, TrainConfig, ProfileConfig) and return frames or write files;
the CLI only parses arguments and calls these.

Each step returns a Run: its long frame (the rows also saved to `csv` as they finish, when given) and
failures, one line each, for what could not do as asked. Nothing here prints.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

import opbench.correctness.accuracy
import opbench.correctness.check
import opbench.reporting.report
import opbench.training.train
from opbench.core import BASELINE, IMPLEMENTATION_ERRORS, Status, describe
from opbench.reporting import render, results
from opbench.spec import registry
from opbench.spec.registry import Implementation
from opbench.timing import bench
from opbench.training import data, stepprofile
from opbench.training.stepprofile import ProfileConfig
from opbench.training.train import TrainConfig


@dataclass
class Run:
    frame: pd.DataFrame
    failures: list[str] = field(default_factory=list)


def label(impl: Implementation) -> str:
    """How messages name an implementation: 'cpp (silu)'."""
    return f"{impl.name} ({impl.op.name})"


def check(
    impls: list[Implementation], device: str, dtypes=None, sizes=(), strict: bool = False, csv: str | Path | None = None
) -> Run:
    """Every check of every implementation; failures are the FAIL rows (and deviations when strict)."""
    rows = [row for impl in impls for row in opbench.correctness.check.run_checks(impl, device, dtypes, sizes=sizes)]
    frame = results.to_frame(rows, device)
    if csv and rows:
        results.save(frame, csv, "check", opbench.correctness.check.KEY)
    return Run(
        frame,
        [
            f"{row.implementation} ({row.op}) {row.dtype} {row.check}: {row.detail}"
            for row in opbench.correctness.check.failed(rows, strict)
        ],
    )


def sweep(impls: list[Implementation], config: bench.SweepConfig, csv: str | Path | None = None) -> Run:
    """bench.sweep, its rows saved pass by pass."""
    on_rows = (lambda frame: results.save(frame, csv, "bench", bench.KEY)) if csv else None
    frame = bench.sweep(impls, config, on_rows)
    return Run(frame, sweep_failures(frame))


def sweep_failures(frame: pd.DataFrame) -> list[str]:
    """A FAIL line per implementation and problem of a sweep's rows (bench.failures)."""
    return [
        f"{r.implementation} ({r.op}) {r.dtype} {r.direction} {render.case_label(r)}: {r.status}: {r.detail}"
        for r in bench.failures(frame).itertuples()
    ]


def accuracy(
    impls: list[Implementation],
    device: str,
    dtypes=None,
    inputs: str = "default",
    csv: str | Path | None = None,
    strict: bool = False,
) -> Run:
    """ULP errors of every implementation, op by op and dtype by dtype (correctness.accuracy), each
    op's rows saved as they finish (an interrupted one's finished chunks too); failures are the
    implementations that raised, and with strict those over their ULP budget."""
    frames, failures = [], []
    for op in dict.fromkeys(impl.op for impl in impls):
        for dtype in dtypes or opbench.correctness.accuracy.DTYPES:
            usable = [i for i in impls if i.op == op and dtype in i.dtypes and not i.unavailable_reason(device)]
            if not usable:
                continue
            try:
                rows = opbench.correctness.accuracy.measure(usable, device, dtype, inputs)
            except opbench.correctness.accuracy.Interrupted as stop:
                if csv:
                    results.save(results.to_frame(stop.rows, device), csv, "accuracy", opbench.correctness.accuracy.KEY)
                raise
            frame = results.to_frame(rows, device)
            if csv:
                results.save(frame, csv, "accuracy", opbench.correctness.accuracy.KEY)
            frames.append(frame)
            failing = frame["status"] == Status.ERROR
            if strict:
                failing |= frame["status"] == Status.DEVIATING
            failures += [
                f"{r.implementation} ({r.op}) {r.dtype} {r.direction}: {r.status}: {r.detail}"
                for r in frame[failing].drop_duplicates(["implementation", "direction"]).itertuples()
            ]
    return Run(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), failures)


def record_failure(
    impl: Implementation, configs: list[TrainConfig], status: Status, detail: str, csv: str | Path | None
) -> None:
    """Rows for runs that did not train (failure_frame), beside the epochs they finished."""
    if csv:
        results.save(failure_frame(impl, configs, status, detail), csv, "train", opbench.training.train.KEY)


def failure_frame(impl: Implementation, configs: list[TrainConfig], status: Status, detail: str) -> pd.DataFrame:
    """A row per run that did not train (epoch 0 is no epoch)."""
    rows = [opbench.training.train.failed_row(impl, config, status, detail) for config in configs]
    return results.to_frame(rows, configs[0].device)


def train(
    impls: list[Implementation],
    configs: list[TrainConfig],
    csv: str | Path | None = None,
    min_accuracy: float | None = None,
) -> Run:
    """Each implementation trained under each configuration, after its gate checks; a failure is that
    run's row and line, and the others still train. Missing data (data.DataError) ends the whole call."""
    rows, failures = [], []
    for impl in impls:
        problem = opbench.correctness.check.not_ready(impl, configs[0].device, torch.float32)
        if problem:
            failures.append(f"{label(impl)}: not trained: {problem[0]}: {problem[1]}")
            record_failure(impl, configs, *problem, csv)
            continue
        for config in configs:
            try:
                epochs = opbench.training.train.train(impl, config, csv)
            except data.DataError:
                raise
            except IMPLEMENTATION_ERRORS as error:  # this implementation's failure; the others still train
                detail = describe(error)
                failures.append(f"{label(impl)} [{config.loader}]: {Status.ERROR}: {detail}")
                record_failure(impl, [config], Status.ERROR, detail, csv)
                continue
            rows += epochs
            final = epochs[-1]["test_accuracy"]
            if min_accuracy is not None and final < min_accuracy:
                failures.append(f"{label(impl)} [{config.loader}] ended at {final:.2f}% < {min_accuracy}%")
    return Run(results.to_frame(rows, configs[0].device) if rows else pd.DataFrame(), failures)


PROFILE_KEY = ["op", "implementation", "device"]


def profile(
    impls: list[Implementation],
    device: str,
    config: ProfileConfig | None = None,
    data_root: str | None = None,
    csv: str | Path | None = None,
) -> Run:
    """The activation's share of a training step per implementation, op by op (stepprofile): each op's
    implementations are profiled, then their unprofiled step times taken in interleaved rounds with
    ratios to that op's torch."""
    config = config or ProfileConfig()
    training_config = TrainConfig(device=device, data_root=data_root, loader="device")
    images, labels = stepprofile.training_data(training_config)
    frames, failures = [], []
    with registry.settings(impls):
        for op in dict.fromkeys(impl.op for impl in impls):
            frame, problems = _profile_op(
                [impl for impl in impls if impl.op == op], training_config, config, images, labels
            )
            failures += problems
            if frame is not None:
                frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if csv and len(frame):
        results.save(frame, csv, "profile", PROFILE_KEY)
    return Run(frame, failures)


def _profile_op(impls, training_config: TrainConfig, config: ProfileConfig, images, labels):
    """One op's rows (None if none profiled) and failure lines."""
    device, steppers, profiles, failures = training_config.device, {}, [], []
    for impl in impls:
        problem = opbench.correctness.check.not_ready(impl, device, torch.float32)
        if problem:
            failures.append(f"{label(impl)}: not profiled: {problem[0]}: {problem[1]}")
            continue
        try:
            stepper = stepprofile.Stepper(impl, training_config, images, labels)
            profiles.append(stepprofile.profile(stepper, config))
            steppers[impl.name] = stepper
        except IMPLEMENTATION_ERRORS as error:
            failures.append(f"{label(impl)}: {Status.ERROR}: {describe(error)}")
    step_times, problems = stepprofile.interleaved_step_times(steppers, config)
    failures += [f"{name} ({impls[0].op.name}): {problem}" for name, problem in problems.items()]
    profiles = [p for p in profiles if p.implementation in step_times]
    if not profiles:
        return None, failures
    return results.to_frame(stepprofile.rows(profiles, step_times, BASELINE), device), failures


# --quick: every section with a row for every implementation, in minutes: one size, one round per pass and
# no out= entries (bench.SweepConfig.quick), training on QUICK_BATCHES batches of one epoch with the device
# loader (it learns; its accuracy is not a 10-epoch one, and the report says so), a short step profile.
QUICK_LOADERS = ("device",)
QUICK_BATCHES = 200
QUICK_PROFILE = ProfileConfig(steps=10, warmup=3, rounds=6)


def report(
    out: str | Path,
    device: str = "cpu",
    quick: bool = False,
    data_root: str | None = None,
    command: str = "opbench.pipeline.report",
) -> Path:
    """Measure every op's implementations on `device` (sweep with out= entries, checks, ULP accuracy, training with each
    input pipeline, step profiles) into out/*.csv, replacing any earlier measurement there, and write
    out/README.md from those CSVs. Returns the README's path. Failures are findings of the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in opbench.reporting.report.CSVS:  # a new measurement replaces the old one whole, TensorBoard logs too
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "runs", ignore_errors=True)
    impls = registry.implementations(device)
    # sweep first: its cold calls then see compilation and JIT that the checks would otherwise have done
    outputs = "fresh" if quick else "both"
    sweep_config = (bench.SweepConfig.quick if quick else bench.SweepConfig)(device=device, outputs=outputs)
    sweep(impls, sweep_config, out / "bench.csv")
    check(impls, device, csv=out / "check.csv")
    accuracy(impls, device, csv=out / "accuracy.csv")
    for loader in QUICK_LOADERS if quick else opbench.training.train.LOADERS:
        configs = [
            TrainConfig(
                epochs=1 if quick else 10,
                max_batches=QUICK_BATCHES if quick else None,
                loader=loader,
                device=device,
                data_root=data_root,
                logdir=str(out / "runs"),
                graph=device == "cuda" and loader == "device",
            )
        ]
        train(impls, configs, out / "train.csv")
    profile(impls, device, QUICK_PROFILE if quick else ProfileConfig(), data_root, out / "profile.csv")
    return opbench.reporting.report.write(out, out, command, quick)
