"""Seeded inputs for checks and benchmarks: random tensors at several scales, each dtype's edge values, layouts."""

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


def layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Views of the same kind of data that an implementation must treat like contiguous tensors."""
    n = x.numel()
    side = int(math.isqrt(n))
    square = x[: side * side].reshape(side, side)
    return {
        "strided": x[::2],
        "transposed": square.t(),
        "misaligned": x[1:],
        "zero-dim": x[0].clone(),
        "empty": x[:0],
        "3d": x[: (n // 12) * 12].reshape(3, 4, -1),
    }
