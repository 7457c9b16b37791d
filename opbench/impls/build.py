"""Just-in-time builds of the C++ and CUDA extensions in opbench/csrc/ through torch.utils.cpp_extension.load."""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import sys
from pathlib import Path

import torch

CSRC = Path(__file__).resolve().parents[1] / "csrc"  # shipped as package data (pyproject.toml)

# No -march: the extension runs on every x86-64 CPU; its vector loops are compiled once per instruction
# set by target pragmas (csrc/cpu_loops_<isa>.cpp) and chosen at load time (csrc/cpu_dispatch.h).
# -fopenmp turns on the OpenMP pragma inside at::parallel_for, which an extension compiles itself.
# -fno-trapping-math: without it g++ keeps every select of activation_math.h as a branch on CPUs without
# AVX-512 masks (a compare may raise an FP exception flag), so on an AVX2-only CPU (an AMD Zen 3
# here) no loop vectorized and `cpp` ran 7x slower than F.gelu; opbench never reads those flags.
CXX_FLAGS = ["-O3", "-fno-trapping-math", "-fopenmp"]
# No --use_fast_math: it would flush subnormals and approximate every division and exp; activation_math.h
# picks the fast GPU primitives only where it bounds their error.
NVCC_FLAGS = ["-O3"]
# Hopper (H100/H200) and Ampere (A100) when no GPU is visible to ask; a visible GPU picks its own.
DEFAULT_CUDA_ARCH_LIST = "8.0;9.0"


class BuildError(RuntimeError):
    """An extension could not be built or loaded; the message is the reason shown to users."""


def build_root() -> Path:
    """Where compiled extensions are cached across runs: $OPBENCH_BUILD_DIR, else ~/.cache/opbench."""
    root = os.environ.get("OPBENCH_BUILD_DIR") or Path.home() / ".cache" / "opbench"
    # One folder per torch version: an extension built against one torch ABI must not load in another.
    return Path(root) / f"torch-{torch.__version__}"


def _toolkit_root(path: str | None) -> str | None:
    return path if path and Path(path, "include", "cuda_runtime.h").exists() else None


def find_cuda_home() -> str:
    """The CUDA toolkit folder: $CUDA_HOME or $CUDA_PATH if set, else the folder nvcc really lives in.

    torch.utils.cpp_extension takes the parent of the nvcc found on PATH, which is wrong when nvcc
    is a wrapper script (here /usr/local/bin/nvcc execs /usr/local/cuda-13.0/bin/nvcc).
    """
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(variable):
            if not _toolkit_root(os.environ[variable]):
                raise BuildError(f"{variable}={os.environ[variable]} holds no include/cuda_runtime.h")
            return os.environ[variable]
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
        text = Path(nvcc).read_bytes()[:4096]
        candidates += [m.decode() for m in re.findall(rb"(/\S+)/bin/nvcc", text)]  # a wrapper's target
    candidates += ["/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    for candidate in candidates:
        if _toolkit_root(candidate) and Path(candidate, "bin", "nvcc").exists():
            return candidate
    raise BuildError("nvcc and the CUDA headers were not found: install the CUDA toolkit or set CUDA_HOME")


# cpp_extension warns on import that no CUDA runtime is found: expected on GPU-less machines, and
# the toolkit it needs for builds is found below.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _configure_cuda_toolchain() -> None:
    """Point cpp_extension at the CUDA toolkit and at target architectures it can't ask a GPU for."""
    os.environ["CUDA_HOME"] = find_cuda_home()
    if "torch.utils.cpp_extension" in sys.modules:
        # It read CUDA_HOME when first imported; point it at the toolkit found above.
        sys.modules["torch.utils.cpp_extension"].CUDA_HOME = os.environ["CUDA_HOME"]
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        # cpp_extension asks the (absent) GPU for its architecture otherwise and fails with IndexError.
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_CUDA_ARCH_LIST


def first_error_line(log: str) -> str:
    """The compiler's first error line in a build log, else its last non-empty line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for pattern in (r"\berror\b.*:|fatal error", r"\berror\b"):  # "file:line: error: ..." first
        for line in lines:
            if re.search(pattern, line, re.IGNORECASE) and not line.startswith(("FAILED:", "ninja:", "Error building")):
                return line
    return lines[-1] if lines else "no output"


# Per build folder: the size and sha256 of each library as its build finished (check_cache reads them).
INTEGRITY = "opbench-integrity.json"


def elf_problem(library: Path) -> str | None:
    """Why `library` cannot be a whole 64-bit ELF file, None if its program and section header tables
    lie inside it. A build killed while linking leaves a truncated file that dlopen maps and then
    faults on (SIGBUS) instead of refusing."""
    size = library.stat().st_size
    with open(library, "rb") as stream:
        header = stream.read(64)
    if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:
        return f"not a 64-bit ELF file ({size} bytes)"
    program_offset, section_offset = struct.unpack_from("<QQ", header, 0x20)
    program_size, programs, section_size, sections = struct.unpack_from("<HHHH", header, 0x36)
    end = max(program_offset + programs * program_size, section_offset + sections * section_size)
    return f"truncated: {size} bytes, its headers end at byte {end}" if end > size else None


def _digest(library: Path) -> dict:
    return {"size": library.stat().st_size, "sha256": hashlib.sha256(library.read_bytes()).hexdigest()}


def _records(build_dir: Path) -> dict:
    """What builds recorded in build_dir; an unreadable record (a kill mid-write) records nothing."""
    try:
        return json.loads((build_dir / INTEGRITY).read_text())
    except (OSError, ValueError):
        return {}


def check_cache(build_dir: Path) -> None:
    """Delete each cached library of build_dir that is not whole (elf_problem) or differs from what its
    build recorded, saying so in one line on stderr: the build that follows links it again."""
    records = _records(build_dir)
    for library in sorted(build_dir.glob("*.so")):
        problem = elf_problem(library)
        recorded = records.get(library.name)
        if problem is None and recorded is not None and recorded != _digest(library):
            problem = "its size or sha256 differs from what its build recorded"
        if problem:
            print(f"opbench: {library}: corrupt build ({problem}); rebuilding", file=sys.stderr)
            library.unlink()


def record_build(library: Path) -> None:
    """Record a finished build's size and digest beside it, for check_cache."""
    records = _records(library.parent)
    records[library.name] = _digest(library)
    temporary = library.parent / f".{INTEGRITY}.{os.getpid()}"
    temporary.write_text(json.dumps(records, indent=1))
    os.replace(temporary, library.parent / INTEGRITY)  # whole or not at all


def clean() -> Path:
    """Empty the build cache (build_root); returns its path."""
    root = build_root()
    shutil.rmtree(root, ignore_errors=True)
    return root


@functools.cache
def load_extension(name: str, sources: tuple[str, ...]) -> str:
    """Compile the sources (paths relative to opbench/csrc/) into the extension `name` and load its ops.

    An unchanged extension is reused from the cache folder, across processes too.
    A source ending in .cu makes it a CUDA build. Returns the shared library's path; raises
    BuildError('C++ build failed: <first compiler error line>') or the CUDA equivalent.
    """
    cuda = any(source.endswith(".cu") for source in sources)
    kind = "CUDA" if cuda else "C++"
    try:
        try:
            _configure_cuda_toolchain()
        except BuildError:
            if cuda:
                raise  # a C++ build needs no toolkit; cpp_extension only warns about its absence
        if shutil.which(os.environ.get("CXX", "c++")) is None:
            raise BuildError(f"{kind} build failed: no C++ compiler ({os.environ.get('CXX', 'c++')}) on PATH")
        from torch.utils import cpp_extension

        build_dir = build_root() / name
        build_dir.mkdir(parents=True, exist_ok=True)
        check_cache(build_dir)
        library = cpp_extension.load(
            name=name,
            sources=[str(CSRC / source) for source in sources],
            extra_include_paths=[str(CSRC)],
            extra_cflags=CXX_FLAGS,
            extra_cuda_cflags=NVCC_FLAGS,
            extra_ldflags=["-fopenmp"],
            build_directory=str(build_dir),
            is_python_module=False,
            verbose=bool(os.environ.get("OPBENCH_VERBOSE_BUILD")),
        )
        record_build(Path(library))
        return library
    except BuildError:
        raise
    except Exception as error:  # the compiler's log is in the message; keep its first error line
        raise BuildError(f"{kind} build failed: {first_error_line(str(error))}") from error
