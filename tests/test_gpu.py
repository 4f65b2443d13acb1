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


# ---- tensor-algebra kernels (product, log, exp) and what is built on them ------------------

@pytest.mark.parametrize("d,depth", [(1, 4), (2, 3), (3, 5), (4, 6), (8, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_combine_logsignature_and_exp_match_cpu(d, depth, dtype):
    x = random_path(5, 8, d, seed=d * depth, scale=0.3)
    y = random_path(5, 6, d, seed=d + depth, scale=0.3)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-3, atol=2e-3)
    s1, s2 = sigcg.signature(x, depth), sigcg.signature(y, depth)
    combined = sigcg.signature_combine(s1.to("cuda", dtype), s2.to("cuda", dtype), d, depth)
    torch.testing.assert_close(combined.double().cpu(), sigcg.signature_combine(s1, s2, d, depth),
                               **tol)
    for mode in ("words", "expand", "brackets"):
        log = sigcg.logsignature(x.to("cuda", dtype), depth, mode=mode)
        torch.testing.assert_close(log.double().cpu(), sigcg.logsignature(x, depth, mode=mode),
                                   **tol)
        back = sigcg.logsignature_to_signature(log, d, depth, mode=mode)
        torch.testing.assert_close(back.double().cpu(), s1, **tol)


def test_tensor_algebra_gradchecks_on_gpu():
    x = random_path(2, 5, 2, seed=7, scale=0.5).cuda().requires_grad_()
    y = random_path(2, 4, 2, seed=8, scale=0.5).cuda().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: sigcg.signature_combine(sigcg.signature(a, 3), sigcg.signature(b, 3), 2, 3),
        (x, y), eps=1e-6, atol=1e-8, rtol=1e-6)
    for mode in ("words", "brackets", "expand"):
        assert torch.autograd.gradcheck(lambda a: sigcg.logsignature(a, 4, mode=mode), (x,),
                                        eps=1e-6, atol=1e-8, rtol=1e-6)
    lie = (0.3 * torch.randn(2, sigcg.logsignature_channels(2, 4), dtype=torch.float64,
                             device="cuda")).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sigcg.logsignature_to_signature(z, 2, 4), (lie,),
                                    eps=1e-6, atol=1e-8, rtol=1e-6)


def test_path_queries_and_coefficients_on_gpu():
    x = random_path(3, 40, 3, seed=9, scale=0.3)
    p = sigcg.Path(x.cuda(), 4)
    torch.testing.assert_close(p.signature(5, 30).cpu(), sigcg.signature(x[:, 5:30], 4),
                               rtol=1e-10, atol=1e-10)
    words = [(0,), (2, 1), (1, 0, 2, 2)]
    torch.testing.assert_close(sigcg.signature_coefficient(x.cuda(), words).cpu(),
                               sigcg.signature_coefficient(x, words), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("batch,length,d,depth", [(1, 3000, 3, 6), (4, 4096, 3, 6), (2, 5000, 4, 4)])
def test_small_batches_are_cut_into_pieces_and_match_cpu(batch, length, d, depth):
    x = random_path(batch, length, d, seed=batch, scale=0.02)
    width = sigcg.api.chunking.parallel_width(x.cuda())
    assert sigcg.api.chunking.piece_count(batch, length - 1, d, depth, width) > 1
    xg = x.cuda().requires_grad_()
    out = sigcg.signature(xg, depth)
    whole = sigcg.ops.signature.forward(x.cuda(), None, depth, False)
    torch.testing.assert_close(out.detach(), whole, rtol=1e-9, atol=1e-11)
    cot = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, xg, cot)
    xc = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(sigcg.signature(xc, depth), xc, cot.cpu())
    torch.testing.assert_close(grad.cpu(), expected, rtol=1e-8, atol=1e-10)
