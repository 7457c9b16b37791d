"""Floating dtypes and devices as opbench names them on the command line, in messages and in CSVs."""

from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32."""
    return str(dtype).removeprefix("torch.")


DTYPES_BY_NAME = {dtype_name(dtype): dtype for dtype in FLOAT_DTYPES}


def device_present(device: str) -> bool:
    if device == "cpu":
        return True
    backend = getattr(torch, device, None)
    return bool(backend is not None and hasattr(backend, "is_available") and backend.is_available())
