"""Window signatures in one pass (codegen/kernels/signature_windows.py) as torch operators."""

from __future__ import annotations

import torch
from torch import Tensor

from ..codegen import signature_channels
from ..runtime import has_kernel, launch
from . import composite
from .base import TorchOp, contiguous, empty

TABLES = (
    "anchor",
    "window_offset",
    "window_start",
    "window_last",
    "by_start",
    "by_end",
    "window_row",
)


def _tables(tables: tuple[Tensor, ...], per_anchor: int) -> dict:
    named = dict(zip(TABLES, (contiguous(t) for t in tables)))
    return named | dict(
        anchors=tables[0].shape[0], windows=tables[2].shape[0], per_anchor=per_anchor
    )


def _forward(
    path: Tensor,
    anchor: Tensor,
    window_offset: Tensor,
    window_start: Tensor,
    window_last: Tensor,
    by_start: Tensor,
    by_end: Tensor,
    window_row: Tensor,
    per_anchor: int,
    steps: int,
    depth: int,
) -> Tensor:
    """path (B, L, d) and the int32 plan of sigcg.api.windows.plan (``steps``: the points its
    walks visit, for the threading decision) -> (B, W, sig): row window_row[w] is the signature
    of path[:, window_start[w] : window_last[w] + 1]."""
    path = contiguous(path)
    batch, length, d = path.shape
    tables = (anchor, window_offset, window_start, window_last, by_start, by_end, window_row)
    out = empty((batch, window_start.shape[0], signature_channels(d, depth)), path)
    launch(
        "signature_windows_forward",
        "signature_windows_forward",
        d,
        depth,
        dict(path=path, out=out, batch=batch, length=length) | _tables(tables, per_anchor),
        like=path,
        steps=steps,
    )
    return out


def _forward_fake(path, anchor, offset, start, last, by_start, by_end, row, per, steps, depth):
    return path.new_empty((path.shape[0], start.shape[0], signature_channels(path.shape[2], depth)))


def _backward_kernel(
    path: Tensor,
    grad: Tensor,
    anchor: Tensor,
    window_offset: Tensor,
    window_start: Tensor,
    window_last: Tensor,
    by_start: Tensor,
    by_end: Tensor,
    window_row: Tensor,
    per_anchor: int,
    steps: int,
    depth: int,
) -> Tensor:
    """grad_path (B, L, d) from the cotangent (B, W, sig) of the windows."""
    path, grad = contiguous(path), contiguous(grad)
    batch, length, d = path.shape
    tables = (anchor, window_offset, window_start, window_last, by_start, by_end, window_row)
    grad_path = empty(path.shape, path)
    launch(
        "signature_windows_backward",
        "signature_windows_backward",
        d,
        depth,
        dict(path=path, grad_out=grad, grad_path=grad_path, batch=batch, length=length)
        | _tables(tables, per_anchor),
        like=path,
        steps=2 * steps,
    )
    return grad_path


signature_windows_backward = TorchOp(
    "signature_windows_backward", _backward_kernel, lambda path, *rest: path.new_empty(path.shape)
)


def _backward(args, _out, grads, needs, compiled):
    path, *tables, per_anchor, steps, depth = args
    grad_path = signature_windows_backward.call(
        compiled, path, grads[0], *tables, per_anchor, steps, depth
    )
    return (grad_path,) + (None,) * (len(args) - 1)


def _composite(
    path: Tensor,
    anchor: Tensor,
    window_offset: Tensor,
    window_start: Tensor,
    window_last: Tensor,
    by_start: Tensor,
    by_end: Tensor,
    window_row: Tensor,
    per_anchor: int,
    steps: int,
    depth: int,
) -> Tensor:
    """The same from differentiable ops, window by window (double backward only)."""
    rows: list[Tensor] = [path.new_zeros(0)] * window_start.shape[0]
    for s, e, r in zip(window_start.tolist(), window_last.tolist(), window_row.tolist()):
        rows[r] = composite.signature(path[:, s : e + 1], None, depth, False)
    return torch.stack(rows, 1)


def _graph_backward(args, _out, grads, needs):
    """create_graph=True: through _windows_as_paths, whose signature op has second-order
    kernels; None (the composite) where the device has none."""
    if not has_kernel("signature_hvp", args[0]):
        return None
    return signature_windows.grad_through(_windows_as_paths, args, grads, needs)


def _windows_as_paths(
    path,
    anchor,
    window_offset,
    window_start,
    window_last,
    by_start,
    by_end,
    window_row,
    per_anchor,
    steps,
    depth,
) -> Tensor:
    """The same from the signature op: every window as its own path (one gather; windows
    shorter than the longest repeat their last point, zero increments), signed in one batch."""
    from .signature import signature

    batch, _, d = path.shape
    start, last = window_start.long(), window_last.long()
    count, size = start.shape[0], int((last - start).max()) + 1
    offsets = torch.arange(size, device=path.device)
    index = torch.minimum(start[:, None] + offsets[None, :], last[:, None]).flatten()
    pieces = path[:, index].reshape(batch * count, size, d)
    sigs = signature(pieces.contiguous(), None, depth, False)
    sigs = sigs.view(batch, count, sigs.shape[-1])  # not -1: batch may be 0
    return sigs[:, torch.argsort(window_row.long())]  # output row window_row[w] <- window w


signature_windows = TorchOp(
    "signature_windows",
    _forward,
    _forward_fake,
    backward=_backward,
    composite=_composite,
    graph_backward=_graph_backward,
)

__all__ = ["signature_windows", "signature_windows_backward"]
