"""The public signature API (Signatory 1.2 semantics), for torch tensors and NumPy arrays."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra.lyndon import MAX_COUNTED_DEPTH
from ..algebra.tensor import antipode, level_slice
from ..codegen import signature_channels as _signature_channels
from . import chunking, validation
from .validation import ArrayT, like_input

ArrayLike = Union[Tensor, np.ndarray]


def signature_channels(channels: int, depth: int, scalar_term: bool = False) -> int:
    """Number of signature terms: channels + channels^2 + ... + channels^depth (+1 with the
    scalar term)."""
    channels = validation.channels(channels)
    depth = validation.integer("depth", depth, 1, MAX_COUNTED_DEPTH)  # a size only
    scalar = validation.boolean("scalar_term", scalar_term)
    return _signature_channels(channels, depth) + int(scalar)


def prepare_path(path: Any, depth: Any, basepoint: Any) -> tuple[Tensor, int, bool, bool]:
    """Validated (batch, length, channels) tensor with the basepoint prepended, the depth as an
    int, whether the input was NumPy, and whether it was unbatched (length, channels)."""
    x, numpy_out = validation.tensor("path", path)
    checked_depth = validation.depth(depth)
    base = validation.basepoint(basepoint)
    unbatched = x.ndim == 2
    if unbatched:
        x = x.unsqueeze(0)
        if isinstance(base, Tensor):
            base = base.unsqueeze(0)
    validation.check_path(x, base)
    batch, _, channels = x.shape
    if base is True:
        x = torch.cat([x.new_zeros(batch, 1, channels), x], dim=1)
    elif isinstance(base, Tensor):
        x = torch.cat([base.unsqueeze(1), x], dim=1)
    return x, checked_depth, numpy_out, unbatched


def signature(
    path: ArrayT,
    depth: int,
    stream: bool = False,
    basepoint: Union[bool, ArrayLike] = False,
    inverse: bool = False,
    initial: Optional[ArrayLike] = None,
    scalar_term: bool = False,
) -> ArrayT:
    """The signature transform of a batch of paths, truncated at ``depth``.

    Args:
        path: (batch, length, channels) or (length, channels), float32 or float64, torch tensor
            (any device with kernels, autograd supported) or NumPy array (NumPy result).
        depth: truncation level N >= 1.
        stream: return the signature of every prefix path[:, :j+1], j = 1..length-1.
        basepoint: ``True`` prepends the origin; a (batch, channels) tensor prepends that point.
        inverse: return the inverse signature S^{-1} (the signature of the reversed path).
        initial: (batch, signature_channels) signature S0 of a path that precedes this one; the
            result is S0 ⊗ S(path) (with ``inverse``: S(path)^{-1} ⊗ S0, the inverse signature of
            the concatenation when S0 is an inverse signature).  With ``scalar_term`` it has the
            scalar column too, (batch, signature_channels + 1), and that column is ignored.
        scalar_term: put the constant 1 (level 0) first.

    Returns:
        (batch, S) or, with ``stream``, (batch, length', S) where S = signature_channels(channels,
        depth, scalar_term) and length' = length - 1 (length with a basepoint).  Unbatched input
        drops the batch axis.  Levels in order, words lexicographic inside a level.
    """
    x, depth, numpy_out, unbatched = prepare_path(path, depth, basepoint)
    stream = validation.boolean("stream", stream)
    inverse = validation.boolean("inverse", inverse)
    scalar_term = validation.boolean("scalar_term", scalar_term)
    batch, length, channels = x.shape
    width = validation.signature_width(
        batch, length - 1 if stream else 1, channels, depth, x.element_size()
    )
    init = None
    if initial is not None:
        init = validation.tensor("initial", initial)[0]
        if unbatched:
            init = init.unsqueeze(0)
        # Signatory's convention: with scalar_term the initial signature carries it too (ignored).
        validation.check_initial(init, x, width + (1 if scalar_term else 0))
        init = (init[:, 1:] if scalar_term else init).contiguous()
        if inverse:  # S^{-1} ⊗ S0 = α(α(S0) ⊗ S)
            init = antipode(init, channels, depth)

    pieces = (
        1
        if stream
        else chunking.piece_count(batch, length - 1, channels, depth, chunking.parallel_width(x))
    )
    if pieces > 1:  # too few paths to fill the machine: sign pieces in parallel (Chen)
        result = chunking.chunked_signature(x, init, depth, pieces)
    else:
        result = ops.signature(x.contiguous(), init, depth, stream)
    if inverse:
        result = antipode(result, channels, depth)
    if scalar_term:
        result = torch.cat([result.new_ones(result.shape[:-1] + (1,)), result], dim=-1)
    if unbatched:
        result = result.squeeze(0)
    return like_input(result, numpy_out)


def extract_signature_term(
    sigtensor: ArrayT, channels: int, depth: int, scalar_term: bool = False
) -> ArrayT:
    """Level ``depth`` of a signature: (..., S) -> (..., channels**depth), torch or NumPy."""
    sig, _ = validation.tensor("sigtensor", sigtensor)
    width = signature_channels(channels, validation.depth(depth), scalar_term)
    if sig.ndim < 1 or sig.shape[-1] < width:
        raise ValueError(
            f"sigtensor has {sig.shape[-1] if sig.ndim else 0} terms, fewer than the {width} "
            f"needed to hold level {depth} of a {channels}-channel signature"
        )
    return sigtensor[..., level_slice(channels, depth, depth, scalar_term)]


class Signature(torch.nn.Module):
    """:func:`signature` as a module: ``Signature(depth, stream, inverse, scalar_term)(path,
    basepoint=False, initial=None)``; input (batch, length, channels), output as there."""

    def __init__(
        self, depth: int, stream: bool = False, inverse: bool = False, scalar_term: bool = False
    ):
        super().__init__()
        self.depth = validation.depth(depth)
        self.stream = validation.boolean("stream", stream)
        self.inverse = validation.boolean("inverse", inverse)
        self.scalar_term = validation.boolean("scalar_term", scalar_term)

    def forward(
        self, path: Tensor, basepoint: Union[bool, Tensor] = False, initial: Optional[Tensor] = None
    ) -> Tensor:
        return signature(
            path,
            self.depth,
            stream=self.stream,
            basepoint=basepoint,
            inverse=self.inverse,
            initial=initial,
            scalar_term=self.scalar_term,
        )

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, stream={self.stream}, inverse={self.inverse}, "
            f"scalar_term={self.scalar_term}"
        )
