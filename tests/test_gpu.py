"""CUDA kernels on a real GPU (skipped where torch sees none; `make gpu-check` runs them).

The signature kernels run in every variant the launcher can choose (forced, and by its own
strategy): one block per path with the state in shared memory (opting in above 48 KiB, up to
the largest states an H100 takes), in global scratch, in registers, and word-split blocks with
registers (whose backward adds the blocks' shares with atomics), in both dtypes, batch 1, on
non-default streams.
"""

import pytest
import torch

import sigcg
from conftest import random_path
from sigcg.codegen import KernelSpec
from sigcg.runtime import cuda_launch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# batch 1, length 2, d = 1, small and large d^N: shared state, opted-in shared, global scratch.
SHAPES = [
    (1, 2, 1, 4),
    (3, 7, 2, 3),
    (5, 9, 3, 5),
    (2, 6, 4, 6),
    (2, 4, 8, 5),
    (2, 3, 6, 6),
    (37, 50, 4, 4),
]


def _check(x, depth, stream=False, dtype=torch.float64, init=None, cot_seed=0):
    """sigcg on the GPU (whatever the launcher chooses now) against sigcg on the CPU."""
    out_cpu = sigcg.signature(x, depth, stream=stream, initial=init)
    cot = torch.randn(
        out_cpu.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(cot_seed)
    )
    xc = x.clone().requires_grad_()
    ic = None if init is None else init.clone().requires_grad_()
    expected = sigcg.signature(xc, depth, stream=stream, initial=ic)
    grads_expected = torch.autograd.grad(expected, [t for t in (xc, ic) if t is not None], cot)
    xg = x.to("cuda", dtype).requires_grad_()
    ig = None if init is None else init.to("cuda", dtype).requires_grad_()
    out = sigcg.signature(xg, depth, stream=stream, initial=ig)
    assert out.device == xg.device and out.dtype == dtype
    grads = torch.autograd.grad(out, [t for t in (xg, ig) if t is not None], cot.to("cuda", dtype))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(out.double().cpu(), expected.detach(), **tol)
    for got, want in zip(grads, grads_expected):
        torch.testing.assert_close(got.double().cpu(), want, **tol)


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stream", [False, True])
def test_forward_backward_match_cpu(batch, length, d, depth, dtype, stream):
    _check(random_path(batch, length, d, seed=d + depth, scale=0.4), depth, stream, dtype)


# Every variant, forced: (d, depth) where each exists; the splits down to N - 1 letters.
VARIANT_SHAPES = [(3, 4), (4, 6), (2, 7)]
VARIANTS = ["shared", "global", "registers", "split1", "split2", "split3", "split6"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("d,depth", VARIANT_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stream", [False, True])
def test_every_variant_matches_cpu(variant, d, depth, dtype, stream):
    try:
        KernelSpec("signature_backward", d, depth, target="cuda", variant=variant)
    except ValueError as exc:
        pytest.skip(str(exc))
    x = random_path(3, 6, d, seed=d, scale=0.4)
    init = sigcg.signature(random_path(3, 3, d, seed=1, scale=0.4), depth)
    with cuda_launch.forced_variant(variant):
        _check(x, depth, stream, dtype, init=init)


@pytest.mark.parametrize(
    "d,depth,dtype", [(8, 5, torch.float32), (3, 8, torch.float64), (4, 7, torch.float32)]
)
def test_largest_shared_memory_states(d, depth, dtype):
    """The backward's state near the opt-in limit (197 KiB for (8, 5) float32)."""
    spec = KernelSpec(
        "signature_backward", d, depth, dtype=str(dtype)[6:], target="cuda", variant="shared"
    )
    layout = spec.kernel.cuda_layout(spec)
    assert layout.dynamic_smem + layout.static_smem > 150 * 1024
    with cuda_launch.forced_variant("shared"):
        _check(random_path(2, 5, d, seed=2, scale=0.3), depth, False, dtype)


@pytest.mark.parametrize("batch", [1, 8, 600])
def test_the_launchers_own_choice_by_batch(batch):
    """batch 1 and 8 split (word-split blocks, atomics in the backward), 600 fills the device."""
    info = cuda_launch.describe("signature_backward", 4, 5, "float64", batch)
    assert info["variant"] == ("registers" if batch == 600 else f"split{info['split']}")
    _check(random_path(batch, 6, 4, seed=batch, scale=0.4), 5)


@pytest.mark.parametrize("variant", [None, "split2", "global"])
def test_non_default_streams(variant):
    """Kernels (and the zeroing of the split backward's outputs) follow torch's current
    stream; several streams at once give the same results as one."""
    xs = [random_path(4, 40, 4, seed=s, scale=0.1).cuda() for s in range(3)]
    with cuda_launch.forced_variant(variant):
        expected = []
        for x in xs:
            xg = x.clone().requires_grad_()
            out = sigcg.signature(xg, 4)
            expected.append((out.detach(), torch.autograd.grad(out, xg, torch.ones_like(out))[0]))
        torch.cuda.synchronize()
        streams = [torch.cuda.Stream() for _ in xs]
        results = []
        for s, x in zip(streams, xs):
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                xg = x.clone().requires_grad_()
                out = sigcg.signature(xg, 4)
                results.append(
                    (out.detach(), torch.autograd.grad(out, xg, torch.ones_like(out))[0])
                )
        torch.cuda.synchronize()
    for (out, grad), (want_out, want_grad) in zip(results, expected):
        torch.testing.assert_close(out, want_out, rtol=0, atol=0)
        torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12)  # atomics' order


def test_the_devices_limits_are_read():
    from sigcg.runtime.cuda import device_info

    info = device_info(torch.cuda.current_device())
    assert info.sm_count > 0 and info.smem_optin >= 48 * 1024
    assert info.regs_per_sm >= 65536 and info.max_threads_per_sm >= 1024
    print(cuda_launch.describe("signature_forward", 4, 6, "float32", 8, info)["summary"])


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
            (x, bp, init),
            eps=1e-6,
            atol=1e-8,
            rtol=1e-6,
        )


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
    torch.testing.assert_close(
        combined.double().cpu(), sigcg.signature_combine(s1, s2, d, depth), **tol
    )
    for mode in ("words", "expand", "brackets"):
        log = sigcg.logsignature(x.to("cuda", dtype), depth, mode=mode)
        torch.testing.assert_close(
            log.double().cpu(), sigcg.logsignature(x, depth, mode=mode), **tol
        )
        back = sigcg.logsignature_to_signature(log, d, depth, mode=mode)
        torch.testing.assert_close(back.double().cpu(), s1, **tol)


def test_tensor_algebra_gradchecks_on_gpu():
    x = random_path(2, 5, 2, seed=7, scale=0.5).cuda().requires_grad_()
    y = random_path(2, 4, 2, seed=8, scale=0.5).cuda().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: sigcg.signature_combine(sigcg.signature(a, 3), sigcg.signature(b, 3), 2, 3),
        (x, y),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
    )
    for mode in ("words", "brackets", "expand"):
        assert torch.autograd.gradcheck(
            lambda a: sigcg.logsignature(a, 4, mode=mode), (x,), eps=1e-6, atol=1e-8, rtol=1e-6
        )
    lie = (
        0.3 * torch.randn(2, sigcg.logsignature_channels(2, 4), dtype=torch.float64, device="cuda")
    ).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: sigcg.logsignature_to_signature(z, 2, 4), (lie,), eps=1e-6, atol=1e-8, rtol=1e-6
    )


def test_path_queries_and_coefficients_on_gpu():
    x = random_path(3, 40, 3, seed=9, scale=0.3)
    p = sigcg.Path(x.cuda(), 4)
    torch.testing.assert_close(
        p.signature(5, 30).cpu(), sigcg.signature(x[:, 5:30], 4), rtol=1e-10, atol=1e-10
    )
    words = [(0,), (2, 1), (1, 0, 2, 2)]
    torch.testing.assert_close(
        sigcg.signature_coefficient(x.cuda(), words).cpu(),
        sigcg.signature_coefficient(x, words),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize(
    "batch,length,d,depth", [(1, 3000, 3, 6), (4, 4096, 3, 6), (2, 5000, 4, 4)]
)
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
