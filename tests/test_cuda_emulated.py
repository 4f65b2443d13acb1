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

EMU = dict(variant="auto", target="cuda_emulated")

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
    out = ops.signature_forward_impl(x, None, depth, stream, **EMU)
    torch.testing.assert_close(out, ref.signature(x, depth, stream), rtol=1e-12, atol=1e-12)


def test_forward_with_initial_and_float32():
    x = random_path(3, 6, 3, seed=1, scale=0.5)
    init = ref.signature(random_path(3, 4, 3, seed=2, scale=0.5), 4)
    expected = ref.flat(ref.chen(ref.split(init, 3, 4), ref.split(ref.signature(x, 4), 3, 4)))
    torch.testing.assert_close(ops.signature_forward_impl(x, init, 4, False, **EMU), expected)
    out32 = ops.signature_forward_impl(x.float(), init.float(), 4, False, **EMU)
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

    sig = ops.signature_forward_impl(x.detach(), None if init is None else init.detach(), depth,
                                     stream, **EMU)
    torch.testing.assert_close(sig, out_ref.detach(), rtol=1e-12, atol=1e-12)
    grad_path, grad_init = ops.signature_backward_impl(
        x.detach(), None if init is None else init.detach(), sig, cot, depth, stream,
        with_initial, **EMU)
    torch.testing.assert_close(grad_path, expected[0], rtol=1e-9, atol=1e-10)
    if with_initial:
        torch.testing.assert_close(grad_init, expected[1], rtol=1e-9, atol=1e-10)
    assert grad_path.shape == x.shape
    assert signature_channels(d, depth) == sig.shape[-1]
