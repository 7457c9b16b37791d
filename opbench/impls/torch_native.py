"""The built-in ops, defined in order (gelu first): each defines its `torch` implementation, PyTorch's own kernel and
the baseline of every speedup."""

from opbench.spec.activations import BUILT_IN
from opbench.spec.registry import define_op

for op in BUILT_IN:
    define_op(op)
