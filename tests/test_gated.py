"""Gated ops (swiglu, geglu): both calling conventions, strided halves, each partial derivative, and the gated cheats
the checker must catch."""

import pytest
import torch
import torch.nn.functional as F

import opbench
from opbench.correctness import check, tolerance
from opbench.spec import activations, inputs
from opbench.timing import memory

GATED = [op.name for op in activations.BUILT_IN if len(op.inputs) > 1]


def _available(name, op):
    impl = opbench.lookup(name, op=op)
    if impl.unavailable_reason("cpu"):
        pytest.skip(impl.unavailable_reason("cpu"))
    return impl


@pytest.mark.parametrize("op", GATED)
@pytest.mark.parametrize("name", ["torch", "python", "cpp"])
def test_two_tensors_and_one_concatenated_tensor_give_the_same_result(name, op):
    """impl(gate, up) and impl.concatenated(h) with gate, up = h.chunk(2, -1): the first half is activated."""
    impl = _available(name, op)
    h = inputs.random_input(64 * 96, torch.float32, scale=3.0, seed=1).view(64, 96)
    gate, up = h.chunk(2, -1)
    assert not gate.is_contiguous()  # the halves are strided views, handled in place
    expected = impl.op.expected(gate, up)
    for result in (impl(gate, up), impl.concatenated(h)):
        assert tolerance.agreement(result, expected, gate, torch.float32, up.abs()).passed


def test_the_gate_is_the_first_half_unlike_f_glu():
    h = torch.randn(4, 8)
    gate, up = h.chunk(2, -1)
    assert torch.equal(opbench.get("torch", op="swiglu").concatenated(h), F.silu(gate) * up)
    assert not torch.equal(F.glu(h, -1), torch.sigmoid(gate) * up)  # F.glu gates the second half


def test_a_bad_call_is_one_message_naming_the_inputs():
    impl = opbench.get("torch", op="swiglu")
    with pytest.raises(TypeError, match=r"torch \(swiglu\): takes gate, up; got 1 tensors"):
        impl(torch.zeros(3))
    with pytest.raises(ValueError, match=r"up is \(4,\) float32 on cpu, gate \(3,\) float32 on cpu"):
        impl(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="its last dimension must split into 2"):
        impl.concatenated(torch.zeros(2, 3))


@pytest.mark.parametrize("op", GATED)
def test_each_partial_derivative_is_checked_against_the_reference(op):
    spec = opbench.get_op(op)
    gate, up = (x.requires_grad_() for x in spec.random_inputs(1000, torch.float64, "cpu", 3.0, 5))
    grad = torch.randn(1000, dtype=torch.float64)
    spec.baseline(gate, up).backward(grad)
    expected_gate, expected_up = spec.expected_grads(grad, gate.detach(), up.detach())
    assert torch.allclose(gate.grad, expected_gate) and torch.allclose(up.grad, expected_up)


def _cached_by_up_pointer():
    cache = {}

    def swiglu(gate, up):
        key = up.data_ptr()
        if key not in cache:
            cache[key] = F.silu(gate) * up
        return cache[key]

    return swiglu


def _assumes_contiguous_halves(gate, up):
    # Reads each input's storage as if it were dense from its first element: right for contiguous inputs only.
    flat = [torch.as_strided(x, x.shape, torch.empty(x.shape).stride(), x.storage_offset()) for x in (gate, up)]
    return F.silu(flat[0]) * flat[1]


class _WrongUpGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate, up):
        ctx.save_for_backward(gate, up)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx, grad):
        gate, up = ctx.saved_tensors
        silu_slope = torch.sigmoid(gate) * (1 + gate * torch.sigmoid(-gate))
        return grad * silu_slope * up, grad * torch.sigmoid(gate)  # d/dup should be silu(gate), not sigmoid


@pytest.mark.parametrize(
    "cheat, failing_check, words",
    [
        (_cached_by_up_pointer, "contract", "ignores a change of its input gate's values made in place"),
        (lambda: _assumes_contiguous_halves, "layouts", "concatenated input (gate, up = h.chunk(2, -1))"),
        (lambda: _WrongUpGradient.apply, "backward", "gradient of up error"),
    ],
    ids=["cached-by-up-pointer", "contiguous-halves", "wrong-up-gradient"],
)
def test_gated_cheats_are_caught_and_named(scratch_registry, cheat, failing_check, words):
    impl = scratch_registry.register("cheat", cheat(), op="swiglu")
    failures = {row.check: row.detail for row in check.failed(check.run_checks(impl, "cpu", [torch.float32]))}
    assert failing_check in failures, failures
    assert words in failures[failing_check]


def test_cpp_saves_nothing_for_backward_and_the_composite_saves_the_activation():
    xs = tuple(x.requires_grad_() for x in activations.SWIGLU.random_inputs(4096, torch.float32, "cpu", 3.0, 0))
    assert memory.saved_bytes(_available("cpp", "swiglu"), xs) == 0
    assert memory.saved_bytes(opbench.get("torch", op="swiglu"), xs) == 4096 * 4  # silu(gate)
