"""Small tensor-algebra helpers applied around the kernels with ordinary torch ops."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..codegen import signature_channels


@functools.cache
def _antipode_table(channels: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    perm, sign = [], []
    offset = 0
    for k in range(1, depth + 1):
        size = channels**k
        reversed_words = np.arange(size).reshape((channels,) * k).transpose().ravel()
        perm.append(offset + reversed_words)
        sign.append(np.full(size, -1.0 if k % 2 else 1.0))
        offset += size
    return np.concatenate(perm), np.concatenate(sign)


def compile_constant(fn):
    """Mark a table-building function so that torch.compile calls it once while tracing and
    bakes its result into the graph (what torch.compiler.assume_constant_result does, without
    importing torch._dynamo when sigcg is imported).  Only for functions of constant arguments
    (sizes, dtypes, devices) that return the same tables every time."""
    fn._dynamo_marked_constant = True
    return fn


_device_tables: dict = {}


@compile_constant
def _antipode_tensors(
    channels: int, depth: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    key = (channels, depth, dtype, device)
    tables = _device_tables.get(key)
    if tables is None:
        perm, sign = _antipode_table(channels, depth)
        tables = (
            torch.as_tensor(perm, device=device),
            torch.as_tensor(sign, dtype=dtype, device=device),
        )
        _device_tables[key] = tables
    return tables


def antipode(sig: torch.Tensor, channels: int, depth: int) -> torch.Tensor:
    """The antipode α: level k -> (-1)^k times level k with every word reversed.

    α is an involutive anti-automorphism of the tensor algebra, so α(S) = S^{-1} for a signature
    and α(A ⊗ B) = α(B) ⊗ α(A).  ``sig``: (..., signature_channels(channels, depth)), no scalar.
    """
    perm, sign = _antipode_tensors(channels, depth, sig.dtype, sig.device)
    return sig.index_select(-1, perm) * sign


def level_slice(channels: int, depth: int, level: int, scalar_term: bool = False) -> slice:
    start = signature_channels(channels, level - 1) + (1 if scalar_term else 0)
    return slice(start, start + channels**level)
