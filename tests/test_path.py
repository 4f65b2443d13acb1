"""Path: interval queries equal direct computation on the slice, through updates and basepoints."""

import pytest
import torch

import sigcg
from conftest import random_path
from sigcg.ops import tensor_product


@pytest.mark.parametrize("basepoint", [False, True, "tensor"])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_interval_queries_equal_signature_of_slice(basepoint, scalar_term):
    x = random_path(3, 9, 2, seed=1, scale=0.5)
    bp = torch.randn(3, 2, dtype=torch.float64) if basepoint == "tensor" else basepoint
    path = sigcg.Path(x, 4, basepoint=bp, scalar_term=scalar_term)
    p = x
    if bp is True:
        p = torch.cat([torch.zeros(3, 1, 2, dtype=torch.float64), x], 1)
    elif isinstance(bp, torch.Tensor):
        p = torch.cat([bp[:, None], x], 1)
    extra = random_path(3, 5, 2, seed=2, scale=0.5)
    for stage in range(2):
        n = p.shape[1]
        assert path.shape == (3, n, 2)
        for start, end in [
            (None, None),
            (0, 2),
            (1, n),
            (2, n - 1),
            (-4, None),
            (n - 2, n),
            (-n - 5, n + 5),
        ]:
            expected = sigcg.signature(p[:, start:end], 4, scalar_term=scalar_term)
            torch.testing.assert_close(path.signature(start, end), expected)
            torch.testing.assert_close(
                path.logsignature(start, end, mode="brackets"),
                sigcg.logsignature(p[:, start:end], 4, mode="brackets"),
            )
        if stage == 0:
            path.update(extra)
            p = torch.cat([p, extra], 1)


def test_gradient_flows_to_every_given_path():
    x = random_path(2, 6, 3, seed=3, scale=0.5).requires_grad_()
    y = random_path(2, 4, 3, seed=4, scale=0.5).requires_grad_()
    path = sigcg.Path(x, 3)
    path.update(y)
    cot = torch.randn(2, sigcg.signature_channels(3, 3), dtype=torch.float64)
    got = torch.autograd.grad(path.signature(3, 8), (x, y), cot)
    expected = torch.autograd.grad(sigcg.signature(torch.cat([x, y], 1)[:, 3:8], 3), (x, y), cot)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_shapes_and_remember_path():
    x = random_path(2, 5, 3, seed=5)
    path = sigcg.Path(x, 3, basepoint=True, remember_path=False)
    assert path.size() == (2, 6, 3) and path.size(1) == 6
    # Signatory's shapes: (batch, signature length, channels), one row per step
    assert path.signature_size() == (2, 5, 39) and path.logsignature_size(-1) == 14
    assert path.signature_size(-2) == 5 and path.signature_channels() == 39
    assert path.logsignature_channels() == 14 and path.logsignature_shape == (2, 5, 14)
    assert path.depth == 3 and path.channels == 3 and path.channels() == 3
    assert not path.remember_path
    with pytest.raises(RuntimeError, match="remember_path"):
        _ = path.path
    remembered = sigcg.Path(x, 3, basepoint=True)
    assert [t.shape[1] for t in remembered.path] == [1, 5]


@pytest.mark.parametrize("start,end", [(3, 3), (4, 2), (5, 6), (-1, None)])
def test_intervals_without_two_points_are_rejected(start, end):
    path = sigcg.Path(random_path(2, 6, 2, seed=6), 3)
    with pytest.raises(ValueError, match="at least 2"):
        path.signature(start, end)


def test_update_checks_its_input():
    path = sigcg.Path(random_path(2, 6, 2, seed=6), 3)
    with pytest.raises(ValueError, match="batch"):
        path.update(torch.zeros(3, 4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch"):
        path.update(torch.zeros(2, 4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype"):
        path.update(torch.zeros(2, 4, 2, dtype=torch.float32))


def test_ops_accept_non_contiguous_views():
    """Raw ops copy strided views before handing pointers to the kernels."""
    stream = sigcg.signature(random_path(2, 6, 2, seed=7), 3, stream=True)
    a, b = stream[:, 1], stream[:, 3]
    assert not a.is_contiguous()
    torch.testing.assert_close(
        tensor_product(a, b, 2, 3), tensor_product(a.contiguous(), b.contiguous(), 2, 3)
    )
