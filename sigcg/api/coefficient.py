"""``signature_coefficient``: a few chosen signature terms without the whole signature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra import lyndon
from ..algebra.lyndon import word_to_index
from ..algebra.tensor import compile_constant
from ..runtime import has_kernel
from . import transforms
from .signature import prepare_path, signature

ArrayLike = Union[Tensor, np.ndarray]


_word_tables: dict = {}


@compile_constant
def _word_table(words: tuple[tuple[int, ...], ...], channels: int):
    """Every prefix of the words, longest first, with letters and prefix rows (the
    signature_words kernel's tables), and the table row of each requested word."""
    key = (words, channels)
    if key in _word_tables:
        return _word_tables[key]
    if len(_word_tables) > 256:
        _word_tables.clear()
    depth = max(len(w) for w in words)
    nodes = sorted({w[:j] for w in words for j in range(1, len(w) + 1)}, key=lambda w: (-len(w), w))
    row = {w: i for i, w in enumerate(nodes)}
    length = np.array([len(w) for w in nodes], dtype=np.int32)
    letter = np.zeros((len(nodes), depth), dtype=np.int32)
    prefix = np.zeros((len(nodes), depth), dtype=np.int32)
    for i, w in enumerate(nodes):
        letter[i, : len(w)] = w
        prefix[i, : len(w) - 1] = [row[w[:j]] for j in range(1, len(w))]
    tables = tuple(torch.from_numpy(a) for a in (length, letter, prefix))
    _word_tables[key] = depth, tables, torch.tensor([row[w] for w in words])
    return _word_tables[key]


def _normalise_words(words, channels: int) -> tuple[tuple[int, ...], ...]:
    if isinstance(words, (str, bytes)) or not isinstance(words, Sequence) or len(words) == 0:
        raise ValueError(
            f"words must name at least one word (a sequence of letters), got {words!r}"
        )
    return tuple(lyndon.check_word(w, channels, "words") for w in words)


def signature_coefficient(
    path: ArrayLike,
    words: Sequence[Sequence[int]],
    basepoint: Union[bool, ArrayLike] = False,
    *,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
) -> ArrayLike:
    """Signature coefficients of ``words`` only.

    Args:
        path: (batch, length, channels) or (length, channels), torch or NumPy.
        words: a sequence of words, each a sequence of letters in [0, channels); word
            (i1, ..., ik) is the iterated integral with dX^{i1} first.
        basepoint: as in :func:`sigcg.signature`.
        time_aug, lead_lag, end_time: as in :func:`sigcg.signature`; the words' letters are the
            transformed channels (lead-lag: lag 0..C-1, lead C..2C-1; time last).

    Returns:
        (batch, len(words)), or (len(words),) for an unbatched path.  Computes the words and
        their prefixes, not the whole signature, so long words over many channels stay cheap.
        With autograd, and for CUDA tensors, it computes the full signature up to the longest
        word instead (exact gradients through the signature's backward kernel; on a GPU the
        words-only kernel would leave most of the device idle).
    """
    x, _, numpy_out, unbatched = prepare_path(path, 1, basepoint)
    transform = transforms.options(time_aug, lead_lag, end_time)
    x = transforms.augment_path(x, transform)  # the words kernel reads points
    channels = x.shape[2]
    words = _normalise_words(words, channels)
    depth, tables, rows = _word_table(words, channels)
    if (torch.is_grad_enabled() and x.requires_grad) or not has_kernel("signature_words", x):
        index = torch.as_tensor([word_to_index(w, channels) for w in words], device=x.device)
        result = signature(x, depth).index_select(-1, index)
    else:
        result = ops.signature_words(x, depth, *tables).index_select(-1, rows)
    if unbatched:
        result = result[0]
    return result.detach().numpy() if numpy_out else result
