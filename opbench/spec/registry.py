"""The registry of ops and their implementations: the one seam that checks, timing, training and reports loop over."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from opbench.core import BASELINE, IMPLEMENTATION_ERRORS, UnavailableError, first_line
from opbench.spec.activations import DEFAULT, Op
from opbench.spec.devices import FLOAT_DTYPES, device_present, dtype_name


@dataclass(frozen=True)
class Implementation:
    """One implementation of an op: a differentiable forward plus what it runs on and how to prepare it."""

    name: str
    description: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    op: Op
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
    # Settings it needs while it is checked, timed or trained, as a context manager factory (`compiled`:
    # torch.compile's configuration); entered around that work (registry.settings), never process-wide.
    settings: Callable[[], contextlib.AbstractContextManager] | None = field(default=None, compare=False)
    # The --plugin that registered it (load_plugin); empty for opbench's own.
    plugin: str = ""

    def unavailable_reason(self, device: str | None = None) -> str | None:
        """None when it can run (on `device`, or on any of its devices), else why not."""
        if device is not None and device not in self.devices:
            return f"runs on {', '.join(self.devices)} only"
        wanted = (device,) if device else self.devices
        present = [d for d in wanted if device_present(d)]
        if not present:
            return f"no {wanted[0].upper()} device"
        return setup_error(self)

    def __call__(self, *xs: torch.Tensor) -> torch.Tensor:
        """The op on its inputs (Op.inputs: one tensor, or several of one shape), each checked first."""
        if len(xs) != len(self.op.inputs):
            raise TypeError(f"{self.name} ({self.op.name}): takes {', '.join(self.op.inputs)}; got {len(xs)} tensors")
        for name, x in zip(self.op.inputs, xs):
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{self.name}: expected a torch.Tensor for {name}, got {type(x).__name__}")
            if x.dtype not in self.dtypes:
                supported = ", ".join(dtype_name(d) for d in self.dtypes)
                raise TypeError(f"{self.name}: unsupported dtype {x.dtype}; it supports {supported}")
            if x.device.type not in self.devices:
                raise ValueError(f"{self.name}: runs on {', '.join(self.devices)}; got a tensor on {x.device}")
            if x.shape != xs[0].shape or x.dtype != xs[0].dtype or x.device != xs[0].device:
                raise ValueError(f"{self.name}: {name} is {_described(x)}, {self.op.inputs[0]} {_described(xs[0])}")
        return self.forward(*xs)

    def concatenated(self, h: torch.Tensor) -> torch.Tensor:
        """The op on one tensor holding its inputs side by side in the last dimension: for a gated op
        gate, up = h.chunk(2, -1), the halves strided views of h (no copy)."""
        if h.dim() == 0 or h.shape[-1] % len(self.op.inputs):
            raise ValueError(
                f"{self.name}: concatenated input of shape {tuple(h.shape)}: its last dimension must split into "
                f"{len(self.op.inputs)} ({', '.join(self.op.inputs)})"
            )
        return self(*h.chunk(len(self.op.inputs), -1))


def _described(x: torch.Tensor) -> str:
    return f"{tuple(x.shape)} {dtype_name(x.dtype)} on {x.device}"


@functools.cache
def setup_error(impl: Implementation) -> str | None:
    """Run the implementation's setup once per process; None on success, else the reason it failed."""
    if impl.setup is None:
        return None
    try:
        impl.setup()
    except IMPLEMENTATION_ERRORS as error:  # any failure makes the implementation unavailable, never the harness
        return first_line(error)
    return None


def settings(impls) -> contextlib.ExitStack:
    """Every distinct `settings` of these implementations, entered: `with settings(impls): ...`."""
    stack = contextlib.ExitStack()
    for factory in dict.fromkeys(impl.settings for impl in impls if impl.settings):
        stack.enter_context(factory())
    return stack


_OPS: dict[str, Op] = {}
_loading = ""  # the plugin load_plugin is importing: what its registrations record
_REGISTRY: dict[tuple[str, str], Implementation] = {}  # (op name, implementation name)


def define_op(op: Op) -> Op:
    """Declare an op and register its baseline as the op's `torch` implementation."""
    if op.name in _OPS:
        raise ValueError(f"an op named {op.name!r} is already defined")
    _OPS[op.name] = op
    register(
        BASELINE,
        op.baseline,
        op=op.name,
        devices=("cpu", "cuda"),
        forward_out=op.baseline_out,
        backward_out=op.baseline_backward_out,
        description="PyTorch's own implementation of the op (Op.baseline): the baseline of every speedup",
    )
    return op


def undefine_op(name: str) -> None:
    """Remove an op and every implementation registered for it."""
    _OPS.pop(name)
    for key in [key for key in _REGISTRY if key[0] == name]:
        del _REGISTRY[key]


def get_op(name: str) -> Op:
    """The op spec of that name; KeyError naming the defined ones."""
    if name not in _OPS:
        raise KeyError(f"no op named {name!r}; defined: {', '.join(_OPS)}")
    return _OPS[name]


def ops() -> list[Op]:
    """Defined ops, in definition order."""
    return list(_OPS.values())


def register(name: str, forward: Callable | None = None, *, op: str = DEFAULT, **fields):
    """Register an implementation of `op` (default gelu); without `forward`, returns a decorator.

    opbench.register("mine", my_gelu, description="...", devices=("cpu", "cuda"))
    opbench.register("mine", my_silu, op="silu")

    @opbench.register("mine", description="...")
    def my_gelu(x): ...
    """
    if forward is None:

        def decorator(function: Callable) -> Callable:
            register(name, function, op=op, **fields)
            return function

        return decorator
    spec = get_op(op)
    if (spec.name, name) in _REGISTRY:
        raise ValueError(f"an implementation named {name!r} of {spec.name} is already registered")
    fields.setdefault("description", (forward.__doc__ or name).strip().splitlines()[0])
    fields.setdefault("plugin", _loading)
    impl = Implementation(name=name, forward=forward, op=spec, **fields)
    _REGISTRY[spec.name, name] = impl
    return impl


def unregister(name: str, op: str = DEFAULT) -> None:
    _REGISTRY.pop((op, name))


def lookup(name: str, op: str = DEFAULT) -> Implementation:
    """The named implementation of `op`, whether or not it can run here; KeyError naming the registered ones."""
    if (op, name) not in _REGISTRY:
        known = ", ".join(n for o, n in _REGISTRY if o == op)
        raise KeyError(f"no implementation named {name!r} of {op}; registered: {known}")
    return _REGISTRY[op, name]


def get(name: str, device: str | None = None, op: str = DEFAULT) -> Implementation:
    """The named implementation, ready to call on a tensor; raises UnavailableError when it can't run."""
    impl = lookup(name, op)
    reason = impl.unavailable_reason(device)
    if reason:
        raise UnavailableError(f"{name} is unavailable: {reason}")
    return impl


def implementations(
    device: str | None = None, dtype: torch.dtype | None = None, op: str | None = None
) -> list[Implementation]:
    """Registered implementations, in registration order, of `op` (every op when None) that declare
    `device` and `dtype`. Availability is not filtered here: callers show unavailable ones with their reason.
    """
    return [
        impl
        for impl in _REGISTRY.values()
        if (device is None or device in impl.devices)
        and (dtype is None or dtype in impl.dtypes)
        and (op is None or impl.op.name == op)
    ]


def load_plugin(spec: str) -> None:
    """Import user code that registers ops or implementations: a module name (my_pkg.gelus) or a .py file."""
    global _loading
    previous, _loading = _loading, spec
    try:
        _import_plugin(spec)
    finally:
        _loading = previous


def _import_plugin(spec: str) -> None:
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
