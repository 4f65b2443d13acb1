"""The public signature API (Signatory 1.2 semantics), for torch tensors and NumPy arrays."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra.lyndon import MAX_COUNTED_DEPTH
from ..algebra.tensor import antipode, level_slice
from ..codegen import signature_channels as _signature_channels
from . import transforms, validation
from . import windows as windows_api
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
    x, checked_depth, numpy_out, unbatched, _ = prepare(path, depth, basepoint)
    return x, checked_depth, numpy_out, unbatched


def prepare(path: Any, depth: Any, basepoint: Any) -> tuple[Tensor, int, bool, bool, bool]:
    """As :func:`prepare_path`, and whether a basepoint was prepended."""
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
    return x, checked_depth, numpy_out, unbatched, base is not False


def signature(
    path: ArrayT,
    depth: int,
    stream: bool = False,
    basepoint: Union[bool, ArrayLike] = False,
    inverse: bool = False,
    initial: Optional[ArrayLike] = None,
    scalar_term: bool = False,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Any = None,
    window: Optional[tuple[int, int]] = None,
    windows: Any = None,
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
        time_aug: append a time channel (last) running from 0 to ``end_time`` over the points.
        lead_lag: sign the lead-lag path: 2 length - 1 points [lag, lead] (lag channels first),
            the lead moving first.  Both transforms follow pySigLib's ``transform_path`` and
            apply after the basepoint is prepended; the signature is of 2 channels (lead-lag),
            plus 1 (time) per original channel.  On the CPU nothing is materialised: the kernels
            build the transformed increments from the original points.
        end_time: the time channel's final value.
        lengths: (batch,) integers (an int for an unbatched path): row b is path[b, :lengths[b]]
            (its points after that are padding, never read, with zero gradient); with
            ``stream`` the entries past a row's end repeat its final value.
        window: (size, stride): the signature of every window path[:, k stride : k stride +
            size] that fits, as (batch, W, S).
        windows: a (W, 2) integer table of [start, end) point indices (after the basepoint, if
            any): the signature of each path[:, start:end], as (batch, W, S).  With transforms,
            a window selects the part of the transformed whole path between its points (the time
            channel keeps the whole path's scale).

    Returns:
        (batch, S); with ``stream`` (batch, length', S), length' = length - 1 (length with a
        basepoint; times 2 with lead_lag); with windows (batch, W, S).  S =
        signature_channels(channels', depth, scalar_term) for the transformed channel count.
        Unbatched input drops the batch axis.  Levels in order, words lexicographic inside a
        level.
    """
    x, depth, numpy_out, unbatched, has_base = prepare(path, depth, basepoint)
    # Skipped while torch.compile traces: a warning is a graph break under fullgraph=True.
    if initial is not None and not has_base and not torch.compiler.is_compiling():
        warnings.warn(
            "Argument 'initial' has been set but argument 'basepoint' has not. This is almost "
            "certainly a mistake (as Signatory warns): 'basepoint' should be the final point of "
            "the path whose signature is 'initial', unless this path starts there already.",
            stacklevel=2,
        )
    stream = validation.boolean("stream", stream)
    inverse = validation.boolean("inverse", inverse)
    scalar_term = validation.boolean("scalar_term", scalar_term)
    transform = transforms.options(time_aug, lead_lag, end_time)
    lens = transforms.lengths(lengths, x, has_base, unbatched)
    table = windows_api.table(window, windows, x.shape[1], x.device)
    if table is not None and (stream or lens is not None):
        raise ValueError(
            "windows (window= or windows=) cannot be combined with "
            + ("stream" if stream else "lengths")
        )
    batch, length, channels = x.shape
    out_channels = transform.channels(channels)
    rows = table.shape[0] if table is not None else (transform.length(length) - 1 if stream else 1)
    width = validation.signature_width(batch, rows, out_channels, depth, x.element_size())
    init = None
    if initial is not None:
        init = validation.tensor("initial", initial)[0]
        if unbatched:
            init = init.unsqueeze(0)
        # Signatory's convention: with scalar_term the initial signature carries it too (ignored).
        validation.check_initial(init, x, width + (1 if scalar_term else 0))
        init = (init[:, 1:] if scalar_term else init).contiguous()
        if inverse:  # S^{-1} ⊗ S0 = α(α(S0) ⊗ S)
            init = antipode(init, out_channels, depth)

    if table is not None:
        result = window_signature(x, depth, table, transform, init)
    else:
        result = transforms.raw_signature(x, init, depth, stream, transform, lens)
    if inverse:
        result = antipode(result, out_channels, depth)
    if scalar_term:
        result = torch.cat([result.new_ones(result.shape[:-1] + (1,)), result], dim=-1)
    if unbatched:
        result = result.squeeze(0)
    return like_input(result, numpy_out)


def window_signature(
    x: Tensor,
    depth: int,
    table: Tensor,
    transform: transforms.Transform,
    initial: Optional[Tensor] = None,
) -> Tensor:
    """(B, L, C) -> (B, W, S): the windows of the transformed path (the windows index the
    original points: with lead-lag, points [s, e) are the transformed points [2s, 2e - 1)),
    each multiplied by ``initial`` (B, S) on the left when given."""
    if transform.active:
        x = transforms.augment_path(x, transform)
        if transform.lead_lag:
            table = torch.stack([2 * table[:, 0], 2 * table[:, 1] - 1], 1)
    result = windows_api.signature(x, depth, table)
    if initial is not None:
        result = ops.left_multiply(initial, result, x.shape[2], depth)
    return result


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
    """:func:`signature` as a module: ``Signature(depth, stream, inverse, scalar_term, *,
    basepoint, time_aug, lead_lag, end_time, window, windows)(path, basepoint=None,
    initial=None, lengths=None)``; input (batch, length, channels), output as there."""

    def __init__(
        self,
        depth: int,
        stream: bool = False,
        inverse: bool = False,
        scalar_term: bool = False,
        *,
        basepoint: Union[bool, Tensor] = False,
        time_aug: bool = False,
        lead_lag: bool = False,
        end_time: float = 1.0,
        window: Optional[tuple[int, int]] = None,
        windows: Any = None,
    ):
        super().__init__()
        self.depth = validation.depth(depth)
        self.stream = validation.boolean("stream", stream)
        self.inverse = validation.boolean("inverse", inverse)
        self.scalar_term = validation.boolean("scalar_term", scalar_term)
        validation.basepoint(basepoint)
        self.basepoint = basepoint
        self.transform = transforms.options(time_aug, lead_lag, end_time)
        self.window, self.windows = window, windows

    def forward(
        self,
        path: Tensor,
        basepoint: Union[bool, Tensor, None] = None,
        initial: Optional[Tensor] = None,
        lengths: Any = None,
    ) -> Tensor:
        """``basepoint`` None: the one given to the constructor (Signatory's documented
        examples pass ``Signature(depth, basepoint=True)``)."""
        return signature(
            path,
            self.depth,
            stream=self.stream,
            basepoint=self.basepoint if basepoint is None else basepoint,
            inverse=self.inverse,
            initial=initial,
            scalar_term=self.scalar_term,
            time_aug=self.transform.time_aug,
            lead_lag=self.transform.lead_lag,
            end_time=self.transform.end_time,
            lengths=lengths,
            window=self.window,
            windows=self.windows,
        )

    def extra_repr(self) -> str:
        extra = "".join(
            f", {name}={value!r}"
            for name, value, default in (
                ("time_aug", self.transform.time_aug, False),
                ("lead_lag", self.transform.lead_lag, False),
                ("end_time", self.transform.end_time, 1.0),
                ("window", self.window, None),
            )
            if value != default  # each against its own default (True == 1.0)
        )
        return (
            f"depth={self.depth}, stream={self.stream}, inverse={self.inverse}, "
            f"scalar_term={self.scalar_term}{extra}"
        )
