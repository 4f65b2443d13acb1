"""One conformance suite over the registries: every public function (conformance.CASES) and
every torch operator (sigcg.ops.REGISTRY) goes through the same checks.

Public functions, for a seeded sample of their option grid (``SIGCG_EXHAUSTIVE=1``, used by
``make test-exhaustive``, runs the whole grid):
  forward against the independent reference on the CPU and on the emulated CUDA backend, in
  float64 and float32; gradcheck; torch.compile(fullgraph=True) forward and backward equal to
  eager (default options included); create_graph=True gives a correct second derivative
  (gradgradcheck) or a clear error.
Torch operators: opcheck (schema, fake tensors, autograd registration, AOT dispatch); every
output poisoned before the kernel runs; a tensor on the wrong device rejected before any pointer
is taken.
"""

from __future__ import annotations

import os

import pytest
import torch

import sigcg
from conformance import CASES, COVERED_ELSEWHERE, Case, path, tensor
from sigcg import ops
from sigcg.runtime import KernelArgumentError, emulate_cuda
from sigcg.runtime import backend as runtime_backend

EXHAUSTIVE = os.environ.get("SIGCG_EXHAUSTIVE") == "1"
SAMPLE = 10**6 if EXHAUSTIVE else 6  # option sets per case and check
F64_TOL = dict(rtol=1e-10, atol=1e-10)
F32_TOL = dict(rtol=2e-4, atol=2e-4)


def sampled(count: int, *, differentiable_only=False, cuda_only=False, per_case=None):
    params = []
    for case in CASES:
        if (differentiable_only and not case.differentiable) or (cuda_only and not case.cuda):
            continue
        for i, options in enumerate(case.sample(per_case or count)):
            params.append(pytest.param(case, options, id=f"{case.name}-{i}"))
    return params


def flat(out) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def check_close(got, expected, tol):
    got, expected = flat(got), flat(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape, (g.shape, e.shape)
        torch.testing.assert_close(g.double(), e.double(), **tol)


def test_every_public_function_has_a_case():
    functions = {case.name.split(":")[0] for case in CASES}  # "function:aspect" cases
    names = functions | set(COVERED_ELSEWHERE)
    assert set(sigcg.__all__) <= names, sorted(set(sigcg.__all__) - names)
    assert functions <= set(sigcg.__all__)


@pytest.mark.parametrize("case,options", sampled(SAMPLE))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forward_matches_reference(case: Case, options, dtype):
    inputs, call, reference = case.build(options)
    got = call(*(t.to(dtype) for t in inputs))
    for g in flat(got):
        assert g.dtype == dtype
    check_close(got, reference(*inputs), F64_TOL if dtype == torch.float64 else F32_TOL)


@pytest.mark.parametrize("case,options", sampled(2, cuda_only=True))
def test_forward_on_the_emulated_cuda_backend(case: Case, options):
    inputs, call, reference = case.build(options)
    with emulate_cuda():
        got = call(*inputs)
    check_close(got, reference(*inputs), F64_TOL)


@pytest.mark.parametrize("case,options", sampled(SAMPLE, differentiable_only=True))
def test_gradcheck(case: Case, options):
    inputs, call, _ = case.build(options)
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(call, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("case,options", sampled(1, differentiable_only=True, cuda_only=True))
def test_gradients_on_the_emulated_cuda_backend(case: Case, options):
    inputs, call, reference = case.build(options)
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    cot = [torch.randn_like(o) for o in flat(reference(*inputs))]
    expected = torch.autograd.grad(flat(reference(*inputs)), inputs, cot, allow_unused=True)
    with emulate_cuda():
        got = torch.autograd.grad(flat(call(*inputs)), inputs, cot, allow_unused=True)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e if e is not None else torch.zeros_like(g), **F64_TOL)


@pytest.mark.parametrize("case,options", sampled(2, per_case=2))
def test_compile_fullgraph_equals_eager(case: Case, options):
    torch._dynamo.reset()
    inputs, call, _ = case.build(options)
    leaves = tuple(t.clone().requires_grad_(case.differentiable) for t in inputs)
    compiled = torch.compile(call, fullgraph=True, backend="aot_eager")
    eager_out, out = flat(call(*leaves)), flat(compiled(*leaves))
    for o, e in zip(out, eager_out):
        torch.testing.assert_close(o, e, rtol=1e-12, atol=1e-12)
    if case.differentiable:
        cot = [torch.randn_like(o) for o in eager_out]
        expected = torch.autograd.grad(eager_out, leaves, cot, allow_unused=True)
        got = torch.autograd.grad(out, leaves, cot, allow_unused=True)
        for g, e in zip(got, expected):
            if e is None:
                assert g is None or not g.any()
            else:
                torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "case,options", sampled(SAMPLE if EXHAUSTIVE else 2, differentiable_only=True)
)
def test_create_graph(case: Case, options):
    """create_graph=True: a correct second derivative (gradgradcheck), never a detached one."""
    inputs, call, _ = case.build(options)
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    if case.double_backward:
        assert torch.autograd.gradgradcheck(call, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    else:
        out = flat(call(*inputs))
        with pytest.raises(RuntimeError, match="double backward"):
            torch.autograd.grad(out, inputs, [torch.ones_like(o) for o in out], create_graph=True)


# ---- the torch operators ------------------------------------------------------------------


def op_samples() -> dict[str, tuple]:
    """Arguments for every TorchOp (float64, CPU, small)."""
    d, depth = 2, 3
    width = sigcg.signature_channels(d, depth)
    x = path(2, 5, d, seed=50)
    init = tensor(2, width, seed=51)
    sig = ops.signature.forward(x, init, depth, False)
    plain = ops.signature.forward(x, None, depth, False)
    stream = ops.signature.forward(x, None, depth, True)
    a, b, g = (tensor(2, width, seed=52 + i) for i in range(3))
    words, lsig = ops.logsignature_words.forward(x, depth)
    table = sigcg.algebra.lyndon.words_to_basis(d, depth, "lyndon")
    proj = (
        torch.as_tensor(table[0], dtype=torch.int32),
        torch.as_tensor(table[1], dtype=torch.int32),
        torch.as_tensor(table[2]),
    )
    lengths = torch.tensor([2, 1, 1], dtype=torch.int32)
    letters = torch.tensor([[1, 0], [0, 0], [1, 0]], dtype=torch.int32)
    prefixes = torch.tensor([[2, 0], [0, 0], [0, 0]], dtype=torch.int32)
    return {
        "signature": (x, init, depth, False),
        "signature_backward": (x, init, sig, g, depth, False, True),
        "signature_vjp": (x, plain, g, depth, False),
        "signature_hvp": (x, stream, torch.randn_like(stream), path(2, 5, d, seed=55), depth, True),
        "tensor_product": (a, b, d, depth),
        "tensor_product_backward": (a, b, g, d, depth),
        "tensor_log": (a, d, depth),
        "tensor_log_backward": (a, g, d, depth),
        "tensor_exp": (a, d, depth),
        "tensor_exp_backward": (a, g, d, depth),
        "logsignature_words": (x, depth),
        "logsignature_words_backward": (x, lsig, torch.randn_like(lsig), depth),
        "logsignature_in_basis": (x, depth, *proj),
        "signature_words": (x, 2, lengths, letters, prefixes),
        **_sigkernel_samples(),
        **_transform_samples(),
    }


def _transform_samples() -> dict[str, tuple]:
    """The fused (lead-lag, time, ragged) signature ops and the window ops."""
    import numpy as np

    from sigcg.api import windows

    d, depth = 2, 3
    x = path(3, 5, d, seed=53)
    width = sigcg.signature_channels(2 * d + 1, depth)
    init = tensor(3, width, seed=54)
    step = torch.full((3,), 0.25, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 4], dtype=torch.int32)
    order = torch.tensor([0, 2, 1], dtype=torch.int32)
    fused = (x, init, depth, False, True, step, lengths, order)
    sig = ops.signature_fused.forward(*fused)
    tables, per_anchor, steps = windows.plan(np.array([[0, 3], [1, 4], [2, 5], [0, 5]]))
    plan = (*(torch.from_numpy(t) for t in tables), per_anchor, steps)
    out = ops.signature_windows.forward(x, *plan, depth)
    return {
        "signature_fused": fused,
        "signature_fused_backward": (*fused[:2], sig, torch.randn_like(sig), *fused[2:], True),
        "signature_windows": (x, *plan, depth),
        "signature_windows_backward": (x, torch.randn_like(out), *plan, depth),
    }


def _sigkernel_samples() -> dict[str, tuple]:
    """The signature-kernel PDE ops: increments of 3 x-paths and 2 y-paths, 4 (x, y) pairs,
    dyadic orders (1, 0); and an increment Gram of 2 pairs."""
    dx, dy = path(3, 4, 2, seed=80).diff(dim=1), path(2, 3, 2, seed=81).diff(dim=1)
    pairs = torch.tensor([[0, 1], [2, 0], [1, 1], [0, 0]], dtype=torch.int32)
    gram = tensor(2, 3, 2, seed=82)
    return {
        "sig_kernel_linear": (dx, dy, pairs, 1, 0, False),
        "sig_kernel_linear_backward": (dx, dy, pairs, tensor(4, seed=83), 1, 0, False),
        "sig_kernel_from_gram": (gram, 1, 0, False),
        "sig_kernel_from_gram_backward": (gram, tensor(2, 7, 3, seed=84), 1, 0, True),
    }


def test_every_op_has_samples():
    assert set(op_samples()) == set(ops.REGISTRY)


@pytest.mark.parametrize("name", sorted(ops.REGISTRY))
def test_opcheck(name):
    op = ops.REGISTRY[name]
    args = op_samples()[name]
    if op.backward is not None:
        args = tuple(
            a.clone().requires_grad_()
            if isinstance(a, torch.Tensor) and a.is_floating_point()
            else a
            for a in args
        )
    torch.library.opcheck(op.custom, args)


@pytest.mark.parametrize("name", sorted(ops.REGISTRY))
def test_double_backward_is_declared(name):
    assert ops.REGISTRY[name].double_backward in (
        "backward",
        "composite",
        "second-order kernels, else composite",
        "not differentiable",
    )


@pytest.mark.parametrize("name", sorted(ops.REGISTRY))
def test_outputs_are_poisoned_before_the_kernel(name, monkeypatch):
    """With POISON on (conftest), an output the kernel does not write is NaN."""
    assert runtime_backend.POISON
    args = op_samples()[name]
    monkeypatch.setattr(runtime_backend, "_bindings", {})  # bind anew, to the skipping backend
    monkeypatch.setattr(runtime_backend, "_backend", lambda device: _Skip())
    outputs = flat(ops.REGISTRY[name].forward(*args))
    assert any(o.numel() for o in outputs)
    for o in outputs:
        if o.numel():
            assert torch.isnan(o).all(), name


class _Skip:
    """A backend that runs nothing."""

    def bind(self, spec_args, entry, device):
        return lambda args, steps: None


@pytest.mark.parametrize("name", sorted(ops.REGISTRY))
def test_wrong_device_is_rejected_before_any_pointer(name, monkeypatch):
    from sigcg.runtime import cpu

    args = op_samples()[name]

    def fail(*args, **kwargs):
        raise AssertionError("a kernel was reached")

    monkeypatch.setattr(runtime_backend, "_bindings", {})
    monkeypatch.setattr(cpu.BACKEND, "bind", fail)  # the one way to a CPU kernel
    tensors = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    mixed = list(args)
    if len(tensors) > 1:  # one argument elsewhere: named in the error
        mixed[tensors[-1]] = args[tensors[-1]].to("meta")
        with pytest.raises(KernelArgumentError, match="meta"):
            ops.REGISTRY[name].forward(*mixed)
    mixed = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
    with pytest.raises(NotImplementedError, match="meta"):  # a device without kernels
        ops.REGISTRY[name].forward(*mixed)


def test_ops_without_a_cuda_form_refuse_cuda_before_pointers():
    """The log-signature and coefficient kernels are CPU-only: routed to the (emulated) CUDA
    backend they refuse by name, and the public functions take another route there."""
    x = path(2, 5, 2, seed=60)
    expected = sigcg.logsignature(x, 3), sigcg.signature_coefficient(x, [(0, 1, 1)])
    with emulate_cuda():
        with pytest.raises(ValueError, match="logsignature_words has no cuda_emulated form"):
            ops.logsignature_words.forward(x, 3)
        with pytest.raises(ValueError, match="signature_words has no cuda_emulated form"):
            ops.signature_words.forward(x, *op_samples()["signature_words"][1:])
        got = sigcg.logsignature(x, 3), sigcg.signature_coefficient(x, [(0, 1, 1)])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, **F64_TOL)
