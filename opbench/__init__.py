"""opbench: is my custom activation correct, and is it worth it? Define ops, register implementations; check, time and
train them."""

from opbench.core import BASELINE, UnavailableError
from opbench.spec.activations import Op, gated
from opbench.spec.registry import (
    Implementation,
    define_op,
    get,
    get_op,
    implementations,
    load_plugin,
    lookup,
    ops,
    register,
    undefine_op,
    unregister,
)

# Defines the built-in ops and registers their implementations, after the registry exists.
from opbench import impls  # noqa: F401, I001  # isort: skip

__all__ = [
    "BASELINE",
    "Implementation",
    "Op",
    "UnavailableError",
    "define_op",
    "gated",
    "get",
    "get_op",
    "implementations",
    "load_plugin",
    "lookup",
    "ops",
    "register",
    "undefine_op",
    "unregister",
]
