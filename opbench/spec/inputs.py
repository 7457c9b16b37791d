"""Seeded inputs for checks and benchmarks: random tensors at several scales, each dtype's edge values, shapes (with
the presets of real models) and memory layouts."""

from __future__ import annotations

import math

import torch

# Standard deviations of the random inputs: activations near 0, the erf knee (|x| ~ 3), the tails.
SCALES = (1.0, 3.0, 10.0)
SEED = 0


def parse_size(text: str) -> int:
    """'2^20', '4**5' or '1048576'."""
    text = text.strip().replace("**", "^")
    if "^" in text:
        base, exponent = text.split("^")
        return int(base) ** int(exponent)
    return int(text)


def size_label(numel: int) -> str:
    """'2^20' for powers of two, else the count itself."""
    exponent = math.log2(numel) if numel > 0 else 0.5
    return f"2^{int(exponent)}" if exponent.is_integer() else str(numel)


def random_input(numel: int, dtype: torch.dtype, device: str = "cpu", scale: float = 1.0, seed: int = SEED):
    """numel values drawn from N(0, scale^2) with a fixed seed, rounded to dtype, made on the device
    itself (a 2^28-element input made on the CPU would cost seconds per GPU timing). The same seed
    gives the same values on one kind of device, not across kinds."""
    generator = torch.Generator(device=device).manual_seed(seed)
    return (torch.randn(numel, generator=generator, dtype=torch.float64, device=device) * scale).to(dtype)


def edge_values(dtype: torch.dtype, extra: tuple[float, ...] = ()) -> list[float]:
    """Finite values where activation implementations go wrong: signed zeros, tiny and subnormal
    inputs, the tails (+-5, +-10, +-1e4), the largest finite values of the dtype (it must not
    overflow), and an op's own magnitudes (`extra`, Op.edge_values), each with both signs."""
    info = torch.finfo(dtype)
    smallest_subnormal = info.smallest_normal * info.eps  # 2^(min_exp - mantissa bits)
    magnitudes = [
        0.0,
        smallest_subnormal,
        info.smallest_normal / 2,
        info.smallest_normal,
        1e-30,
        1e-7,
        5.0,
        10.0,
        1e4,
        info.max,
        *extra,
    ]
    values = [sign * m for m in magnitudes for sign in (1.0, -1.0)]
    # Values the dtype cannot hold (1e-30 in float16) round to 0 or the nearest subnormal, and beyond its
    # largest (5e12 in float16) to inf, the limits check's business: edge_input keeps the finite ones.
    return values


def edge_input(dtype: torch.dtype, device: str = "cpu", extra: tuple[float, ...] = ()) -> torch.Tensor:
    x = torch.tensor(edge_values(dtype, extra), dtype=torch.float64).to(dtype=dtype, device=device)
    return x[x.isfinite()]


def embed(values: list[float], dtype: torch.dtype, device: str = "cpu", length: int = 67) -> torch.Tensor:
    """The values placed at the start, middle and end of a seeded random tensor of `length` elements,
    so that vectorized bodies and scalar tails both meet them (F.gelu gets +inf right only in
    one-element tensors). Returns a tensor whose positions 0, length // 2 and -1 hold values[k]."""
    x = random_input(length * len(values), dtype, device).reshape(len(values), length)
    for row, value in enumerate(values):
        x[row, [0, length // 2, length - 1]] = value
    return x.reshape(-1)


# ---- shapes ------------------------------------------------------------------------------------

# The MLP activations of real models: tokens x intermediate size, from each model's config.json
# (intermediate_size) on the Hugging Face Hub.
INTERMEDIATE = {
    "gpt2": 3072,  # openai-community/gpt2: n_inner unset, 4 * n_embd = 4 * 768
    "llama2-7b": 11008,  # meta-llama/Llama-2-7b-hf
    "llama3-8b": 14336,  # meta-llama/Meta-Llama-3-8B
    "qwen2.5-7b": 18944,  # Qwen/Qwen2.5-7B
}
TOKENS = 2048  # --tokens' default: one 2048-token sequence, or a batch of shorter ones
# LeNet-5's activations at batch 64 (training.model.lenet5): after each convolution and pooling (NCHW),
# then the two hidden linear layers.
LENET5 = ((64, 6, 24, 24), (64, 6, 12, 12), (64, 16, 8, 8), (64, 16, 4, 4), (64, 120), (64, 84))
PRESETS = (*INTERMEDIATE, "lenet5")


def parse_shape(text: str, tokens: int = TOKENS) -> list[tuple[int, ...]]:
    """'2048x3072' (any rank), or a preset's shapes (PRESETS; tokens x intermediate for the models)."""
    text = text.strip().lower()
    if text in INTERMEDIATE:
        return [(tokens, INTERMEDIATE[text])]
    if text == "lenet5":
        return list(LENET5)
    dims = [parse_size(d) for d in text.split("x")]
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"{text!r}: dimensions must be positive")
    return [tuple(dims)]


def shape_label(shape: tuple[int, ...]) -> str:
    """'2048x3072'; a 1-D shape as its size ('2^20')."""
    return size_label(shape[0]) if len(shape) == 1 else "x".join(map(str, shape))


# ---- layouts -----------------------------------------------------------------------------------

# How a tensor of a case's shape lies in memory (layout_view):
#   contiguous     row-major
#   transposed     the last two dimensions swapped: x.mT of a contiguous tensor (x.t() in 2-D)
#   chunked        the first half of h.chunk(2, -1), h twice as wide: rows 2x apart, each contiguous
#   channels-last  a 4-D NCHW tensor in torch.channels_last memory format
LAYOUTS = ("contiguous", "transposed", "chunked", "channels-last")


def layout_problem(shape: tuple[int, ...], layout: str) -> str | None:
    """Why a shape cannot have this layout, None when it can."""
    if layout in ("transposed", "chunked") and len(shape) < 2:  # 1-D halves are contiguous
        return f"{layout} needs at least 2 dimensions"
    if layout == "channels-last" and len(shape) != 4:
        return "channels-last needs 4 dimensions (NCHW)"
    return None


def layout_elements(shape: tuple[int, ...], layout: str) -> int:
    """Elements of storage a view of this shape and layout spans (chunked: twice the tensor)."""
    return math.prod(shape) * (2 if layout == "chunked" else 1)


def layout_view(storage: torch.Tensor, shape: tuple[int, ...], layout: str) -> torch.Tensor:
    """A view of `shape` in `layout` over the first layout_elements of a 1-D tensor."""
    numel = math.prod(shape)
    if layout == "contiguous":
        return storage[:numel].view(shape)
    if layout == "transposed":
        return storage[:numel].view(*shape[:-2], shape[-1], shape[-2]).mT
    if layout == "chunked":
        return storage[: 2 * numel].view(*shape[:-1], 2 * shape[-1])[..., : shape[-1]]
    if layout == "channels-last":
        n, c, h, w = shape
        return storage[:numel].view(n, h, w, c).permute(0, 3, 1, 2)
    raise ValueError(f"unknown layout {layout!r} (one of {', '.join(LAYOUTS)})")


def layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Views of the same kind of data that an implementation must treat like contiguous tensors: the
    benchmark's layouts (LAYOUTS) and a few more that trip kernels."""
    n = x.numel()
    side = int(math.isqrt(n // 2))
    views = {
        layout: layout_view(x, shape, layout)
        for layout, shape in (
            ("transposed", (side, side - 1)),
            ("chunked", (side, side)),
            ("channels-last", (2, 3, side // 4, side // 4)),
        )
    }
    return {
        **views,
        "strided": x[::2],
        "misaligned": x[1:],
        "zero-dim": x[0].clone(),
        "empty": x[:0],
        "3d": x[: (n // 12) * 12].reshape(3, 4, -1),
    }
