#!/usr/bin/env bash
# The test suite under the GPU machine's software (torch 2.11.0, its Triton 3.6.0, torchvision 0.26.0):
# a side virtualenv (VENV, default .venv-gpu-stack; about 5 GB from the package registry on first use),
# opbench installed into it without dependencies, then pytest with any arguments given.
#   scripts/test_gpu_stack.sh                 the whole suite
#   scripts/test_gpu_stack.sh tests/test_triton.py
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv-gpu-stack}
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.11.0 torchvision==0.26.0 pandas scipy matplotlib tensorboard ninja tqdm \
    tabulate pytest pytest-benchmark ruff nvidia-cuda-nvdisasm
fi
"$venv/bin/pip" install -q --no-deps --no-build-isolation -e .
"$venv/bin/python" -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
