"""Signature kernels k(x, y) = <S(x), S(y)> (untruncated, scalar term included) by the Goursat
PDE, their Gram matrices, the signature-kernel MMD and scoring rule (pySigLib 4.0 conventions),
for torch tensors and NumPy arrays.

The PDE is solved on the grid of increments refined 2^dyadic_order times per axis by the second
order scheme of sigkernel / pySigLib (codegen/kernels/sigkernel.py); as the dyadic order grows the
result converges to the inner product of the full signatures.  The linear static kernel (the
default) and the scaled linear one are solved straight from the increments in O(L) memory; any
other static kernel goes through its increment Gram, computed in torch (differentiable in the
kernel's parameters) a chunk of pairs at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union, cast

import numpy as np
import torch
from torch import Tensor

from ..ops import sigkernel as ops
from . import transforms, validation
from .static_kernels import LinearKernel, StaticKernel
from .validation import like_input

ArrayLike = Union[Tensor, np.ndarray]
DyadicOrder = Union[int, tuple[int, int]]

MAX_DYADIC_ORDER = 16
# Memory that a call may use for what it materialises (a returned grid, a chunk of increment
# Grams of a non-linear static kernel, the CUDA backward's checkpoint rows).
MEMORY_BUDGET = validation.PHYSICAL_MEMORY // 2
# Increment Grams (pairs, Lx - 1, Ly - 1) of a non-linear static kernel are made and consumed a
# chunk of pairs at a time, at most this many bytes each.
GRAM_CHUNK_BYTES = 64 << 20


# ---- arguments ------------------------------------------------------------------------------


def _paths(name: str, value, allow_unbatched: bool = True) -> tuple[Tensor, bool]:
    """(batch, length, channels) tensor of ``value`` and whether it was unbatched."""
    path, _ = validation.float_tensor(name, value)
    unbatched = path.ndim == 2 and allow_unbatched
    if unbatched:
        path = path.unsqueeze(0)
    if path.ndim != 3:
        shapes = "(batch, length, channels)" + (" or (length, channels)" if allow_unbatched else "")
        raise ValueError(f"{name} must have shape {shapes}, got {tuple(path.shape)}")
    if path.shape[2] < 1:
        raise ValueError(f"{name} must have at least one channel, got shape {tuple(path.shape)}")
    if path.shape[1] < 2:
        raise ValueError(
            f"{name} must have length >= 2 (a signature kernel needs at least one "
            f"increment), got shape {tuple(path.shape)}"
        )
    return path, unbatched


def _same_space(x: Tensor, y: Tensor, xname: str, yname: str) -> None:
    if x.shape[2] != y.shape[2]:
        raise ValueError(
            f"{xname} has {x.shape[2]} channels but {yname} has {y.shape[2]}; they must match"
        )
    validation.check_same(yname, y, x, other=xname)


def dyadic_orders(dyadic_order: DyadicOrder) -> tuple[int, int]:
    """(lam1, lam2) from an int or a pair; raises naming the argument."""
    orders = dyadic_order if isinstance(dyadic_order, (tuple, list)) else (dyadic_order,) * 2
    if len(orders) != 2:
        raise ValueError(f"dyadic_order must be an int or a pair of ints, got {dyadic_order!r}")
    lam = [validation.integer("dyadic_order", v, 0, MAX_DYADIC_ORDER) for v in orders]
    return lam[0], lam[1]


def _linear_scale(static_kernel) -> Optional[Any]:
    """The scale of a linear-family static kernel (None: any other kernel)."""
    if static_kernel is None:
        return 1.0
    if isinstance(static_kernel, LinearKernel):
        return static_kernel.scale()
    return None


def _check_static_kernel(static_kernel) -> None:
    if (
        static_kernel is not None
        and not isinstance(static_kernel, StaticKernel)
        and not callable(static_kernel)
    ):
        raise TypeError(
            f"static_kernel must be a sigcg static kernel (e.g. sigcg.RBFKernel(1.0)) "
            f"or a callable f(x, y) returning the increment Gram (batch, Lx - 1, "
            f"Ly - 1), got {type(static_kernel).__name__}"
        )


def _increment_gram(static_kernel, x: Tensor, y: Tensor) -> Tensor:
    fn: Callable = (
        static_kernel.increment_gram if isinstance(static_kernel, StaticKernel) else static_kernel
    )
    gram = fn(x, y)
    want = (x.shape[0], x.shape[1] - 1, y.shape[1] - 1)
    if not isinstance(gram, Tensor) or tuple(gram.shape) != want:
        shape = tuple(gram.shape) if isinstance(gram, Tensor) else type(gram).__name__
        raise ValueError(
            f"static_kernel returned {shape}; an increment Gram of shape "
            f"(batch, Lx - 1, Ly - 1) = {want} was expected"
        )
    return gram.to(x.dtype)


def _check_memory(what: str, nbytes: int, advice: str) -> None:
    if nbytes > MEMORY_BUDGET:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:,.2f} GiB, more than the "
            f"{MEMORY_BUDGET / 2**30:,.1f} GiB budget (half this machine's memory). "
            f"{advice}"
        )


def _check_solve(
    count: int,
    n1: int,
    n2: int,
    lam1: int,
    lam2: int,
    itemsize: int,
    return_grid: bool,
    gram_family: bool,
    device: torch.device,
    channels: int,
) -> None:
    """Everything the solve will materialise, before any of it is made."""
    r1, r2 = n1 << lam1, n2 << lam2
    if return_grid:
        _check_memory(
            f"return_grid for {count} pair(s) of {r1 + 1} x {r2 + 1} grid points",
            count * (r1 + 1) * (r2 + 1) * itemsize,
            "Ask for the kernel values only, or lower the dyadic order.",
        )
    if gram_family:
        _check_memory(
            f"the increment Gram of one pair ({n1} x {n2})",
            n1 * n2 * itemsize,
            "Use the linear static kernel (solved without a Gram) or shorter paths.",
        )
    if device.type == "cuda":
        from ..codegen.kernels.sigkernel import workspace_elements

        family = "gram" if gram_family else "linear"
        per_pair = workspace_elements(family, "cuda", True, n1, n2, lam1, lam2, channels)
        _check_memory(
            f"the CUDA backward's checkpoints for {count} pair(s)",
            count * per_pair * itemsize,
            "Use fewer pairs per call.",
        )
    # the CPU kernels keep O(R2) vectors per thread; their backward fits its own row budget
    _check_memory(
        f"a row of {r2 + 1} grid points per SIMD lane",
        64 * (r2 + 1) * itemsize,
        "Lower the dyadic order.",
    )


def _transformed(
    x: Tensor,
    y: Optional[Tensor],
    time_aug: Any,
    lead_lag: Any,
    end_time: Any,
    lengths: Any,
    x_single: bool = False,
    y_single: bool = False,
) -> tuple[Tensor, Tensor]:
    """x and y transformed (torch ops: the PDE kernels read increments) and clamped to their
    lengths; y None stays None (typed as x for the callers that then use x)."""
    transform = transforms.options(time_aug, lead_lag, end_time)
    if lengths is None:
        pair: tuple[Any, Any] = (None, None)
    elif isinstance(lengths, tuple) and len(lengths) == 2:
        pair = lengths
    else:
        raise TypeError(
            f"lengths must be a pair (lengths of the first paths, lengths of the second), each "
            f"None or (batch,) integers; got {type(lengths).__name__} {lengths!r}"
        )
    if y is None and pair[1] is not None:
        raise ValueError("lengths: give no second lengths when y is None (the Gram of x)")
    out = []
    for path, value, single in ((x, pair[0], x_single), (y, pair[1], y_single)):
        if path is None:
            out.append(x)
            continue
        lens = transforms.lengths(value, path, False, single)
        out.append(transforms.augment_path(path, transform, lens))
    return out[0], out[1]


# ---- the solve over pairs --------------------------------------------------------------------


def _solve(
    x: Tensor,
    y: Tensor,
    pairs: Optional[Tensor],
    lam1: int,
    lam2: int,
    static_kernel,
    return_grid: bool,
) -> Tensor:
    """k of every pair: x row pairs[p, 0] with y row pairs[p, 1] (or row p with row p)."""
    count = x.shape[0] if pairs is None else pairs.shape[0]
    n1, n2 = x.shape[1] - 1, y.shape[1] - 1
    scale = _linear_scale(static_kernel)
    _check_solve(
        count,
        n1,
        n2,
        lam1,
        lam2,
        x.element_size(),
        return_grid,
        scale is None,
        x.device,
        x.shape[2],
    )
    if scale is not None:
        dx, dy = x.diff(dim=1), y.diff(dim=1)
        if not (isinstance(scale, float) and scale == 1.0):
            dx, dy = dx * scale, dy * scale
        return ops.sig_kernel_linear(dx, dy, pairs, lam1, lam2, return_grid)
    per = max(1, GRAM_CHUNK_BYTES // max(1, n1 * n2 * x.element_size()))
    results = []
    for start in range(0, count, per):
        stop = min(count, start + per)
        if pairs is None:
            xs, ys = x[start:stop], y[start:stop]
        else:
            chunk = pairs[start:stop].long()
            xs, ys = x[chunk[:, 0]], y[chunk[:, 1]]
        gram = _increment_gram(static_kernel, xs, ys)
        results.append(ops.sig_kernel_from_gram(gram, lam1, lam2, return_grid))
    return results[0] if len(results) == 1 else torch.cat(results)


def _pairs(rows: Tensor, device: torch.device) -> Tensor:
    return rows.to(device=device, dtype=torch.int32).contiguous()


def _upper_pairs(n: int, device: torch.device, diagonal: bool) -> Tensor:
    """(i, j) with i < j (i <= j with ``diagonal``), as an int32 (pairs, 2) table."""
    return _pairs(torch.triu_indices(n, n, 0 if diagonal else 1).T, device)


def _all_pairs(m: int, n: int, device: torch.device) -> Tensor:
    i = torch.arange(m).repeat_interleave(n)
    j = torch.arange(n).repeat(m)
    return _pairs(torch.stack([i, j], 1), device)


# ---- public functions -----------------------------------------------------------------------


def sig_kernel(
    x: ArrayLike,
    y: ArrayLike,
    dyadic_order: DyadicOrder = 0,
    static_kernel: Optional[StaticKernel] = None,
    return_grid: bool = False,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Optional[tuple[Any, Any]] = None,
) -> ArrayLike:
    """Signature kernels k(x_b, y_b) = <S(x_b), S(y_b)> of a batch of pairs of paths.

    Args:
        x: (batch, Lx, channels) or (Lx, channels), float32 or float64, torch tensor (any device
            with kernels, autograd supported) or NumPy array (NumPy result).
        y: (batch, Ly, channels) or (Ly, channels), same dtype, device and channels as x.
        dyadic_order: lambda >= 0, or (lambda_x, lambda_y): each path's increments are refined
            2^lambda times in the PDE solver (more accurate, 4^lambda times slower).
        static_kernel: None or sigcg.LinearKernel() (the plain signature kernel), another
            sigcg static kernel (e.g. sigcg.RBFKernel(sigma)), or a callable f(x, y) returning
            the increment Gram (batch, Lx - 1, Ly - 1).
        return_grid: return the whole PDE solution instead of its last entry.
        time_aug, lead_lag, end_time: transform every path first (pySigLib's
            ``transform_path`` conventions, as :func:`sigcg.signature`), each over its own
            points.
        lengths: (lengths of the first paths, lengths of the second), each None or (batch,)
            integers: a path's points past its length are padding (zero increments, exactly zero
            gradient; the PDE solver still steps over them).

    Returns:
        (batch,), or with ``return_grid`` (batch, (Lx - 1) 2^lambda_x + 1, (Ly - 1) 2^lambda_y +
        1) with k(x, y) at [:, -1, -1]; unbatched inputs (both 2-D) drop the batch axis.
    """
    numpy_out = not isinstance(x, Tensor)  # arrays and lists: NumPy back
    x, x_single = _paths("x", x)
    y, y_single = _paths("y", y)
    _same_space(x, y, "x", "y")
    return_grid = validation.boolean("return_grid", return_grid)
    x, y = _transformed(x, y, time_aug, lead_lag, end_time, lengths, x_single, y_single)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same batch size (pairs (x_b, y_b)); got "
            f"{x.shape[0]} and {y.shape[0]} (use sig_kernel_gram for all pairs)"
        )
    lam1, lam2 = dyadic_orders(dyadic_order)
    _check_static_kernel(static_kernel)
    result = _solve(x, y, None, lam1, lam2, static_kernel, return_grid)
    if x_single and y_single:
        result = result.squeeze(0)
    return like_input(result, numpy_out)


def sig_kernel_gram(
    x: ArrayLike,
    y: Optional[ArrayLike] = None,
    dyadic_order: DyadicOrder = 0,
    static_kernel: Optional[StaticKernel] = None,
    return_grid: bool = False,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Optional[tuple[Any, Any]] = None,
) -> ArrayLike:
    """The Gram matrix K[i, j] = k(x_i, y_j) of two batches of paths.

    Args:
        x: (Bx, Lx, channels); y: (By, Ly, channels), or None for the Gram of x with itself
            (also when y is x): then each unordered pair is solved once and mirrored, so K is
            exactly symmetric (with equal dyadic orders on both axes).
        dyadic_order, static_kernel: as for :func:`sig_kernel`.
        return_grid: every pair's whole PDE solution.
        time_aug, lead_lag, end_time: transform every path first (pySigLib's
            ``transform_path`` conventions, as :func:`sigcg.signature`), each over its own
            points.
        lengths: (lengths of x, lengths of y; None with y), each None or (batch,)
            integers: a path's points past its length are padding (zero increments, exactly zero
            gradient; the PDE solver still steps over them).

    Returns:
        (Bx, By), or (Bx, By, R1 + 1, R2 + 1) with ``return_grid``.
    """
    numpy_out = not isinstance(x, Tensor)  # arrays and lists: NumPy back
    x, _ = _paths("x", x, allow_unbatched=False)
    return_grid = validation.boolean("return_grid", return_grid)
    symmetric = y is None or y is x
    if not symmetric:
        y, _ = _paths("y", y, allow_unbatched=False)
        _same_space(x, y, "x", "y")
        x, y = _transformed(x, y, time_aug, lead_lag, end_time, lengths)
    else:
        x, _ = _transformed(x, None, time_aug, lead_lag, end_time, lengths)
        y = x
    lam1, lam2 = dyadic_orders(dyadic_order)
    _check_static_kernel(static_kernel)
    bx, by = x.shape[0], y.shape[0]
    if symmetric and lam1 == lam2:
        pairs = _upper_pairs(bx, x.device, diagonal=True)
        values = _solve(x, x, pairs, lam1, lam2, static_kernel, return_grid)
        i, j = pairs[:, 0].long(), pairs[:, 1].long()
        shape = (bx, bx) + tuple(values.shape[1:])
        out = values.new_zeros(shape)
        out = out.index_put((i, j), values)
        mirrored = values.transpose(1, 2) if return_grid else values
        out = out.index_put((j, i), mirrored)
        return like_input(out, numpy_out)
    pairs = _all_pairs(bx, by, x.device)
    values = _solve(x, y, pairs, lam1, lam2, static_kernel, return_grid)
    return like_input(values.reshape((bx, by) + tuple(values.shape[1:])), numpy_out)


def _sum_upper(
    x: Tensor, lam: tuple[int, int], static_kernel, diagonal: bool
) -> tuple[Tensor, Optional[Tensor]]:
    """sum_{i<j} k(x_i, x_j) (and the diagonal's sum separately when asked)."""
    n = x.shape[0]
    pairs = _upper_pairs(n, x.device, diagonal=False)
    off = _solve(x, x, pairs, *lam, static_kernel, False).sum() if n > 1 else x.new_zeros(())
    if not diagonal:
        return off, None
    return off, _solve(x, x, None, *lam, static_kernel, False).sum()


def _self_term(x: Tensor, lam, static_kernel, unbiased: bool, name: str) -> Tensor:
    """Estimate of E k(x, x') over the sample x."""
    m = x.shape[0]
    if unbiased:
        if m < 2:
            raise ValueError(f"the unbiased estimate needs at least 2 paths in {name}, got {m}")
        off, _ = _sum_upper(x, lam, static_kernel, diagonal=False)
        return 2 * off / (m * (m - 1))
    off, diag = _sum_upper(x, lam, static_kernel, diagonal=True)
    assert diag is not None
    return (2 * off + diag) / (m * m)


def sig_mmd(
    x: ArrayLike,
    y: ArrayLike,
    dyadic_order: DyadicOrder = 0,
    static_kernel: Optional[StaticKernel] = None,
    unbiased: bool = True,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Optional[tuple[Any, Any]] = None,
) -> ArrayLike:
    """Squared maximum mean discrepancy between the samples x (m paths) and y (n paths) under
    the signature kernel:

        unbiased:  1/(m(m-1)) sum_{i!=j} k(x_i,x_j) - 2/(mn) sum_{i,j} k(x_i,y_j)
                   + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j)      (pySigLib's sig_mmd)
        biased:    the same with every sum over all (i, j), divided by m^2, mn and n^2.

    Only the sums are formed: each unordered pair of a sample is solved once, and no Gram
    matrix is materialised.

    Args:
        x: (m, Lx, channels); y: (n, Ly, channels); dyadic_order, static_kernel: as for
            :func:`sig_kernel`.
        time_aug, lead_lag, end_time: transform every path first (pySigLib's
            ``transform_path`` conventions, as :func:`sigcg.signature`), each over its own
            points.
        lengths: (lengths of the first paths, lengths of the second), each None or (batch,)
            integers: a path's points past its length are padding (zero increments, exactly zero
            gradient; the PDE solver still steps over them).

    Returns:
        a 0-dim tensor (NumPy 0-dim array for NumPy input).
    """
    numpy_out = not isinstance(x, Tensor)  # arrays and lists: NumPy back
    x, _ = _paths("x", x, allow_unbatched=False)
    y, _ = _paths("y", y, allow_unbatched=False)
    _same_space(x, y, "x", "y")
    x, y = _transformed(x, y, time_aug, lead_lag, end_time, lengths)
    lam = dyadic_orders(dyadic_order)
    _check_static_kernel(static_kernel)
    unbiased = validation.boolean("unbiased", unbiased)
    xx = _self_term(x, lam, static_kernel, unbiased, "x")
    yy = _self_term(y, lam, static_kernel, unbiased, "y")
    xy = _solve(
        x, y, _all_pairs(x.shape[0], y.shape[0], x.device), *lam, static_kernel, False
    ).mean()
    return like_input(xx + yy - 2 * xy, numpy_out)


def sig_score(
    sample: ArrayLike,
    y: ArrayLike,
    lam: float = 1.0,
    dyadic_order: DyadicOrder = 0,
    static_kernel: Optional[StaticKernel] = None,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Optional[tuple[Any, Any]] = None,
) -> ArrayLike:
    """The signature kernel scoring rule of the sample's distribution at each observation y_b:

        phi(sample, y) = lam / (m(m-1)) sum_{i!=j} k(x_i, x_j) - 2/m sum_i k(x_i, y)

    (pySigLib's sig_score; each unordered pair of the sample solved once).

    Args:
        sample: (m, L, channels), m >= 2; y: (By, Ly, channels), or (Ly, channels) for one
            observation; lam: weight of the sample's self-similarity term.
        time_aug, lead_lag, end_time: transform every path first (pySigLib's
            ``transform_path`` conventions, as :func:`sigcg.signature`), each over its own
            points.
        lengths: (lengths of the sample, lengths of y), each None or (batch,)
            integers: a path's points past its length are padding (zero increments, exactly zero
            gradient; the PDE solver still steps over them).

    Returns:
        (By,), or (1,) for a single 2-D y (pySigLib's shapes).
    """
    numpy_out = not isinstance(sample, Tensor)  # arrays and lists: NumPy back
    sample, _ = _paths("sample", sample, allow_unbatched=False)
    y, y_single = _paths("y", y)
    _same_space(sample, y, "sample", "y")
    sample, y = _transformed(sample, y, time_aug, lead_lag, end_time, lengths, False, y_single)
    lam_x = dyadic_orders(dyadic_order)
    _check_static_kernel(static_kernel)
    if isinstance(lam, (bool, np.bool_)) or not isinstance(lam, (int, float, np.floating, Tensor)):
        raise TypeError(f"lam must be a float, got {type(lam).__name__} {lam!r}")
    if isinstance(lam, Tensor) and lam.ndim != 0:
        raise ValueError(f"lam must be a float or a 0-dim tensor, got shape {tuple(lam.shape)}")
    m, by = sample.shape[0], y.shape[0]
    xx = _self_term(sample, lam_x, static_kernel, True, "sample")
    xy = _solve(sample, y, _all_pairs(m, by, sample.device), *lam_x, static_kernel, False)
    score = lam * xx - 2 * xy.view(m, by).mean(0)
    return like_input(score, numpy_out)


class _KernelModule(torch.nn.Module):
    """What SigKernel and SigMMD share: the solver's options, checked at construction, and the
    static kernel's ``nn.Parameter``s registered as the module's parameters."""

    def __init__(
        self,
        dyadic_order: DyadicOrder,
        static_kernel: Optional[StaticKernel],
        time_aug: bool,
        lead_lag: bool,
        end_time: float,
    ):
        super().__init__()
        dyadic_orders(dyadic_order)
        _check_static_kernel(static_kernel)
        self.dyadic_order, self.static_kernel = dyadic_order, static_kernel
        self.transform = transforms.options(time_aug, lead_lag, end_time)
        if isinstance(static_kernel, StaticKernel):
            for name, value in static_kernel.parameters().items():
                if isinstance(value, torch.nn.Parameter):
                    self.register_parameter(f"static_{name}", value)

    def _options(self, lengths: Optional[tuple]) -> dict[str, Any]:
        return dict(
            time_aug=self.transform.time_aug,
            lead_lag=self.transform.lead_lag,
            end_time=self.transform.end_time,
            lengths=lengths,
        )


class SigKernel(_KernelModule):
    """:func:`sig_kernel` as a module: ``SigKernel(dyadic_order, static_kernel)(x, y)``; with
    ``gram=True`` it returns :func:`sig_kernel_gram` (y may then be None).  Static-kernel
    parameters that are ``nn.Parameter`` are registered as the module's parameters."""

    def __init__(
        self,
        dyadic_order: DyadicOrder = 0,
        static_kernel: Optional[StaticKernel] = None,
        gram: bool = False,
        *,
        time_aug: bool = False,
        lead_lag: bool = False,
        end_time: float = 1.0,
    ):
        super().__init__(dyadic_order, static_kernel, time_aug, lead_lag, end_time)
        self.gram = validation.boolean("gram", gram)

    def forward(
        self, x: Tensor, y: Optional[Tensor] = None, lengths: Optional[tuple] = None
    ) -> Tensor:
        options = self._options(lengths)
        if self.gram:
            return cast(
                Tensor, sig_kernel_gram(x, y, self.dyadic_order, self.static_kernel, **options)
            )
        if y is None:
            raise ValueError("SigKernel: y is required (or construct it with gram=True)")
        return cast(Tensor, sig_kernel(x, y, self.dyadic_order, self.static_kernel, **options))

    def extra_repr(self) -> str:
        return (
            f"dyadic_order={self.dyadic_order}, static_kernel={self.static_kernel!r}, "
            f"gram={self.gram}"
        )


class SigMMD(_KernelModule):
    """:func:`sig_mmd` as a module (a loss): ``SigMMD(dyadic_order, static_kernel,
    unbiased)(x, y)`` -> 0-dim tensor."""

    def __init__(
        self,
        dyadic_order: DyadicOrder = 0,
        static_kernel: Optional[StaticKernel] = None,
        unbiased: bool = True,
        *,
        time_aug: bool = False,
        lead_lag: bool = False,
        end_time: float = 1.0,
    ):
        super().__init__(dyadic_order, static_kernel, time_aug, lead_lag, end_time)
        self.unbiased = validation.boolean("unbiased", unbiased)

    def forward(self, x: Tensor, y: Tensor, lengths: Optional[tuple] = None) -> Tensor:
        return cast(
            Tensor,
            sig_mmd(
                x,
                y,
                self.dyadic_order,
                self.static_kernel,
                self.unbiased,
                **self._options(lengths),
            ),
        )

    def extra_repr(self) -> str:
        return (
            f"dyadic_order={self.dyadic_order}, static_kernel={self.static_kernel!r}, "
            f"unbiased={self.unbiased}"
        )


__all__ = [
    "MAX_DYADIC_ORDER",
    "SigKernel",
    "SigMMD",
    "dyadic_orders",
    "sig_kernel",
    "sig_kernel_gram",
    "sig_mmd",
    "sig_score",
]
