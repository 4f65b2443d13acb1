"""``signature_coefficient``: a few chosen signature terms without the whole signature."""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from torch import Tensor

from . import dispatch, validation
from .lyndon import word_to_index

ArrayLike = Union[Tensor, np.ndarray]


def _word_table(words: Sequence[Sequence[int]], channels: int):
    """Every prefix of the words, longest first, with letters and prefix rows (see the
    signature_words template), and the table row of each requested word."""
    words = [tuple(int(c) for c in w) for w in words]
    for w in words:
        word_to_index(w, channels)  # validates letters and emptiness
    depth = max(len(w) for w in words)
    nodes = sorted({w[:j] for w in words for j in range(1, len(w) + 1)},
                   key=lambda w: (-len(w), w))
    row = {w: i for i, w in enumerate(nodes)}
    length = np.array([len(w) for w in nodes], dtype=np.int32)
    letter = np.zeros((len(nodes), depth), dtype=np.int32)
    prefix = np.zeros((len(nodes), depth), dtype=np.int32)
    for i, w in enumerate(nodes):
        letter[i, :len(w)] = w
        prefix[i, :len(w) - 1] = [row[w[:j]] for j in range(1, len(w))]
    return depth, length, letter, prefix, [row[w] for w in words]


def signature_coefficient(path: ArrayLike, words: Sequence[Sequence[int]],
                          basepoint: Union[bool, ArrayLike] = False) -> ArrayLike:
    """Signature coefficients of ``words`` only: (batch, len(words)) for path (batch, length,
    channels), or (len(words),) for an unbatched path; word (i1, ..., ik) is the iterated
    integral with dX^{i1} first.  Computes the words and their prefixes, not the whole
    signature, so long words over many channels stay cheap.  With autograd, and for CUDA
    tensors, it computes the full signature instead (exact gradients through the signature's
    backward kernel).
    """
    from .signature import signature

    if not words:
        raise ValueError("words must name at least one word")
    numpy_out = isinstance(path, np.ndarray)
    x = torch.from_numpy(np.ascontiguousarray(path)) if numpy_out else path
    if isinstance(basepoint, np.ndarray):
        basepoint = torch.from_numpy(np.ascontiguousarray(basepoint))
    unbatched = isinstance(x, Tensor) and x.ndim == 2
    if unbatched:
        x = x[None]
        basepoint = basepoint[None] if isinstance(basepoint, Tensor) else basepoint
    validation.check_path(x, 1, basepoint)
    channels = x.shape[2]
    depth, length, letter, prefix, rows = _word_table(words, channels)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or (isinstance(basepoint, Tensor) and basepoint.requires_grad))
    # CUDA tensors take the full signature too: on a GPU the words-only kernel would leave most
    # of the device idle, and the full signature kernel is there already.
    if needs_grad or x.device.type != "cpu":
        index = torch.as_tensor([word_to_index(w, channels) for w in words], device=x.device)
        result = signature(x, depth, basepoint=basepoint).index_select(-1, index)
    else:
        if basepoint is True:
            x = torch.cat([x.new_zeros(x.shape[0], 1, channels), x], dim=1)
        elif isinstance(basepoint, Tensor):
            x = torch.cat([basepoint[:, None], x], dim=1)
        x = x.contiguous()
        batch, steps = x.shape[0], x.shape[1]
        kernel = dispatch.get_kernel("signature_words", channels, depth,
                                     str(x.dtype).removeprefix("torch."))
        table = torch.empty(batch, len(length), dtype=x.dtype)
        ffi, lib = kernel.ffi, kernel.lib
        tables = [ffi.from_buffer("int32_t[]", a) for a in (length, letter, prefix)]
        px, pout = kernel.ptr(x), kernel.ptr(table)
        dispatch.run_over_batch(
            lambda b0, b1: lib.sigcg_signature_words(px, pout, batch, steps, len(length),
                                                     *tables, b0, b1),
            batch, 1, depth * len(length) * batch * steps)
        result = table[:, rows]
    if unbatched:
        result = result[0]
    return result.detach().numpy() if numpy_out else result
