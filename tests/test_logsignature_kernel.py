"""The log-signature kernel that computes the signature's top level at its Lyndon words only
(Lyndon coordinates straight from the path)."""

import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path
from sigcg import ops
from sigcg.codegen import KernelSpec
from sigcg.codegen.words import lyndon_words, top_lyndon_groups


def computed_entries(d, depth):
    """1 where the kernel's signature output is exact (every word below the top level, and the
    top level's Lyndon words, found by brute force), 0 elsewhere."""
    words = sigcg.all_words(d, depth)
    return torch.tensor(
        [
            1.0
            if len(w) < depth or all(tuple(w) < tuple(w[i:] + w[:i]) for i in range(1, depth))
            else 0.0
            for w in words
        ],
        dtype=torch.float64,
    )


def test_groups_are_the_lyndon_words_of_the_top_level():
    for d, depth in [(2, 6), (3, 5), (4, 4), (8, 3)]:
        top = [w for w in lyndon_words(d, depth) if len(w) == depth]
        grouped = [(p, c) for p, first in top_lyndon_groups(d, depth) for c in range(first, d)]
        assert [np.ravel_multi_index(w, (d,) * depth) for w in top] == [
            p * d + c for p, c in grouped
        ]


def test_needs_two_letters_and_two_levels():
    for d, depth in [(1, 3), (3, 1)]:
        with pytest.raises(ValueError, match="depth >= 2 and channels >= 2"):
            KernelSpec("logsignature_words", d, depth)


@pytest.mark.parametrize("mode", ["words", "brackets", "hall"])
def test_logsignature_takes_this_route_and_matches_the_full_signature(mode, monkeypatch):
    calls = []
    for name in ("logsignature_words", "logsignature_in_basis"):
        op = getattr(ops, name)
        monkeypatch.setattr(op, "forward", lambda *a, _f=op.forward: calls.append(a) or _f(*a))
    x = random_path(6, 9, 3, seed=7, scale=0.4)
    bp = torch.randn(6, 3, dtype=torch.float64)
    for kwargs in (dict(), dict(inverse=True), dict(basepoint=bp), dict(basepoint=True)):
        expected = sigcg.signature_to_logsignature(sigcg.signature(x, 4, **kwargs), 3, 4, mode=mode)
        torch.testing.assert_close(
            sigcg.logsignature(x, 4, mode=mode, **kwargs), expected, rtol=1e-12, atol=1e-12
        )
    unbatched = sigcg.signature_to_logsignature(sigcg.signature(x[:1], 4), 3, 4, mode=mode)[0]
    np.testing.assert_allclose(
        sigcg.logsignature(x[0].numpy(), 4, mode=mode), unbatched.numpy(), rtol=1e-12, atol=1e-12
    )
    assert len(calls) == 5


@pytest.mark.parametrize(
    "batch,length,d,depth",
    [(5, 9, 2, 2), (3, 7, 2, 6), (6, 8, 3, 4), (9, 5, 4, 3), (2, 6, 5, 3), (4, 3, 3, 5)],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_log_kernel_matches_the_series_logarithm_at_the_lyndon_words(
    batch, length, d, depth, dtype
):
    x = random_path(batch, length, d, seed=d + depth, scale=0.4)
    expected = ref.log(ref.signature(x, depth), d, depth)
    positions = [sigcg.word_to_index(w, d) for w in sigcg.lyndon_words(d, depth)]
    words, sig = ops.logsignature_words.forward(x.to(dtype), depth)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(words.double(), expected[:, positions], **tol)
    mask = computed_entries(d, depth)
    torch.testing.assert_close(sig.double(), ref.signature(x, depth) * mask, **tol)
    top = mask[sigcg.signature_channels(d, depth - 1) :]
    assert 0 < top.sum() < d**depth  # some, not all, top words are Lyndon
    table = sigcg.algebra.lyndon.words_to_basis(d, depth, "lyndon")
    in_basis = ops.logsignature_in_basis.forward(
        x.to(dtype),
        depth,
        torch.as_tensor(table[0], dtype=torch.int32),
        torch.as_tensor(table[1], dtype=torch.int32),
        torch.as_tensor(table[2], dtype=dtype),
    )
    dense = torch.zeros(len(positions), len(positions), dtype=torch.float64)
    dense.index_put_(
        (torch.as_tensor(table[0]), torch.as_tensor(table[1])),
        torch.as_tensor(table[2]),
        accumulate=True,
    )
    torch.testing.assert_close(in_basis.double(), words.double() @ dense.T, **tol)


def test_log_kernel_gradcheck():
    x = random_path(3, 5, 3, seed=4, scale=0.5).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p: ops.logsignature_words(p, 4)[0], (x,), eps=1e-6, atol=1e-8, rtol=1e-6
    )


@pytest.mark.parametrize("mode", ["brackets", "hall"])
def test_change_of_basis_in_the_kernel_matches_the_sparse_map_and_keeps_gradients(mode):
    x = random_path(5, 8, 3, seed=9, scale=0.4)
    in_kernel = sigcg.logsignature(x, 5, mode=mode)  # no autograd: projected in the kernel
    xg = x.clone().requires_grad_()
    with_grad = sigcg.logsignature(xg, 5, mode=mode)  # autograd: words op, then the sparse map
    torch.testing.assert_close(in_kernel, with_grad.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        in_kernel,
        sigcg.signature_to_logsignature(sigcg.signature(x, 5), 3, 5, mode=mode),
        rtol=1e-12,
        atol=1e-12,
    )
    assert torch.autograd.gradcheck(
        lambda p: sigcg.logsignature(p, 3, mode=mode),
        (xg[:2, :4].detach().requires_grad_(),),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "batch,length,d,depth",
    [(5, 9, 2, 2), (3, 7, 2, 6), (6, 8, 3, 4), (9, 5, 4, 3), (2, 6, 5, 3), (4, 3, 3, 5)],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_backward_kernel_matches_reference_autograd(batch, length, d, depth, dtype):
    """Gradient of <cotangent, signature at the computed entries> with respect to the path."""
    x = random_path(batch, length, d, seed=d * 7 + depth, scale=0.4).requires_grad_()
    mask = computed_entries(d, depth)
    cot = torch.randn(batch, sigcg.signature_channels(d, depth), dtype=torch.float64)
    (expected,) = torch.autograd.grad(ref.signature(x, depth) * mask, x, cot)
    _, sig = ops.logsignature_words.forward(x.detach().to(dtype), depth)
    got = ops.logsignature_words_backward.forward(x.detach().to(dtype), sig, cot.to(dtype), depth)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(got.double(), expected, **tol)
