"""Log-signatures (Signatory 1.2 semantics): modes "words", "brackets", "expand", plus "hall"."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra import lyndon
from ..algebra.tensor import compile_constant
from ..codegen import signature_channels
from ..runtime import has_kernel
from . import chunking, transforms, validation
from .signature import prepare_path, signature
from .validation import ArrayT, like_input

ArrayLike = Union[Tensor, np.ndarray]
MODES = ("words", "brackets", "hall", "expand")

_tables: dict = {}
_BASIS = {"brackets": "lyndon", "hall": "hall"}


@compile_constant
def _index(channels: int, depth: int, device: torch.device) -> Tensor:
    """Signature positions of the Lyndon words ("words" mode)."""
    key = ("words", channels, depth, device)
    if key not in _tables:
        _tables[key] = torch.as_tensor(lyndon.words_index(channels, depth), device=device)
    return _tables[key]


@compile_constant
def _map(
    table: str, basis: str, channels: int, depth: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, int]:
    """One of lyndon.py's sparse maps as (output positions, input positions, coefficients,
    output size), on ``device``."""
    key = (table, basis, channels, depth, dtype, device)
    if key not in _tables:
        out_idx, in_idx, coef = getattr(lyndon, table)(channels, depth, basis)
        size = {
            "expanded_to_basis": lyndon.logsignature_channels(channels, depth),
            "words_to_basis": lyndon.logsignature_channels(channels, depth),
            "basis_to_expanded": signature_channels(channels, depth),
        }[table]
        _tables[key] = (
            torch.as_tensor(out_idx, device=device),
            torch.as_tensor(in_idx, device=device),
            torch.as_tensor(coef, dtype=dtype, device=device),
            size,
        )
    return _tables[key]


def _apply(table: str, mode: str, x: Tensor, channels: int, depth: int) -> Tensor:
    """(rows, in) -> (rows, out) through a sparse map of lyndon.py (under 1% dense): gather,
    scale, scatter-add, which autograd differentiates to any order and torch.compile traces."""
    out_idx, in_idx, coef, size = _map(table, _BASIS[mode], channels, depth, x.dtype, x.device)
    return x.new_zeros(x.shape[0], size).index_add(1, out_idx, x.index_select(1, in_idx) * coef)


def logsignature_channels(
    in_channels: Optional[int] = None,
    depth: Optional[int] = None,
    *,
    channels: Optional[int] = None,
) -> int:
    """Size of the log-signature of ``in_channels`` channels at ``depth`` (the free Lie algebra
    truncated there; Witt's formula).  ``in_channels`` is Signatory's name; ``channels=`` is
    accepted too."""
    if channels is not None:
        if in_channels is not None:
            raise TypeError("logsignature_channels: give in_channels or channels, not both")
        in_channels, name = channels, "channels"
    else:
        name = "in_channels"
    if in_channels is None or depth is None:
        raise TypeError("logsignature_channels needs in_channels and depth")
    count = validation.integer(name, in_channels, 1)
    return lyndon.logsignature_channels(count, validation.integer("depth", depth, 1))


def _check_mode(mode: str) -> str:
    return validation.choice("mode", mode, MODES)


def _check_basis(mode: str, channels: int, depth: int) -> None:
    """Refuse, before building anything, a basis too large to build here."""
    if mode != "expand":
        lyndon.check_basis("hall" if mode == "hall" else "lyndon", channels, depth)


def _project(expanded: Tensor, channels: int, depth: int, mode: str) -> Tensor:
    """(rows, sig) tensor logarithms -> the requested coordinates."""
    if mode == "expand":
        return expanded
    if mode == "words":
        return expanded.index_select(-1, _index(channels, depth, expanded.device))
    return _apply("expanded_to_basis", mode, expanded, channels, depth)


def signature_to_logsignature(
    signature: ArrayT,
    channels: int,
    depth: int,
    stream: bool = False,
    mode: str = "words",
    scalar_term: bool = False,
) -> ArrayT:
    """Log-signature from a signature: (..., S) -> (..., L).

    ``signature``: (batch, S), or (batch, length, S) with ``stream``, S = signature_channels(
    channels, depth, scalar_term).  L = logsignature_channels(channels, depth) for "words" and
    "brackets" (coefficients of the Lyndon words in the expanded log / in the Lyndon basis) and
    "hall" (in the Hall basis of esig/RoughPy/iisignature's "H", see sigcg.hall_basis), S
    without the scalar for "expand" (the tensor logarithm itself).  Differentiable.
    """
    mode = _check_mode(mode)
    sig, numpy_out = validation.float_tensor("signature", signature)
    channels = validation.channels(channels)
    depth = validation.depth(depth)
    stream = validation.boolean("stream", stream)
    scalar_term = validation.boolean("scalar_term", scalar_term)
    _check_basis(mode, channels, depth)
    width = signature_channels(channels, depth) + (1 if scalar_term else 0)
    if sig.ndim != (3 if stream else 2) or sig.shape[-1] != width:
        expected = "(batch, length, S)" if stream else "(batch, S)"
        raise ValueError(
            f"signature must have shape {expected} with S = {width} for {channels} "
            f"channels at depth {depth}, got {tuple(sig.shape)}"
        )
    lead = sig.shape[:-1]
    flat = sig.reshape(-1, width)
    if scalar_term:
        flat = flat[:, 1:]
    expanded = ops.tensor_log(flat.contiguous(), channels, depth)
    result = _project(expanded, channels, depth, mode)
    result = result.reshape(*lead, result.shape[-1])
    return like_input(result, numpy_out)


def logsignature(
    path: ArrayT,
    depth: int,
    stream: bool = False,
    basepoint: Union[bool, ArrayLike] = False,
    inverse: bool = False,
    mode: str = "words",
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    lengths: Any = None,
    window: Optional[tuple[int, int]] = None,
    windows: Any = None,
) -> ArrayT:
    """The log-signature of a batch of paths: ``signature`` then the tensor logarithm.

    Arguments as :func:`sigcg.signature` (transforms, ``lengths``, ``window``/``windows``
    included); ``mode`` as :func:`signature_to_logsignature`.  Returns (batch, L), (batch,
    length', L) with ``stream``, or (batch, W, L) with windows; unbatched input drops the batch.
    """
    mode = _check_mode(mode)
    x, depth, numpy_out, unbatched = prepare_path(path, depth, basepoint)
    stream = validation.boolean("stream", stream)
    inverse = validation.boolean("inverse", inverse)
    transform = transforms.options(time_aug, lead_lag, end_time)
    batch, length, channels = x.shape
    out_channels = transform.channels(channels)
    _check_basis(mode, out_channels, depth)
    extras = transform.active or lengths is not None or window is not None or windows is not None
    # Lyndon coordinates need only the Lyndon words of the top level (a CPU kernel); batches too
    # small to fill the machine are cut into pieces, which need the full signature.
    if (
        not extras
        and mode != "expand"
        and not stream
        and depth >= 2
        and channels >= 2
        and has_kernel("logsignature_words", x)
        and chunking.pieces_for(x, depth) == 1
    ):
        result = _logsignature_from_lyndon_top(x, depth, inverse, mode)
    else:
        # the path as given (its basepoint and lengths go to signature as they are)
        sig = signature(
            validation.tensor("path", path)[0] if extras else x,
            depth,
            stream=stream,
            basepoint=basepoint if extras else False,
            inverse=inverse,
            time_aug=transform.time_aug,
            lead_lag=transform.lead_lag,
            end_time=transform.end_time,
            lengths=lengths,
            window=window,
            windows=windows,
        )
        if extras and unbatched:
            sig = sig.unsqueeze(0)
        rows = sig.ndim == 3
        result = signature_to_logsignature(sig, out_channels, depth, stream=rows, mode=mode)
    if unbatched:
        result = result[0]
    return like_input(result, numpy_out)


def logsignature_to_signature(
    logsignature: ArrayT,
    channels: int,
    depth: int,
    mode: str = "words",
    stream: bool = False,
    scalar_term: bool = False,
) -> ArrayT:
    """The signature whose log-signature is given: the inverse of
    :func:`signature_to_logsignature` (the tensor exponential of the Lie element).

    ``logsignature``: (batch, L), or (batch, length, L) with ``stream``, in ``mode``'s
    coordinates.  Returns (batch, S) / (batch, length, S), S = signature_channels(channels, depth,
    scalar_term).  Differentiable.
    """
    mode = _check_mode(mode)
    x, numpy_out = validation.float_tensor("logsignature", logsignature)
    channels = validation.channels(channels)
    depth = validation.depth(depth)
    stream = validation.boolean("stream", stream)
    scalar_term = validation.boolean("scalar_term", scalar_term)
    _check_basis(mode, channels, depth)
    width = (
        signature_channels(channels, depth)
        if mode == "expand"
        else lyndon.logsignature_channels(channels, depth)
    )
    if x.ndim != (3 if stream else 2) or x.shape[-1] != width:
        expected = "(batch, length, L)" if stream else "(batch, L)"
        raise ValueError(
            f"logsignature must have shape {expected} with L = {width} for mode "
            f"{mode!r}, {channels} channels, depth {depth}; got {tuple(x.shape)}"
        )
    lead = x.shape[:-1]
    flat = x.reshape(-1, width)
    if mode in _BASIS:
        flat = _apply("basis_to_expanded", mode, flat, channels, depth)
    elif mode == "words":  # words -> Lyndon basis -> expanded Lie element
        flat = _apply(
            "basis_to_expanded",
            "brackets",
            _apply("words_to_basis", "brackets", flat, channels, depth),
            channels,
            depth,
        )
    result = ops.tensor_exp(flat.contiguous(), channels, depth)
    if scalar_term:
        result = torch.cat([result.new_ones(result.shape[0], 1), result], dim=1)
    result = result.reshape(*lead, result.shape[-1])
    return like_input(result, numpy_out)


class LogSignature(torch.nn.Module):
    """:func:`logsignature` as a module: ``LogSignature(depth, stream, inverse, mode, *,
    time_aug, lead_lag, end_time, window, windows)(path, basepoint=False, lengths=None)``."""

    def __init__(
        self,
        depth: int,
        stream: bool = False,
        inverse: bool = False,
        mode: str = "words",
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
        self.mode = _check_mode(mode)
        validation.basepoint(basepoint)
        self.basepoint = basepoint
        self.transform = transforms.options(time_aug, lead_lag, end_time)
        self.window, self.windows = window, windows

    def prepare(self, in_channels: int) -> None:
        """Build now what the first call for paths of ``in_channels`` channels would (the basis
        tables of the mode, the CPU kernels of both dtypes), e.g. before timing it.  Returns
        nothing, as in Signatory."""
        in_channels = validation.integer("in_channels", in_channels, 1)
        channels = self.transform.channels(in_channels)
        _check_basis(self.mode, channels, self.depth)
        path = torch.zeros(1, 2, in_channels, dtype=torch.float64)
        for dtype in (torch.float64, torch.float32):
            self(path.to(dtype))

    def forward(
        self, path: Tensor, basepoint: Union[bool, Tensor, None] = None, lengths: Any = None
    ) -> Tensor:
        """``basepoint`` None: the one given to the constructor."""
        return logsignature(
            path,
            self.depth,
            stream=self.stream,
            basepoint=self.basepoint if basepoint is None else basepoint,
            inverse=self.inverse,
            mode=self.mode,
            time_aug=self.transform.time_aug,
            lead_lag=self.transform.lead_lag,
            end_time=self.transform.end_time,
            lengths=lengths,
            window=self.window,
            windows=self.windows,
        )

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, stream={self.stream}, inverse={self.inverse}, mode={self.mode!r}"
        )


class SignatureToLogSignature(torch.nn.Module):
    """:func:`signature_to_logsignature` as a module."""

    def __init__(
        self,
        channels: int,
        depth: int,
        stream: bool = False,
        mode: str = "words",
        scalar_term: bool = False,
    ):
        super().__init__()
        self.channels = validation.channels(channels)
        self.depth = validation.depth(depth)
        self.stream = validation.boolean("stream", stream)
        self.mode = _check_mode(mode)
        self.scalar_term = validation.boolean("scalar_term", scalar_term)
        _check_basis(self.mode, self.channels, self.depth)

    def forward(self, signature: Tensor) -> Tensor:
        return signature_to_logsignature(
            signature, self.channels, self.depth, self.stream, self.mode, self.scalar_term
        )

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, depth={self.depth}, stream={self.stream}, "
            f"mode={self.mode!r}, scalar_term={self.scalar_term}"
        )


def _logsignature_from_lyndon_top(x: Tensor, depth: int, inverse: bool, mode: str) -> Tensor:
    """Log-signature in Lyndon coordinates without the whole signature: level N of log S at a
    word is S_N there plus products of lower levels, so only the Lyndon words of S_N are
    computed (templates/logsignature_words.c.j2), and the logarithm runs in the same kernel."""
    batch, _, channels = x.shape
    validation.signature_width(batch, 1, channels, depth, x.element_size())
    if mode != "words" and not ops.needs_autograd(x):  # change of basis inside the kernel
        coords = ops.logsignature_in_basis(
            x, depth, *_projection(_BASIS[mode], channels, depth, x.dtype)
        )
        return -coords if inverse else coords
    words = ops.logsignature_words(x, depth)[0]
    if inverse:  # log(S^-1) = -log(S)
        words = -words
    return words if mode == "words" else _apply("words_to_basis", mode, words, channels, depth)


def _projection(basis: str, channels: int, depth: int, dtype) -> tuple[Tensor, Tensor, Tensor]:
    """lyndon.words_to_basis as (int32, int32, dtype) tensors for the kernel."""
    key = ("projection", basis, channels, depth, dtype)
    if key not in _tables:
        out_idx, in_idx, coef = lyndon.words_to_basis(channels, depth, basis)
        _tables[key] = (
            torch.as_tensor(out_idx, dtype=torch.int32),
            torch.as_tensor(in_idx, dtype=torch.int32),
            torch.as_tensor(coef, dtype=dtype),
        )
    return _tables[key]
