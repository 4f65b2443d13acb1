"""signature_coefficient: chosen words without the full signature."""

import numpy as np
import pytest
import torch

import sigcg
from conftest import random_path


@pytest.mark.parametrize(
    "d,words",
    [
        (4, [[0], [1, 2], [3, 3, 1], [0, 1, 2, 3, 0, 1], [2], [1, 2]]),
        (1, [[0, 0, 0, 0]]),
        (3, [[2, 1, 0, 1, 2, 0, 1]]),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_full_signature(d, words, dtype):
    x = random_path(5, 12, d, seed=d, scale=0.4).to(dtype)
    depth = max(len(w) for w in words)
    full = sigcg.signature(x, depth)
    expected = torch.stack([full[:, sigcg.word_to_index(w, d)] for w in words], 1)
    got = sigcg.signature_coefficient(x, words)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got, expected, **tol)


def test_basepoint_unbatched_numpy_and_gradient():
    x = random_path(3, 7, 2, seed=1, scale=0.5)
    bp = torch.randn(3, 2, dtype=torch.float64)
    words = [[0, 1], [1, 0, 1]]
    full = sigcg.signature(x, 3, basepoint=bp)
    expected = full[:, [sigcg.word_to_index(w, 2) for w in words]]
    torch.testing.assert_close(sigcg.signature_coefficient(x, words, basepoint=bp), expected)
    single = sigcg.signature_coefficient(x[0].numpy(), words, basepoint=True)
    assert isinstance(single, np.ndarray) and single.shape == (2,)
    np.testing.assert_allclose(
        single, sigcg.signature(x[0].numpy(), 3, basepoint=True)[[3, 11]], rtol=1e-12
    )
    xg = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda p: sigcg.signature_coefficient(p, words), (xg,))


@pytest.mark.parametrize(
    "words,match", [([], "at least one"), ([[0, 2]], "not a word"), ([[]], "not a word")]
)
def test_bad_words(words, match):
    with pytest.raises(ValueError, match=match):
        sigcg.signature_coefficient(random_path(2, 4, 2, seed=0), words)
