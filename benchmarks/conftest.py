"""Parameters of the pytest-benchmark suites: sizes, dtypes and devices, small by default.

OPBENCH_BENCH_FULL=1 selects the full sweep (powers of 4 up to 2^24 on CPU, 2^28 on CUDA);
OPBENCH_BENCH_SIZES=1024,4096 picks sizes explicitly (the test suite's smoke run uses a tiny one).
"""

import os

import torch

from opbench.spec import inputs
from opbench.spec.devices import device_present
from opbench.timing import bench, casetimer


def sizes(device: str) -> list[int]:
    if os.environ.get("OPBENCH_BENCH_SIZES"):
        return [inputs.parse_size(s) for s in os.environ["OPBENCH_BENCH_SIZES"].split(",")]
    return (bench.DEFAULT_SIZES if os.environ.get("OPBENCH_BENCH_FULL") else bench.QUICK_SIZES)[device]


DEVICES = [d for d in ("cpu", "cuda") if device_present(d)]
DTYPES = [torch.float32, torch.bfloat16]
# Rounds per benchmark (OPBENCH_BENCH_ROUNDS), as many as `opbench bench` times by default (all passes').
ROUNDS = int(os.environ.get("OPBENCH_BENCH_ROUNDS", casetimer.ROUNDS * casetimer.PASSES))
