"""Shared fixtures: a clean registry around tests that register implementations, and a GPU marker."""

import pytest
import torch

import opbench
from opbench.spec import registry

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is visible")


@pytest.fixture
def scratch_registry():
    """Ops defined and implementations registered inside the test are removed afterwards."""
    ops, implementations = set(registry._OPS), set(registry._REGISTRY)
    yield opbench
    for name in set(registry._OPS) - ops:
        registry.undefine_op(name)
    for op, name in set(registry._REGISTRY) - implementations:
        registry.unregister(name, op)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def _local_mnist():
    """MNIST where the CLI looks for it: $OPBENCH_DATA, then ./data at the project root (where
    `opbench report --quick` puts it), raw or .gz files. Tests never download and never look outside."""
    import os
    from pathlib import Path

    for candidate in (os.environ.get("OPBENCH_DATA"), Path(__file__).resolve().parents[1] / "data"):
        raw = Path(candidate) / "MNIST" / "raw" if candidate else None
        if raw and any((raw / f"train-images-idx3-ubyte{suffix}").exists() for suffix in ("", ".gz")):
            return Path(candidate)
    return None


LOCAL_MNIST = _local_mnist()
requires_mnist = pytest.mark.skipif(
    LOCAL_MNIST is None, reason="no MNIST in $OPBENCH_DATA or ./data (`opbench data` fetches it); tests never download"
)
