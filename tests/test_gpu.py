"""CUDA kernels on a real GPU (skipped where torch sees none; `make gpu-check` runs them)."""
import pytest
import torch

import sigcg
from conftest import random_path

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

# batch 1, length 2, d = 1, small and large d^N: shared state, opted-in shared, global scratch.
SHAPES = [(1, 2, 1, 4), (3, 7, 2, 3), (5, 9, 3, 5), (2, 6, 4, 6), (2, 4, 8, 5), (2, 3, 6, 6),
          (37, 50, 4, 4)]


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stream", [False, True])
def test_forward_backward_match_cpu(batch, length, d, depth, dtype, stream):
    x = random_path(batch, length, d, seed=d + depth, scale=0.4)
    cot = torch.randn(sigcg.signature(x, depth, stream=stream).shape, dtype=torch.float64)
    xc = x.clone().requires_grad_()
    expected = sigcg.signature(xc, depth, stream=stream)
    (grad_expected,) = torch.autograd.grad(expected, xc, cot)
    xg = x.to("cuda", dtype).requires_grad_()
    out = sigcg.signature(xg, depth, stream=stream)
    assert out.device == xg.device and out.dtype == dtype
    (grad,) = torch.autograd.grad(out, xg, cot.to("cuda", dtype))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(out.double().cpu(), expected.detach(), **tol)
    torch.testing.assert_close(grad.double().cpu(), grad_expected, **tol)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("scalar_term", [False, True])
def test_every_option_matches_cpu(stream, inverse, scalar_term):
    x = random_path(4, 6, 3, seed=3, scale=0.5)
    bp = torch.randn(4, 3, dtype=torch.float64)
    init = sigcg.signature(random_path(4, 3, 3, seed=4, scale=0.5), 3, scalar_term=scalar_term)
    kwargs = dict(stream=stream, inverse=inverse, scalar_term=scalar_term)
    expected = sigcg.signature(x, 3, basepoint=bp, initial=init, **kwargs)
    got = sigcg.signature(x.cuda(), 3, basepoint=bp.cuda(), initial=init.cuda(), **kwargs)
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-10, atol=1e-10)


def test_gradcheck_on_gpu():
    x = random_path(2, 4, 2, seed=5, scale=0.5).cuda().requires_grad_()
    init = (torch.randn(2, 14, dtype=torch.float64, device="cuda") * 0.3).requires_grad_()
    bp = torch.randn(2, 2, dtype=torch.float64, device="cuda", requires_grad=True)
    for stream in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, b, c: sigcg.signature(a, 3, stream=stream, basepoint=b, initial=c),
            (x, bp, init), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_runs_on_the_current_stream_concurrently():
    x = [random_path(64, 200, 4, seed=s, scale=0.1).cuda() for s in range(4)]
    expected = [sigcg.signature(p, 5) for p in x]
    torch.cuda.synchronize()
    streams = [torch.cuda.Stream() for _ in x]
    outs = []
    for s, p in zip(streams, x):
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            outs.append(sigcg.signature(p, 5))
    torch.cuda.synchronize()
    for out, exp in zip(outs, expected):
        torch.testing.assert_close(out, exp, rtol=0, atol=0)
