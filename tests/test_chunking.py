"""Small batches of long paths: pieces signed in parallel and multiplied (Chen's identity)."""

import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path
from sigcg.api import chunking


@pytest.mark.parametrize("pieces", [1, 2, 3, 5, 12, 40])  # 12 = every step its own piece
@pytest.mark.parametrize("with_initial", [False, True])
def test_pieces_multiply_to_the_signature(pieces, with_initial):
    d, depth = 3, 4
    x = random_path(2, 13, d, seed=pieces, scale=0.4)
    init = ref.signature(random_path(2, 4, d, seed=1, scale=0.4), depth) if with_initial else None
    expected = ref.signature(x, depth)
    if with_initial:
        expected = ref.flat(ref.chen(ref.split(init, d, depth), ref.split(expected, d, depth)))
    got = chunking.chunked_signature(x, init, depth, pieces)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_gradcheck_through_pieces():
    x = random_path(2, 10, 2, seed=3, scale=0.5).requires_grad_()
    init = (0.3 * torch.randn(2, 14, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: chunking.chunked_signature(a, b, 3, 4),
        (x, init),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
    )


def test_piece_count_policy():
    steps, d, depth = 4096, 3, 6
    assert chunking.piece_count(8, steps, d, depth, width=8) == 1  # batch fills the machine
    assert chunking.piece_count(1, steps, d, depth, width=8) == 8
    assert chunking.piece_count(3, steps, d, depth, width=8) == 3  # ceil(8 / 3)
    assert chunking.piece_count(1, steps, d, depth, width=528) == steps // chunking.MIN_PIECE_STEPS
    assert chunking.piece_count(1, 300, 2, 2, width=8) == 1  # too little work to pay off


def test_public_signature_cuts_small_batches_of_long_paths(monkeypatch):
    calls = []
    original = chunking.chunked_signature
    monkeypatch.setattr(
        chunking, "chunked_signature", lambda *a: calls.append(a[3]) or original(*a)
    )
    x = random_path(1, 1000, 4, seed=4, scale=0.05)
    expected = ref.signature(x, 5)
    torch.testing.assert_close(sigcg.signature(x, 5), expected, rtol=1e-10, atol=1e-12)
    assert calls and calls[0] > 1
    init = sigcg.signature(random_path(1, 3, 4, seed=5, scale=0.3), 5)
    inverse_then_init = ref.chen(
        ref.split(ref.inverse(expected, 4, 5), 4, 5), ref.split(init, 4, 5)
    )
    torch.testing.assert_close(
        sigcg.signature(x, 5, initial=init, inverse=True),
        ref.flat(inverse_then_init),
        rtol=1e-9,
        atol=1e-11,
    )
    assert len(calls) == 2
    calls.clear()
    sigcg.signature(x, 5, stream=True)  # streams need every prefix: never cut
    sigcg.signature(random_path(64, 1000, 4, seed=6), 5)  # enough paths already
    assert calls == []
