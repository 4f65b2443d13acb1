"""Second derivatives through the public API against tests/reference.py's autograd: a
WGAN-GP-style critic step (the gradient penalty differentiates a gradient) and Hessian-vector
products.  (Every differentiable public function's create_graph graph is gradgradchecked in
test_conformance.py; the timings are benchmarks/bench_transforms.py's.)"""

from __future__ import annotations

import pytest
import torch

import reference as ref
import sigcg

F64 = torch.float64


def paths(batch, length, d, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, length, d, generator=g, dtype=F64) * 0.4).cumsum(1)


def ref_signature(x, depth, time_aug, lead_lag):
    if time_aug or lead_lag:
        x = ref.transform(x, time_aug, lead_lag)
    return ref.signature(x, depth)


def critic_step(signature, real, fake, head, penalty=10.0, seed=0):
    """One critic loss of WGAN-GP: E f(fake) - E f(real) + penalty E (|grad_x f(x_hat)| - 1)^2,
    f = head(signature(x)), x_hat between real and fake.  Returns the loss."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.rand(real.shape[0], 1, 1, generator=g, dtype=F64)
    x_hat = (mix * real + (1 - mix) * fake).requires_grad_()
    score = signature(x_hat) @ head
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    return (signature(fake) @ head).mean() - (signature(real) @ head).mean() + penalty * gp


@pytest.mark.parametrize("time_aug,lead_lag", [(False, False), (True, True)])
def test_gradient_penalty_training_step_matches_the_reference(time_aug, lead_lag):
    depth, d = 3, 2
    real = paths(4, 6, d, seed=1)
    fake = paths(4, 6, d, seed=2).requires_grad_()  # the generator's output
    channels = d * (2 if lead_lag else 1) + int(time_aug)
    head = (
        torch.randn(sigcg.signature_channels(channels, depth), dtype=F64) * 0.3
    ).requires_grad_()
    module = sigcg.Signature(depth, time_aug=time_aug, lead_lag=lead_lag)
    loss = critic_step(module, real, fake, head)
    got = torch.autograd.grad(loss, (head, fake))
    expected_loss = critic_step(
        lambda x: ref_signature(x, depth, time_aug, lead_lag), real, fake, head
    )
    expected = torch.autograd.grad(expected_loss, (head, fake))
    torch.testing.assert_close(loss, expected_loss, rtol=1e-10, atol=1e-12)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    # and it trains: a step of the critic lowers its loss
    with torch.no_grad():
        head -= 1e-3 * got[0]
    assert critic_step(module, real, fake.detach(), head) < loss


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(stream=True), dict(lead_lag=True, lengths=[6, 3, 5]), dict(window=(3, 2))],
    ids=["plain", "stream", "lead-lag ragged", "windows"],
)
def test_hessian_vector_products_match_the_reference(kwargs):
    depth = 3
    x = paths(3, 6, 2, seed=3).requires_grad_()
    out = sigcg.signature(x, depth, **kwargs)
    weights = torch.randn(out.shape, dtype=F64, generator=torch.Generator().manual_seed(4))
    v = torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(5))

    def hvp(fn):
        (g,) = torch.autograd.grad((fn(x) * weights).sum(), x, create_graph=True)
        return torch.autograd.grad((g * v).sum(), x)[0]

    def reference(x):
        if "window" in kwargs:
            return torch.stack([ref.signature(x[:, s : s + 3], depth) for s in (0, 2)], 1)
        if "lengths" in kwargs:
            rows = [
                ref.signature(ref.transform(x[b : b + 1, :n], False, True), depth)
                for b, n in enumerate(kwargs["lengths"])
            ]
            return torch.cat(rows)
        return ref.signature(x, depth, stream=kwargs.get("stream", False))

    torch.testing.assert_close(
        hvp(lambda x: sigcg.signature(x, depth, **kwargs)), hvp(reference), rtol=1e-9, atol=1e-11
    )


# ---- the second-order kernel (sigcg.ops.signature_hvp) -------------------------------------


@pytest.mark.parametrize("d,depth", [(1, 3), (2, 1), (2, 5), (3, 4), (5, 2)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stream", [False, True])
def test_hvp_kernel_matches_reference_autograd(d, depth, dtype, stream):
    """(H u, J u) from the kernel against double autograd through tests/reference.py; batch 5
    leaves lanes past the end of a SIMD group in both dtypes."""
    from sigcg import ops

    x = paths(5, 7, d, seed=d * 10 + depth).to(dtype)
    sig = ops.signature.forward(x, None, depth, stream)
    g = torch.randn(sig.shape, dtype=F64).to(dtype)
    u = torch.randn(x.shape, dtype=F64).to(dtype)
    hvp, jvp = ops.signature_hvp.forward(x, sig, g, u, depth, stream)

    x64 = x.double().requires_grad_()
    g64 = g.double().requires_grad_()
    out = ref.signature(x64, depth, stream=stream)
    (vjp,) = torch.autograd.grad(out, x64, g64, create_graph=True)
    expected_hvp, expected_jvp = torch.autograd.grad(vjp, (x64, g64), u.double(), allow_unused=True)
    if expected_hvp is None:  # depth 1: the signature is linear in the path
        expected_hvp = torch.zeros_like(x64)
    tol = dict(rtol=1e-10, atol=1e-11) if dtype == F64 else dict(rtol=2e-4, atol=2e-5)
    torch.testing.assert_close(hvp.double(), expected_hvp, **tol)
    torch.testing.assert_close(jvp.double(), expected_jvp, **tol)


def test_create_graph_takes_the_kernel_for_plain_cpu_signatures(monkeypatch):
    """The create_graph graph of the signature with any option (transforms, lengths, stream,
    initial, basepoint, inverse, windows) comes from the second-order kernel (the composite is
    never called); a backend without that kernel still gets a correct graph from the
    composite."""
    from sigcg import ops

    calls = []
    for op in (ops.signature, ops.signature_fused, ops.signature_windows):
        monkeypatch.setattr(op, "composite", lambda *a, f=op.composite: calls.append(a) or f(*a))
    x = paths(3, 6, 2, seed=7).requires_grad_()
    initial = sigcg.signature(paths(3, 4, 2, seed=9), 3).requires_grad_()
    for kwargs in (
        dict(),
        dict(basepoint=True, inverse=True, scalar_term=True),
        dict(time_aug=True, lead_lag=True, lengths=[6, 3, 5]),
        dict(stream=True),
        dict(initial=initial),
        dict(initial=initial, stream=True, inverse=True),
        dict(
            initial=sigcg.signature(paths(3, 4, 5, seed=9), 3),
            stream=True,
            time_aug=True,
            lead_lag=True,
        ),
    ):
        out = sigcg.signature(x, 3, **kwargs)
        (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        assert g.requires_grad
        torch.autograd.grad(g.pow(2).sum(), x)
    assert calls == []
    with sigcg.runtime.emulate_cuda():  # a device without second-order kernels: the composite
        out = sigcg.signature(x, 3)
        (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    assert len(calls) == 1 and g.requires_grad


def test_third_derivatives_through_the_kernel_match_the_composite():
    """Differentiating the kernel's second derivatives once more (through the composite)."""
    from sigcg.ops import composite

    def third(signature):
        x = paths(2, 5, 2, seed=8).requires_grad_()
        (g,) = torch.autograd.grad(signature(x).pow(2).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), x, create_graph=True)
        return h, torch.autograd.grad(h.sum(), x)[0]

    h, t = third(lambda x: sigcg.signature(x, 3))
    h_ref, t_ref = third(lambda x: composite.signature(x, None, 3, False))
    torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-11)
    torch.testing.assert_close(t, t_ref, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("mode", ["words", "brackets", "hall"])
def test_log_signature_second_derivatives_take_the_kernel(mode, monkeypatch):
    """logsignature's create_graph graph is the signature's second-order kernel then the tensor
    log (the composite is never called), and its Hessian-vector product equals the reference."""
    from sigcg import ops

    monkeypatch.setattr(ops.logsignature_words, "composite", None)  # would raise if reached
    x = paths(3, 6, 3, seed=11).requires_grad_()
    v = torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(12))
    out = sigcg.logsignature(x, 3, mode=mode)
    weights = torch.randn(out.shape, dtype=F64, generator=torch.Generator().manual_seed(13))
    (g,) = torch.autograd.grad((out * weights).sum(), x, create_graph=True)
    (hvp,) = torch.autograd.grad((g * v).sum(), x)

    y = x.detach().requires_grad_()
    expected = sigcg.signature_to_logsignature(ref.signature(y, 3), 3, 3, mode=mode)
    (g_ref,) = torch.autograd.grad((expected * weights).sum(), y, create_graph=True)
    (hvp_ref,) = torch.autograd.grad((g_ref * v).sum(), y)
    torch.testing.assert_close(hvp, hvp_ref, rtol=1e-9, atol=1e-11)


def test_second_derivatives_under_a_user_dispatch_mode():
    """A user's TorchDispatchMode (here torch's FLOP counter) is not a tracer: the eager route
    and its second-order kernels stay in use, and the HVP is the reference's."""
    from torch.utils.flop_counter import FlopCounterMode

    x = paths(3, 5, 2, seed=14).requires_grad_()
    v = torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(15))

    def hvp(signature, x):
        (g,) = torch.autograd.grad(signature(x).pow(2).sum(), x, create_graph=True)
        return torch.autograd.grad((g * v).sum(), x)[0]

    with FlopCounterMode(display=False):
        got = hvp(lambda x: sigcg.signature(x, 3), x)
        got_log = hvp(lambda x: sigcg.logsignature(x, 3), x)
    y = x.detach().requires_grad_()
    torch.testing.assert_close(got, hvp(lambda x: ref.signature(x, 3), y), rtol=1e-9, atol=1e-11)
    expected_log = hvp(lambda x: sigcg.signature_to_logsignature(ref.signature(x, 3), 2, 3), y)
    torch.testing.assert_close(got_log, expected_log, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kwargs", [dict(), dict(stream=True), dict(window=(2, 1))])
def test_second_derivatives_of_empty_and_single_batches(kwargs):
    """Batch 0 (every route) and batch 1 under the CUDA emulation, whose composite multiplies
    adjacent rows of one tensor (buffers that touch, which the checker must tell apart)."""
    empty = torch.zeros(0, 4, 2, dtype=F64, requires_grad=True)
    out = sigcg.signature(empty, 3, **kwargs)
    (g,) = torch.autograd.grad(out.sum(), empty, create_graph=True)
    assert g.shape == empty.shape

    x = paths(1, 4, 2, seed=16).requires_grad_()
    with sigcg.runtime.emulate_cuda():
        (g,) = torch.autograd.grad(
            sigcg.signature(x, 3, **kwargs).pow(2).sum(), x, create_graph=True
        )
        (h,) = torch.autograd.grad(g.sum(), x)
    (g_cpu,) = torch.autograd.grad(
        sigcg.signature(x, 3, **kwargs).pow(2).sum(), x, create_graph=True
    )
    torch.testing.assert_close(h, torch.autograd.grad(g_cpu.sum(), x)[0], rtol=1e-9, atol=1e-11)
