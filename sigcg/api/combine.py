"""Combining signatures with Chen's identity (Signatory 1.2 semantics), torch or NumPy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..codegen import signature_channels
from . import validation
from .validation import ArrayT, like_input

ArrayLike = Union[Tensor, np.ndarray]


def _prepare(
    named: list[tuple[str, ArrayLike]], input_channels: int, depth: int, scalar_term: bool
) -> tuple[list[Tensor], Callable[[Tensor], Any]]:
    """(name, tensor) pairs, each (batch, S) or (S,) -> contiguous (batch, sig) tensors without
    scalar term, and the function that undoes that on a result.  Call after the integer
    arguments have been validated (the callers pass them on to the kernels)."""
    numpy_out = isinstance(named[0][1], np.ndarray)
    input_channels = validation.channels(input_channels, "input_channels")
    depth = validation.depth(depth)
    scalar_term = validation.boolean("scalar_term", scalar_term)
    width = signature_channels(input_channels, depth) + (1 if scalar_term else 0)
    tensors = [validation.float_tensor(name, t)[0] for name, t in named]
    first_name, first = named[0][0], tensors[0]
    for (name, _), t in zip(named, tensors):
        validation.check_same(name, t, first, other=first_name)
        if t.ndim not in (1, 2) or t.shape[-1] != width:
            raise ValueError(
                f"{name} must have shape (batch, {width}) or ({width},) for "
                f"{input_channels} channels at depth {depth}"
                f"{' with the scalar term' if scalar_term else ''}, got {tuple(t.shape)}"
            )
        if t.shape != first.shape:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but {first_name} has "
                f"{tuple(first.shape)}; they must match"
            )
    unbatched = first.ndim == 1
    tensors = [(t[None] if unbatched else t) for t in tensors]
    tensors = [(t[:, 1:] if scalar_term else t).contiguous() for t in tensors]

    def finish(result: Tensor) -> Any:
        if scalar_term:
            result = torch.cat([result.new_ones(result.shape[0], 1), result], dim=1)
        if unbatched:
            result = result[0]
        return like_input(result, numpy_out)

    return tensors, finish


def signature_combine(
    sigtensor1: ArrayT,
    sigtensor2: ArrayLike,
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> ArrayT:
    """The signature of path1 followed by path2 from their signatures: S1 ⊗ S2.

    ``sigtensor1``, ``sigtensor2``: (batch, S) or (S,) with S = signature_channels(input_channels,
    depth, scalar_term).  With ``inverse`` both are inverse signatures and so is the result,
    S2^{-1} ⊗ S1^{-1} = (S1 ⊗ S2)^{-1}.  Differentiable with respect to both.  Returns (batch, S).
    """
    inverse = validation.boolean("inverse", inverse)
    input_channels = validation.channels(input_channels, "input_channels")
    depth = validation.depth(depth)
    (a, b), finish = _prepare(
        [("sigtensor1", sigtensor1), ("sigtensor2", sigtensor2)], input_channels, depth, scalar_term
    )
    if inverse:
        a, b = b, a
    return finish(ops.tensor_product(a, b, input_channels, depth))


def multi_signature_combine(
    sigtensors: Sequence[ArrayT],
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> ArrayT:
    """S1 ⊗ S2 ⊗ ... ⊗ Sk for a list of signatures of consecutive paths, each (batch, S) or (S,)
    (inverse signatures with ``inverse``: the result is the inverse signature of the whole)."""
    if isinstance(sigtensors, (torch.Tensor, np.ndarray, str)) or not isinstance(
        sigtensors, Sequence
    ):
        raise TypeError(f"sigtensors must be a list of signatures, got {type(sigtensors).__name__}")
    if len(sigtensors) < 1:
        raise ValueError("sigtensors must hold at least one signature")
    inverse = validation.boolean("inverse", inverse)
    input_channels = validation.channels(input_channels, "input_channels")
    depth = validation.depth(depth)
    tensors, finish = _prepare(
        [(f"sigtensors[{i}]", t) for i, t in enumerate(sigtensors)],
        input_channels,
        depth,
        scalar_term,
    )
    if inverse:
        tensors = tensors[::-1]
    result = tensors[0]
    for t in tensors[1:]:
        result = ops.tensor_product(result, t, input_channels, depth)
    return finish(result)


def signature_combine_backward(
    grad: ArrayT,
    sigtensor1: ArrayLike,
    sigtensor2: ArrayLike,
    input_channels: int,
    depth: int,
    inverse: bool = False,
    scalar_term: bool = False,
) -> tuple[ArrayT, ArrayT]:
    """(dF/dS1, dF/dS2) from ``grad`` = dF/d(signature_combine(S1, S2)), for use outside autograd.

    All arguments (batch, S) or (S,), torch or NumPy (as ``sigtensor1``).  With ``scalar_term`` the
    scalar column of each returned gradient is 0 (the scalar of a signature is fixed at 1).
    """
    inverse = validation.boolean("inverse", inverse)
    input_channels = validation.channels(input_channels, "input_channels")
    depth = validation.depth(depth)
    (g, a, b), finish = _prepare(
        [("grad", grad), ("sigtensor1", sigtensor1), ("sigtensor2", sigtensor2)],
        input_channels,
        depth,
        scalar_term,
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


def _zero_scalar(x: Any) -> Any:
    x[..., 0] = 0
    return x


def signature_join(sigtensor: ArrayT, increments: ArrayLike, depth: int) -> ArrayT:
    """Extend signatures by straight segments: S ⊗ exp(Δ_1) ⊗ ... ⊗ exp(Δ_k) (iisignature's
    sigjoin).  ``sigtensor`` (batch, S) without scalar term; ``increments`` (batch, channels) for
    one segment or (batch, k, channels) for k in a row.  Differentiable in both; (batch, S)."""
    from .signature import signature

    sig, numpy_out = validation.float_tensor("sigtensor", sigtensor)
    inc, _ = validation.float_tensor("increments", increments)
    checked_depth = validation.depth(depth)
    if inc.ndim not in (2, 3):
        raise ValueError(
            f"increments must have shape (batch, channels) or (batch, k, "
            f"channels), got {tuple(inc.shape)}"
        )
    if inc.ndim == 2:
        inc = inc[:, None]
    validation.check_same("increments", inc, sig, other="sigtensor")
    width = signature_channels(inc.shape[2], checked_depth)
    if sig.ndim != 2 or sig.shape != (inc.shape[0], width):
        raise ValueError(
            f"sigtensor must have shape (batch, {width}) for {inc.shape[2]} "
            f"channels at depth {checked_depth} and the increments' batch "
            f"{inc.shape[0]}, got {tuple(sig.shape)}"
        )
    # The path 0, inc_1, inc_1 + inc_2, ... continues from the end of sig's path (zero basepoint).
    return like_input(
        signature(inc.cumsum(1), checked_depth, basepoint=True, initial=sig), numpy_out
    )


def signature_scale(sigtensor: ArrayT, scales: ArrayLike, depth: int) -> ArrayT:
    """The signature of the path with channel c multiplied by ``scales[:, c]``: the coefficient
    of word (i1..ik) is multiplied by scales[i1] ... scales[ik] (iisignature's sigscale).
    ``sigtensor`` (batch, S) without scalar term, ``scales`` (batch, channels).  Differentiable."""
    sig, numpy_out = validation.float_tensor("sigtensor", sigtensor)
    lam, _ = validation.float_tensor("scales", scales)
    depth = validation.depth(depth)
    validation.check_same("scales", lam, sig, other="sigtensor")
    if lam.ndim != 2:
        raise ValueError(f"scales must have shape (batch, channels), got {tuple(lam.shape)}")
    batch, channels = lam.shape
    width = signature_channels(channels, depth)
    if sig.ndim == 2 and sig.shape[0] != batch:
        raise ValueError(
            f"sigtensor and scales must have the same batch size, got {sig.shape[0]} and {batch}"
        )
    if sig.ndim != 2 or sig.shape != (batch, width):
        raise ValueError(
            f"sigtensor must have shape (batch, {width}) = {(batch, width)} for "
            f"{channels} channels (the scales' second axis) at depth {depth}, got "
            f"{tuple(sig.shape)}"
        )
    factors, level = [], lam.new_ones(batch, 1)
    for _ in range(depth):  # level k: all products scales[i1] ... scales[ik], in word order
        level = (level[:, :, None] * lam[:, None, :]).reshape(batch, -1)
        factors.append(level)
    return like_input(sig * torch.cat(factors, dim=1), numpy_out)
