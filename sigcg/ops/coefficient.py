"""Signature coefficients of a prefix-closed table of words (forward only: gradients go through
the full signature, see sigcg.api.coefficient)."""

from __future__ import annotations

from torch import Tensor

from ..runtime import launch
from .base import TorchOp, contiguous, empty


def _forward(
    path: Tensor, depth: int, lengths: Tensor, letters: Tensor, prefixes: Tensor
) -> Tensor:
    """path (B, L, d) -> (B, nodes): the coefficient of every word of the table (``lengths``
    (nodes,), ``letters`` and ``prefixes`` (nodes, depth), int32, longest words first)."""
    path = contiguous(path)
    batch, length, d = path.shape
    nodes = lengths.shape[0]
    out = empty((batch, nodes), path)
    launch(
        "signature_words",
        "signature_words",
        d,
        depth,
        dict(
            path=path,
            out=out,
            batch=batch,
            length=length,
            nodes=nodes,
            len=lengths,
            letter=contiguous(letters),
            prefix=contiguous(prefixes),
        ),
        like=path,
        steps=(length - 1) * nodes,
    )
    return out


signature_words = TorchOp(
    "signature_words",
    _forward,
    lambda path, depth, lengths, letters, prefixes: path.new_empty(
        (path.shape[0], lengths.shape[0])
    ),
)

__all__ = ["signature_words"]
