"""Static cost of the CUDA activation kernels, no GPU needed: registers, occupancy and instructions per element in the
vector loop of their SASS, beside F.gelu's formula compiled into the same loop.

An elementwise kernel is bandwidth-bound only while its arithmetic keeps up with memory. An H200 issues
132 SMs x 4 warps x 32 threads x 1.98 GHz = 33e12 thread-instructions per second; at the 4.1 TB/s
its copy reached, that is 32 instructions per element for a bfloat16 forward (4 bytes moved per
element), 48 for its backward (6 bytes), and twice those in float32, all at perfect issue. The counts
here say how close a kernel comes. Run `python -m opbench.sass [--arch sm_90]`; it needs nvcc and nvdisasm
(the CUDA toolkit, or pip's nvidia-cuda-nvdisasm).
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from opbench.impls import build
from opbench.reporting import provenance

# ATen's GELU (ActivationGeluKernel.cu, approximate='none': erff for the cdf, expf for the pdf), in the
# same grid-stride loop and storage conversions as ours, so that the counts differ only by the math.
TORCH_FORMULA_TWIN = r"""
#include "activation_kernel.cu"

namespace opbench {
namespace cuda {
namespace {
template <typename T>
struct TorchForward {
  __device__ T operator()(T x) const {
    const float v = to_opmath(x);
    return to_storage(v * 0.5f * (1.0f + erff(v * 0.70710678f)), T{});
  }
};
template <typename T>
struct TorchBackward {
  __device__ T operator()(T grad, T x) const {
    const float v = to_opmath(x);
    const float cdf = 0.5f * (1.0f + erff(v * 0.70710678f));
    const float pdf = expf(-0.5f * v * v) * 0.39894228f;
    return to_storage(to_opmath(grad) * (cdf + v * pdf), T{});
  }
};
template <typename T>
void instantiate(T) {
  launch<1, T>(0, TorchForward<T>{}, nullptr, nullptr, nullptr, nullptr);
  launch<2, T>(0, TorchBackward<T>{}, nullptr, nullptr, nullptr, nullptr);
}
}  // namespace
void instantiate_torch_formula() {
  instantiate(float{});
  instantiate(__half{});
  instantiate(__nv_bfloat16{});
}
}  // namespace cuda
}  // namespace opbench
"""

DTYPES = {"f": ("float32", 4), "d": ("float64", 8), "6__half": ("float16", 2), "13__nv_bfloat16": ("bfloat16", 2)}
# elementwise_kernel<kInputs, T, Op>, mangled: ...elementwise_kernelILi1EfNS1_7ForwardINS0_4math4GeluEfEEEE...
# The functors of activation_math.h as they appear mangled (with their length); the twin is F.gelu's formula.
OPS = {"8GeluTanh": "gelu-tanh", "4Silu": "silu", "4Gelu": "gelu"}
KERNEL = re.compile(r"elementwise_kernelILi\dE(f|d|6__half|13__nv_bfloat16)NS\d_\d+(Torch)?(Forward|Backward)")
# sm_80 and sm_90: 64K registers and at most 2048 resident threads per SM, registers allocated to a
# thread in steps of 8; activation_kernel.cu launches 256 threads per block.
REGISTERS_PER_SM, MAX_THREADS_PER_SM, THREADS_PER_BLOCK = 65536, 2048, 256


def toolkit_binary(name: str) -> str:
    return str(Path(build.find_cuda_home(), "bin", name))


def find_nvdisasm() -> str:
    candidates = [shutil.which("nvdisasm"), toolkit_binary("nvdisasm")]
    try:
        import nvidia  # pip's CUDA tool wheels install under this namespace package

        candidates += [path for root in nvidia.__path__ for path in glob.glob(f"{root}/*/bin/nvdisasm")]
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise build.BuildError("nvdisasm not found: install the CUDA toolkit's or `pip install nvidia-cuda-nvdisasm`")


def resident_threads(registers: int) -> int:
    per_thread = math.ceil(registers / 8) * 8
    blocks = REGISTERS_PER_SM // (per_thread * THREADS_PER_BLOCK)
    return min(MAX_THREADS_PER_SM, blocks * THREADS_PER_BLOCK)


def _compile(arch: str, folder: Path) -> tuple[str, str]:
    """(SASS text, ptxas report) of activation_kernel.cu and its F.gelu twin, in one cubin."""
    source, cubin = folder / "twin.cu", folder / "twin.cubin"
    source.write_text(TORCH_FORMULA_TWIN)
    compiled = subprocess.run(
        [
            toolkit_binary("nvcc"),
            *build.NVCC_FLAGS,
            "-std=c++17",
            f"-arch={arch}",
            "-cubin",
            "-Xptxas",
            "-v",
            f"-I{build.CSRC}",
            str(source),
            "-o",
            str(cubin),
        ],
        capture_output=True,
        text=True,
    )
    if compiled.returncode:
        raise build.BuildError(f"nvcc failed: {build.first_error_line(compiled.stderr)}")
    sass = subprocess.run([find_nvdisasm(), "-c", str(cubin)], capture_output=True, text=True, check=True)
    return sass.stdout, compiled.stderr


def _resources(ptxas_report: str) -> dict[str, tuple[int, int]]:
    """mangled kernel name -> (registers, spill bytes stored and loaded)."""
    found, name, spills = {}, None, 0
    for line in ptxas_report.splitlines():
        if match := re.search(r"Compiling entry function '(\w+)'", line):
            name = match.group(1)
        elif match := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line):
            spills = int(match.group(1)) + int(match.group(2))
        elif (match := re.search(r"Used (\d+) registers", line)) and name:
            found[name] = (int(match.group(1)), spills)
    return found


def _vector_loops(sass: str) -> dict[str, list[str]]:
    """mangled kernel name -> the instructions of its vector loop: from the label that the first
    backward branch after the 128-bit store jumps to, through that branch."""
    loops = {}
    for section in re.split(r"\n\.text\.", sass)[1:]:
        name = section.split(":", 1)[0]
        lines = section.splitlines()
        labels = {line[:-1]: index for index, line in enumerate(lines) if re.fullmatch(r"\.L_x_\d+:", line)}
        store = next((i for i, line in enumerate(lines) if "STG.E.128" in line), None)
        if store is None:
            continue
        for index in range(store, len(lines)):
            branch = re.search(r"\bBRA `\((\.L_x_\d+)\)", lines[index])
            if branch and labels.get(branch.group(1), len(lines)) < index:
                body = lines[labels[branch.group(1)] : index + 1]
                loops[name] = [line.split(";")[0].strip() for line in body if re.match(r"\s+/\*[0-9a-f]+\*/", line)]
                break
    return loops


def kernel_stats(arch: str = "sm_90") -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        sass, report = _compile(arch, Path(folder))
    resources, loops = _resources(report), _vector_loops(sass)
    rows = []
    for name, body in loops.items():
        match = KERNEL.search(name)
        dtype, size = DTYPES[match.group(1)]
        per_pack = 16 // size  # elements per 16-byte pack, one pack per input per iteration
        registers, spill_bytes = resources[name]
        opcodes = [re.sub(r"^@!?U?P\w+\s+", "", line.split("*/", 1)[1].strip()).split(" ")[0] for line in body]
        rows.append(
            dict(
                op=next((op for mangled, op in OPS.items() if mangled in name), "gelu"),
                formula="F.gelu (erff, expf)" if match.group(2) else "opbench",
                direction="fwd" if match.group(3) == "Forward" else "bwd",
                dtype=dtype,
                registers=registers,
                spill_bytes=spill_bytes,
                resident_threads_per_sm=resident_threads(registers),
                instructions_per_element=len(body) / per_pack,
                mufu_per_element=sum(op.startswith("MUFU") for op in opcodes) / per_pack,
                slow_path_calls=sum(op.startswith("CALL") for op in opcodes),
            )
        )
    return pd.DataFrame(rows).sort_values(
        ["op", "direction", "dtype", "formula"], ascending=[True, False, True, False], ignore_index=True
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m opbench.sass", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90", help="GPU architecture to compile for (default sm_90)")
    args = parser.parse_args(argv)
    stats = kernel_stats(args.arch)
    nvcc = subprocess.run([toolkit_binary("nvcc"), "--version"], capture_output=True, text=True)
    release = next(line for line in nvcc.stdout.splitlines() if "release" in line)
    print(
        f"Static cost of the vector loops of opbench/csrc/activation_kernel.cu: {args.arch}, "
        f"{THREADS_PER_BLOCK} threads per block, {release}, "
        f"opbench {provenance.git_sha()}, `python -m opbench.sass --arch {args.arch}`\n"
    )
    print(tabulate(stats, headers="keys", tablefmt="github", showindex=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
