"""opbench: is my custom GELU correct, and is it worth it? Register implementations; check, time and train them."""

from opbench.registry import (
    BASELINE,
    Implementation,
    UnavailableError,
    get,
    implementations,
    load_plugin,
    register,
    unregister,
)
from opbench import impls  # noqa: E402,F401  (registers the built-in implementations)

__all__ = [
    "BASELINE",
    "Implementation",
    "UnavailableError",
    "get",
    "implementations",
    "load_plugin",
    "register",
    "unregister",
]
