#!/usr/bin/env bash
# The one prepared GPU run. On a machine with a CUDA GPU, no network, and python3 with torch,
# torchvision, pytest, pytest-benchmark, pandas, matplotlib, tensorboard and ninja installed: install
# opbench without dependencies, build the extensions, run the tests marked cuda, then for every op
# (gelu, gelu-tanh, silu): train LeNet-5 for 10 epochs per implementation (graphed step), profile the
# activation's share of a step, `opbench check --device cuda` and the CUDA benchmark sweep. Everything lands in the
# folder given as $1 (logs, CSVs, TensorBoard runs, environment.txt). MNIST comes from $OPBENCH_DATA
# (a folder holding MNIST/raw with the raw or .gz files). Each step gets what is left of an overall
# budget (OPBENCH_GPU_BUDGET_S, default 450 s), so the script always stops by itself. Where the
# checkout was copied without .git, set OPBENCH_GIT_SHA to its commit: every CSV row records it.
set -uo pipefail
out=$(mkdir -p "${1:?usage: scripts/gpu_check.sh OUTPUT_DIR}" && cd "$1" && pwd)
cd "$(dirname "$0")/.."
export OPBENCH_DATA="${OPBENCH_DATA:-$PWD/data}" PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
deadline=$(( $(date +%s) + ${OPBENCH_GPU_BUDGET_S:-450} ))
status=0

step() {  # step NAME COMMAND...: run with the time left, log to $out/NAME.log, record its exit status
  local name=$1; shift
  local left=$(( deadline - $(date +%s) ))
  if (( left < 10 )); then echo "$name: skipped, out of time" | tee -a "$out/steps.txt"; status=1; return; fi
  local start=$(date +%s)
  timeout --kill-after=5 "$left" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc after $(( $(date +%s) - start )) s" | tee -a "$out/steps.txt"
  (( rc == 0 )) || status=1
}

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "git: ${OPBENCH_GIT_SHA:-$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)}"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  python3 -c "import torch, sys; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version()); print('gpu', torch.cuda.get_device_name(), torch.cuda.get_device_capability())"
  python3 -m pip list 2>/dev/null | grep -iE "^(torch|torchvision|triton|pytest|pytest-benchmark|pandas|matplotlib|tensorboard|ninja|nvidia-ml-py) "
  nvcc --version | tail -n 2
} > "$out/environment.txt" 2>&1

opbench=(python3 -m opbench.cli)
step install python3 -m pip install --no-deps --no-build-isolation -e .
step build "${opbench[@]}" build --cuda
step tests python3 -m pytest -q -p no:cacheprovider -m cuda tests/ --junitxml="$out/pytest_cuda.xml"
# Training first: the 10-epoch accuracy of every CUDA implementation is what only a GPU run gives.
# The step is replayed as one CUDA graph (the default with --loader device on CUDA); one more epoch
# with the lab's DataLoader (GELU only) compares input pipelines. Then the activation's share of a
# step, the checks and the sweep, each with what is left of the budget.
step train "${opbench[@]}" train --op all --impl all --device cuda --epochs 10 --loader device \
  --csv "$out/train.csv" --logdir "$out/runs"
step train_dataloader "${opbench[@]}" train --impl all --device cuda --epochs 1 --loader dataloader \
  --csv "$out/train.csv" --logdir "$out/runs"
step profile "${opbench[@]}" profile --op all --device cuda --steps 50 --rounds 10 --csv "$out/profile.csv"
step check "${opbench[@]}" check --op all --device cuda --csv "$out/check.csv"
step bench "${opbench[@]}" bench --op all --device cuda --quick --sizes 2^20,2^24,2^26 \
  --dtype float32 --dtype bfloat16 --csv "$out/bench.csv"
exit $status
