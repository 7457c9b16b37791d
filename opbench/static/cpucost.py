"""Static cost of the fused CPU GELU kernels, no other CPU needed: instructions per element in the vector loops of
opbench/csrc/cpu_loops.h, beside a twin loop over ATen's own vectorized GELU, for AVX2 and AVX-512 builds.

Why a count and not a time: `cpp` is measured against F.gelu on CPUs this project cannot run on. At 2^16 and
2^20 float32 elements both kernels are compute-bound (2 threads: F.gelu ~105 us, a copy ~42 us on a
Zen 4 EPYC), so their speed ratio follows the ratio of instructions per element, to first order, where
both run the same kind of instructions on the same units. Zen 4 executes a 512-bit instruction as two
256-bit halves, so there an AVX-512 count costs about twice an AVX2 count of the same length; the
comparison that matters is between loops of the same width. The twin is ATen's GELU math
(ATen/native/cpu/Activation.cpp: x * 0.5 * (1 + erf(x / sqrt 2)) forward; dy * (cdf + x * pdf)
backward) written over at::vec::Vectorized<float>, the header-only vector class ATen compiles once
per capability: what F.gelu's backward runs, and its forward where oneDNN does not take over. Where
oneDNN does (float32 forward on x86), its JIT kernel is counted too, dumped by a child process for each
ISA (ONEDNN_JIT_DUMP=1 under ONEDNN_MAX_CPU_ISA): on AVX-512 a per-interval polynomial whose
coefficients a permute picks from the float's bits, no exp and no division.
cpp's float32 GELU backward computes in double (within the ULP budgets, where float math was not), on half
the lanes of a float vector: about twice ATen's count is the floor of that design. On AVX-512 its
forward is the table-driven loop of csrc/cpu_vector_runs.h, in float lanes like oneDNN's; SiLU's forward
uses float pairs.
`python -m opbench.cpucost` prints the table; the loops of the extension actually loaded (one per
instruction set it dispatches to, csrc/cpu_dispatch.h) are checked separately: vectorized, no calls
inside (`native_loops`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from opbench.impls import build
from opbench.impls.cpp import FUSED_SOURCES
from opbench.reporting import provenance, render

# Both loops as plain functions: the GELU loops of cpu_loops.h (for the ISA of the compiler's flags), and
# the twin over ATen's Vectorized<float>, one vector per iteration with the same scalar tail that
# cpu_kernel_vec would hand to its scalar op.
TWIN = r"""
#include <ATen/cpu/vec/vec.h>
#include <cmath>

#define OPBENCH_ISA twin
#include "cpu_loops.h"

using Vec = at::vec::Vectorized<float>;

extern "C" {
void opbench_forward(const float* x, float* y, int64_t n) {
  char* data[] = {reinterpret_cast<char*>(y), const_cast<char*>(reinterpret_cast<const char*>(x))};
  const int64_t strides[] = {4, 4};
  opbench::twin::loop<opbench::Forward<opbench::math::Gelu, float>>(data, strides, n);
}
void opbench_backward(const float* g, const float* x, float* out, int64_t n) {
  char* data[] = {reinterpret_cast<char*>(out), const_cast<char*>(reinterpret_cast<const char*>(g)),
                  const_cast<char*>(reinterpret_cast<const char*>(x))};
  const int64_t strides[] = {4, 4, 4};
  opbench::twin::loop<opbench::Backward<opbench::math::Gelu, float>>(data, strides, n);
}

__attribute__((noinline)) void aten_forward(const float* __restrict x, float* __restrict y, int64_t n) {
  const Vec alpha(float(M_SQRT1_2)), one(1.0f), half(0.5f);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size()) {
    const Vec v = Vec::loadu(x + i);
    (v * half * (one + (v * alpha).erf())).store(y + i);
  }
  for (; i < n; ++i) y[i] = x[i] * 0.5f * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
}

__attribute__((noinline)) void aten_backward(const float* __restrict g, const float* __restrict x,
                                             float* __restrict out, int64_t n) {
  const Vec alpha(float(M_SQRT1_2)), beta(float(M_2_SQRTPI * M_SQRT1_2 * 0.5));
  const Vec one(1.0f), half(0.5f), minus_half(-0.5f);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size()) {
    const Vec v = Vec::loadu(x + i);
    const Vec cdf = half * (one + (v * alpha).erf());
    const Vec pdf = beta * (v * v * minus_half).exp();
    (Vec::loadu(g + i) * (cdf + v * pdf)).store(out + i);
  }
  for (; i < n; ++i) {
    const float cdf = 0.5f * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
    out[i] = g[i] * (cdf + x[i] * float(M_2_SQRTPI * M_SQRT1_2 * 0.5) * std::exp(-0.5f * x[i] * x[i]));
  }
}
}
"""

# The builds a CPU family gets: x86-64-v3 is Haswell-era AVX2 + FMA (Zen 1-3, most laptops), x86-64-v4
# adds AVX-512 F/BW/DQ/VL (Xeon since Skylake-SP, Zen 4); CPU_CAPABILITY picks ATen's matching vectors.
# -mprefer-vector-width=512 and the OPBENCH_* macros as csrc/cpu_loops_<isa>.cpp's: without the first g++ keeps
# AVX-512 code at 256 bits; OPBENCH_AVX512 compiles csrc/cpu_vector_runs.h's tables.
ISAS = {
    "avx2": ["-march=x86-64-v3", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-DOPBENCH_F16C=1"],
    "avx512": [
        "-march=x86-64-v4",
        "-mprefer-vector-width=512",
        "-DCPU_CAPABILITY=AVX512",
        "-DCPU_CAPABILITY_AVX512",
        "-DOPBENCH_F16C=1",
        "-DOPBENCH_AVX512=1",
    ],
}
FUNCTIONS = {
    "opbench_forward": ("opbench", "fwd"),
    "opbench_backward": ("opbench", "bwd"),
    "aten_forward": ("ATen Vectorized (F.gelu's math)", "fwd"),
    "aten_backward": ("ATen Vectorized (F.gelu's math)", "bwd"),
}
LANES = {"xmm": 4, "ymm": 8, "zmm": 16}  # float32 elements in a register


def _flags(isa: str) -> list[str]:
    from torch.utils import cpp_extension

    includes = [f"-I{path}" for path in cpp_extension.include_paths()]
    # The flags of build.CXX_FLAGS that shape code, and the target CPU of csrc/cpu_loops_<isa>.cpp.
    return ["-std=c++20", "-O3", "-fno-trapping-math", "-fPIC", *ISAS[isa], f"-I{build.CSRC}", *includes]


def compile_twin(isa: str) -> str:
    """Disassembly (objdump, AT&T syntax) of the twin's object file for `isa`, cached by source and flags."""
    flags = _flags(isa)
    sources = TWIN + "".join(path.read_text() for path in sorted(build.CSRC.glob("*.h")))
    digest = hashlib.sha256((sources + " ".join(flags)).encode()).hexdigest()[:16]
    folder = build.build_root() / "cpucost"
    folder.mkdir(parents=True, exist_ok=True)
    source, obj = folder / "twin.cpp", folder / f"twin-{isa}-{digest}.o"
    if not obj.exists():
        source.write_text(TWIN)
        partial = obj.with_suffix(".partial.o")
        compiled = subprocess.run(
            ["c++", *flags, "-c", str(source), "-o", str(partial)], capture_output=True, text=True
        )
        if compiled.returncode:
            raise build.BuildError(f"C++ build failed: {build.first_error_line(compiled.stderr)}")
        partial.replace(obj)  # atomic: a half-written object never counts as cached
    return disassemble(obj)


def disassemble(path: str | Path, *options: str) -> str:
    result = subprocess.run(
        ["objdump", "-d", "-r", "--no-show-raw-insn", "-C", *options, str(path)], capture_output=True, text=True
    )
    if result.returncode:
        raise build.BuildError(f"objdump failed on {path}: {result.stderr.strip()}")
    return result.stdout


def functions(disassembly: str) -> dict[str, list[tuple[int, str]]]:
    """Function name -> its instructions as (address, text). A call's text ends with its callee's
    name: from the relocation that follows it in an object file, from <name@plt> in a library."""
    found, current = {}, None
    for line in disassembly.splitlines():
        if header := re.match(r"^[0-9a-f]+ <(.+)>:$", line):
            current = found.setdefault(header.group(1), [])
        elif current is None:
            continue
        elif relocation := re.match(r"^\s+[0-9a-f]+: R_X86_64_\w+\s+([\w.]+)", line):
            if current and current[-1][1].startswith("call"):
                current[-1] = (current[-1][0], f"call {relocation.group(1)}")
        elif instruction := re.match(r"^\s+([0-9a-f]+):\s+(\S.*)$", line):
            current.append((int(instruction.group(1), 16), instruction.group(2).split("#")[0].strip()))
    return found


def _register_width(text: str) -> int:
    return max((LANES[register] for register in re.findall(r"%(xmm|ymm|zmm)\d+", text)), default=0)


def _stored_lanes(text: str) -> int:
    """float32 elements a vector store writes to memory that is not the stack (spills don't count)."""
    store = re.match(r"^vmov\w*\s+%(xmm|ymm|zmm)\d+,\s*(-?0x[0-9a-f]+)?\(([^)]*)\)", text)  # AT&T: destination last
    return LANES[store.group(1)] if store and not re.search(r"%(rsp|rbp)", store.group(3)) else 0


def vector_loops(instructions: list[tuple[int, str]]) -> list[list[str]]:
    """The innermost vector loops of a function, in address order: ranges closed by a backward jump that
    store the function's widest vector registers to memory and hold no other such range."""
    widest = max((_stored_lanes(text) for _, text in instructions), default=0)
    addresses = {address: index for index, (address, _) in enumerate(instructions)}
    ranges = []
    for index, (address, text) in enumerate(instructions):
        jump = re.match(r"^j\w+\s+(?:0x)?([0-9a-f]+)", text)  # "0x39" in a raw dump
        if not widest or not jump or int(jump.group(1), 16) >= address or int(jump.group(1), 16) not in addresses:
            continue
        start = addresses[int(jump.group(1), 16)]
        if any(_stored_lanes(t) == widest for _, t in instructions[start : index + 1]):
            ranges.append((start, index))
    innermost = [(a, b) for a, b in ranges if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in ranges)]
    return [[t for _, t in instructions[a : b + 1]] for a, b in sorted(innermost)]


def vector_loop(instructions: list[tuple[int, str]]) -> list[str]:
    """The main vector loop of a function: the shortest of its innermost vector loops. Empty where no
    loop stores vectors."""
    return min(vector_loops(instructions), key=len, default=[])


def loop_cost(body: list[str], callee_cost=lambda name: 0) -> dict:
    """Instructions per element of a loop body, counting each call's callee (callee_cost) as inline.
    Elements per iteration are the float32 elements it stores: each output element is stored once."""
    elements = sum(_stored_lanes(text) for text in body)
    calls = [text.split()[-1].strip("<>") for text in body if text.startswith("call")]
    instructions = len(body) + sum(callee_cost(name) for name in calls)
    return dict(
        instructions_per_iteration=instructions,
        elements_per_iteration=elements,
        instructions_per_element=instructions / elements if elements else float("nan"),
        calls_in_loop=len(calls),
    )


def sleef_cost(isa: str):
    """Instructions of a SLEEF function that ATen's vectors call (Vectorized<float>::exp is
    Sleef_expf8_u10 on AVX2): the variant for `isa` in libtorch_cpu, plus the dispatcher's jump."""
    library = Path(torch_library_folder(), "libtorch_cpu.so")
    symbols = subprocess.run(["nm", "-S", "-D", "--defined-only", str(library)], capture_output=True, text=True).stdout
    table = {
        parts[3]: (int(parts[0], 16), int(parts[1], 16))
        for parts in map(str.split, symbols.splitlines())
        if len(parts) == 4
    }
    suffix = {"avx2": "avx2", "avx512": "avx512f"}[isa]

    def cost(name: str) -> int:
        variant = name if name.endswith(suffix) else name + suffix
        if variant not in table:
            raise build.BuildError(f"{library}: no {variant}; cannot count the call to {name}")
        start, size = table[variant]
        body = functions(disassemble(library, f"--start-address={start}", f"--stop-address={start + size}"))
        return sum(len(instructions) for instructions in body.values()) + (variant != name)

    return cost


def torch_library_folder() -> str:
    import torch

    return str(Path(torch.__file__).parent / "lib")


def _loop(found: dict, direction: str) -> list[tuple[int, str]]:
    kind = "Forward" if direction == "fwd" else "Backward"
    kernel = f"contiguous_run<opbench::{kind}<opbench::math::Gelu, float, float> >"
    name = next((f for f in found if kernel in f and not f.endswith("@plt")), None)
    if name is None:
        raise build.BuildError(f"no {kernel} in the disassembly (inlined away?)")
    return found[name]


# oneDNN's names for the ISAs of ISAS, for ONEDNN_MAX_CPU_ISA: the JIT code F.gelu's float32 forward runs
# is generated for the best ISA the CPU has, capped by that variable.
ONEDNN_ISAS = {"avx2": "AVX2", "avx512": "AVX512_CORE"}
ONEDNN_FORMULA = "oneDNN JIT (F.gelu's float32 forward)"


def onednn_forward(isa: str) -> list[str] | str:
    """The vector loop of the JIT kernel oneDNN generates for F.gelu's float32 forward under
    ONEDNN_MAX_CPU_ISA for `isa`, dumped by a child process (ONEDNN_JIT_DUMP=1 writes each generated
    kernel to dnnl_dump_*.bin in the working folder); or, where that cannot be had here, why not."""
    with tempfile.TemporaryDirectory(prefix="opbench-onednn-") as folder:
        code = "import torch; torch.nn.functional.gelu(torch.randn(1 << 16))"
        environment = {**os.environ, "ONEDNN_JIT_DUMP": "1", "ONEDNN_MAX_CPU_ISA": ONEDNN_ISAS[isa]}
        ran = subprocess.run([sys.executable, "-c", code], cwd=folder, env=environment, capture_output=True, text=True)
        if ran.returncode:
            return f"the F.gelu child failed: {build.first_error_line(ran.stderr)}"
        loops = []
        for dump in sorted(Path(folder).glob("dnnl_dump_*.bin")):
            listing = disassemble(dump, "-b", "binary", "-mi386:x86-64", "-D").split("\tret")[0]  # code ends at ret
            loops += [loop for loop in map(vector_loop, functions(listing).values()) if loop]
    if not loops:
        return "no JIT kernel was dumped (F.gelu's forward does not run oneDNN on this CPU or torch build)"
    loop = min(loops, key=len)
    lanes, wanted = loop_cost(loop)["elements_per_iteration"], {"avx2": 8, "avx512": 16}[isa]
    if lanes != wanted:  # ONEDNN_MAX_CPU_ISA caps, never raises: this CPU lacks the ISA
        return f"oneDNN generated {lanes}-lane code, not {isa}'s {wanted} lanes: this CPU does not run {isa}"
    return loop


def kernel_costs() -> pd.DataFrame:
    """One row per ISA, formula and direction: the float32 vector loop's instructions per element."""
    rows = []
    for isa in ISAS:
        found = functions(compile_twin(isa))
        for name, (formula, direction) in FUNCTIONS.items():
            # opbench_* are thin wrappers: their loop is in the loop template they call.
            instructions = _loop(found, direction) if formula == "opbench" else found[name]
            rows.append(
                dict(
                    isa=isa,
                    direction=direction,
                    formula=formula,
                    **loop_cost(vector_loop(instructions), sleef_cost(isa)),
                )
            )
        onednn = onednn_forward(isa)
        if isinstance(onednn, str):
            print(f"{ONEDNN_FORMULA}, {isa}: not counted: {onednn}", file=sys.stderr)
        else:
            rows.append(dict(isa=isa, direction="fwd", formula=ONEDNN_FORMULA, **loop_cost(onednn)))
    return pd.DataFrame(rows)


def native_loops(library: str | Path) -> pd.DataFrame:
    """The float32 loops of every op in the extension actually built, one row per instruction set it
    dispatches to, functor and direction."""
    rows = []
    for name, instructions in functions(disassemble(library)).items():
        loop = re.search(
            r"opbench::(\w+)::contiguous_run<opbench::(Gated)?(Forward|Backward)<opbench::math::(\w+), float, float> >",
            name,
        )
        if loop and not name.endswith("@plt"):
            # A gated backward writes its two gradients in two loops over each block (activation_cpu.h):
            # both, per element of the inputs. Inlining copies a loop (GeGLU's in-place and separate
            # paths, cpu_vector_runs.h): copies have the same instructions, so loops count once per length.
            cost = loop_cost(vector_loop(instructions))
            if loop.group(2) and loop.group(3) == "Backward":
                lengths = {len(body): body for body in vector_loops(instructions)}
                costs = [loop_cost(body) for body in lengths.values()]
                if len(costs) == 2:  # each loop per element of its own width, summed
                    cost["instructions_per_element"] = sum(c["instructions_per_element"] for c in costs)
                    cost["instructions_per_iteration"] = sum(c["instructions_per_iteration"] for c in costs)
                else:  # not the two loops this row describes: say so rather than count one
                    cost["instructions_per_element"] = float("nan")
            rows.append(
                dict(
                    isa=loop.group(1),
                    functor=loop.group(4),
                    direction="fwd" if loop.group(3) == "Forward" else "bwd",
                    **cost,
                )
            )
    return pd.DataFrame(rows).sort_values(
        ["isa", "functor", "direction"], ascending=[True, True, False], ignore_index=True
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m opbench.cpucost", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    costs = kernel_costs()
    table = costs.pivot_table(
        index=["direction", "isa"], columns="formula", values="instructions_per_element", sort=False
    )
    table["opbench / ATen"] = table["opbench"] / table["ATen Vectorized (F.gelu's math)"]
    if ONEDNN_FORMULA in table:
        table["opbench / oneDNN"] = table["opbench"] / table[ONEDNN_FORMULA]
    compiler = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(
        f"Instructions per float32 element in the vector loops, {compiler}, opbench {provenance.git_sha()}, "
        f"`python -m opbench.cpucost`\n"
    )
    print(render.tabulate_frame(table.reset_index().round(2), "github"))
    native = native_loops(build.load_extension("opbench", FUSED_SOURCES))
    print("\nThe float32 loops of the extension as built, per instruction set it dispatches to:\n")
    print(render.tabulate_frame(native.round(2), "github"))


if __name__ == "__main__":
    main()
