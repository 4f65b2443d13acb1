"""Path transforms and ragged batches in differentiable torch ops: the route of the backends
without fused kernels (CUDA) and of double backward (composite.py), and the definition the fused
CPU kernels (codegen/kernels/signature_fused.py) are tested against.

Conventions (pySigLib's ``transform_path``): the lead-lag path of L points x_0..x_{L-1} has
2L - 1 points [lag, lead] (lag channels first), point t = (x_{floor(t/2)}, x_{ceil(t/2)}), so
the lead moves first; the time channel is appended last, t_i = i * h.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def transformed_channels(channels: int, lead_lag: bool, time: bool) -> int:
    return channels * (2 if lead_lag else 1) + (1 if time else 0)


def transformed_length(length: int, lead_lag: bool) -> int:
    return 2 * length - 1 if lead_lag else length


def clamp_lengths(path: Tensor, lengths: Tensor) -> Tensor:
    """(B, L, C) -> the same shape with every row's points past lengths[b] replaced by its last
    valid point: zero increments, so any signature of the result is that of path[b, :lengths[b]]
    and the padding gets exactly zero gradient (gather's adjoint)."""
    batch, length, channels = path.shape
    steps = torch.arange(length, device=path.device)
    index = torch.minimum(steps[None, :], (lengths.to(path.device).long() - 1)[:, None])
    return path.gather(1, index[:, :, None].expand(batch, length, channels))


def augment(
    path: Tensor,
    lead_lag: bool,
    time_step: Optional[Tensor],
    lengths: Optional[Tensor] = None,
) -> Tensor:
    """The transformed path (B, L', D): lead-lag (L' = 2L - 1), then a time channel growing by
    time_step[b] per point (stopping at each row's last valid point when ``lengths`` is given).
    Rows are clamped to their lengths first (see clamp_lengths)."""
    if lengths is not None:
        path = clamp_lengths(path, lengths)
    if lead_lag:
        doubled = path.repeat_interleave(2, dim=1)
        path = torch.cat([doubled[:, :-1], doubled[:, 1:]], dim=2)
    if time_step is not None:
        batch, length = path.shape[:2]
        t = torch.arange(length, device=path.device, dtype=path.dtype)
        t = t[None, :].expand(batch, length)
        if lengths is not None:
            last = lengths.to(path.device).long() - 1
            last = 2 * last if lead_lag else last
            t = torch.minimum(t, last[:, None].to(path.dtype))
        path = torch.cat([path, (t * time_step[:, None].to(path.dtype))[:, :, None]], dim=2)
    return path
