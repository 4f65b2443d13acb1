"""Signatures of many windows [start, end) of each path in one pass.

The route on the CPU (signature_walks kernels): let b be the fewest steps of any window, so
every window [s, e) holds a multiple m of b with s <= m <= e - 1, and

    S(x[s .. e-1]) = S(x[s .. m]) ⊗ S(x[m .. e-1]).

From every such m one walk goes backwards (its signature at each window start s is
S(x[s .. m])^{-1}, inverted exactly by the antipode) and one forwards (its signature at each
window end e - 1 is S(x[m .. e-1])); a window then costs one tensor product.  For windows of
one size every point is walked twice, whatever the number of windows; no long prefix is ever
inverted, so a window is as accurate as signing it alone.  Gradients (and double backward) come
from the ops' autograd.

Elsewhere: under torch.compile (the walk plan depends on the table's values) and on backends
without the walks kernel, windows of one size given as (size, stride) are signed as one batch of
slices; tables go through the prefix signatures, S(x[0..s])^{-1} ⊗ S(x[0..e-1]) (as sigcg.Path),
which loses digits for long paths as the prefixes' large terms cancel.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra.tensor import antipode
from ..codegen import signature_channels
from ..runtime import has_kernel
from . import validation


def table(window: Any, windows: Any, length: int, device: torch.device) -> Optional[Tensor]:
    """The windows as a (W, 2) int64 table of [start, end) point indices, or None.

    ``window``: (size, stride), the windows [k stride, k stride + size) that fit in ``length``
    points; ``windows``: a (W, 2) integer tensor, NumPy array or sequence of pairs.  At most one
    of them; every window must hold at least 2 points."""
    if window is not None and windows is not None:
        raise ValueError("give window=(size, stride) or windows=(W, 2) table, not both")
    if window is not None:
        if isinstance(window, (str, bytes)) or not isinstance(window, (tuple, list)):
            raise TypeError(
                f"window must be a pair (size, stride) of integers, got "
                f"{type(window).__name__} {window!r}"
            )
        if len(window) != 2:
            raise ValueError(f"window must be a pair (size, stride), got {window!r}")
        size = validation.integer("window", window[0], 2)
        stride = validation.integer("window", window[1], 1)
        if size > length:
            raise ValueError(f"window size {size} is longer than the path ({length} points)")
        starts = torch.arange(0, length - size + 1, stride, device=device)
        return torch.stack([starts, starts + size], 1)
    if windows is None:
        return None
    if isinstance(windows, (list, tuple)):
        try:
            values = np.asarray(windows)
        except ValueError as exc:
            raise ValueError(f"windows must be a (W, 2) table of integers ({exc})") from None
        if values.dtype == object:
            raise ValueError(f"windows must be a (W, 2) table of integers, got {windows!r}")
        windows = values
    if isinstance(windows, np.ndarray):
        if windows.dtype.kind not in "iu":
            raise TypeError(
                f"windows must hold integers, got a NumPy array of dtype {windows.dtype}"
            )
        windows = torch.from_numpy(windows.astype(np.int64))
    if not isinstance(windows, Tensor):
        raise TypeError(
            f"windows must be a (W, 2) integer tensor of [start, end) pairs, got "
            f"{type(windows).__name__} {windows!r}"
        )
    if windows.is_floating_point() or windows.is_complex() or windows.dtype == torch.bool:
        raise TypeError(f"windows must hold integers, got a tensor of dtype {windows.dtype}")
    if windows.ndim != 2 or windows.shape[1] != 2 or windows.shape[0] < 1:
        raise ValueError(f"windows must have shape (W, 2) with W >= 1, got {tuple(windows.shape)}")
    windows = windows.to(device=device, dtype=torch.int64)
    if not torch.compiler.is_compiling():
        starts, ends = windows[:, 0], windows[:, 1]
        if bool((starts < 0).any()) or bool((ends > length).any()):
            raise ValueError(
                f"windows must lie inside the path's {length} points: 0 <= start, end <= {length}"
            )
        if bool((ends - starts < 2).any()):
            raise ValueError("windows must each hold at least 2 points (end - start >= 2)")
    return windows


def signature(path: Tensor, depth: int, windows: Tensor) -> Tensor:
    """(B, L, C) -> (B, W, S): the signature of path[:, s:e] for every window (s, e)."""
    if not torch.compiler.is_compiling() and has_kernel("signature_windows_forward", path):
        return _by_walks(path, depth, windows)
    if not torch.compiler.is_compiling():
        sizes = windows[:, 1] - windows[:, 0]
        if bool((sizes == sizes[0]).all()):
            return _by_slices(path, depth, windows[:, 0], int(sizes[0]))
    return _by_prefixes(path, depth, windows)


def _rows(stream: Tensor, index: Tensor) -> Tensor:
    """stream (B, R, S) rows ``index`` (W,) -> (B * W, S), row order b-major."""
    return stream.index_select(1, index).reshape(-1, stream.shape[2])


def plan(windows: np.ndarray) -> tuple[tuple[np.ndarray, ...], int, int]:
    """The signature_windows kernels' plan of a (W, 2) [start, end) table: (the int32 tables
    anchor, window_offset, window_start, window_last, by_start, by_end, window_row; the most
    windows of one anchor; the points the walks visit)."""
    starts, lasts = windows[:, 0], windows[:, 1] - 1
    b = int((lasts - starts).min())
    anchors = -(-starts // b) * b
    order = np.argsort(anchors, kind="stable")  # internal window order: grouped by anchor
    anchors, starts, lasts = anchors[order], starts[order], lasts[order]
    points, first = np.unique(anchors, return_index=True)
    offsets = np.append(first, len(order))
    by_start, by_end = np.empty_like(order), np.empty_like(order)
    for a in range(len(points)):
        lo, hi = offsets[a], offsets[a + 1]
        by_start[lo:hi] = lo + np.argsort(-starts[lo:hi], kind="stable")
        by_end[lo:hi] = lo + np.argsort(lasts[lo:hi], kind="stable")
    steps = 0
    for a in range(len(points)):
        lo, hi = offsets[a], offsets[a + 1]
        steps += int(lasts[lo:hi].max() - starts[lo:hi].min())
    tables = tuple(
        np.ascontiguousarray(t, dtype=np.int32)
        for t in (points, offsets, starts, lasts, by_start, by_end, order)
    )
    return tables, int(np.diff(offsets).max()), steps


def _by_walks(path: Tensor, depth: int, windows: Tensor) -> Tensor:
    tables, per_anchor, steps = plan(windows.cpu().numpy())
    on_device = [torch.from_numpy(t).to(path.device) for t in tables]
    return ops.signature_windows(path.contiguous(), *on_device, per_anchor, steps, depth)


def _by_slices(path: Tensor, depth: int, starts: Tensor, size: int) -> Tensor:
    batch, _, channels = path.shape
    index = starts[:, None] + torch.arange(size, device=path.device)
    slices = path[:, index.flatten()].reshape(-1, size, channels)
    return ops.signature(slices.contiguous(), None, depth, False).view(batch, starts.shape[0], -1)


def _by_prefixes(path: Tensor, depth: int, windows: Tensor) -> Tensor:
    batch, _, channels = path.shape
    width = signature_channels(channels, depth)
    stream = ops.signature(path.contiguous(), None, depth, True)
    # row t: S(x[0..t]), row 0 the identity
    stream = torch.cat([stream.new_zeros(batch, 1, width), stream], dim=1)
    head = antipode(_rows(stream, windows[:, 0]), channels, depth)
    tail = _rows(stream, windows[:, 1] - 1)
    out = ops.tensor_product(head.contiguous(), tail.contiguous(), channels, depth)
    return out.view(batch, windows.shape[0], width)
