"""opbench: is my custom activation correct, and is it worth it? Define ops, register implementations; check, time and train them."""

from opbench.activations import Op
from opbench.registry import (
    BASELINE,
    Implementation,
    UnavailableError,
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
from opbench import impls  # noqa: E402,F401  (defines the built-in ops and registers their implementations)

__all__ = [
    "BASELINE",
    "Implementation",
    "Op",
    "UnavailableError",
    "define_op",
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
