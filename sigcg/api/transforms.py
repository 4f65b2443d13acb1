"""Path transforms (time augmentation, lead-lag) and ragged batches for every path-taking
function: their arguments, and the route that computes a signature with them.

Conventions (pySigLib's ``transform_path``): the time channel is appended last and runs from 0
to ``end_time`` over the transformed path's points, t_i = end_time * i / (L' - 1); the lead-lag
path of L points has L' = 2L - 1 points [lag, lead] (lag channels first) and the lead moves
first.  The transforms apply to the path after its basepoint (if any) is prepended, and to each
row's valid points only (``lengths``).

On the CPU the fused kernels (codegen/kernels/signature_fused.py) build the transformed
increments from the original points and skip every row's padding; elsewhere (CUDA) the
transformed, clamped path is made with torch ops (sigcg/ops/transforms.py) and signed by the
plain kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..codegen.spec import DEFAULT_VECTOR_BYTES
from ..ops.transforms import augment, transformed_channels, transformed_length
from ..runtime import has_kernel
from . import chunking, validation


@dataclass(frozen=True)
class Transform:
    """Validated transform options."""

    time_aug: bool = False
    lead_lag: bool = False
    end_time: float = 1.0

    @property
    def active(self) -> bool:
        return self.time_aug or self.lead_lag

    def channels(self, channels: int) -> int:
        return transformed_channels(channels, self.lead_lag, self.time_aug)

    def length(self, length: int) -> int:
        return transformed_length(length, self.lead_lag)


NONE = Transform()


def options(time_aug: Any, lead_lag: Any, end_time: Any) -> Transform:
    """Transform from the public arguments; raises naming the argument."""
    if time_aug is False and lead_lag is False and end_time == 1.0 and type(end_time) is float:
        return NONE  # the defaults, on every call's path: no dataclass built
    time_aug = validation.boolean("time_aug", time_aug)
    lead_lag = validation.boolean("lead_lag", lead_lag)
    if isinstance(end_time, (bool, np.bool_)) or not isinstance(
        end_time, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"end_time must be a real number, got {type(end_time).__name__} {end_time!r}"
        )
    end = float(end_time)
    if not math.isfinite(end) or end <= 0:
        raise ValueError(f"end_time must be a finite number > 0, got {end_time!r}")
    return Transform(time_aug, lead_lag, end)


def lengths(value: Any, path: Tensor, basepoint: bool, unbatched: bool) -> Optional[Tensor]:
    """``lengths`` as an int64 (batch,) tensor on the path's device counting the points of the
    path *with* its basepoint, or None (every row full).

    ``value``: None, a (batch,) integer tensor / NumPy array / sequence of ints (an int for an
    unbatched path): the valid points of each row of the path as given, at least 2 (1 with a
    basepoint) and at most its length."""
    if value is None:
        return None
    batch, length = path.shape[0], path.shape[1] - int(basepoint)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"lengths must hold integers, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if not unbatched:
            raise ValueError(
                f"lengths must be a (batch,) = ({batch},) integer tensor for a batched path, "
                f"got the integer {value!r}"
            )
        value = [int(value)]
    if isinstance(value, (list, tuple)):
        if not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
        ):
            raise TypeError(f"lengths must hold integers, got {value!r}")
        value = torch.tensor([int(v) for v in value], dtype=torch.int64)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu":
            raise TypeError(f"lengths must hold integers, got a NumPy array of dtype {value.dtype}")
        value = torch.from_numpy(value.astype(np.int64))
    elif isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got a tensor of dtype {value.dtype}")
    else:
        raise TypeError(
            f"lengths must be a (batch,) integer tensor, got {type(value).__name__} {value!r}"
        )
    if unbatched and value.ndim == 0:
        value = value.reshape(1)
    if tuple(value.shape) != (batch,):
        raise ValueError(f"lengths must have shape (batch,) = ({batch},), got {tuple(value.shape)}")
    minimum = 1 if basepoint else 2
    if not torch.compiler.is_compiling() and batch:
        low, high = int(value.min()), int(value.max())
        if low < minimum or high > length:
            raise ValueError(
                f"lengths must lie in [{minimum}, {length}] (the path's length"
                f"{', with a basepoint' if basepoint else ''}), got values in [{low}, {high}]"
            )
    value = value.to(device=path.device, dtype=torch.int64)
    return value + 1 if basepoint else value


def time_steps(transform: Transform, path: Tensor, lengths: Optional[Tensor]) -> Optional[Tensor]:
    """The time channel's increment per transformed step of each row, (batch,), or None without
    time augmentation: end_time / (L' - 1) over each row's own transformed length L'."""
    if not transform.time_aug:
        return None
    batch, length = path.shape[:2]
    if lengths is None:
        steps = transform.length(length) - 1
        return path.new_full((batch,), transform.end_time / steps)
    row_steps = (2 * lengths - 2 if transform.lead_lag else lengths - 1).to(path.dtype)
    return transform.end_time / row_steps


def lane_order(lengths: Tensor, element_size: int) -> Tensor:
    """The rows in the order the fused kernels' SIMD lanes take them (int32): longest first, so
    a lane group's rows have similar lengths, with the full groups interleaved longest,
    shortest, second longest, ... so that the contiguous ranges threads get carry similar work."""
    lanes = DEFAULT_VECTOR_BYTES // element_size
    order = torch.argsort(lengths, descending=True, stable=True)
    full = order.shape[0] // lanes
    if full > 2:
        groups = torch.arange(full, device=order.device)
        zigzag = torch.stack([groups, full - 1 - groups], 1).flatten()[:full]
        head = order[: full * lanes].view(full, lanes)[zigzag].flatten()
        order = torch.cat([head, order[full * lanes :]])
    return order.to(torch.int32)


def augment_path(path: Tensor, transform: Transform, lengths: Optional[Tensor] = None) -> Tensor:
    """The transformed (and clamped) path made with torch ops: (B, L', D)."""
    if not transform.active and lengths is None:
        return path
    return augment(path, transform.lead_lag, time_steps(transform, path, lengths), lengths)


def raw_signature(
    path: Tensor,
    initial: Optional[Tensor],
    depth: int,
    stream: bool,
    transform: Transform = NONE,
    lengths: Optional[Tensor] = None,
    time_step: Optional[Tensor] = None,
) -> Tensor:
    """The signature of the transformed path, without scalar term: (B, S), or (B, L' - 1, S)
    with stream (a row's entries past its length repeat its final value); initial ⊗ S when
    ``initial`` is given.  ``time_step`` overrides the time channel's per-row step (Path keeps
    its time scale as it grows)."""
    if time_step is None:
        time_step = time_steps(transform, path, lengths)
    if not transform.lead_lag and time_step is None and lengths is None:
        batch, length, channels = path.shape
        pieces = 1 if stream else chunking.pieces_for(path, depth)
        if pieces > 1:  # too few paths to fill the machine: sign pieces in parallel (Chen)
            return chunking.chunked_signature(path, initial, depth, pieces)
        return ops.signature(path.contiguous(), initial, depth, stream)
    if has_kernel("signature_fused_forward", path):
        lengths32 = order = None
        if lengths is not None:
            lengths32 = lengths.to(torch.int32)
            order = lane_order(lengths, path.element_size())
        return ops.signature_fused(
            path.contiguous(),
            initial,
            depth,
            stream,
            transform.lead_lag,
            time_step,
            lengths32,
            order,
        )
    augmented = augment(path, transform.lead_lag, time_step, lengths)
    return ops.signature(augmented.contiguous(), initial, depth, stream)
