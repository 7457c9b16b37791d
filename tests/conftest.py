"""Shared fixtures: a clean registry around tests that register implementations, and a GPU marker."""

import pytest
import torch

import opbench
from opbench import registry

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is visible")


@pytest.fixture
def scratch_registry():
    """Implementations registered inside the test are removed afterwards."""
    before = set(registry._REGISTRY)
    yield opbench
    for name in set(registry._REGISTRY) - before:
        registry.unregister(name)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def _shared_mnist():
    import os
    from pathlib import Path

    for candidate in (os.environ.get("OPBENCH_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


SHARED_MNIST = _shared_mnist()
requires_mnist = pytest.mark.skipif(SHARED_MNIST is None, reason="no local MNIST (set OPBENCH_DATA); tests never download")
