"""Signature kernels: the generated PDE solvers against an independent dense implementation
(sigkernel_reference.py) and pySigLib, the limit <S(x), S(y)>, Gram/MMD/score identities,
gradients (kernel, static-kernel parameters, checkpointed recomputation), the CUDA kernels under
emulation and NVRTC, and the errors raised before any kernel runs."""

from __future__ import annotations

import os

import numpy as np
import pytest
import sigkernel_reference as ref
import torch

import sigcg
from sigcg.api import sigkernel as api
from sigcg.ops import sigkernel as sk
from sigcg.runtime import emulate_cuda

F64 = torch.float64
EXHAUSTIVE = os.environ.get("SIGCG_EXHAUSTIVE") == "1"

KERNELS = {  # name -> (sigcg static kernel, reference kind, parameters)
    "linear": (None, "linear", {}),
    "scaled_linear": (sigcg.ScaledLinearKernel(0.7), "scaled_linear", {"scale": 0.7}),
    "rbf": (sigcg.RBFKernel(0.8), "rbf", {"sigma": 0.8}),
    "polynomial": (
        sigcg.PolynomialKernel(2.0, 1.0, 0.5),
        "polynomial",
        {"degree": 2, "gamma": 1.0, "scale": 0.5},
    ),
    "matern12": (sigcg.Matern12Kernel(1.3), "matern12", {"sigma": 1.3}),
    "matern32": (sigcg.Matern32Kernel(1.3), "matern32", {"sigma": 1.3}),
    "matern52": (sigcg.Matern52Kernel(1.3), "matern52", {"sigma": 1.3}),
    "rational_quadratic": (
        sigcg.RationalQuadraticKernel(1.1, 0.7),
        "rational_quadratic",
        {"sigma": 1.1, "alpha": 0.7},
    ),
}


def paths(batch, length, d, seed, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, length, d, generator=g, dtype=F64) * scale).cumsum(1)


def close(got, expected, tol=1e-12):
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol)


# ---- against the dense reference -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("lam", [0, 1, (2, 0), (0, 2)])
def test_matches_the_dense_reference(name, lam):
    static, kind, params = KERNELS[name]
    x, y = paths(3, 5, 2, seed=1), paths(3, 4, 2, seed=2)
    lam1, lam2 = (lam, lam) if isinstance(lam, int) else lam
    expected = ref.sig_kernel(x, y, lam1, lam2, kind, return_grid=True, **params)
    close(sigcg.sig_kernel(x, y, lam, static), expected[:, -1, -1])
    close(sigcg.sig_kernel(x, y, lam, static, return_grid=True), expected)


@pytest.mark.parametrize("name", ["linear", "rbf"])
def test_gram_mmd_score_match_the_reference(name):
    static, kind, params = KERNELS[name]
    x, y = paths(4, 5, 2, seed=3), paths(3, 6, 2, seed=4)
    close(sigcg.sig_kernel_gram(x, y, 1, static), ref.gram_matrix(x, y, 1, 1, kind, **params))
    close(sigcg.sig_kernel_gram(x, None, 1, static), ref.gram_matrix(x, x, 1, 1, kind, **params))
    for unbiased in (True, False):
        close(
            sigcg.sig_mmd(x, y, 1, static, unbiased=unbiased),
            ref.mmd(x, y, 1, 1, kind, unbiased, **params),
        )
    close(sigcg.sig_score(x, y, 0.5, 1, static), ref.score(x, y, 0.5, 1, 1, kind, **params))


def test_long_rows_and_many_lanes_match_the_reference():
    """More rows than the wavefront, ragged last lane group, several coefficient rows in flight."""
    x, y = paths(9, 11, 3, seed=5, scale=0.2), paths(9, 14, 3, seed=6, scale=0.2)
    expected = ref.sig_kernel(x, y, 1, 0, return_grid=True)
    close(sigcg.sig_kernel(x, y, (1, 0), return_grid=True), expected)
    close(sigcg.sig_kernel(x.float(), y.float(), (1, 0)).double(), expected[:, -1, -1], tol=2e-5)


# ---- against pySigLib ---------------------------------------------------------------------------

try:
    import pysiglib
except ImportError:  # pragma: no cover
    pysiglib = None
needs_pysiglib = pytest.mark.skipif(pysiglib is None, reason="pysiglib cannot be imported")

PYSIGLIB_KERNELS = {
    "linear": lambda: None,
    "scaled_linear": lambda: pysiglib.ScaledLinearKernel(0.7),
    "rbf": lambda: pysiglib.RBFKernel(0.8),
    "polynomial": lambda: pysiglib.PolynomialKernel(2.0, 1.0, 0.5),
    "matern12": lambda: pysiglib.Matern12Kernel(1.3),
    "matern32": lambda: pysiglib.Matern32Kernel(1.3),
    "matern52": lambda: pysiglib.Matern52Kernel(1.3),
    "rational_quadratic": lambda: pysiglib.RationalQuadraticKernel(1.1, 0.7),
}


@needs_pysiglib
@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("lam", [0, 2, (1, 2)])
def test_agrees_with_pysiglib(name, lam):
    static, theirs = KERNELS[name][0], PYSIGLIB_KERNELS[name]()
    x, y = paths(4, 6, 3, seed=7), paths(4, 5, 3, seed=8)
    opts = dict(dyadic_order=lam, static_kernel=theirs)
    tol = 1e-11
    close(sigcg.sig_kernel(x, y, lam, static), pysiglib.sig_kernel(x, y, **opts), tol)
    close(
        sigcg.sig_kernel(x, y, lam, static, return_grid=True),
        pysiglib.sig_kernel(x, y, return_grid=True, **opts),
        tol,
    )
    close(sigcg.sig_kernel_gram(x, y, lam, static), pysiglib.sig_kernel_gram(x, y, **opts), tol)
    close(sigcg.sig_mmd(x, y, lam, static), pysiglib.sig_mmd(x, y, **opts), tol)
    close(sigcg.sig_score(x, y, 0.5, lam, static), pysiglib.sig_score(x, y, lam=0.5, **opts), tol)
    if isinstance(lam, int):  # pySigLib mirrors its x-with-x Gram (exact only for equal orders)
        close(
            sigcg.sig_kernel_gram(x, None, lam, static), pysiglib.sig_kernel_gram(x, x, **opts), tol
        )


@needs_pysiglib
def test_gradients_agree_with_pysiglib():
    x, y = paths(3, 7, 2, seed=9), paths(3, 6, 2, seed=10)
    derivs = torch.tensor([0.3, -1.2, 0.8], dtype=F64)
    gx, gy = pysiglib.sig_kernel_backprop(
        derivs, x, y, dyadic_order=1, left_deriv=True, right_deriv=True
    )
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    ours = torch.autograd.grad(sigcg.sig_kernel(xs, ys, 1), (xs, ys), derivs)
    close(ours[0], gx, 1e-11)
    close(ours[1], gy, 1e-11)


# ---- mathematical identities ----------------------------------------------------------------


def test_converges_to_the_inner_product_of_signatures():
    """Linear static kernel: k -> <S(x), S(y)> (scalar term included) as the dyadic order grows;
    the truncated signatures at depth 12 of these short small paths are exact to 1e-13."""
    x, y = paths(2, 4, 2, seed=11, scale=0.25), paths(2, 3, 2, seed=12, scale=0.25)
    sx, sy = sigcg.signature(x, 12), sigcg.signature(y, 12)
    exact = 1 + (sx * sy).sum(-1)
    errors = [(sigcg.sig_kernel(x, y, lam) - exact).abs().max().item() for lam in range(7)]
    assert all(b < a / 3 for a, b in zip(errors[3:], errors[4:])), errors  # O(4^-lam) tail
    assert errors[-1] < 2e-8 and errors[-1] < errors[0] / 1000, errors


def test_identities():
    x = paths(5, 6, 3, seed=13)
    constant = x[:, :1].expand(-1, 4, -1)  # a constant path has signature 1
    close(sigcg.sig_kernel(x, constant, 2), torch.ones(5, dtype=F64))
    close(sigcg.sig_kernel(x, x.flip(0), 1), sigcg.sig_kernel(x.flip(0), x, 1))  # symmetry


@pytest.mark.parametrize("static", [None, sigcg.RBFKernel(1.0)], ids=["linear", "rbf"])
def test_gram_is_exactly_symmetric_and_positive_semidefinite(static):
    x = paths(12, 8, 2, seed=14)
    gram = sigcg.sig_kernel_gram(x, dyadic_order=1, static_kernel=static)
    assert torch.equal(gram, gram.T)
    assert torch.equal(sigcg.sig_kernel_gram(x, x, 1, static), gram)  # y is x: same route
    assert torch.linalg.eigvalsh(gram).min().item() >= -1e-10
    grid = sigcg.sig_kernel_gram(x[:3], dyadic_order=1, static_kernel=static, return_grid=True)
    assert grid.shape == (3, 3, 15, 15)
    assert torch.equal(grid[0, 2], grid[2, 0].T)


def test_mmd_of_a_sample_with_itself_and_the_unbiased_formula():
    x, y = paths(5, 6, 2, seed=15), paths(4, 5, 2, seed=16)
    assert abs(sigcg.sig_mmd(x, x, 1, unbiased=False).item()) < 1e-12
    k = sigcg.sig_kernel_gram(torch.cat([x, torch.cat([y, y[:, -1:]], 1)]), dyadic_order=1)
    kxx, kyy, kxy = k[:5, :5], k[5:, 5:], k[:5, 5:]
    unbiased = (
        (kxx.sum() - kxx.trace()) / 20 + (kyy.sum() - kyy.trace()) / 12 - 2 * kxy.mean()
    )  # y with a repeated last point: the same signatures
    close(sigcg.sig_mmd(x, y, 1), unbiased, 1e-11)
    expected = (kxx.sum() - kxx.trace()) / 20 - 2 * kxy.mean(0)
    close(sigcg.sig_score(x, y, dyadic_order=1), expected, 1e-11)


def test_numpy_unbatched_modules_and_user_static_kernels():
    x, y = paths(3, 5, 2, seed=17), paths(3, 4, 2, seed=18)
    out = sigcg.sig_kernel(x.numpy(), y.numpy(), 1)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    assert sigcg.sig_kernel(x[0], y[0]).shape == ()
    assert sigcg.sig_score(x, y[0]).shape == (1,)
    close(sigcg.SigKernel(1)(x, y), sigcg.sig_kernel(x, y, 1))
    close(sigcg.SigKernel(1, gram=True)(x), sigcg.sig_kernel_gram(x, None, 1))
    sigma = torch.nn.Parameter(torch.tensor(0.9, dtype=F64))
    loss = sigcg.SigMMD(1, sigcg.RBFKernel(sigma))
    assert [p is sigma for p in loss.parameters()] == [True]
    loss(x, y).backward()
    assert sigma.grad is not None and torch.isfinite(sigma.grad)

    class Cubic(sigcg.StaticKernel):  # κ(a, b) = (1 + <a, b>)^3 from its point Gram
        def gram(self, a, b):
            return (1 + torch.bmm(a, b.transpose(1, 2))) ** 3

    close(
        sigcg.sig_kernel(x, y, 1, Cubic()),
        sigcg.sig_kernel(x, y, 1, sigcg.PolynomialKernel(3.0, 1.0, 1.0)),
    )
    close(
        sigcg.sig_kernel(x, y, 1, lambda a, b: sigcg.RBFKernel(0.8).increment_gram(a, b)),
        sigcg.sig_kernel(x, y, 1, sigcg.RBFKernel(0.8)),
    )


# ---- gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "rbf", "rational_quadratic"])
def test_gradcheck_paths_and_static_kernel_parameters(name):
    x, y = paths(2, 4, 2, seed=19), paths(2, 3, 2, seed=20)
    if name == "linear":
        inputs, make = (x, y), lambda a, b: sigcg.sig_kernel(a, b, (1, 0))
    else:
        p = torch.tensor(0.8, dtype=F64)
        cls = {
            "scaled_linear": sigcg.ScaledLinearKernel,
            "rbf": sigcg.RBFKernel,
            "rational_quadratic": sigcg.RationalQuadraticKernel,
        }[name]
        inputs, make = (x, y, p), lambda a, b, s: sigcg.sig_kernel(a, b, (1, 0), cls(s))
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(make, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("budget", [1 << 30, 1 << 16, 1])
def test_checkpointed_backward_is_the_exact_adjoint(budget, monkeypatch):
    """However few rows the backward may keep (recursion depth grows), the gradient is the
    exact adjoint: equal to autograd through the dense differentiable scheme."""
    monkeypatch.setattr(sk, "BACKWARD_ROW_BUDGET", budget)
    x, y = paths(5, 30, 2, seed=21, scale=0.1), paths(5, 9, 2, seed=22, scale=0.1)
    cot = torch.randn(5, 59, 33, dtype=F64, generator=torch.Generator().manual_seed(0))
    for static, grid in [(None, False), (sigcg.RBFKernel(0.5), False), (None, True)]:
        xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
        out = sigcg.sig_kernel(xs, ys, (1, 2), static, return_grid=grid)
        weights = cot if grid else cot[:, 0, 0]
        got = torch.autograd.grad(out, (xs, ys), weights)
        if static is None:
            dense = sk.dense_solve(sk.linear_gram(xs.diff(dim=1), ys.diff(dim=1), None), 1, 2, grid)
        else:
            dense = sk.dense_solve(static.increment_gram(xs, ys), 1, 2, grid)
        expected = torch.autograd.grad(dense, (xs, ys), weights)
        for g, e in zip(got, expected):
            close(g, e, 1e-11)


def test_gram_gradients_sum_over_shared_paths():
    x = paths(4, 5, 2, seed=23).requires_grad_()
    w = torch.randn(4, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    got = torch.autograd.grad(sigcg.sig_kernel_gram(x, dyadic_order=1), x, w)[0]
    xs = x.repeat_interleave(4, 0)
    ys = x.repeat(4, 1, 1)
    expected = torch.autograd.grad(sigcg.sig_kernel(xs, ys, 1), x, w.reshape(-1))[0]
    close(got, expected, 1e-11)


# ---- CUDA kernels: emulated and compiled ------------------------------------------------------


@pytest.mark.parametrize("static", [None, sigcg.RBFKernel(0.7)], ids=["linear", "gram"])
def test_emulated_cuda_matches_the_cpu(static):
    """Several strips (R1 > 32 rows), several blocks (> 4 pairs), a ragged last block."""
    x, y = paths(6, 20, 2, seed=24, scale=0.1), paths(6, 11, 2, seed=25, scale=0.1)
    cot = torch.randn(6, 39, 41, dtype=F64, generator=torch.Generator().manual_seed(2))
    results = []
    for emulated in (False, True):
        xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
        if emulated:
            with emulate_cuda():
                grid = sigcg.sig_kernel(xs, ys, (1, 2), static, return_grid=True)
                value = sigcg.sig_kernel(xs, ys, (1, 2), static)
                grads = torch.autograd.grad((grid * cot).sum() + value.sum(), (xs, ys))
        else:
            grid = sigcg.sig_kernel(xs, ys, (1, 2), static, return_grid=True)
            value = sigcg.sig_kernel(xs, ys, (1, 2), static)
            grads = torch.autograd.grad((grid * cot).sum() + value.sum(), (xs, ys))
        results.append((grid, value, *grads))
    for g, e in zip(*results):
        close(g, e, 1e-11)


@pytest.mark.parametrize("static", [None, sigcg.RBFKernel(0.7)], ids=["linear", "gram"])
def test_emulated_cuda_workspace_of_a_full_block(static):
    """Exactly PAIRS_PER_BLOCK pairs: the workspace has no slack, so the checker sees any access
    past the planned size (the Gram family's accumulators are R1 x n2 per pair)."""
    x, y = paths(4, 9, 2, seed=38), paths(4, 30, 2, seed=39)
    xs = x.clone().requires_grad_()
    expected = torch.autograd.grad(sigcg.sig_kernel(xs, y, (2, 0), static).sum(), xs)[0]
    with emulate_cuda():
        got = torch.autograd.grad(sigcg.sig_kernel(xs, y, (2, 0), static).sum(), xs)[0]
    close(got, expected, 1e-11)


def test_emulated_cuda_gram_with_pairs():
    x = paths(5, 7, 3, seed=26)
    expected = sigcg.sig_kernel_gram(x, dyadic_order=1)
    with emulate_cuda():
        close(sigcg.sig_kernel_gram(x, dyadic_order=1), expected)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize(
    "op,d,dtype",
    [
        ("sig_kernel_linear", 3, "float64"),
        ("sig_kernel_linear", 1, "float32"),
        ("sig_kernel_from_gram", 1, "float64"),
        ("sig_kernel_from_gram", 1, "float32"),
    ],
)
def test_cuda_kernels_compile_cleanly_with_nvrtc(op, d, dtype, arch):
    pytest.importorskip("cupy_backends.cuda.libs.nvrtc", reason="NVRTC (CuPy) not installed")
    from sigcg.codegen import KernelSpec
    from sigcg.runtime import cuda as cuda_backend

    spec = KernelSpec(op, d, 1, dtype, target="cuda", variant="global")
    cubin, log = cuda_backend.compile_cuda(spec, arch)
    assert log == "", log
    for entry in spec.kernel.entries:
        assert f"sigcg_{entry.name}_cuda".encode() in cubin


# ---- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def no_kernels(monkeypatch):
    """Any kernel launch fails the test: errors must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("a kernel was reached")

    monkeypatch.setattr(sk, "launch", fail)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x, y: sigcg.sig_kernel(x, y[..., :1]), ValueError, "channels"),
        (lambda x, y: sigcg.sig_kernel(x[:, :1], y), ValueError, "length >= 2"),
        (lambda x, y: sigcg.sig_kernel(x, y[:2]), ValueError, "same batch size"),
        (lambda x, y: sigcg.sig_kernel(x, y, -1), ValueError, "dyadic_order"),
        (lambda x, y: sigcg.sig_kernel(x, y, 99), ValueError, "dyadic_order"),
        (lambda x, y: sigcg.sig_kernel(x, y, (1, 2, 3)), ValueError, "dyadic_order"),
        (lambda x, y: sigcg.sig_kernel(x, y, True), TypeError, "dyadic_order"),
        (lambda x, y: sigcg.sig_kernel(x, y, 1.5), TypeError, "dyadic_order"),
        (lambda x, y: sigcg.sig_kernel(x, y.float()), TypeError, "dtype"),
        (lambda x, y: sigcg.sig_kernel(x.int(), y), TypeError, "float32 or float64"),
        (lambda x, y: sigcg.sig_kernel(x, y, static_kernel="rbf"), TypeError, "static_kernel"),
        (
            lambda x, y: sigcg.sig_kernel(x, y, static_kernel=lambda a, b: a),
            ValueError,
            "increment Gram",
        ),
        (lambda x, y: sigcg.sig_kernel_gram(x[0], y), ValueError, "batch, length, channels"),
        (lambda x, y: sigcg.sig_mmd(x[:1], y), ValueError, "at least 2 paths in x"),
        (lambda x, y: sigcg.sig_score(x, y, lam="a"), TypeError, "lam"),
        (lambda x, y: sigcg.RBFKernel(-1.0), ValueError, "sigma must be > 0"),
        (lambda x, y: sigcg.RBFKernel(torch.ones(2)), ValueError, "0-dim"),
    ],
)
def test_bad_input_is_refused_before_any_kernel(call, error, match, no_kernels):
    x, y = paths(3, 5, 2, seed=27), paths(3, 4, 2, seed=28)
    with pytest.raises(error, match=match):
        call(x, y)


def test_memory_beyond_the_budget_is_refused_before_any_kernel(no_kernels, monkeypatch):
    monkeypatch.setattr(api, "MEMORY_BUDGET", 1 << 20)
    x = paths(2, 300, 2, seed=29)
    with pytest.raises(MemoryError, match="return_grid"):
        sigcg.sig_kernel(x, x, 1, return_grid=True)
    with pytest.raises(MemoryError, match="increment Gram"):
        sigcg.sig_kernel(
            paths(1, 600, 2, seed=30), paths(1, 600, 2, seed=31), static_kernel=sigcg.RBFKernel()
        )


def test_double_backward_goes_through_the_dense_scheme():
    x, y = paths(2, 4, 2, seed=32), paths(2, 3, 2, seed=33)
    inputs = (x.clone().requires_grad_(), y.clone().requires_grad_())
    assert torch.autograd.gradgradcheck(lambda a, b: sigcg.sig_kernel(a, b, 1), inputs)
    assert sk.sig_kernel_linear.double_backward == "composite"
    assert sk.sig_kernel_from_gram.double_backward == "composite"


@pytest.mark.skipif(not EXHAUSTIVE, reason="SIGCG_EXHAUSTIVE=1: larger sweep")
@pytest.mark.parametrize("lam", [(0, 0), (1, 1), (2, 3), (3, 0)])
@pytest.mark.parametrize("length", [2, 3, 17, 40])
def test_exhaustive_sweep(lam, length):
    x, y = paths(7, length, 3, seed=34, scale=0.1), paths(7, 23, 3, seed=35, scale=0.1)
    expected = ref.sig_kernel(x, y, *lam, return_grid=True)
    close(sigcg.sig_kernel(x, y, lam, return_grid=True), expected, 1e-11)
    with emulate_cuda():
        close(sigcg.sig_kernel(x, y, lam, return_grid=True), expected, 1e-11)


# ---- on a GPU (make gpu-check; skipped without CUDA) ------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("static", [None, sigcg.RBFKernel(0.7)], ids=["linear", "gram"])
def test_cuda_matches_the_dense_scheme(static):
    x, y = paths(6, 40, 2, seed=36, scale=0.1), paths(6, 23, 2, seed=37, scale=0.1)
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    g = (
        sk.linear_gram(xs.diff(dim=1), ys.diff(dim=1), None)
        if static is None
        else static.increment_gram(xs, ys)
    )
    dense = sk.dense_solve(g, 1, 2, True)
    expected = torch.autograd.grad(dense.sum(), (xs, ys))
    xc, yc = x.cuda().requires_grad_(), y.cuda().requires_grad_()
    grid = sigcg.sig_kernel(xc, yc, (1, 2), static, return_grid=True)
    close(grid.cpu(), dense.detach(), 1e-11)
    for got, e in zip(torch.autograd.grad(grid.sum(), (xc, yc)), expected):
        close(got.cpu(), e, 1e-10)
    gram = sigcg.sig_kernel_gram(xc, dyadic_order=1, static_kernel=static)
    assert torch.equal(gram, gram.T)
