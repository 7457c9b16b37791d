"""The implementation registry: the one seam that checks, benchmarks, training and reports loop over."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import torch

FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
FORMULAS = ("erf", "tanh")


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32: how dtypes appear in messages, CSVs and on the command line."""
    return str(dtype).removeprefix("torch.")


DTYPES_BY_NAME = {dtype_name(dtype): dtype for dtype in FLOAT_DTYPES}
# The implementation every speedup is measured against.
BASELINE = "torch"


class UnavailableError(RuntimeError):
    """The implementation cannot run here; the message says why."""


@dataclass(frozen=True)
class Implementation:
    """One GELU implementation: a differentiable forward plus what it runs on and how to prepare it."""

    name: str
    description: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    formula: str = "erf"
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[torch.dtype, ...] = FLOAT_DTYPES
    # Builds or imports what forward needs; raises an exception whose message is the reason it can't.
    setup: Callable[[], object] | None = field(default=None, compare=False)
    # Qualified names of the custom ops behind forward, for torch.library.opcheck: first the
    # differentiable forward op, then its backward op(s), which are checked without gradients.
    custom_ops: tuple[str, ...] = ()
    # Optional out= variants, (x, out) -> out and (grad, x, grad_input) -> grad_input, writing into a
    # tensor the caller allocated: `opbench bench --outputs` times the kernel without its allocation.
    forward_out: Callable | None = field(default=None, compare=False)
    backward_out: Callable | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.formula not in FORMULAS:
            raise ValueError(f"{self.name}: formula must be one of {FORMULAS}, got {self.formula!r}")

    def unavailable_reason(self, device: str | None = None) -> str | None:
        """None when it can run (on `device`, or on any of its devices), else why not."""
        if device is not None and device not in self.devices:
            return f"runs on {', '.join(self.devices)} only"
        wanted = (device,) if device else self.devices
        present = [d for d in wanted if device_present(d)]
        if not present:
            return f"no {wanted[0].upper()} device"
        return setup_error(self)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in self.dtypes:
            supported = ", ".join(dtype_name(d) for d in self.dtypes)
            raise TypeError(f"{self.name}: unsupported dtype {x.dtype}; it supports {supported}")
        if x.device.type not in self.devices:
            raise ValueError(f"{self.name}: runs on {', '.join(self.devices)}; got a tensor on {x.device}")
        return self.forward(x)


def device_present(device: str) -> bool:
    if device == "cpu":
        return True
    backend = getattr(torch, device, None)
    return bool(backend is not None and hasattr(backend, "is_available") and backend.is_available())


def first_line(error: BaseException) -> str:
    """An exception's first message line, else its type name: reasons and failures fit one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@functools.cache
def setup_error(impl: Implementation) -> str | None:
    """Run the implementation's setup once per process; None on success, else the reason it failed."""
    if impl.setup is None:
        return None
    try:
        impl.setup()
    except Exception as error:  # any failure makes the implementation unavailable, never the harness
        return first_line(error)
    return None


_REGISTRY: dict[str, Implementation] = {}


def register(name: str, forward: Callable | None = None, **fields):
    """Register an implementation; without `forward`, returns a decorator for the forward function.

        opbench.register("mine", my_gelu, description="...", devices=("cpu", "cuda"))

        @opbench.register("mine", description="...")
        def my_gelu(x): ...
    """
    if forward is None:

        def decorator(function: Callable) -> Callable:
            register(name, function, **fields)
            return function

        return decorator
    if name in _REGISTRY:
        raise ValueError(f"an implementation named {name!r} is already registered")
    fields.setdefault("description", (forward.__doc__ or name).strip().splitlines()[0])
    impl = Implementation(name=name, forward=forward, **fields)
    _REGISTRY[name] = impl
    return impl


def unregister(name: str) -> None:
    _REGISTRY.pop(name)


def get(name: str, device: str | None = None) -> Implementation:
    """The named implementation, ready to call on a tensor; raises UnavailableError when it can't run."""
    if name not in _REGISTRY:
        raise KeyError(f"no implementation named {name!r}; registered: {', '.join(_REGISTRY)}")
    impl = _REGISTRY[name]
    reason = impl.unavailable_reason(device)
    if reason:
        raise UnavailableError(f"{name} is unavailable: {reason}")
    return impl


def implementations(device: str | None = None, dtype: torch.dtype | None = None) -> list[Implementation]:
    """Registered implementations, in registration order, that declare `device` and `dtype`.

    Availability is not filtered here: callers show unavailable ones with their reason.
    """
    return [
        impl
        for impl in _REGISTRY.values()
        if (device is None or device in impl.devices) and (dtype is None or dtype in impl.dtypes)
    ]


def load_plugin(spec: str) -> None:
    """Import user code that registers implementations: a module name (my_pkg.gelus) or a .py file."""
    import importlib
    import importlib.util
    from pathlib import Path

    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"plugin file {spec} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"opbench_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)
