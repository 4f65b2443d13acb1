"""Forward values: against the plain-torch reference, iisignature and Signatory-style identities."""

import iisignature
import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from conftest import random_path

# (batch, length, channels, depth): odd batches exercise partial SIMD groups, d=1 and length 2
# the edges; kept small so the suite compiles few kernels.
SHAPES = [(1, 2, 1, 4), (3, 7, 2, 3), (5, 4, 3, 4), (9, 5, 4, 2), (2, 3, 2, 5), (6, 6, 5, 3)]


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
def test_matches_reference(batch, length, d, depth):
    x = random_path(batch, length, d, seed=batch * 7 + d)
    torch.testing.assert_close(
        sigcg.signature(x, depth), ref.signature(x, depth), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
def test_stream_matches_reference(batch, length, d, depth):
    x = random_path(batch, length, d, seed=3)
    torch.testing.assert_close(
        sigcg.signature(x, depth, stream=True),
        ref.signature(x, depth, stream=True),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("batch,length,d,depth", [(4, 20, 2, 5), (3, 9, 3, 4), (2, 6, 4, 3)])
def test_matches_iisignature(batch, length, d, depth):
    x = random_path(batch, length, d, seed=11)
    expected = np.stack([iisignature.sig(p, depth) for p in x.numpy()])
    np.testing.assert_allclose(sigcg.signature(x.numpy(), depth), expected, rtol=1e-11, atol=1e-12)
    expected_stream = np.stack([iisignature.sig(p, depth, 2) for p in x.numpy()])
    np.testing.assert_allclose(
        sigcg.signature(x.numpy(), depth, stream=True), expected_stream, rtol=1e-11, atol=1e-12
    )


def test_known_value():
    x = torch.tensor([[1.0, 1], [3, 4], [5, 2], [8, 6]], dtype=torch.float64)
    torch.testing.assert_close(
        sigcg.signature(x, 2), torch.tensor([7, 5, 24.5, 19, 16, 12.5], dtype=torch.float64)
    )


def test_float32_close_to_float64():
    x = random_path(7, 30, 3, seed=5, scale=0.3)
    s32 = sigcg.signature(x.float(), 4)
    assert s32.dtype == torch.float32
    torch.testing.assert_close(s32.double(), sigcg.signature(x, 4), rtol=2e-5, atol=2e-5)


def test_chen_identity():
    x = random_path(3, 12, 3, seed=8)
    whole = sigcg.signature(x, 4)
    first, second = sigcg.signature(x[:, :6], 4), sigcg.signature(x[:, 5:], 4)
    torch.testing.assert_close(
        whole, ref.flat(ref.chen(ref.split(first, 3, 4), ref.split(second, 3, 4)))
    )
    # the same through the initial argument
    torch.testing.assert_close(sigcg.signature(x[:, 5:], 4, initial=first), whole)


def test_reversal_is_inverse():
    x = random_path(4, 9, 2, seed=9)
    forward, backward = sigcg.signature(x, 5), sigcg.signature(x.flip(1), 5)
    product = ref.chen(ref.split(forward, 2, 5), ref.split(backward, 2, 5))
    torch.testing.assert_close(ref.flat(product), torch.zeros_like(forward), atol=1e-12, rtol=0)
    torch.testing.assert_close(sigcg.signature(x, 5, inverse=True), backward)
    torch.testing.assert_close(backward, ref.inverse(forward, 2, 5))


def test_straight_line_is_tensor_exponential():
    start, delta = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)[None, :, None]
    line = start[:, None] + t * delta[:, None]
    torch.testing.assert_close(sigcg.signature(line, 4), ref.flat(ref.tensor_exp(delta, 4)))


def test_shuffle_identity_and_symmetrisation():
    x = random_path(3, 10, 3, seed=4)
    s = sigcg.signature(x, 3)
    lv = ref.split(s, 3, 3)
    s1, s2 = lv[0], lv[1].reshape(-1, 3, 3)
    torch.testing.assert_close(s1[:, :, None] * s1[:, None, :], s2 + s2.transpose(1, 2))
    s3 = lv[2].reshape(-1, 3, 3, 3)
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    sym = sum(s3.permute(0, *(p + 1 for p in perm)) for perm in perms) / 6
    delta = x[:, -1] - x[:, 0]
    torch.testing.assert_close(sym.reshape(-1, 27), ref.tensor_exp(delta, 3)[2])


def test_invariances():
    x = random_path(2, 8, 2, seed=6)
    s = sigcg.signature(x, 4)
    torch.testing.assert_close(sigcg.signature(x + 3.5, 4), s)  # translation
    repeated = torch.cat([x[:, :4], x[:, 3:4], x[:, 4:]], 1)  # a repeated point
    torch.testing.assert_close(sigcg.signature(repeated, 4), s)
    midpoint = (x[:, 2:3] + x[:, 3:4]) / 2  # a point on a segment
    torch.testing.assert_close(sigcg.signature(torch.cat([x[:, :3], midpoint, x[:, 3:]], 1), 4), s)
    scaled = sigcg.signature(2.0 * x, 4)
    for k, (a, b) in enumerate(zip(ref.split(scaled, 2, 4), ref.split(s, 2, 4)), start=1):
        torch.testing.assert_close(a, b * 2.0**k)


def test_module_matches_function():
    x = random_path(3, 6, 2, seed=1)
    module = sigcg.Signature(3, stream=True, inverse=True, scalar_term=True)
    torch.testing.assert_close(
        module(x, basepoint=True),
        sigcg.signature(x, 3, stream=True, basepoint=True, inverse=True, scalar_term=True),
    )
    assert "depth=3" in repr(module)


def test_unbatched_numpy_and_noncontiguous():
    x = random_path(4, 6, 3, seed=2)
    batched = sigcg.signature(x, 3)
    single = sigcg.signature(x[1].numpy(), 3)
    assert isinstance(single, np.ndarray) and single.shape == (signature_width := 39,)
    np.testing.assert_allclose(single, batched[1].numpy(), rtol=1e-14)
    assert signature_width == sigcg.signature_channels(3, 3)
    strided = x.transpose(0, 1).contiguous().transpose(0, 1)
    assert not strided.is_contiguous()
    torch.testing.assert_close(sigcg.signature(strided, 3), batched)
    torch.testing.assert_close(sigcg.signature(x[:, ::2], 3), sigcg.signature(x[:, ::2].clone(), 3))


def test_nan_propagates():
    x = random_path(5, 6, 2, seed=3)
    x[2, 3, 1] = float("nan")
    s = sigcg.signature(x, 3)
    assert torch.isnan(s[2]).any()
    assert not torch.isnan(s[[0, 1, 3, 4]]).any()
    x[2, 3, 1] = float("inf")
    assert not torch.isfinite(sigcg.signature(x, 3)[2]).all()


def test_signature_channels_and_extract():
    assert sigcg.signature_channels(3, 4) == 3 + 9 + 27 + 81
    assert sigcg.signature_channels(3, 4, scalar_term=True) == 121
    assert sigcg.signature_channels(1, 5) == 5
    x = random_path(2, 5, 3, seed=0)
    s = sigcg.signature(x, 3, scalar_term=True)
    torch.testing.assert_close(sigcg.extract_signature_term(s, 3, 2, scalar_term=True), s[:, 4:13])
    torch.testing.assert_close(sigcg.extract_signature_term(s[:, 1:], 3, 1), x[:, -1] - x[:, 0])


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_give_identical_results(threads, monkeypatch):
    from sigcg.runtime import cpu

    monkeypatch.setattr(cpu, "PARALLEL_MIN_WORK", 0)  # split even this small batch
    chunks = []
    original = cpu.threads.run_parallel
    monkeypatch.setattr(
        cpu.threads,
        "run_parallel",
        lambda fn, items: chunks.append(len(items)) or original(fn, items),
    )
    x = random_path(37, 40, 3, seed=7)
    sigcg.set_num_threads(1)
    one = sigcg.signature(x, 5)
    assert chunks == []
    sigcg.set_num_threads(threads)
    try:
        torch.testing.assert_close(sigcg.signature(x, 5), one, rtol=0, atol=0)
    finally:
        sigcg.set_num_threads(1)
    assert chunks == [threads]


def test_depth_one_is_total_increment():
    x = random_path(3, 8, 4, seed=1)
    torch.testing.assert_close(sigcg.signature(x, 1), x[:, -1] - x[:, 0])


def test_callers_on_many_threads_while_the_thread_count_changes(monkeypatch):
    """8 threads computing signatures while another changes set_num_threads: every result is
    exact and no call fails (the pool is replaced, never shut down under a caller)."""
    import threading

    from sigcg.runtime import cpu

    monkeypatch.setattr(cpu, "PARALLEL_MIN_WORK", 0)  # every call goes through the pool
    x = random_path(37, 40, 3, seed=3)
    sigcg.set_num_threads(1)
    expected = sigcg.signature(x, 4)
    errors, done = [], threading.Event()

    def caller():
        for _ in range(25):
            try:
                torch.testing.assert_close(sigcg.signature(x, 4), expected, rtol=0, atol=0)
            except Exception as exc:  # collected, reported below
                errors.append(exc)

    def changer():
        while not done.is_set():
            for n in (2, 3, 1, 4, 2):
                sigcg.set_num_threads(n)

    workers = [threading.Thread(target=caller) for _ in range(8)]
    switch = threading.Thread(target=changer)
    switch.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    switch.join()
    sigcg.set_num_threads(1)
    assert errors == []
