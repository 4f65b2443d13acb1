"""Path transforms, ragged batches and windows: against pySigLib, against the materialised
route, and the properties the fused and window kernels promise (padding never read and never
given gradient, every code shape and thread count the same)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference as ref
import sigcg
from sigcg import ops
from sigcg.api import transforms, windows
from sigcg.ops.transforms import augment
from sigcg.runtime import emulate_cuda
from sigcg.runtime.cpu import BACKEND as CPU

pysiglib = pytest.importorskip("pysiglib")
F64 = torch.float64
BOTH = [(False, True), (True, False), (True, True)]


def walk(batch, length, d, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, length, d, generator=g, dtype=F64) * 0.3).cumsum(1).to(dtype)


@pytest.mark.parametrize("time_aug,lead_lag", BOTH)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_signature_matches_pysiglib(time_aug, lead_lag, dtype):
    x = walk(5, 9, 3, seed=1, dtype=dtype)
    got = sigcg.signature(x, 3, time_aug=time_aug, lead_lag=lead_lag, end_time=2.5)
    theirs = pysiglib.sig(x, 3, time_aug=time_aug, lead_lag=lead_lag, end_time=2.5)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == F64 else dict(rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(got, theirs.to(dtype), **tol)


def test_transform_convention_matches_pysiglib_and_the_reference():
    x = torch.arange(6, dtype=F64).reshape(1, 3, 2)
    for time_aug, lead_lag in BOTH:
        theirs = pysiglib.transform_path(
            x[0].numpy().copy(), time_aug=time_aug, lead_lag=lead_lag, end_time=1.5
        )
        np.testing.assert_allclose(ref.transform(x, time_aug, lead_lag, 1.5)[0].numpy(), theirs)
        step = transforms.time_steps(transforms.Transform(time_aug, lead_lag, 1.5), x, None)
        np.testing.assert_allclose(augment(x, lead_lag, step)[0].numpy(), theirs, atol=1e-15)
    # the documented lead-lag points of (x0, x1, x2): the lead moves first
    lead_lag = ref.transform(x, False, True)[0]
    pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    for point, (lag, lead) in zip(lead_lag, pairs):
        torch.testing.assert_close(point, torch.cat([x[0, lag], x[0, lead]]))
    times = ref.transform(x, True, True)[0, :, -1]
    torch.testing.assert_close(times, torch.tensor([0, 0.25, 0.5, 0.75, 1.0], dtype=F64))


@pytest.mark.parametrize("time_aug,lead_lag", BOTH)
def test_signature_kernels_match_pysiglib(time_aug, lead_lag):
    x, y = walk(3, 6, 2, seed=2), walk(3, 5, 2, seed=3)
    kw = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=1.5)
    tol = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        sigcg.sig_kernel(x, y, 1, **kw), pysiglib.sig_kernel(x, y, dyadic_order=1, **kw), **tol
    )
    torch.testing.assert_close(
        sigcg.sig_kernel_gram(x, y, 1, **kw),
        pysiglib.sig_kernel_gram(x, y, dyadic_order=1, **kw),
        **tol,
    )
    torch.testing.assert_close(
        sigcg.sig_mmd(x, y, 1, **kw), pysiglib.sig_mmd(x, y, dyadic_order=1, **kw), **tol
    )
    torch.testing.assert_close(
        sigcg.sig_score(x, y, 1.0, 1, **kw),
        pysiglib.sig_score(x, y, lam=1.0, dyadic_order=1, **kw),
        **tol,
    )


# ---- the fused kernels against the materialised route ------------------------------------


def _fused_cases():
    for lead_lag in (False, True):
        for time in (False, True):
            for ragged in (False, True):
                if lead_lag or time or ragged:
                    yield lead_lag, time, ragged


@pytest.mark.parametrize("lead_lag,time,ragged", list(_fused_cases()))
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("variant", ["auto", "loops", "unrolled"])
def test_fused_kernels_equal_the_materialised_route(lead_lag, time, ragged, stream, variant):
    """11 paths: lane groups full and partial, rows taken out of order."""
    depth, batch, length = 3, 11, 7
    x = walk(batch, length, 2, seed=4)
    step = torch.linspace(0.1, 0.3, batch, dtype=F64) if time else None
    lengths = torch.tensor([7, 2, 5, 3, 6, 7, 4, 2, 3, 5, 6]) if ragged else None
    order = transforms.lane_order(lengths, 8) if ragged else None
    lengths32 = None if lengths is None else lengths.to(torch.int32)
    initial = ref.signature(walk(batch, 3, 2 * (2 if lead_lag else 1) + int(time), 5), depth)
    xg, ig = x.clone().requires_grad_(), initial.clone().requires_grad_()
    augmented = augment(xg, lead_lag, step, lengths)
    expected = ops.signature(augmented.contiguous(), ig, depth, stream)
    with CPU.forced_variant(variant):
        got = ops.signature_fused(xg, ig, depth, stream, lead_lag, step, lengths32, order)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    cot = torch.randn_like(got)
    with CPU.forced_variant(variant):
        g_got = torch.autograd.grad(got, (xg, ig), cot)
    g_exp = torch.autograd.grad(expected, (xg, ig), cot)
    for a, b in zip(g_got, g_exp):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_padding_is_never_read_and_gets_exactly_zero_gradient():
    x = walk(9, 8, 3, seed=6)
    lengths = torch.tensor([8, 2, 5, 3, 8, 4, 6, 2, 7])
    mask = torch.arange(8)[None, :] < lengths[:, None]
    poisoned = torch.where(mask[:, :, None], x, torch.full_like(x, float("nan")))
    for kw in (dict(), dict(lead_lag=True), dict(time_aug=True, lead_lag=True)):
        for stream in (False, True):
            xg = poisoned.clone().requires_grad_()
            out = sigcg.signature(xg, 3, stream=stream, lengths=lengths, **kw)
            assert torch.isfinite(out).all()
            (grad,) = torch.autograd.grad(out, xg, torch.randn_like(out))
            assert torch.isfinite(grad[mask]).all()
            assert (grad[~mask] == 0).all()  # NaN == 0 is False: padding exactly zero
            for b, n in enumerate(lengths.tolist()):
                alone = sigcg.signature(x[b, :n], 3, stream=stream, **kw)
                if stream:
                    torch.testing.assert_close(out[b, : alone.shape[0]], alone)
                    rest = out[b, alone.shape[0] :]
                    assert (rest == out[b, alone.shape[0] - 1]).all()  # the final value, exactly
                else:
                    torch.testing.assert_close(out[b], alone)


def test_lengths_with_a_basepoint_count_the_given_points():
    x = walk(3, 6, 2, seed=7)
    lengths = torch.tensor([6, 1, 4])
    out = sigcg.signature(x, 3, basepoint=True, lengths=lengths, lead_lag=True)
    for b, n in enumerate(lengths.tolist()):
        alone = sigcg.signature(x[b : b + 1, :n], 3, basepoint=True, lead_lag=True)
        torch.testing.assert_close(out[b : b + 1], alone)
    # unbatched: an int
    torch.testing.assert_close(
        sigcg.signature(x[0], 3, lengths=4), sigcg.signature(x[0, :4], 3), rtol=0, atol=0
    )


def test_threads_and_lane_order_give_the_same_result():
    x = walk(200, 40, 3, seed=8)
    lengths = torch.randint(2, 41, (200,), generator=torch.Generator().manual_seed(0))
    one = sigcg.signature(x, 4, lengths=lengths, lead_lag=True)
    previous = sigcg.get_num_threads()
    sigcg.set_num_threads(2)
    try:
        two = sigcg.signature(x, 4, lengths=lengths, lead_lag=True)
    finally:
        sigcg.set_num_threads(previous)
    torch.testing.assert_close(one, two, rtol=0, atol=0)
    order = transforms.lane_order(lengths, 8)
    assert sorted(order.tolist()) == list(range(200))


def test_the_emulated_cuda_route_transforms_with_torch_ops():
    x = walk(4, 6, 2, seed=9)
    lengths = torch.tensor([6, 2, 4, 5])
    expected = sigcg.signature(x, 3, stream=True, time_aug=True, lead_lag=True, lengths=lengths)
    with emulate_cuda():
        got = sigcg.signature(x, 3, stream=True, time_aug=True, lead_lag=True, lengths=lengths)
    torch.testing.assert_close(got, expected)


def test_path_with_transforms_keeps_its_time_scale_through_updates():
    x, y = walk(2, 6, 2, seed=10), walk(2, 4, 2, seed=11)
    p = sigcg.Path(x, 3, time_aug=True, lead_lag=True, end_time=2.0)
    torch.testing.assert_close(
        p.signature(), sigcg.signature(x, 3, time_aug=True, lead_lag=True, end_time=2.0)
    )
    p.update(y)
    full = torch.cat([x, y], 1)  # 10 points: 19 lead-lag points, 2 per 10 transformed steps
    whole = sigcg.signature(full, 3, time_aug=True, lead_lag=True, end_time=2.0 * 18 / 10)
    torch.testing.assert_close(p.signature(), whole)
    assert p.signature_size(-1) == sigcg.signature_channels(5, 3)


# ---- windows ------------------------------------------------------------------------------


def test_window_kernels_equal_slicing_on_random_tables():
    rng = np.random.default_rng(0)
    for trial in range(25):
        length, d, depth, batch = (int(rng.integers(3, 25)), int(rng.integers(1, 4)), 3, 5)
        count = int(rng.integers(1, 10))
        starts = rng.integers(0, length - 1, count)
        ends = np.minimum(length, starts + rng.integers(2, length + 1, count))
        table = torch.tensor(np.stack([starts, ends], 1))
        x = walk(batch, length, d, seed=trial).requires_grad_()
        got = sigcg.signature(x, depth, windows=table)
        expected = torch.stack([sigcg.signature(x[:, s:e], depth) for s, e in table.tolist()], 1)
        torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-11)
        cot = torch.randn_like(got)
        (g1,) = torch.autograd.grad(got, x, cot)
        (g2,) = torch.autograd.grad(expected, x, cot)
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variant", ["loops", "unrolled"])
def test_window_kernels_in_every_code_shape(variant):
    x = walk(6, 30, 3, seed=12)
    with CPU.forced_variant(variant):
        got = sigcg.signature(x, 4, window=(7, 3))
    expected = torch.stack([sigcg.signature(x[:, s : s + 7], 4) for s in range(0, 24, 3)], 1)
    torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-11)


def test_points_outside_every_window_are_never_read():
    x = walk(3, 20, 2, seed=13)
    table = torch.tensor([[3, 8], [5, 11], [14, 17]])
    inside = torch.zeros(20, dtype=torch.bool)
    for s, e in table.tolist():
        inside[s:e] = True
    poisoned = torch.where(inside[None, :, None], x, torch.full_like(x, float("nan")))
    torch.testing.assert_close(
        sigcg.signature(poisoned, 3, windows=table), sigcg.signature(x, 3, windows=table)
    )


def test_windows_in_float32_are_as_accurate_as_slicing():
    """No long prefix is inverted: the error stays that of signing a window alone."""
    x = walk(4, 2000, 3, seed=14, dtype=torch.float32) * 3
    table = torch.tensor([[s, s + 50] for s in range(0, 1950, 97)])
    exact = torch.stack([sigcg.signature(x[:, s:e].double(), 4) for s, e in table.tolist()], 1)
    got = sigcg.signature(x, 4, windows=table).double()
    sliced = torch.stack([sigcg.signature(x[:, s:e], 4) for s, e in table.tolist()], 1).double()
    scale = exact.abs().max()
    assert (got - exact).abs().max() <= 4 * (sliced - exact).abs().max() + 1e-6 * scale
    prefixes = windows._by_prefixes(x, 4, table).double()
    assert (prefixes - exact).abs().max() > 10 * (got - exact).abs().max()


def test_window_pairs_and_plans():
    x = walk(2, 10, 2, seed=15)
    assert sigcg.signature(x, 2, window=(4, 3)).shape == (2, 3, 6)
    assert sigcg.signature(x[0], 2, window=(10, 1)).shape == (1, 6)
    tables, per_anchor, steps = windows.plan(np.array([[0, 4], [3, 7], [6, 10]]))
    anchor = tables[0]
    assert list(anchor) == [0, 3, 6] and per_anchor == 1 and steps == 9
    with pytest.raises(ValueError, match="window"):
        sigcg.signature(x, 2, window=(4, 3), stream=True)
    with pytest.raises(ValueError, match="lengths"):
        sigcg.signature(x, 2, window=(4, 3), lengths=[10, 5])
    with pytest.raises(ValueError, match="not both"):
        sigcg.signature(x, 2, window=(4, 3), windows=[[0, 2]])


def test_windows_with_transforms_select_the_transformed_path():
    x = walk(2, 8, 2, seed=16)
    got = sigcg.signature(x, 3, windows=[[1, 4], [3, 8]], lead_lag=True, time_aug=True)
    full = ref.transform(x, True, True)
    expected = torch.stack([ref.signature(full[:, 2:7], 3), ref.signature(full[:, 6:15], 3)], 1)
    torch.testing.assert_close(got, expected)


def test_compile_fullgraph_with_transforms_lengths_and_windows():
    """The value checks that need the tables' values are skipped while tracing; the windows'
    walk plan is replaced by slices (a pair) or prefixes (a table)."""
    torch._dynamo.reset()
    x = walk(3, 6, 2, seed=17).requires_grad_()
    lengths = torch.tensor([6, 3, 4])

    def f(x, lengths):
        return (
            sigcg.signature(x, 3, lead_lag=True, time_aug=True, lengths=lengths, stream=True).sum()
            + sigcg.signature(x, 3, window=(3, 2)).sum()
            + sigcg.logsignature(x, 3, windows=torch.tensor([[0, 3], [1, 6]])).sum()
            + sigcg.sig_kernel(x, x, 0, lengths=(lengths, None), lead_lag=True).sum()
        )

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    eager, traced = f(x, lengths), compiled(x, lengths)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        torch.autograd.grad(traced, x)[0], torch.autograd.grad(eager, x)[0], rtol=1e-10, atol=1e-12
    )
