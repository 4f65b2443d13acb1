"""The CUDA kernels' bodies, executed on the CPU by the phase-by-phase emulation.

The generator renders the same kernel body as CUDA (for NVRTC) and as C in which every phase runs
for each thread of the block in turn (templates/cuda_grid.j2).  These tests run that C against the
reference, so the CUDA indexing and thread mapping are checked without a GPU.
"""
import pytest
import torch

import reference as ref
from conftest import random_path
from sigcg import ops
from sigcg.codegen import KernelSpec, schedule, signature_channels
from sigcg.runtime import emulate_cuda


@pytest.fixture(autouse=True)
def emulated():
    """Every kernel call in this module runs the CUDA kernels through the CUDA launcher."""
    with emulate_cuda():
        yield

# (batch, length, d, depth): words per level below, equal to and above the block's thread count
# (32 or 128), d = 1, length 2, batch 1.
SHAPES = [(3, 5, 2, 3), (1, 2, 1, 4), (2, 6, 3, 5), (4, 4, 5, 3), (2, 3, 2, 7)]


def test_shapes_cover_both_block_sizes_and_striding():
    threads = {schedule.cuda_threads(KernelSpec("signature_forward", d, n)) for _, _, d, n in SHAPES}
    assert threads == {32, 128}
    assert any(d**n > schedule.cuda_threads(KernelSpec("signature_forward", d, n))
               for _, _, d, n in SHAPES)


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
@pytest.mark.parametrize("stream", [False, True])
def test_forward_matches_reference(batch, length, d, depth, stream):
    x = random_path(batch, length, d, seed=d * depth, scale=0.5)
    out = ops.signature.forward(x, None, depth, stream)
    torch.testing.assert_close(out, ref.signature(x, depth, stream), rtol=1e-12, atol=1e-12)


def test_forward_with_initial_and_float32():
    x = random_path(3, 6, 3, seed=1, scale=0.5)
    init = ref.signature(random_path(3, 4, 3, seed=2, scale=0.5), 4)
    expected = ref.flat(ref.chen(ref.split(init, 3, 4), ref.split(ref.signature(x, 4), 3, 4)))
    torch.testing.assert_close(ops.signature.forward(x, init, 4, False), expected)
    out32 = ops.signature.forward(x.float(), init.float(), 4, False)
    torch.testing.assert_close(out32.double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch,length,d,depth", SHAPES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("with_initial", [False, True])
def test_backward_matches_reference_autograd(batch, length, d, depth, stream, with_initial):
    x = random_path(batch, length, d, seed=batch + d, scale=0.5).requires_grad_()
    init = None
    if with_initial:
        init = ref.signature(random_path(batch, 3, d, seed=9, scale=0.5), depth).requires_grad_()
    out_ref = ref.signature(x, depth, stream)
    if with_initial:
        rows = out_ref if stream else out_ref[:, None]
        rows = torch.stack([ref.flat(ref.chen(ref.split(init, d, depth),
                                              ref.split(rows[:, j], d, depth)))
                            for j in range(rows.shape[1])], 1)
        out_ref = rows if stream else rows[:, 0]
    cot = torch.randn_like(out_ref)
    inputs = (x, init) if with_initial else (x,)
    expected = torch.autograd.grad(out_ref, inputs, cot)

    sig = ops.signature.forward(x.detach(), None if init is None else init.detach(), depth,
                                stream)
    torch.testing.assert_close(sig, out_ref.detach(), rtol=1e-12, atol=1e-12)
    grad_path, grad_init = ops.signature_backward.forward(
        x.detach(), None if init is None else init.detach(), sig, cot, depth, stream,
        with_initial)
    torch.testing.assert_close(grad_path, expected[0], rtol=1e-9, atol=1e-10)
    if with_initial:
        torch.testing.assert_close(grad_init, expected[1], rtol=1e-9, atol=1e-10)
    assert grad_path.shape == x.shape
    assert signature_channels(d, depth) == sig.shape[-1]


# ---- tensor product, log and exp (templates/cuda_algebra.j2) --------------------------------

# (d, depth): d = 1, levels with fewer words than threads, d^N above 128 (strided threads), a
# deep one where the Horner levels shrink a lot, depth 1 (no products at all).
ALGEBRA_SHAPES = [(1, 4), (2, 3), (3, 4), (2, 7), (5, 3), (4, 1)]


def _reference(name, x, y, d, depth):
    if name == "tensor_product":
        return ref.flat(ref.chen(ref.split(x, d, depth), ref.split(y, d, depth)))
    return (ref.log if name == "tensor_log" else ref.exp)(x, d, depth)


def _emulated(name, x, y, d, depth):
    if name == "tensor_product":
        return ops.tensor_product.forward(x, y, d, depth)
    return ops.REGISTRY[name].forward(x, d, depth)


@pytest.mark.parametrize("name", ["tensor_product", "tensor_log", "tensor_exp"])
@pytest.mark.parametrize("d,depth", ALGEBRA_SHAPES)
def test_tensor_algebra_matches_reference_and_its_autograd(name, d, depth):
    width = signature_channels(d, depth)
    g = torch.Generator().manual_seed(d * 10 + depth)
    x = (0.4 * torch.randn(3, width, generator=g, dtype=torch.float64)).requires_grad_()
    y = (0.4 * torch.randn(3, width, generator=g, dtype=torch.float64)).requires_grad_()
    expected = _reference(name, x, y, d, depth)
    cot = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    inputs = (x, y) if name == "tensor_product" else (x,)
    expected_grads = torch.autograd.grad(expected, inputs, cot)

    out = _emulated(name, x.detach(), y.detach(), d, depth)
    torch.testing.assert_close(out, expected.detach(), rtol=1e-12, atol=1e-12)
    if name == "tensor_product":
        grads = ops.tensor_product_backward.forward(x.detach(), y.detach(), cot, d, depth)
    else:
        grads = (ops.REGISTRY[f"{name}_backward"].forward(x.detach(), cot, d, depth),)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-11)


def test_tensor_algebra_float32_and_log_exp_round_trip():
    d, depth = 3, 4
    sig = ref.signature(random_path(4, 7, d, seed=3, scale=0.4), depth)
    log = ops.tensor_log.forward(sig.float(), d, depth)
    torch.testing.assert_close(log.double(), ref.log(sig, d, depth), rtol=1e-4, atol=1e-5)
    back = ops.tensor_exp.forward(log, d, depth)
    torch.testing.assert_close(back.double(), sig, rtol=1e-4, atol=1e-5)
