"""Small batches of long paths: cut each path into pieces, sign the pieces in parallel, multiply.

The signature kernels parallelise over paths: a CPU kernel advances one path per SIMD lane, a
CUDA kernel one path per block.  A batch smaller than the machine's parallel width leaves lanes,
cores or SMs idle however long the paths are.  Chen's identity removes the limit:

    S(x_0 .. x_L) = S(piece_1) ⊗ S(piece_2) ⊗ ... ⊗ S(piece_C),

with consecutive pieces sharing their end points.  The C pieces of every path go to the kernel
as one batch of batch * C paths, and the C signatures are multiplied in a tree of log2(C)
rounds of batched tensor products.  Everything is built from the differentiable ops, so
gradients need nothing extra.

Cost model (op counts of codegen.counts): one product costs about N - 1 path steps, and a tree
of C pieces does C - 1 products, so pieces of at least MIN_PIECE_STEPS steps keep the extra work
to a few percent while the parallel width grows C times.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import ops
from ..codegen.counts import horner_fmas
from ..codegen.schedule import BLOCKS_PER_SM
from ..codegen.spec import DEFAULT_VECTOR_BYTES
from ..runtime import threads

# Steps per piece at least: the products of the tree then cost < 10% of the signature for any
# depth up to 8 (a product ~ N - 1 steps, and C - 1 of them for C pieces of >= 64 steps).
MIN_PIECE_STEPS = 64
# Below this many multiply-adds in the whole signature the fixed cost of cutting and multiplying
# (~0.1 ms on the CPU) is more than what idle lanes cost: (1, 1000, 4, 4) float64, 0.45 M
# multiply-adds, took 0.12 ms whole and 0.16 ms in 4 pieces; (1, 500, 8, 4), 2.7 M, 0.58 -> 0.30.
MIN_WORK = 1_500_000


_sm_counts: dict[int, int] = {}


def parallel_width(path: Tensor) -> int:
    """Paths the hardware can advance at once for ``path``'s device and dtype.  Inside
    torch.compile, where device queries cannot be traced, a GPU seen only there counts as
    one slot (no cutting)."""
    if path.device.type == "cuda":
        if torch.compiler.is_compiling():
            return BLOCKS_PER_SM * _sm_counts.get(path.device.index or 0, 0) or 1
        index = path.device.index if path.device.index is not None else torch.cuda.current_device()
        if index not in _sm_counts:
            _sm_counts[index] = torch.cuda.get_device_properties(index).multi_processor_count
        return BLOCKS_PER_SM * _sm_counts[index]
    return DEFAULT_VECTOR_BYTES // path.element_size() * threads.get_num_threads()


_fmas: dict[tuple[int, int], int] = {}


def _step_fmas(d: int, depth: int) -> int:
    """horner_fmas, memoised: it is on every signature call's path."""
    key = (d, depth)
    if key not in _fmas:
        _fmas[key] = horner_fmas(d, depth)
    return _fmas[key]


def worth_cutting(batch: int, steps: int, d: int, depth: int) -> bool:
    """Whether the signature is enough work for cutting to pay off at all."""
    return _step_fmas(d, depth) * batch * steps >= MIN_WORK


def pieces_for(path: Tensor, depth: int) -> int:
    """piece_count for a (batch, length, d) path on its device; the device's parallel width is
    asked only when the work could be worth cutting (the common small call asks nothing)."""
    batch, length, d = path.shape
    if not worth_cutting(batch, length - 1, d, depth):
        return 1
    return piece_count(batch, length - 1, d, depth, parallel_width(path))


def piece_count(batch: int, steps: int, d: int, depth: int, width: int) -> int:
    """How many pieces to cut each of ``batch`` paths of ``steps`` steps into (1: don't cut) to
    fill ``width`` parallel slots, with pieces of at least MIN_PIECE_STEPS steps."""
    if batch >= width or not worth_cutting(batch, steps, d, depth):
        return 1
    return max(1, min(-(-width // batch), steps // MIN_PIECE_STEPS))


def chunked_signature(path: Tensor, initial: Optional[Tensor], depth: int, pieces: int) -> Tensor:
    """The raw signature (no scalar term) of ``path`` (batch, length, d), times ``initial`` on the
    left when given, computed from ``pieces`` pieces per path.  Returns (batch, sig)."""
    batch, length, d = path.shape
    steps = length - 1
    pieces = max(1, min(pieces, steps))
    per = -(-steps // pieces)
    pad = pieces * per - steps
    if pad:  # repeated end points are zero increments: exp(0) = 1 changes nothing
        path = torch.cat([path, path[:, -1:].expand(batch, pad, d)], dim=1)
    # piece j holds points j*per .. (j+1)*per: (batch, pieces, per + 1, d)
    chunks = path.unfold(1, per + 1, per).transpose(2, 3)
    sigs = ops.signature(chunks.reshape(batch * pieces, per + 1, d), None, depth, False)
    result = ops.ordered_product(sigs.view(batch, pieces, sigs.shape[-1]), d, depth)
    return result if initial is None else ops.left_multiply(initial, result, d, depth)
