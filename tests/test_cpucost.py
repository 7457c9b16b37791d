"""The CPU cost model: instructions per element in cpp's vector loops, against ATen's vectorized GELU, for AVX2 and
AVX-512 builds."""

import platform
import re
import shutil

import pytest

from opbench.impls import build, cpp
from opbench.impls.cpp import FUSED_SOURCES
from opbench.static import cpucost

pytestmark = pytest.mark.skipif(
    shutil.which("objdump") is None or shutil.which("c++") is None or platform.machine() != "x86_64",
    reason="counts x86-64 code: needs an x86-64 machine, objdump and a C++ compiler",
)

# A spill and a reload around a call, a 4-wide tail and an 8-wide main loop, as objdump prints them.
SAMPLE = """
0000000000000000 <f>:
   0:	vmovups (%rdi,%rax,1),%ymm0
   6:	vmovaps %ymm0,-0x40(%rbp)
   b:	call   10 <f+0x10>
			c: R_X86_64_PLT32	Sleef_expf8_u10-0x4
  10:	vmovups %ymm0,(%rsi,%rax,1)
  16:	add    $0x20,%rax
  1a:	cmp    %rdx,%rax
  1d:	jne    0 <f>
  1f:	vmovups (%rdi,%rax,1),%xmm0
  25:	vmovups %xmm0,(%rsi,%rax,1)
  2b:	jne    0 <f>
  2d:	ret
"""


def test_the_loop_parser_counts_stores_not_spills_and_names_callees():
    body = cpucost.vector_loop(cpucost.functions(SAMPLE)["f"])
    assert len(body) == 7 and body[2] == "call Sleef_expf8_u10"  # the inner range, not the one with the tail
    cost = cpucost.loop_cost(body, lambda name: 40 if name == "Sleef_expf8_u10" else 0)
    assert cost["elements_per_iteration"] == 8  # the spill to -0x40(%rbp) is not an output
    assert cost["instructions_per_iteration"] == 47 and cost["calls_in_loop"] == 1


# Two loops one after the other inside an outer one (a gated backward's two gradients per block).
TWO_LOOPS = """
0000000000000000 <g>:
   0:	vmovups (%rdi,%rax,1),%zmm0
   6:	vmovups %zmm0,(%rsi,%rax,1)
   c:	jne    0 <g>
   e:	vmulps %zmm0,%zmm0,%zmm1
  14:	vmovups %zmm1,(%rdx,%rax,1)
  1a:	jne    e <g+0xe>
  1c:	jne    0 <g>
  1e:	ret
"""


def test_the_loop_parser_finds_each_innermost_loop():
    loops = cpucost.vector_loops(cpucost.functions(TWO_LOOPS)["g"])
    assert [len(body) for body in loops] == [3, 3]  # not the outer range holding both
    assert cpucost.vector_loop(cpucost.functions(TWO_LOOPS)["g"]) == loops[0]


@pytest.fixture(scope="module")
def costs():
    return cpucost.kernel_costs().set_index(["isa", "direction", "formula"])


# cpp's float32 GELU backward computes in double (opbench/csrc/activation_cpu.h: within the ULP budgets,
# where float math was not): a double vector holds half the lanes of a float one, so twice ATen's float
# instructions per element is the floor of that design; 2.5x bounds everything above the floor. The
# forward's float tables (csrc/cpu_vector_runs.h) are held to the same bound.
DOUBLE_MATH_COST_LIMIT = 2.5


@pytest.mark.parametrize("isa", list(cpucost.ISAS))
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_cpp_costs_at_most_its_double_math_bound_per_element(costs, isa, direction):
    """Compute-bound at 2^16-2^20 on 2 threads, instructions per element in loops of the same width set
    the speed on any core: this is how cpp's cost against F.gelu's math is held on CPUs the project
    cannot run on (AVX-512 on Zen 4 runs both at half rate alike)."""
    ours = costs.loc[(isa, direction, "opbench")]
    theirs = costs.loc[(isa, direction, "ATen Vectorized (F.gelu's math)")]
    assert ours.calls_in_loop == 0, ours
    assert ours.elements_per_iteration == (16 if isa == "avx512" else 8), ours  # full-width vectors
    assert ours.instructions_per_element <= DOUBLE_MATH_COST_LIMIT * theirs.instructions_per_element, (ours, theirs)


def test_the_built_extension_runs_vector_loops_without_calls():
    """The extension as loaded, in every vector instruction set it dispatches to: for every op, both paths of
    at::parallel_for reach one out-of-line loop, vectorized at the ISA's full width, with no calls left in it
    (a g++ inlining failure once put a scalar call to gaussian_tail on every element of the single-thread
    path: 8x slower)."""
    native = cpucost.native_loops(build.load_extension("opbench", FUSED_SOURCES))
    vector = native[native.isa != "scalar"]
    assert set(vector.isa) == {"avx2", "avx512"}, native
    assert len(vector) == 2 * 2 * len(cpp.KERNEL_OPS + cpp.GATED_OPS), native  # every op's forward and backward
    assert (vector.calls_in_loop == 0).all(), vector
    assert (vector.elements_per_iteration == vector.isa.map({"avx2": 8, "avx512": 16})).all(), vector
    assert vector.instructions_per_element.notna().all(), vector  # each row counted, gated backwards too


@pytest.mark.parametrize("isa", list(cpucost.ISAS))
def test_onednn_jit_forward_is_counted_from_its_dump(isa):
    """F.gelu's float32 forward runs oneDNN's JIT code on x86, not ATen's loop: the cost model counts
    the kernel oneDNN actually generated for `isa`, or says why it cannot."""
    loop = cpucost.onednn_forward(isa)
    if isinstance(loop, str):
        pytest.skip(loop)
    cost = cpucost.loop_cost(loop)
    assert cost["calls_in_loop"] == 0 and cost["elements_per_iteration"] == (16 if isa == "avx512" else 8), loop
    assert loop[-1].startswith("j") and 10 < cost["instructions_per_iteration"] < 200, loop  # one loop, not the kernel


# Instructions a baseline x86-64 CPU lacks: every AVX, AVX-512 and FMA one starts with v (VEX/EVEX) or
# is a mask-register k one; BMI's and MOVBE. (tzcnt is left out: g++ emits rep bsf for any x86-64, which
# objdump prints as tzcnt.)
BEYOND_BASELINE = re.compile(
    r"^(v|k[a-z]+\s)|^(andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|movbe)\s"
)


def test_no_code_outside_the_isa_loops_needs_more_than_baseline_x86_64():
    """The extension runs on every x86-64 CPU: only the loops in opbench::avx2 and opbench::avx512
    (chosen after __builtin_cpu_supports says yes) may use AVX2, AVX-512, FMA or BMI instructions;
    an inline function or static initializer compiled under their target pragmas and merged into
    code that runs on any CPU would fault there with SIGILL."""
    library = build.load_extension("opbench", FUSED_SOURCES)
    offenders = {
        name: text
        for name, instructions in cpucost.functions(cpucost.disassemble(library)).items()
        if not re.search(r"opbench::(avx2|avx512)::", name)
        for _, text in instructions
        if BEYOND_BASELINE.match(text)
    }
    assert offenders == {}, list(offenders.items())[:5]
