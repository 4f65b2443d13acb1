"""Signatory 1.2's remaining API under ``import sigcg as signatory``: its documented usage
(README and example pages, written out here in our own words), invert_signature to Signatory's
documented tolerance, Augment, the spellings, Path's accessors, the warnings, the unstable
change of basis and NumPy array-likes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import reference as ref
import sigcg as signatory

F32 = torch.float32


# ---- the documented usage -------------------------------------------------------------------


def test_readme_and_basic_usage():
    sig = signatory.signature(torch.rand(1, 10, 2), 4)
    assert sig.shape == (1, signatory.signature_channels(2, 4))
    assert signatory.signature(torch.rand(2, 10, 5), 3).shape == (2, 155)
    assert signatory.signature(torch.rand(2, 10, 5), 3, basepoint=True).shape == (2, 155)


def test_online_and_combine_usage():
    first, more = (
        torch.rand(1, 100, 5, dtype=torch.float64),
        torch.rand(1, 7, 5, dtype=torch.float64),
    )
    whole = signatory.signature(torch.cat([first, more], 1), 3)
    head = signatory.signature(first, 3)
    torch.testing.assert_close(
        signatory.signature(more, 3, basepoint=first[:, -1], initial=head), whole
    )
    tail = signatory.signature(more, 3, basepoint=first[:, -1])
    torch.testing.assert_close(signatory.signature_combine(head, tail, 5, 3), whole)
    torch.testing.assert_close(signatory.multi_signature_combine([head, tail], 5, 3), whole)


def test_intervals_usage():
    x = torch.rand(1, 300, 5, dtype=torch.float64)
    p = signatory.Path(x, 3)
    torch.testing.assert_close(p.signature(0, 40), signatory.signature(x[:, :40], 3))
    torch.testing.assert_close(p.signature(100, None), signatory.signature(x[:, 100:], 3))
    p.update(torch.rand(1, 50, 5, dtype=torch.float64))
    assert p.shape == (1, 350, 5)
    assert p.signature(250, 330).shape == (1, signatory.signature_channels(5, 3))


class _Net(nn.Module):
    """The neural-network examples: Augment -> Signature (basepoint given to the constructor,
    as the documented examples do) -> Linear, and a stream signature taken again."""

    def __init__(self, channels, depth, stacked):
        super().__init__()
        self.augment = signatory.Augment(
            in_channels=channels,
            layer_sizes=(8, 8, 2),
            kernel_size=4,
            include_original=True,
            include_time=True,
        )
        self.stacked = stacked
        self.signature = signatory.Signature(depth=depth, basepoint=True, stream=stacked)
        width = signatory.signature_channels(channels=channels + 3, depth=depth)
        if stacked:
            self.augment2 = signatory.Augment(
                in_channels=width,
                layer_sizes=(8, 4),
                kernel_size=4,
                include_original=False,
                include_time=False,
            )
            self.signature2 = signatory.Signature(depth=depth, basepoint=True)
            width = signatory.signature_channels(channels=4, depth=depth)
        self.linear = nn.Linear(width, 3)

    def forward(self, x):
        y = self.signature(self.augment(x))
        if self.stacked:
            y = self.signature2(self.augment2(y))
        return self.linear(y)


@pytest.mark.parametrize("stacked", [False, True])
def test_neural_network_examples_train(stacked):
    torch.manual_seed(0)
    net = _Net(4, 3, stacked)
    x, target = torch.rand(5, 10, 4), torch.rand(5, 3)
    loss = ((net(x) - target) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    # without the network: time and the original stream only
    plain = signatory.Augment(4, (), 1, include_original=True, include_time=True)
    assert plain(x).shape == (5, 10, 5)


def test_inversion_example_within_signatorys_tolerance():
    """The documented half circle: the path of depth + 1 points from its depth-9 signature
    lies within 0.1 of the original (Signatory's own test)."""
    t = torch.linspace(0, 1, 10)
    circle = torch.stack([torch.cos(math.pi * t), torch.sin(math.pi * t)]).T.unsqueeze(0)
    sig = signatory.signature(circle, 9)
    back = signatory.invert_signature(sig, 9, 2, initial_position=circle[:, 0, :])
    assert back.shape == (1, 10, 2)
    assert torch.allclose(back, circle, atol=1e-1)
    # deeper signatures, finer reconstructions: the depth-11 example of the documentation
    deeper = signatory.invert_signature(signatory.signature(circle, 11), 11, 2, circle[:, 0, :])
    assert deeper.shape == (1, 12, 2)


def test_inversion_shapes_and_start():
    for batch, length, channels, depth in [(1, 2, 1, 2), (2, 3, 2, 4), (5, 10, 6, 2)]:
        x = torch.rand(batch, length, channels)
        sig = signatory.signature(x, depth)
        out = signatory.invert_signature(sig, depth, channels, initial_position=x[:, 0])
        assert out.shape == (batch, depth + 1, channels)
        assert torch.equal(out[:, 0], x[:, 0])
        assert torch.equal(
            signatory.invert_signature(sig, depth, channels)[:, 0], torch.zeros(batch, channels)
        )
    # a straight line is recovered exactly at any depth (every piece moves by Δ / depth)
    line = torch.tensor([[[0.0, 0.0], [1.0, 2.0]]], dtype=torch.float64)
    out = signatory.invert_signature(signatory.signature(line, 4), 4, 2)
    torch.testing.assert_close(
        out, torch.linspace(0, 1, 5, dtype=torch.float64)[None, :, None] * line[:, 1:]
    )
    with pytest.raises(ValueError, match="correspond"):
        signatory.invert_signature(torch.rand(2, 7), 2, 2)


# ---- spellings, accessors, warnings ---------------------------------------------------------


def test_spellings_and_keywords():
    assert signatory.Logsignature is signatory.LogSignature
    assert signatory.SignatureToLogsignature is signatory.SignatureToLogSignature
    assert signatory.logsignature_channels(in_channels=3, depth=4) == 32
    assert signatory.logsignature_channels(3, 4) == signatory.logsignature_channels(
        channels=3, depth=4
    )
    x = torch.rand(2, 6, 3, dtype=torch.float64)
    module = signatory.LogSignature(3, mode="brackets")
    assert module.prepare(3) is None
    torch.testing.assert_close(module(x), signatory.logsignature(x, 3, mode="brackets"))


def test_path_accessors_have_signatorys_meaning():
    x = torch.rand(2, 7, 3, dtype=torch.float64)
    p = signatory.Path(x, 2, basepoint=True)
    assert p.size() == (2, 8, 3) and p.size(-1) == 3 and p.channels() == 3
    assert p.signature_size() == (2, 7, 12) and p.signature_size(-2) == 7
    assert p.logsignature_size() == (2, 7, 6) and p.logsignature_channels() == 6
    p.update(torch.rand(2, 3, 3, dtype=torch.float64))
    assert p.signature_size(1) == 10 and p.shape[1] == 11


def test_warnings_where_signatory_warns():
    x = torch.rand(1, 5, 2, dtype=torch.float64)
    s = signatory.signature(x, 2)
    with pytest.warns(UserWarning, match="basepoint"):
        signatory.signature(x, 2, initial=s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signatory.signature(x, 2, initial=s, basepoint=x[:, -1])
    with pytest.warns(DeprecationWarning, match="max_parallelism"):
        before = signatory.max_parallelism()
    with pytest.warns(DeprecationWarning):
        assert signatory.max_parallelism(-1) == math.inf
    with pytest.warns(DeprecationWarning):
        signatory.max_parallelism(before)


def test_lyndon_words_to_basis_transform_turns_words_into_brackets():
    for channels, depth in [(2, 5), (3, 4), (4, 3)]:
        x = torch.rand(3, 6, channels, dtype=torch.float64)
        words = signatory.logsignature(x, depth, mode="words")
        expected = signatory.logsignature(x, depth, mode="brackets")
        transform = signatory.unstable.lyndon_words_to_basis_transform(channels, depth)
        for group in transform:
            for source, target, coefficient in group:
                assert isinstance(coefficient, int)
                words[:, target] -= coefficient * words[:, source]
        torch.testing.assert_close(words, expected)


# ---- NumPy ----------------------------------------------------------------------------------


def test_array_likes_are_taken_as_numpy_would():
    points = [[0, 0], [1, 2], [3, 1]]  # integers, as np.asarray makes them: converted
    got = signatory.signature(points, 2)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(
        got, ref.signature(torch.tensor([points], dtype=torch.float64), 2)[0]
    )
    np.testing.assert_allclose(
        signatory.logsignature([points], 2),
        signatory.logsignature(np.array([points], dtype=float), 2),
    )
    with pytest.raises(TypeError, match="astype"):
        signatory.signature(np.array(points), 2)  # an integer array: the dtype is the caller's
    with pytest.raises(ValueError, match="rectangular"):
        signatory.signature([[0.0, 1.0], [2.0]], 2)
    with pytest.raises(TypeError, match="numbers"):
        signatory.signature([["a", "b"], ["c", "d"]], 2)


def test_path_batch_indexing_and_shuffling():
    x = torch.rand(5, 6, 2, dtype=torch.float64)
    p = signatory.Path(x, 3, basepoint=True)
    p.update(torch.rand(5, 2, 2, dtype=torch.float64))
    full = p.signature(1, 7)
    for item in (2, -1, slice(1, 4), torch.tensor([4, 0]), np.array([3]), [0, 0, 2]):
        selected = p[item]
        index = torch.arange(5)[
            item if not isinstance(item, int) else slice(item, item + 1 or None)
        ]
        torch.testing.assert_close(selected.signature(1, 7), full[index])
        assert selected.signature_size(0) == len(index)
    shuffled, perm = p.shuffle()
    torch.testing.assert_close(shuffled.signature(1, 7), full[perm])
    torch.testing.assert_close(p.signature(1, 7), full)  # the original is untouched
    same, perm = p.shuffle_()
    assert same is p
    torch.testing.assert_close(p.signature(1, 7), full[perm])
    with pytest.raises(IndexError):
        p[torch.zeros(2, 2, dtype=torch.long)]
    with pytest.raises(IndexError):
        p[5:]


def test_inputs_signatory_takes_that_a_user_hits():
    """Found by running Signatory 1.2.6 side by side: 0-dim index tensors for Path intervals, a
    list of bools as a batch mask, a short stream that padding makes long enough for Augment,
    and one (channels,) initial position of another float dtype for invert_signature."""
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    path = signatory.Path(x, 3)
    torch.testing.assert_close(
        path.signature(torch.tensor(1), torch.tensor(4)), path.signature(1, 4)
    )
    mask = [True, False, True, False]
    torch.testing.assert_close(
        path[mask].signature(), path[torch.tensor(mask)].signature(), rtol=0, atol=0
    )
    assert path[mask].signature().shape[0] == 2

    augment = signatory.Augment(3, (4,), 3, padding=1, include_original=False, include_time=False)
    assert augment(torch.randn(2, 2, 3)).shape == (2, 2, 4)
    with pytest.raises(ValueError, match="first convolution needs at least"):
        signatory.Augment(3, (4,), 5, include_original=False, include_time=False)(
            torch.randn(2, 2, 3)
        )

    line = torch.linspace(0, 1, 5, dtype=torch.float64)[None, :, None] * torch.tensor(
        [1.0, -2.0], dtype=torch.float64
    )
    start = torch.tensor([0.5, 0.25], dtype=torch.float32)
    sig = signatory.signature(line + start.double(), 3)
    back = signatory.invert_signature(sig, 3, 2, initial_position=start)
    assert back.dtype == torch.float64
    torch.testing.assert_close(back[:, 0], start.double()[None])
    torch.testing.assert_close(back[:, -1], (line + start.double())[:, -1], rtol=1e-6, atol=1e-6)
