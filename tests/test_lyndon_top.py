"""The signature with a Lyndon top level, behind log-signatures in Lyndon coordinates."""
import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path
from sigcg import ops
from sigcg.codegen import KernelSpec
from sigcg.codegen.words import lyndon_words, top_lyndon_groups


def test_groups_are_the_lyndon_words_of_the_top_level():
    for d, depth in [(2, 6), (3, 5), (4, 4), (8, 3)]:
        top = [w for w in lyndon_words(d, depth) if len(w) == depth]
        grouped = [(p, c) for p, first in top_lyndon_groups(d, depth) for c in range(first, d)]
        assert [np.ravel_multi_index(w, (d,) * depth) for w in top] == [p * d + c
                                                                         for p, c in grouped]


@pytest.mark.parametrize("batch,length,d,depth", [(5, 9, 2, 2), (3, 7, 2, 6), (6, 8, 3, 4),
                                                  (9, 5, 4, 3), (2, 6, 5, 3), (4, 3, 3, 5)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_below_the_top_and_at_its_lyndon_words_zero_elsewhere(batch, length, d, depth,
                                                                     dtype):
    x = random_path(batch, length, d, seed=d * depth, scale=0.4)
    mask = ops.lyndon_top_mask(d, depth, torch.float64, "cpu")
    got = ops.signature_lyndon_top_impl(x.to(dtype), depth).double()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got, ref.signature(x, depth) * mask, **tol)
    top = mask[sigcg.signature_channels(d, depth - 1):]
    assert 0 < top.sum() < d**depth  # some, not all, top words are Lyndon


def test_gradcheck():
    x = random_path(3, 5, 3, seed=2, scale=0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: ops.signature_lyndon_top_op(p, 3), (x,),
                                    eps=1e-6, atol=1e-8, rtol=1e-6)


def test_needs_two_letters_and_two_levels():
    for d, depth in [(1, 3), (3, 1)]:
        with pytest.raises(ValueError, match="depth >= 2 and channels >= 2"):
            KernelSpec("signature_lyndon_top", d, depth)


@pytest.mark.parametrize("mode", ["words", "brackets", "hall"])
def test_logsignature_takes_this_route_and_matches_the_full_signature(mode, monkeypatch):
    calls = []
    original = ops.signature_lyndon_top
    monkeypatch.setattr(ops, "signature_lyndon_top", lambda *a: calls.append(a) or original(*a))
    x = random_path(6, 9, 3, seed=7, scale=0.4)
    bp = torch.randn(6, 3, dtype=torch.float64)
    for kwargs in (dict(), dict(inverse=True), dict(basepoint=bp), dict(basepoint=True)):
        expected = sigcg.signature_to_logsignature(sigcg.signature(x, 4, **kwargs), 3, 4,
                                                   mode=mode)
        torch.testing.assert_close(sigcg.logsignature(x, 4, mode=mode, **kwargs), expected,
                                   rtol=1e-12, atol=1e-12)
    unbatched = sigcg.signature_to_logsignature(sigcg.signature(x[:1], 4), 3, 4, mode=mode)[0]
    np.testing.assert_allclose(sigcg.logsignature(x[0].numpy(), 4, mode=mode), unbatched.numpy(),
                               rtol=1e-12, atol=1e-12)
    assert len(calls) == 5
