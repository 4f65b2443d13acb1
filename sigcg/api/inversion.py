"""``invert_signature``: a path whose signature approximates a given one (Signatory 1.2.5's
semantics), by the insertion algorithm of Chang and Lyons (2019).

For the piecewise linear path of N = depth pieces on [0, 1] the algorithm estimates the
derivative x_p on piece p from the top two levels alone: inserting a letter c at position p of
every word w of level N - 1,

    x_p[c] = N * sum_w S^{N-1}[w] S^N[w_1 .. w_{p-1} c w_p .. w_{N-1}] / |S^{N-1}|^2,

and the path moves by x_p / N on piece p.  The estimate improves with the depth; the signature
of the result matches the input only approximately (see the tests for the tolerances on the
paths Signatory documents).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from ..codegen import signature_channels
from . import validation
from .validation import like_input


def invert_signature(
    signature: Any, depth: int, channels: int, initial_position: Optional[Any] = None
) -> Any:
    """Reconstruct a stream of data from its signature (up to translation).

    Args:
        signature: (batch, S), S = signature_channels(channels, depth) (no scalar term), the
            signature of a batch of paths; torch tensor or NumPy array (NumPy result).
        depth: the depth the signature was computed to.
        channels: the channels of the paths.
        initial_position: None (the paths start at 0), (batch, channels) or (channels,) for
            every path: where they start.

    Returns:
        (batch, depth + 1, channels): piecewise linear paths of depth pieces.  Differentiable.
    """
    sig, numpy_out = validation.float_tensor("signature", signature)
    depth = validation.depth(depth)
    channels = validation.channels(channels)
    width = signature_channels(channels, depth)
    if sig.ndim != 2 or sig.shape[1] != width:
        raise ValueError(
            f"signature must have shape (batch, {width}) for {channels} channels at depth "
            f"{depth} (channels and depth must correspond to the signature), got "
            f"{tuple(sig.shape)}"
        )
    batch = sig.shape[0]
    if initial_position is None:
        start = sig.new_zeros(batch, channels)
    else:
        start = validation.float_tensor("initial_position", initial_position)[0]
        # A position, not an operand: taken in the signature's dtype, and one (channels,) point
        # stands for every path (as Signatory takes it).
        start = start.to(sig.dtype)
        validation.check_same("initial_position", start, sig, "signature")
        if tuple(start.shape) == (channels,):
            start = start.expand(batch, channels)
        if tuple(start.shape) != (batch, channels):
            raise ValueError(
                f"initial_position must have shape (batch, channels) = {(batch, channels)} or "
                f"(channels,), got {tuple(start.shape)}"
            )
    if depth == 1:
        return like_input(torch.stack([start, start + sig], 1), numpy_out)
    top = sig[:, width - channels**depth :].reshape(batch, *(channels,) * depth)
    below = sig[:, width - channels**depth - channels ** (depth - 1) : width - channels**depth]
    norm2 = (below * below).sum(1, keepdim=True)
    pieces = []
    for p in range(1, depth + 1):  # the letter inserted at word position p
        inserted = top.movedim(p, -1).reshape(batch, channels ** (depth - 1), channels)
        pieces.append(torch.einsum("bw,bwc->bc", below, inserted) / norm2)  # = x_p / N
    steps = torch.stack(pieces, 1)
    path = torch.cat([start[:, None], start[:, None] + steps.cumsum(1)], 1)
    return like_input(path, numpy_out)
