"""Combining signatures with Chen's identity (Signatory 1.2 semantics), torch or NumPy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..codegen import signature_channels
from . import validation

ArrayLike = Union[Tensor, np.ndarray]


def _prepare(tensors, input_channels: int, depth: int, scalar_term: bool, what: str):
    """Tensors (batch, S) or (S,) -> contiguous (batch, sig) without scalar term, and the
    function that undoes that on the result."""
    numpy_out = isinstance(tensors[0], np.ndarray)
    tensors = [
        torch.from_numpy(np.ascontiguousarray(t)) if isinstance(t, np.ndarray) else t
        for t in tensors
    ]
    validation.check_depth(depth)
    if (
        isinstance(input_channels, bool)
        or not isinstance(input_channels, int)
        or input_channels < 1
    ):
        raise ValueError(f"input_channels must be an integer >= 1, got {input_channels!r}")
    width = signature_channels(input_channels, depth) + (1 if scalar_term else 0)
    first = tensors[0]
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{what}[{i}] must be a torch.Tensor or numpy.ndarray, got {type(t).__name__}"
            )
        validation.check_float(f"{what}[{i}]", t)
        validation.check_same(f"{what}[{i}]", t, first)
        if t.shape != first.shape:
            raise ValueError(
                f"{what}[{i}] has shape {tuple(t.shape)} but {what}[0] has "
                f"{tuple(first.shape)}; they must match"
            )
        if t.ndim not in (1, 2) or t.shape[-1] != width:
            raise ValueError(
                f"{what}[{i}] must have shape (batch, {width}) or ({width},) for "
                f"{input_channels} channels at depth {depth}"
                f"{' with the scalar term' if scalar_term else ''}, got {tuple(t.shape)}"
            )
    unbatched = first.ndim == 1
    tensors = [(t[None] if unbatched else t) for t in tensors]
    tensors = [(t[:, 1:] if scalar_term else t).contiguous() for t in tensors]

    def finish(result: Tensor) -> ArrayLike:
        if scalar_term:
            result = torch.cat([result.new_ones(result.shape[0], 1), result], dim=1)
        if unbatched:
            result = result[0]
        return result.numpy() if numpy_out else result

    return tensors, finish


def signature_combine(
    sigtensor1: ArrayLike,
    sigtensor2: ArrayLike,
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> ArrayLike:
    """The signature of path1 followed by path2 from their signatures: S1 ⊗ S2.

    ``sigtensor1``, ``sigtensor2``: (batch, S) or (S,) with S = signature_channels(input_channels,
    depth, scalar_term).  With ``inverse`` both are inverse signatures and so is the result,
    S2^{-1} ⊗ S1^{-1} = (S1 ⊗ S2)^{-1}.  Differentiable with respect to both.  Returns (batch, S).
    """
    return multi_signature_combine(
        [sigtensor1, sigtensor2], input_channels, depth, inverse, scalar_term
    )


def multi_signature_combine(
    sigtensors: Sequence[ArrayLike],
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> ArrayLike:
    """S1 ⊗ S2 ⊗ ... ⊗ Sk for a list of signatures of consecutive paths, each (batch, S) or (S,)
    (inverse signatures with ``inverse``: the result is the inverse signature of the whole)."""
    if len(sigtensors) < 1:
        raise ValueError("multi_signature_combine needs at least one signature")
    tensors, finish = _prepare(list(sigtensors), input_channels, depth, scalar_term, "sigtensors")
    if inverse:
        tensors = tensors[::-1]
    result = tensors[0]
    for t in tensors[1:]:
        result = ops.tensor_product(result, t, input_channels, depth)
    return finish(result)


def signature_combine_backward(
    grad: ArrayLike,
    sigtensor1: ArrayLike,
    sigtensor2: ArrayLike,
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> tuple[ArrayLike, ArrayLike]:
    """(dF/dS1, dF/dS2) from ``grad`` = dF/d(signature_combine(S1, S2)), for use outside autograd.

    All arguments (batch, S) or (S,), torch or NumPy (as ``sigtensor1``).  With ``scalar_term`` the
    scalar column of each returned gradient is 0 (the scalar of a signature is fixed at 1).
    """
    (g, a, b), finish = _prepare(
        [grad, sigtensor1, sigtensor2], input_channels, depth, scalar_term, "arguments"
    )
    if inverse:
        a, b = b, a
    with torch.no_grad():
        grad_a, grad_b = ops.tensor_product_backward(a, b, g, input_channels, depth)
    if inverse:
        grad_a, grad_b = grad_b, grad_a
    if scalar_term:  # finish() would put a 1 there; the gradient of a constant is 0
        return _zero_scalar(finish(grad_a)), _zero_scalar(finish(grad_b))
    return finish(grad_a), finish(grad_b)


def _zero_scalar(x: ArrayLike) -> ArrayLike:
    x[..., 0] = 0
    return x


def signature_join(sigtensor: ArrayLike, increments: ArrayLike, depth: int) -> ArrayLike:
    """Extend signatures by straight segments: S ⊗ exp(Δ_1) ⊗ ... ⊗ exp(Δ_k) (iisignature's
    sigjoin).  ``sigtensor`` (batch, S) without scalar term; ``increments`` (batch, channels) for
    one segment or (batch, k, channels) for k in a row.  Differentiable in both; (batch, S)."""
    from .signature import signature

    numpy_out = isinstance(sigtensor, np.ndarray)
    sig = torch.from_numpy(np.ascontiguousarray(sigtensor)) if numpy_out else sigtensor
    inc = (
        torch.from_numpy(np.ascontiguousarray(increments))
        if isinstance(increments, np.ndarray)
        else increments
    )
    if not isinstance(inc, Tensor) or inc.ndim not in (2, 3):
        raise ValueError("increments must be a (batch, channels) or (batch, k, channels) array")
    if inc.ndim == 2:
        inc = inc[:, None]
    points = torch.cat([inc.new_zeros(inc.shape[0], 1, inc.shape[2]), inc.cumsum(1)], dim=1)
    result = signature(points, depth, initial=sig)
    return result.numpy() if numpy_out else result


def signature_scale(sigtensor: ArrayLike, scales: ArrayLike, depth: int) -> ArrayLike:
    """The signature of the path with channel c multiplied by ``scales[:, c]``: the coefficient
    of word (i1..ik) is multiplied by scales[i1] ... scales[ik] (iisignature's sigscale).
    ``sigtensor`` (batch, S) without scalar term, ``scales`` (batch, channels).  Differentiable."""
    numpy_out = isinstance(sigtensor, np.ndarray)
    sig = torch.from_numpy(np.ascontiguousarray(sigtensor)) if numpy_out else sigtensor
    lam = (
        torch.from_numpy(np.ascontiguousarray(scales)) if isinstance(scales, np.ndarray) else scales
    )
    if not isinstance(lam, Tensor) or lam.ndim != 2 or lam.shape[0] != sig.shape[0]:
        raise ValueError("scales must be a (batch, channels) array matching the signatures' batch")
    batch, channels = lam.shape
    if sig.shape[-1] != signature_channels(channels, depth):
        raise ValueError(
            f"sigtensor must have {signature_channels(channels, depth)} terms for "
            f"{channels} channels at depth {depth}, got {sig.shape[-1]}"
        )
    factors, level = [], lam.new_ones(batch, 1)
    for _ in range(depth):  # level k: all products scales[i1] ... scales[ik], in word order
        level = (level[:, :, None] * lam[:, None, :]).reshape(batch, -1)
        factors.append(level)
    result = sig * torch.cat(factors, dim=1)
    return result.numpy() if numpy_out else result
