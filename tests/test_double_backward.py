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
