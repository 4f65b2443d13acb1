"""Log-signatures: against iisignature, an independent series logarithm and identities."""

import itertools

import iisignature
import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path


def duval_lyndon(d, depth):
    """Lyndon words by brute force: strictly smaller than all their rotations."""
    return [
        w
        for k in range(1, depth + 1)
        for w in itertools.product(range(d), repeat=k)
        if all(w < w[i:] + w[:i] for i in range(1, k))
    ]


@pytest.mark.parametrize(
    "batch,length,d,depth", [(3, 9, 2, 5), (2, 6, 3, 4), (4, 5, 4, 3), (1, 2, 1, 4)]
)
def test_modes_against_iisignature_and_reference(batch, length, d, depth):
    x = random_path(batch, length, d, seed=d + depth, scale=0.5)
    expand = sigcg.logsignature(x, depth, mode="expand")
    torch.testing.assert_close(expand, ref.log(sigcg.signature(x, depth), d, depth))
    if d > 1:  # iisignature does not prepare one-channel bases
        iix = np.stack(
            [iisignature.logsig(p, iisignature.prepare(d, depth, "X"), "X") for p in x.numpy()]
        )
        np.testing.assert_allclose(expand.numpy(), iix, rtol=1e-10, atol=1e-12)
    words = sigcg.logsignature(x, depth, mode="words")
    lyndon = sorted(duval_lyndon(d, depth), key=lambda w: (len(w), w))
    assert sigcg.lyndon_words(d, depth) == [list(w) for w in lyndon]
    assert words.shape[-1] == len(lyndon) == sigcg.logsignature_channels(d, depth)
    idx = [sigcg.word_to_index(w, d) for w in lyndon]
    torch.testing.assert_close(words, expand[:, idx])
    if d > 1:
        brackets = sigcg.logsignature(x, depth, mode="brackets")
        iis = np.stack(
            [iisignature.logsig(p, iisignature.prepare(d, depth, "S"), "S") for p in x.numpy()]
        )
        np.testing.assert_allclose(brackets.numpy(), iis, rtol=1e-10, atol=1e-12)


def test_witt_formula_and_brackets_match_iisignature_basis():
    assert [sigcg.logsignature_channels(2, n) for n in range(1, 7)] == [2, 3, 5, 8, 14, 23]
    assert sigcg.logsignature_channels(4, 6) == 964

    def show(b):
        return str(b + 1) if isinstance(b, int) else f"[{show(b[0])},{show(b[1])}]"

    assert tuple(show(b) for b in sigcg.lyndon_brackets(3, 4)) == iisignature.basis(
        iisignature.prepare(3, 4, "S")
    )


def test_levy_area_and_straight_line():
    square = torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=torch.float64)
    words = sigcg.logsignature(square, 2)  # Lyndon words 0, 1, 01
    torch.testing.assert_close(words, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    x = random_path(3, 7, 3, seed=1)
    s = sigcg.signature(x, 2)
    area = (s[:, 3 + 1] - s[:, 3 + 3]) / 2  # (S^{01} - S^{10}) / 2
    torch.testing.assert_close(sigcg.logsignature(x, 2)[:, 3], area)
    line = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None] * torch.tensor(
        [1.0, -2.0, 0.5], dtype=torch.float64
    )
    expand = sigcg.logsignature(line, 4, mode="expand")
    torch.testing.assert_close(expand[:3], torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(
        expand[3:], torch.zeros(117, dtype=torch.float64), atol=1e-14, rtol=0
    )


def test_stream_options_module_and_numpy():
    x = random_path(2, 6, 2, seed=4, scale=0.5)
    stream = sigcg.logsignature(x, 4, stream=True, basepoint=True, inverse=True, mode="brackets")
    sig_stream = sigcg.signature(x, 4, stream=True, basepoint=True, inverse=True, scalar_term=True)
    torch.testing.assert_close(
        stream,
        sigcg.signature_to_logsignature(
            sig_stream, 2, 4, stream=True, mode="brackets", scalar_term=True
        ),
    )
    for j in range(stream.shape[1]):
        prefix = torch.cat([torch.zeros(2, 1, 2, dtype=torch.float64), x[:, : j + 1]], 1)
        torch.testing.assert_close(
            stream[:, j], sigcg.logsignature(prefix.flip(1), 4, mode="brackets")
        )
    module = sigcg.LogSignature(4, stream=True, inverse=True, mode="brackets")
    torch.testing.assert_close(module(x, basepoint=True), stream)
    conv = sigcg.SignatureToLogSignature(2, 4, mode="expand")
    torch.testing.assert_close(conv(sigcg.signature(x, 4)), sigcg.logsignature(x, 4, mode="expand"))
    single = sigcg.logsignature(x[0].numpy(), 4)
    assert isinstance(single, np.ndarray) and single.shape == (8,)


@pytest.mark.parametrize("mode", ["words", "brackets", "hall", "expand"])
@pytest.mark.parametrize("stream", [False, True])
def test_gradcheck(mode, stream):
    x = random_path(2, 4, 2, seed=6, scale=0.5).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p: sigcg.logsignature(p, 4, stream=stream, mode=mode),
        (x,),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
    )
    s = (torch.randn(3, 14, dtype=torch.float64) * 0.4).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: sigcg.signature_to_logsignature(a, 2, 3, mode=mode),
        (s,),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: sigcg.logsignature(torch.zeros(2, 4, 3), 2, mode="lie"), ValueError, "mode"),
        (lambda: sigcg.signature_to_logsignature(torch.zeros(2, 11), 3, 2), ValueError, "shape"),
        (lambda: sigcg.signature_to_logsignature(torch.zeros(2, 5, 12), 3, 2), ValueError, "shape"),
        (lambda: sigcg.signature_to_logsignature({0: 0.0}, 3, 2), TypeError, "torch.Tensor"),
        (lambda: sigcg.signature_to_logsignature([0.0], 3, 2), ValueError, "shape"),
        (lambda: sigcg.logsignature_channels(0, 2), ValueError, "channels"),
        (lambda: sigcg.word_to_index([0, 3], 3), ValueError, "not a word"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("mode", ["words", "brackets", "hall", "expand"])
@pytest.mark.parametrize("d,depth", [(2, 5), (3, 4), (1, 3)])
def test_exp_of_log_is_identity(mode, d, depth):
    x = random_path(3, 7, d, seed=d, scale=0.5)
    stream = sigcg.signature(x, depth, stream=True, scalar_term=True)
    logs = sigcg.logsignature(x, depth, stream=True, mode=mode)
    back = sigcg.logsignature_to_signature(logs, d, depth, mode=mode, stream=True, scalar_term=True)
    torch.testing.assert_close(back, stream)
    single = sigcg.logsignature_to_signature(logs[:, -1].numpy(), d, depth, mode=mode)
    np.testing.assert_allclose(single, stream[:, -1, 1:].numpy(), rtol=1e-12, atol=1e-12)


def test_exp_of_a_lie_element_is_group_like_and_gradchecks():
    words = torch.randn(2, sigcg.logsignature_channels(2, 4), dtype=torch.float64) * 0.5
    sig = sigcg.logsignature_to_signature(words, 2, 4)
    # exp of a Lie element satisfies the shuffle identity S^i S^j = S^{ij} + S^{ji}
    s1, s2 = sig[:, :2], sig[:, 2:6].reshape(2, 2, 2)
    torch.testing.assert_close(s1[:, :, None] * s1[:, None, :], s2 + s2.transpose(1, 2))
    for mode in ("words", "brackets"):
        w = words.clone().requires_grad_()
        assert torch.autograd.gradcheck(
            lambda a: sigcg.logsignature_to_signature(a, 2, 4, mode=mode), (w,)
        )
    e = (torch.randn(2, 30, dtype=torch.float64) * 0.5).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: sigcg.logsignature_to_signature(a, 2, 4, mode="expand"), (e,)
    )
    with pytest.raises(ValueError, match="shape"):
        sigcg.logsignature_to_signature(words, 2, 3)


def test_word_index_round_trip_and_all_words():
    words = sigcg.all_words(3, 3)
    assert len(words) == sigcg.signature_channels(3, 3)
    for i, w in enumerate(words):
        assert sigcg.word_to_index(w, 3) == i and sigcg.index_to_word(i, 3, 3) == w
    with pytest.raises(ValueError, match="outside"):
        sigcg.index_to_word(39, 3, 3)


def expand_bracket(tree, d, depth):
    """A bracket [a, b] = ab - ba as a dense flat tensor-algebra vector (independent of sigcg)."""
    if isinstance(tree, int):
        v = torch.zeros(sum(d**k for k in range(1, depth + 1)), dtype=torch.float64)
        v[tree] = 1.0
        return v
    a, b = (expand_bracket(t, d, depth)[None] for t in tree)
    ab = ref.flat(ref.chen_product_only(ref.split(a, d, depth), ref.split(b, d, depth)))
    ba = ref.flat(ref.chen_product_only(ref.split(b, d, depth), ref.split(a, d, depth)))
    return (ab - ba)[0]


@pytest.mark.parametrize("d,depth", [(2, 5), (3, 4), (4, 3)])
def test_hall_basis(d, depth):
    def show(b):
        return str(b + 1) if isinstance(b, int) else f"[{show(b[0])},{show(b[1])}]"

    assert tuple(show(b) for b in sigcg.hall_basis(d, depth)) == iisignature.basis(
        iisignature.prepare(d, depth, "SH")
    )
    x = random_path(3, 8, d, seed=d, scale=0.3)
    hall = sigcg.logsignature(x, depth, mode="hall")
    # the coordinates rebuild the expanded log in the basis, each element expanded independently
    basis = torch.stack([expand_bracket(t, d, depth) for t in sigcg.hall_basis(d, depth)], 1)
    torch.testing.assert_close(hall @ basis.T, ref.log(sigcg.signature(x, depth), d, depth))
    # iisignature's Hall coordinates agree to ~1e-8 relative (its Lyndon ones to 1e-16)
    iis = np.stack(
        [iisignature.logsig(p, iisignature.prepare(d, depth, "SH"), "S") for p in x.numpy()]
    )
    np.testing.assert_allclose(hall.numpy(), iis, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(
        sigcg.logsignature_to_signature(hall, d, depth, mode="hall"), sigcg.signature(x, depth)
    )
    w = hall.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: sigcg.logsignature_to_signature(a, d, depth, mode="hall"), (w,)
    )


@pytest.mark.parametrize(
    "d,depth,basis",
    [(3, 6, "hall"), (2, 8, "hall"), (4, 6, "hall"), (3, 6, "lyndon"), (5, 4, "lyndon")],
)
def test_change_of_basis_inverts_the_bracket_expansion_exactly(d, depth, basis):
    """words_to_basis is M^{-1} for M[u, h] = coefficient of Lyndon word u in bracket h; these
    shapes have Hall levels that substitution cannot finish (the dense remainder is used)."""
    from sigcg.algebra import lyndon

    out_idx, in_idx, coef = lyndon.words_to_basis(d, depth, basis)
    n = lyndon.logsignature_channels(d, depth)
    inverse = np.zeros((n, n))
    np.add.at(inverse, (out_idx, in_idx), coef)
    position = {w: i for i, w in enumerate(lyndon._lyndon(d, depth))}
    m = np.zeros((n, n))
    for j, tree in enumerate(lyndon._basis_trees(d, depth, basis)):
        for word, c in lyndon._expand(tree).items():
            if word in position:
                m[position[word], j] = c
    assert np.array_equal(inverse @ m, np.eye(n))
    assert np.all(inverse == np.rint(inverse))


def test_large_lyndon_basis_has_no_size_limit():
    """d=8, depth=5 has 6552 brackets at level 5, beyond any dense inversion we would do."""
    x = random_path(2, 4, 8, seed=11, scale=0.3)
    log = sigcg.logsignature(x, 5, mode="brackets")
    assert log.shape == (2, sigcg.logsignature_channels(8, 5))
    back = sigcg.logsignature_to_signature(log, 8, 5, mode="brackets")
    torch.testing.assert_close(back, sigcg.signature(x, 5), rtol=1e-10, atol=1e-12)


def test_change_of_basis_tables_are_cached_on_disk(tmp_path, monkeypatch):
    from sigcg.algebra import lyndon
    from sigcg.runtime import cpu as dispatch
    from sigcg.runtime.cache import KernelCache

    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path))
    lyndon._table.cache_clear()
    first = lyndon._table("words_to_basis", 3, 4, "hall")
    [(entry_dir, entry)] = dispatch.cache.entries()
    assert entry.meta["spec"]["op"] == "hall words_to_basis"
    assert entry.library.name == "table.npz"

    lyndon._table.cache_clear()  # a new process: memory empty, disk warm, nothing rebuilt
    monkeypatch.setitem(lyndon._TABLE_BUILDERS, "words_to_basis", lambda *a: pytest.fail("rebuilt"))
    second = lyndon._table("words_to_basis", 3, 4, "hall")
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)

    entry.library.write_bytes(b"truncated")  # corrupt: a miss, rebuilt, never loaded
    monkeypatch.undo()
    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path))
    lyndon._table.cache_clear()
    third = lyndon._table("words_to_basis", 3, 4, "hall")
    np.testing.assert_array_equal(third[2], first[2])
    lyndon._table.cache_clear()


def test_expanding_a_hall_basis_needs_no_inverse(tmp_path, monkeypatch):
    """logsignature_to_signature uses basis -> expanded only, which exists at any size, so a
    basis whose inverse is refused (here: any dense part at all) still exponentiates."""
    import importlib

    from sigcg.algebra import lyndon
    from sigcg.runtime import cpu as dispatch
    from sigcg.runtime.cache import KernelCache

    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path))
    # the device tables built from the change-of-basis tables
    monkeypatch.setattr(importlib.import_module("sigcg.api.logsignature"), "_tables", {})
    monkeypatch.setattr(lyndon, "MAX_DENSE_CORE", 0)
    lyndon._table.cache_clear()
    try:
        with pytest.raises(ValueError, match="dense inversion"):
            sigcg.logsignature(random_path(1, 3, 3, seed=1), 5, mode="hall")
        coords = 0.3 * torch.randn(2, sigcg.logsignature_channels(3, 5), dtype=torch.float64)
        got = sigcg.logsignature_to_signature(coords, 3, 5, mode="hall")
    finally:
        lyndon._table.cache_clear()
    expanded = coords @ torch.stack([expand_bracket(t, 3, 5) for t in sigcg.hall_basis(3, 5)])
    torch.testing.assert_close(got, sigcg.logsignature_to_signature(expanded, 3, 5, mode="expand"))
