"""signature_combine, multi_signature_combine and signature_combine_backward."""

import iisignature
import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path

SHAPES = [(3, 2, 4), (5, 3, 3), (2, 1, 5), (4, 4, 2)]  # (batch, d, depth)


@pytest.mark.parametrize("batch,d,depth", SHAPES)
def test_combine_is_signature_of_concatenation(batch, d, depth):
    x = random_path(batch, 11, d, seed=d, scale=0.5)
    s1, s2 = sigcg.signature(x[:, :6], depth), sigcg.signature(x[:, 5:], depth)
    torch.testing.assert_close(sigcg.signature_combine(s1, s2, d, depth), sigcg.signature(x, depth))
    torch.testing.assert_close(
        sigcg.signature_combine(s1, s2, d, depth),
        ref.flat(ref.chen(ref.split(s1, d, depth), ref.split(s2, d, depth))),
    )


def test_matches_iisignature_sigcombine():
    x = random_path(4, 9, 3, seed=1, scale=0.5)
    s1, s2 = sigcg.signature(x[:, :5], 4).numpy(), sigcg.signature(x[:, 4:], 4).numpy()
    expected = iisignature.sigcombine(s1, s2, 3, 4)  # float32 output, computed in double
    np.testing.assert_allclose(
        sigcg.signature_combine(s1, s2, 3, 4), expected, rtol=1e-6, atol=1e-6
    )


def test_multi_combine_inverse_and_scalar_term():
    x = random_path(3, 13, 2, seed=2, scale=0.5)
    pieces = [x[:, 0:4], x[:, 3:8], x[:, 7:13]]
    sigs = [sigcg.signature(p, 4, scalar_term=True) for p in pieces]
    torch.testing.assert_close(
        sigcg.multi_signature_combine(sigs, 2, 4, scalar_term=True),
        sigcg.signature(x, 4, scalar_term=True),
    )
    inverses = [sigcg.signature(p, 4, inverse=True) for p in pieces]
    torch.testing.assert_close(
        sigcg.multi_signature_combine(inverses, 2, 4, inverse=True),
        sigcg.signature(x, 4, inverse=True),
    )
    torch.testing.assert_close(
        sigcg.multi_signature_combine(sigs[:1], 2, 4, scalar_term=True), sigs[0]
    )


def test_unbatched_and_numpy():
    x = random_path(1, 7, 3, seed=3, scale=0.5)[0]
    s1, s2 = sigcg.signature(x[:4].numpy(), 3), sigcg.signature(x[3:].numpy(), 3)
    out = sigcg.signature_combine(s1, s2, 3, 3)
    assert isinstance(out, np.ndarray) and out.shape == (39,)
    np.testing.assert_allclose(out, sigcg.signature(x.numpy(), 3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_gradcheck_and_explicit_backward(inverse, scalar_term):
    d, depth = 2, 4
    width = sigcg.signature_channels(d, depth, scalar_term)
    s1 = (torch.randn(3, width, dtype=torch.float64) * 0.5).requires_grad_()
    s2 = (torch.randn(3, width, dtype=torch.float64) * 0.5).requires_grad_()

    def fn(a, b):
        return sigcg.signature_combine(a, b, d, depth, inverse=inverse, scalar_term=scalar_term)

    assert torch.autograd.gradcheck(fn, (s1, s2), eps=1e-6, atol=1e-8)
    cot = torch.randn(3, width, dtype=torch.float64)
    expected = torch.autograd.grad(fn(s1, s2), (s1, s2), cot)
    got = sigcg.signature_combine_backward(
        cot, s1.detach(), s2.detach(), d, depth, inverse=inverse, scalar_term=scalar_term
    )
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
    got_np = sigcg.signature_combine_backward(
        cot.numpy(),
        s1.detach().numpy(),
        s2.detach().numpy(),
        d,
        depth,
        inverse=inverse,
        scalar_term=scalar_term,
    )
    np.testing.assert_allclose(got_np[0], expected[0].numpy(), rtol=1e-12, atol=1e-12)


def test_combine_backward_matches_iisignature():
    s1, s2 = (np.random.default_rng(0).standard_normal((2, 30)) * 0.5 for _ in range(2))
    cot = np.random.default_rng(1).standard_normal((2, 30))
    expected = iisignature.sigcombinebackprop(cot, s1, s2, 2, 4)
    got = sigcg.signature_combine_backward(cot, s1, s2, 2, 4)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "args,error,match",
    [
        ((torch.zeros(2, 14), torch.zeros(2, 13), 2, 3), ValueError, "shape"),
        ((torch.zeros(2, 14), torch.zeros(2, 14), 3, 3), ValueError, "must have shape"),
        ((torch.zeros(2, 14), torch.zeros(2, 14, dtype=torch.float64), 2, 3), TypeError, "dtype"),
        ((torch.zeros(2, 14), "zeros", 2, 3), TypeError, "torch.Tensor, a numpy.ndarray"),
        ((torch.zeros(2, 14), [[0.0] * 14] * 2, 2, 3), TypeError, "dtype"),  # a list is float64
        ((torch.zeros(2, 14), torch.zeros(2, 14), 2, 0), ValueError, "depth"),
        ((torch.zeros(2, 14), torch.zeros(2, 14), 0, 3), ValueError, "input_channels"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        sigcg.signature_combine(*args)


def test_join_matches_iisignature_and_appended_path():
    x = random_path(3, 6, 2, seed=5, scale=0.5)
    sig = sigcg.signature(x, 4)
    delta = torch.randn(3, 2, dtype=torch.float64) * 0.5
    joined = sigcg.signature_join(sig, delta, 4)
    torch.testing.assert_close(
        joined, sigcg.signature(torch.cat([x, x[:, -1:] + delta[:, None]], 1), 4)
    )
    np.testing.assert_allclose(
        iisignature.sigjoin(sig.numpy(), delta.numpy(), 4),
        sigcg.signature_join(sig.numpy(), delta.numpy(), 4),
        rtol=1e-6,
        atol=1e-6,
    )
    two = torch.randn(3, 2, 2, dtype=torch.float64) * 0.5
    torch.testing.assert_close(
        sigcg.signature_join(sig, two, 4),
        sigcg.signature_join(sigcg.signature_join(sig, two[:, 0], 4), two[:, 1], 4),
    )
    s = sig.clone().requires_grad_()
    d = delta.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: sigcg.signature_join(a, b, 4), (s, d))


def test_scale_matches_iisignature_and_scaled_path():
    x = random_path(3, 6, 3, seed=6, scale=0.5)
    lam = torch.rand(3, 3, dtype=torch.float64) + 0.5
    sig = sigcg.signature(x, 3)
    torch.testing.assert_close(
        sigcg.signature_scale(sig, lam, 3), sigcg.signature(x * lam[:, None], 3)
    )
    np.testing.assert_allclose(
        iisignature.sigscale(sig.numpy(), lam.numpy(), 3),
        sigcg.signature_scale(sig.numpy(), lam.numpy(), 3),
        rtol=1e-6,
        atol=1e-6,
    )
    s, l2 = sig.clone().requires_grad_(), lam.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: sigcg.signature_scale(a, b, 3), (s, l2))
    with pytest.raises(ValueError, match="sigtensor must have shape"):
        sigcg.signature_scale(sig, lam, 4)
