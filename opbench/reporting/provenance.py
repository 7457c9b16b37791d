"""Where a result came from: device, CPU model, threads, library versions, settings, git sha and time, for every row."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def git_sha() -> str:
    """The checkout's short commit, with '+dirty' when tracked files differ from it; $OPBENCH_GIT_SHA
    where the code runs from a copy without .git (a GPU machine); else 'unknown'."""
    if os.environ.get("OPBENCH_GIT_SHA"):
        return os.environ["OPBENCH_GIT_SHA"]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        # reports/ is what measurements write, not what they run: rewriting a committed report must
        # not mark its own rows '+dirty'.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()


# Environment variables that change what a run measures, one value each per process: the vector ISA of
# ATen's kernels, of oneDNN's (F.gelu's float32 forward) and of cpp's loops (AVX2 stands in for CPUs
# without AVX-512 when all three say so), and PyTorch's huge-page CPU allocations (the fair end-to-end
# baseline for a kernel that asks for huge pages).
SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OPBENCH_CPU_ISA", "THP_MEM_ALLOC_ENABLE")


def settings() -> str:
    """'NAME=value' for each of SETTINGS set in this process, space-separated; '' for the defaults."""
    return " ".join(f"{name}={os.environ[name]}" for name in SETTINGS if os.environ.get(name))


def cpp_isa() -> str:
    """The instruction set of cpp's CPU loops (csrc/cpu_dispatch.h), '' where its extension is not
    loaded in this process. Not a machine condition: OPBENCH_CPU_ISA, which forces it, is in settings."""
    try:
        return torch.ops.opbench.cpu_isa()
    except (AttributeError, RuntimeError):
        return ""


def provenance(device: str) -> dict:
    """The columns stamped on every result row."""
    return {
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "isa": torch.backends.cpu.get_cpu_capability(),  # the vector ISA ATen's CPU kernels dispatch to
        "cpp_isa": cpp_isa(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "python_version": platform.python_version(),
        "git_sha": git_sha(),
        "settings": settings(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
