"""The CUDA kernels' bodies, executed on the CPU by the phase-by-phase emulation, under its race
and bounds checker (sigcg/runtime/emulation.py).

The generator renders the same kernel body as CUDA (for NVRTC) and as C in which every phase runs
for each thread of the block in turn (templates/cuda/grid.j2).  These tests run that C through
the real CUDA launcher against the independent reference, with every access bounds-checked and
race-checked and the threads run in three orders that must agree bit for bit, so the CUDA
indexing, thread mapping and synchronisation are checked without a GPU.  Every variant of the
signature kernels runs (forced), as well as the launcher's own choice.
"""

import pytest
import torch

import reference as ref
from conftest import random_path
from sigcg import ops
from sigcg.codegen import KernelSpec, schedule, signature_channels
from sigcg.runtime import cuda_launch, emulate_cuda, emulation


@pytest.fixture(autouse=True)
def emulated():
    """Every kernel call in this module runs the CUDA kernels through the CUDA launcher, under
    the checker."""
    with emulate_cuda(), emulation.checking():
        yield


# (batch, length, d, depth): d = 1, length 2, batch 1; levels with fewer words than the block's
# threads and more (threads striding: several items per thread); two warps (the dL/dΔ sums
# across warps); a deep narrow one (splits up to 4 letters).
SHAPES = [(3, 5, 2, 3), (1, 2, 1, 4), (2, 6, 3, 4), (4, 4, 5, 3), (2, 3, 4, 4), (2, 3, 2, 6)]
# None: the launcher's choice for these (small) batches on an H100, i.e. a split.
VARIANTS = [None, "shared", "global", "registers", "split1", "split2"]


def _exists(variant, d, depth) -> bool:
    """Whether the launcher can be forced to this variant at (d, depth): a split needs d >= 2
    and fewer letters than the depth."""
    try:
        KernelSpec("signature_backward", d, depth, target="cuda", variant=variant)
    except ValueError:
        return False
    return True


# Every (variant, shape) pair that exists; the ones left out are refused (test below).
VARIANT_SHAPES = [
    (variant, shape)
    for variant in VARIANTS
    for shape in SHAPES
    if variant is None or _exists(variant, shape[2], shape[3])
]


def test_only_impossible_splits_are_left_out():
    left_out = {(v, s) for v in VARIANTS for s in SHAPES} - set(VARIANT_SHAPES)
    assert left_out == {("split1", (1, 2, 1, 4)), ("split2", (1, 2, 1, 4))}
    with pytest.raises(ValueError, match="split needs d >= 2"):
        KernelSpec("signature_backward", 1, 4, target="cuda", variant="split1")


def test_shapes_cover_warps_striding_and_splits():
    blockings = [
        schedule.signature_blocking(KernelSpec(op, d, n, target="cuda", variant=v))
        for op in ("signature_forward", "signature_backward")
        for _, _, d, n in SHAPES
        for v in ("shared", "registers")
    ]
    assert {b.threads for b in blockings} >= {32, 64}
    assert any(b.items(b.N) > b.threads for b in blockings)  # several words per thread
    assert any(b.parents_per_thread(b.N) > 1 for b in blockings)
    chosen = {
        cuda_launch.choose_variant("signature_forward", d, n, "float64", cuda_launch.H100, batch)
        for batch, _, d, n in SHAPES
    }
    assert chosen == {"registers", "split2", "split3", "split5"}  # d = 1 cannot split


@pytest.mark.parametrize("variant,shape", VARIANT_SHAPES)
@pytest.mark.parametrize("stream", [False, True])
def test_forward_matches_reference(shape, stream, variant):
    batch, length, d, depth = shape
    x = random_path(batch, length, d, seed=d * depth, scale=0.5)
    with cuda_launch.forced_variant(variant):
        out = ops.signature.forward(x, None, depth, stream)
    torch.testing.assert_close(out, ref.signature(x, depth, stream), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", ["shared", "registers", "split2"])
def test_forward_with_initial_and_float32(variant):
    x = random_path(3, 6, 3, seed=1, scale=0.5)
    init = ref.signature(random_path(3, 4, 3, seed=2, scale=0.5), 4)
    expected = ref.flat(ref.chen(ref.split(init, 3, 4), ref.split(ref.signature(x, 4), 3, 4)))
    with cuda_launch.forced_variant(variant):
        torch.testing.assert_close(ops.signature.forward(x, init, 4, False), expected)
        out32 = ops.signature.forward(x.float(), init.float(), 4, False)
    torch.testing.assert_close(out32.double(), expected, rtol=1e-4, atol=1e-5)


def _expected_backward(x, init, depth, stream, cot_seed=0):
    """The reference's output and its gradients for a random cotangent."""
    batch, _, d = x.shape
    x = x.detach().double().requires_grad_()
    init = None if init is None else init.detach().double().requires_grad_()
    out = ref.signature(x, depth, stream)
    if init is not None:
        rows = out if stream else out[:, None]
        rows = torch.stack(
            [
                ref.flat(ref.chen(ref.split(init, d, depth), ref.split(rows[:, j], d, depth)))
                for j in range(rows.shape[1])
            ],
            1,
        )
        out = rows if stream else rows[:, 0]
    cot = torch.randn(
        out.shape, generator=torch.Generator().manual_seed(cot_seed), dtype=torch.float64
    )
    inputs = (x, init) if init is not None else (x,)
    return out.detach(), cot, torch.autograd.grad(out, inputs, cot)


@pytest.mark.parametrize("variant,shape", VARIANT_SHAPES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("with_initial", [False, True])
def test_backward_matches_reference_autograd(shape, stream, with_initial, variant):
    batch, length, d, depth = shape
    x = random_path(batch, length, d, seed=batch + d, scale=0.5)
    init = (
        ref.signature(random_path(batch, 3, d, seed=9, scale=0.5), depth) if with_initial else None
    )
    out_ref, cot, expected = _expected_backward(x, init, depth, stream)
    with cuda_launch.forced_variant(variant):
        sig = ops.signature.forward(x, init, depth, stream)
        grad_path, grad_init = ops.signature_backward.forward(
            x, init, sig, cot, depth, stream, with_initial
        )
    torch.testing.assert_close(sig, out_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_path, expected[0], rtol=1e-9, atol=1e-10)
    if with_initial:
        torch.testing.assert_close(grad_init, expected[1], rtol=1e-9, atol=1e-10)
    assert grad_path.shape == x.shape
    assert signature_channels(d, depth) == sig.shape[-1]


@pytest.mark.parametrize("variant", [None, "shared", "registers", "split1"])
def test_backward_float32(variant):
    x = random_path(3, 7, 3, seed=4, scale=0.4)
    init = ref.signature(random_path(3, 3, 3, seed=5, scale=0.4), 4)
    _, cot, expected = _expected_backward(x, init, 4, False)
    with cuda_launch.forced_variant(variant):
        sig = ops.signature.forward(x.float(), init.float(), 4, False)
        grad_path, grad_init = ops.signature_backward.forward(
            x.float(), init.float(), sig, cot.float(), 4, False, True
        )
    torch.testing.assert_close(grad_path.double(), expected[0], rtol=2e-4, atol=2e-5)
    torch.testing.assert_close(grad_init.double(), expected[1], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("variant", ["shared", "split1"])
def test_a_path_of_one_point(variant):
    """No steps: S is the initial signature, dL/dx is 0 and dL/dinitial is the cotangent."""
    x = random_path(2, 1, 2, seed=3)
    init = torch.randn(2, signature_channels(2, 3), dtype=torch.float64)
    cot = torch.randn_like(init)
    with cuda_launch.forced_variant(variant):
        sig = ops.signature.forward(x, init, 3, False)
        grad_path, grad_init = ops.signature_backward.forward(x, init, sig, cot, 3, False, True)
    torch.testing.assert_close(sig, init, rtol=0, atol=0)
    assert not grad_path.any()
    torch.testing.assert_close(grad_init, cot, rtol=0, atol=0)


# ---- tensor product, log and exp (templates/cuda/algebra.j2) --------------------------------

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
