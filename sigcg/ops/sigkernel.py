"""The signature-kernel PDE solvers as torch operators (codegen/kernels/sigkernel.py).

They work on the raw problem: increments dx (Bx, n1, D) and dy (By, n2, D) with an optional
(count, 2) int32 table of (x row, y row) pairs (``sig_kernel_linear``), or an increment Gram
(count, n1, n2) of any static kernel (``sig_kernel_from_gram``); dyadic orders (lam1, lam2);
the result k(x, y) (count,) or, with ``return_grid``, the whole solution (count, R1+1, R2+1).
Static kernels, pairs of a Gram matrix, symmetry and reductions are composed around them in
:mod:`sigcg.api.sigkernel`.

Backward: the generated adjoint kernels (exact adjoint of the discrete scheme).  Double
backward: through :func:`dense_solve`, the same scheme in differentiable torch (one batched step
per anti-diagonal), used only under ``create_graph=True``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..codegen.kernels.sigkernel import PAIRS_PER_BLOCK, workspace_elements
from ..runtime import launch
from ..runtime.backend import emulated_device
from ..runtime.threads import get_num_threads
from .base import TorchOp, contiguous, empty

# Bytes the backward's checkpoint rows may take per CPU kernel call (split over the threads):
# rows beyond it are recomputed (one more forward sweep per level of recursion).
BACKWARD_ROW_BUDGET = 48 << 20
VECTOR_BYTES = 32  # codegen.spec.DEFAULT_VECTOR_BYTES: one pair per lane


def _on_gpu(like: Tensor) -> bool:
    """Whether the call runs the CUDA kernels (a GPU, or their emulation in tests)."""
    return like.device.type == "cuda" or (
        like.device.type == "cpu" and emulated_device() is not None
    )


def _units(count: int, like: Tensor) -> int:
    """The kernels' unit count: pairs on the CPU, blocks of PAIRS_PER_BLOCK pairs on CUDA."""
    return -(-count // PAIRS_PER_BLOCK) if _on_gpu(like) else count


def _work(
    like: Tensor,
    backward: bool,
    count: int,
    n1: int,
    n2: int,
    lam1: int,
    lam2: int,
    d: int,
    family: str,
) -> Optional[Tensor]:
    if not _on_gpu(like):
        return None
    per_pair = workspace_elements(family, "cuda", backward, n1, n2, lam1, lam2, d)
    blocks = -(-count // PAIRS_PER_BLOCK)
    return empty((blocks * PAIRS_PER_BLOCK * per_pair,), like)


def _row_budget(n2: int, lam2: int) -> int:
    row_bytes = ((n2 << lam2) + 1) * VECTOR_BYTES
    return max(2, BACKWARD_ROW_BUDGET // max(1, get_num_threads()) // row_bytes)


def _count(first: Tensor, pairs: Optional[Tensor]) -> int:
    return first.shape[0] if pairs is None else pairs.shape[0]


def _out_shape(count: int, n1: int, n2: int, lam1: int, lam2: int, return_grid: bool):
    return (count, n1 * (1 << lam1) + 1, n2 * (1 << lam2) + 1) if return_grid else (count,)


def _scalars(count: int, n1: int, n2: int, lam1: int, lam2: int, like: Tensor) -> dict:
    return dict(units=_units(count, like), count=count, n1=n1, n2=n2, lam1=lam1, lam2=lam2)


# ---- the dense differentiable formulation (double backward) --------------------------------


def refine(gram: Tensor, lam1: int, lam2: int) -> Tensor:
    """(P, n1, n2) -> the refined cells' g (P, n1 2^lam1, n2 2^lam2)."""
    out = gram
    if lam1:
        out = out.repeat_interleave(1 << lam1, dim=1)
    if lam2:
        out = out.repeat_interleave(1 << lam2, dim=2)
    return out / float(1 << (lam1 + lam2))


def dense_solve(gram: Tensor, lam1: int, lam2: int, return_grid: bool) -> Tensor:
    """The scheme in torch ops, differentiable to any order: one batched step per anti-diagonal
    (diagonal m holds k[p][m - p] at index p)."""
    g = refine(gram, lam1, lam2)
    count, r1, r2 = g.shape
    a = 1 + g * (0.5 + g / 12)
    b = 1 - g * g / 12
    p = torch.arange(r1 + 1, device=g.device)
    ones = g.new_ones(count, r1 + 1)
    before, last = ones, ones  # diagonals m - 2 and m - 1
    diagonals = [ones]
    for m in range(1, r1 + r2 + 1):
        q = m - p
        interior = (p >= 1) & (q >= 1) & (q <= r2)
        pi, qi = (p - 1).clamp(0, r1 - 1), (q - 1).clamp(0, r2 - 1)
        coef_a, coef_b = a[:, pi, qi], b[:, pi, qi]
        shift = lambda t: torch.cat([t[:, :1], t[:, :-1]], dim=1)  # noqa: E731  (index p - 1)
        value = (last + shift(last)) * coef_a - shift(before) * coef_b
        before, last = last, torch.where(interior, value, ones)
        if return_grid:
            diagonals.append(last)
    if not return_grid:
        return last[:, r1]
    stacked = torch.stack(diagonals, dim=1)  # (count, r1 + r2 + 1, r1 + 1)
    rows = torch.arange(r1 + 1, device=g.device)[:, None]
    cols = torch.arange(r2 + 1, device=g.device)[None, :]
    return stacked[:, rows + cols, rows]


def linear_gram(dx: Tensor, dy: Tensor, pairs: Optional[Tensor]) -> Tensor:
    """<dx_s, dy_t> of every pair: (count, n1, n2)."""
    if pairs is not None:
        dx, dy = dx[pairs[:, 0].long()], dy[pairs[:, 1].long()]
    return torch.bmm(dx, dy.transpose(1, 2))


def _linear_composite(dx, dy, pairs, lam1, lam2, return_grid):
    return dense_solve(linear_gram(dx, dy, pairs), lam1, lam2, return_grid)


# ---- linear static kernel: g from the increments ------------------------------------------


def _linear(
    dx: Tensor, dy: Tensor, pairs: Optional[Tensor], lam1: int, lam2: int, return_grid: bool
) -> Tensor:
    dx, dy, pairs = contiguous(dx), contiguous(dy), contiguous(pairs)
    count, n1, n2, d = _count(dx, pairs), dx.shape[1], dy.shape[1], dx.shape[2]
    out = empty((count,), dx)
    grid = empty(_out_shape(count, n1, n2, lam1, lam2, True), dx) if return_grid else None
    launch(
        "sig_kernel_linear",
        "sig_kernel_linear",
        d,
        1,
        dict(
            dx=dx,
            dy=dy,
            pairs=pairs,
            out=out,
            grid=grid,
            work=_work(dx, False, count, n1, n2, lam1, lam2, d, "linear"),
            **_scalars(count, n1, n2, lam1, lam2, dx),
        ),
        like=dx,
        steps=(n1 << lam1) * (n2 << lam2),
    )
    return out if grid is None else grid


def _linear_fake(dx, dy, pairs, lam1, lam2, return_grid):
    return dx.new_empty(
        _out_shape(_count(dx, pairs), dx.shape[1], dy.shape[1], lam1, lam2, return_grid)
    )


def _linear_adjoint(
    dx: Tensor,
    dy: Tensor,
    pairs: Optional[Tensor],
    grad: Tensor,
    lam1: int,
    lam2: int,
    return_grid: bool,
) -> tuple[Tensor, Tensor]:
    """Per pair: (dL/d dx (count, n1, D), dL/d dy (count, n2, D))."""
    dx, dy, pairs, grad = contiguous(dx), contiguous(dy), contiguous(pairs), contiguous(grad)
    count, n1, n2, d = _count(dx, pairs), dx.shape[1], dy.shape[1], dx.shape[2]
    grad_dx, grad_dy = empty((count, n1, d), dx), empty((count, n2, d), dx)
    launch(
        "sig_kernel_linear",
        "sig_kernel_linear_backward",
        d,
        1,
        dict(
            dx=dx,
            dy=dy,
            pairs=pairs,
            grad=None if return_grid else grad,
            grad_grid=grad if return_grid else None,
            grad_dx=grad_dx,
            grad_dy=grad_dy,
            work=_work(dx, True, count, n1, n2, lam1, lam2, d, "linear"),
            **_scalars(count, n1, n2, lam1, lam2, dx),
            row_budget=_row_budget(n2, lam2),
        ),
        like=dx,
        steps=3 * (n1 << lam1) * (n2 << lam2),
    )
    return grad_dx, grad_dy


def _linear_adjoint_fake(dx, dy, pairs, grad, lam1, lam2, return_grid):
    count = _count(dx, pairs)
    return (
        dx.new_empty((count, dx.shape[1], dx.shape[2])),
        dx.new_empty((count, dy.shape[1], dy.shape[2])),
    )


sig_kernel_linear_backward = TorchOp(
    "sig_kernel_linear_backward", _linear_adjoint, _linear_adjoint_fake
)


def _linear_backward(args, _out, grads, needs, compiled):
    dx, dy, pairs, lam1, lam2, return_grid = args
    gdx, gdy = sig_kernel_linear_backward.call(
        compiled, dx, dy, pairs, grads[0], lam1, lam2, return_grid
    )
    if pairs is not None:  # pairs share rows: sum their gradients
        gdx = dx.new_zeros(dx.shape).index_add(0, pairs[:, 0].long(), gdx)
        gdy = dy.new_zeros(dy.shape).index_add(0, pairs[:, 1].long(), gdy)
    return (gdx if needs[0] else None), (gdy if needs[1] else None), None, None, None, None


sig_kernel_linear = TorchOp(
    "sig_kernel_linear",
    _linear,
    _linear_fake,
    backward=_linear_backward,
    composite=_linear_composite,
)


# ---- any static kernel: g from its increment Gram -----------------------------------------


def _from_gram(gram: Tensor, lam1: int, lam2: int, return_grid: bool) -> Tensor:
    gram = contiguous(gram)
    count, n1, n2 = gram.shape
    out = empty((count,), gram)
    grid = empty(_out_shape(count, n1, n2, lam1, lam2, True), gram) if return_grid else None
    launch(
        "sig_kernel_from_gram",
        "sig_kernel_from_gram",
        1,
        1,
        dict(
            gram=gram,
            out=out,
            grid=grid,
            work=_work(gram, False, count, n1, n2, lam1, lam2, 1, "gram"),
            **_scalars(count, n1, n2, lam1, lam2, gram),
        ),
        like=gram,
        steps=(n1 << lam1) * (n2 << lam2),
    )
    return out if grid is None else grid


def _from_gram_fake(gram, lam1, lam2, return_grid):
    count, n1, n2 = gram.shape
    return gram.new_empty(_out_shape(count, n1, n2, lam1, lam2, return_grid))


def _from_gram_adjoint(
    gram: Tensor, grad: Tensor, lam1: int, lam2: int, return_grid: bool
) -> Tensor:
    gram, grad = contiguous(gram), contiguous(grad)
    count, n1, n2 = gram.shape
    grad_gram = empty(gram.shape, gram)
    launch(
        "sig_kernel_from_gram",
        "sig_kernel_from_gram_backward",
        1,
        1,
        dict(
            gram=gram,
            grad=None if return_grid else grad,
            grad_grid=grad if return_grid else None,
            grad_gram=grad_gram,
            work=_work(gram, True, count, n1, n2, lam1, lam2, 1, "gram"),
            **_scalars(count, n1, n2, lam1, lam2, gram),
            row_budget=_row_budget(n2, lam2),
        ),
        like=gram,
        steps=3 * (n1 << lam1) * (n2 << lam2),
    )
    return grad_gram


def _from_gram_adjoint_fake(gram, grad, lam1, lam2, return_grid):
    return gram.new_empty(gram.shape)


sig_kernel_from_gram_backward = TorchOp(
    "sig_kernel_from_gram_backward", _from_gram_adjoint, _from_gram_adjoint_fake
)


def _from_gram_backward(args, _out, grads, needs, compiled):
    gram, lam1, lam2, return_grid = args
    return (
        sig_kernel_from_gram_backward.call(compiled, gram, grads[0], lam1, lam2, return_grid),
        None,
        None,
        None,
    )


sig_kernel_from_gram = TorchOp(
    "sig_kernel_from_gram",
    _from_gram,
    _from_gram_fake,
    backward=_from_gram_backward,
    composite=dense_solve,
)

__all__ = [
    "dense_solve",
    "linear_gram",
    "refine",
    "sig_kernel_from_gram",
    "sig_kernel_from_gram_backward",
    "sig_kernel_linear",
    "sig_kernel_linear_backward",
]
