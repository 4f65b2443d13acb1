"""Backward kernels against the reference's autograd, float32, long paths, what is not asked.

(gradcheck over the option grid of every public function: test_conformance.py.)"""

import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path
from sigcg import ops


@pytest.mark.parametrize(
    "batch,length,d,depth", [(5, 6, 3, 4), (2, 2, 1, 5), (6, 5, 4, 3), (1, 9, 2, 6)]
)
@pytest.mark.parametrize("stream", [False, True])
def test_gradient_matches_reference_autograd(batch, length, d, depth, stream):
    x = random_path(batch, length, d, seed=batch + d).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, out_ref = sigcg.signature(x, depth, stream=stream), ref.signature(x_ref, depth, stream)
    cotangent = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, cotangent)
    (grad_ref,) = torch.autograd.grad(out_ref, x_ref, cotangent)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-10)


def test_float32_backward_close_to_float64():
    x64 = random_path(7, 20, 3, seed=2, scale=0.3).requires_grad_()
    x32 = x64.detach().float().requires_grad_()
    cot = torch.randn(7, sigcg.signature_channels(3, 4), dtype=torch.float64)
    (g64,) = torch.autograd.grad(sigcg.signature(x64, 4), x64, cot)
    (g32,) = torch.autograd.grad(sigcg.signature(x32, 4), x32, cot.float())
    assert g32.dtype == torch.float32
    torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-4)


def test_long_path_reconstruction_stays_accurate():
    """The backward rebuilds earlier signatures by multiplying with exp(-Δ); over a long path
    that must still agree with a stream-based (stored) backward."""
    x = random_path(3, 300, 2, seed=5, scale=0.2).requires_grad_()
    cot = torch.randn(3, sigcg.signature_channels(2, 4), dtype=torch.float64)
    (g,) = torch.autograd.grad(sigcg.signature(x, 4), x, cot)
    # the last stream row is the signature; its backward reads stored prefixes instead
    (g_stream,) = torch.autograd.grad(sigcg.signature(x, 4, stream=True)[:, -1], x, cot)
    torch.testing.assert_close(g, g_stream, rtol=1e-8, atol=1e-9)


def test_module_backward_and_no_grad_for_unused(monkeypatch):
    """An initial signature that needs no gradient gets none, and the kernel is not asked for
    it; one that needs it gets it."""
    asked = []
    original = ops.signature_backward.forward
    monkeypatch.setattr(
        ops.signature_backward, "forward", lambda *a: asked.append(a[6]) or original(*a)
    )
    x = random_path(2, 5, 2, seed=1).requires_grad_()
    init = sigcg.signature(random_path(2, 3, 2, seed=2), 3)
    sigcg.Signature(3)(x, initial=init).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert init.grad is None and asked == [False]
    init.requires_grad_()
    sigcg.Signature(3)(x, initial=init).sum().backward()
    assert asked == [False, True] and torch.isfinite(init.grad).all()
