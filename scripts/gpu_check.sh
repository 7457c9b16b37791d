#!/usr/bin/env bash
# The one prepared GPU run, ordered by value: what only a GPU gives comes first, each step capped.
#
#   scripts/gpu_check.sh OUT            on a machine with a CUDA GPU (the real run)
#   scripts/gpu_check.sh --dry-run OUT  every step on the CPU, tiny, in under 3 minutes (CI runs it)
#
# The GPU machine: no network, python3 with torch, torchvision, triton, pytest, pytest-benchmark,
# pandas, matplotlib, tensorboard, ninja, tqdm, tabulate, scipy and nvidia-ml-py installed ($PYTHON,
# default python3); nothing of ours. MNIST comes from $OPBENCH_DATA (a folder holding MNIST/raw with
# the raw or .gz files); where the checkout was copied without .git, set OPBENCH_GIT_SHA to its
# commit (every CSV row records it). Everything lands in OUT: logs, CSVs, TensorBoard runs,
# environment.txt, steps.txt, RUNS.md (each step's command, exit status and time, after the
# environment) and the report written from them on the same machine (README.md, plots/).
#
# Steps, each with its own cap inside the overall budget (OPBENCH_GPU_BUDGET_S, default 450 s), and
# an estimate of its time on an H200 (from the dry run's step times, the last GPU run's 53 s build,
# and the H200's copy bandwidth of about 4.3 TB/s device to device):
#   step      cap   estimate  what
#   install    30     15 s    pip install --no-deps -e .
#   build     120     55 s    opbench build --cuda (the C++ and CUDA extensions)
#   tests     120     60 s    the cuda-marked tests
#   check      60     25 s    opbench check --device cuda --op all
#   bench     120     75 s    CUDA implementations and torch, fp32 and bf16, fwd/bwd/fwd+bwd, 2^24 and
#                             2^26, --outputs both: 36 cases, 6 passes of 2 rounds
#   train      90     45 s    graphed LeNet-5, 10 epochs: `cuda` and `torch` of every op
#   train_others 60   20 s    every other CUDA implementation for TRAIN_EPOCHS_OTHERS epochs (default 2)
#   profile    40     20 s    the activation's share of a step, every op
#   report     40     15 s    opbench report --from OUT --out OUT (REPORT_RESERVE_S, 30 s, is kept for it:
#                             no step before it may eat into that)
#                    ----
#                    330 s    (under 7 minutes; the budget leaves room for start-up and a slow step)
# The dry run replaces what needs a GPU by its CPU stand-in: the CUDA build still compiles with nvcc,
# the tests are the GPU-less ones of the CUDA and Triton files (the host grid shim, the Triton
# interpreter), and every opbench step runs with --device cpu on tiny sizes and one short epoch.
set -uo pipefail

usage="usage: scripts/gpu_check.sh [--dry-run] OUT"
dry=0 out=""
for arg in "$@"; do
  case $arg in
    --dry-run) dry=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $arg ($usage)" >&2; exit 2 ;;
    *) [[ -z $out ]] || { echo "gpu_check.sh: one OUT folder, got $out and $arg ($usage)" >&2; exit 2; }
       out=$arg ;;
  esac
done
[[ -n $out ]] || { echo "gpu_check.sh: no OUT folder ($usage)" >&2; exit 2; }
if ! mkdir -p "$out" 2>/dev/null || ! [[ -d $out && -w $out ]]; then
  echo "gpu_check.sh: OUT $out is not a writable folder" >&2; exit 2
fi
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export OPBENCH_DATA="${OPBENCH_DATA:-$PWD/data}" PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
deadline=$(( $(date +%s) + ${OPBENCH_GPU_BUDGET_S:-450} ))
python=${PYTHON:-python3}  # the interpreter whose packages the run uses
status=0
: > "$out/steps.txt"

reserve=${REPORT_RESERVE_S:-30}  # seconds kept for the report, the last step
epochs_others=${TRAIN_EPOCHS_OTHERS:-2}
[[ $epochs_others =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check.sh: TRAIN_EPOCHS_OTHERS=$epochs_others is not at least 1" >&2; exit 2; }

step() {  # step NAME CAP COMMAND...: run for at most CAP s (and what is left), log to OUT/NAME.log
  local name=$1 cap=$2; shift 2
  local keep=$reserve
  [[ $name == report ]] && keep=0
  local left=$(( deadline - $(date +%s) - keep ))
  (( cap < left )) || cap=$left
  if (( cap < 5 )); then echo "$name: skipped, out of time" | tee -a "$out/steps.txt"; status=1; return; fi
  local start=$(date +%s)
  timeout --kill-after=5 "$cap" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc after $(( $(date +%s) - start )) s (cap $cap s)" | tee -a "$out/steps.txt"
  printf -- '- %s: `%s`: exit %s after %s s\n' "$name" "$*" "$rc" "$(( $(date +%s) - start ))" >> "$out/RUNS.md"
  (( rc == 0 )) || status=1
}

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "git: ${OPBENCH_GIT_SHA:-$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)}"
  echo "mode: $( ((dry)) && echo "dry run (CPU)" || echo "GPU" )"
  ((dry)) || nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  "$python" -c "import sys, torch; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  "$python" -m pip list 2>/dev/null | grep -iE "^(torch|torchvision|triton|pytest|pandas|matplotlib|tensorboard|ninja|nvidia-ml-py) "
  nvcc --version 2>/dev/null | tail -n 2
} > "$out/environment.txt" 2>&1
{ echo "# How this run was made"; echo; echo '```'; cat "$out/environment.txt"; echo '```'; echo; } > "$out/RUNS.md"

opbench=("$python" -m opbench.cli)
if ((dry)); then
  device=cpu impls=(--impl torch --impl cpp) first=(--impl cpp --impl torch) others=(--impl python)
  sizes=2^10 epochs=1 epochs_others=1 short=(--max-batches 20) profile=(--steps 5 --warmup 2 --rounds 2)
  tests=(tests/test_cuda.py tests/test_triton.py)
else
  device=cuda impls=(--impl torch --impl cuda --impl triton) first=(--impl cuda --impl torch)
  others=(--impl triton --impl compiled --impl python)
  sizes=2^24,2^26 epochs=10 short=() profile=(--steps 50 --rounds 10)
  tests=(-m cuda tests/)
fi

step install 30 "$python" -m pip install --no-deps --no-build-isolation -e .
step build 120 "${opbench[@]}" build --cuda
step tests 120 "$python" -m pytest -q -p no:cacheprovider "${tests[@]}" --junitxml="$out/pytest.xml"
step check 60 "${opbench[@]}" check --op all --device "$device" "${impls[@]}" --csv "$out/check.csv"
step bench 120 "${opbench[@]}" bench --op all --device "$device" "${impls[@]}" --sizes "$sizes" --rounds 2 \
  --dtype float32 --dtype bfloat16 --direction fwd,bwd,fwd+bwd --outputs both --csv "$out/bench.csv"
step train 90 "${opbench[@]}" train --op all --device "$device" "${first[@]}" --epochs "$epochs" \
  --loader device "${short[@]}" --csv "$out/train.csv" --logdir "$out/runs"
step train_others 60 "${opbench[@]}" train --op all --device "$device" "${others[@]}" --epochs "$epochs_others" \
  --loader device "${short[@]}" --csv "$out/train.csv" --logdir "$out/runs"
step profile 40 "${opbench[@]}" profile --op all --device "$device" "${first[@]}" "${profile[@]}" \
  --csv "$out/profile.csv"
step report 40 "${opbench[@]}" report --from "$out" --out "$out"
exit $status
