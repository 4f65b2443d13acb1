"""``Path``: signatures and log-signatures of any sub-interval of a (growing) path, each query
one tensor product, whatever the interval's length (Signatory 1.2 semantics)."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import ops
from ..algebra import lyndon
from ..algebra.tensor import antipode
from . import transforms, validation
from .logsignature import signature_to_logsignature
from .signature import signature_channels


class _CallableInt(int):
    """An int that returns itself when called: Signatory's Path.channels is a method, sigcg's a
    property, and code written for either keeps working."""

    def __call__(self) -> int:
        return int(self)


class Path:
    """A batch of paths (batch, length, channels) whose interval signatures can be queried.

    Stores the signature of every prefix and its inverse (O(length * signature) memory), so that
    ``signature(start, end)`` = S(p[:start+1])^{-1} ⊗ S(p[:end]) is one tensor product.  Here
    ``p`` is every point given so far (the basepoint first, if any), and ``start``/``end`` follow
    Python slicing: the result equals ``sigcg.signature(p[:, start:end], depth)``.  Gradients flow
    back to every path given.

    ``time_aug``, ``lead_lag``, ``end_time``: the prefixes are of the transformed path (see
    :func:`sigcg.signature`) and an interval [start, end) of points selects the part of it
    between those points (with lead-lag, transformed points 2 start .. 2 end - 2).  The time
    channel advances end_time / (L' - 1) per transformed point, L' the transformed length of the
    path given first, and keeps that rate through ``update``: before any update,
    ``signature()`` equals ``sigcg.signature(p, depth, time_aug=True, ...)``.
    """

    def __init__(
        self,
        path: Tensor,
        depth: int,
        basepoint: Union[bool, Tensor] = False,
        remember_path: bool = True,
        scalar_term: bool = False,
        *,
        time_aug: bool = False,
        lead_lag: bool = False,
        end_time: float = 1.0,
    ):
        path, _ = validation.tensor("path", path)
        depth = validation.depth(depth)
        basepoint = validation.basepoint(basepoint)
        validation.check_path(path, basepoint)
        self._transform = transforms.options(time_aug, lead_lag, end_time)
        self._depth = depth
        self._scalar_term = validation.boolean("scalar_term", scalar_term)
        self._remember_path = validation.boolean("remember_path", remember_path)
        self._batch, _, self._channels = path.shape
        # chunks of (n, batch, sig), time first so that one prefix is a contiguous (batch, sig)
        # block the kernels read in place: S(p[:j+1]) for j = 1, 2, ..., and their inverses
        self._prefix: list[Tensor] = []
        self._inverse: list[Tensor] = []
        self._path: list[Tensor] = []
        if basepoint is True:
            basepoint = path.new_zeros(self._batch, self._channels)
        if isinstance(basepoint, Tensor):
            self._path.append(basepoint.unsqueeze(1))
            path = torch.cat([basepoint.unsqueeze(1), path], dim=1)
            self._path.append(path[:, 1:])
        else:
            self._path.append(path)
        self._length = path.shape[1]
        self._out_channels = self._transform.channels(self._channels)
        # the time channel keeps the scale of the path given first as it grows
        self._time_step = transforms.time_steps(self._transform, path, None)
        self._last_point = path[:, -1:]
        self._append_prefixes(path, None)
        if not remember_path:
            self._path = []

    # ---- queries ---------------------------------------------------------------------------
    def signature(self, start: Optional[int] = None, end: Optional[int] = None) -> Tensor:
        """Signature of ``p[:, start:end]``: (batch, signature_channels)."""
        start, end = self._interval(start, end)
        if self._transform.lead_lag:  # points [start, end) of p are these of the transformed p
            start, end = 2 * start, 2 * end - 1
        last = self._row(self._prefix, end - 2)  # S(p[:end])
        result = (
            last
            if start == 0
            else ops.tensor_product(
                self._row(self._inverse, start - 1), last, self._out_channels, self._depth
            )
        )
        if self._scalar_term:
            result = torch.cat([result.new_ones(self._batch, 1), result], dim=1)
        return result

    def logsignature(
        self, start: Optional[int] = None, end: Optional[int] = None, mode: str = "words"
    ) -> Tensor:
        """Log-signature of ``p[:, start:end]`` (``mode`` as :func:`sigcg.logsignature`)."""
        return signature_to_logsignature(
            self.signature(start, end),
            self._out_channels,
            self._depth,
            mode=mode,
            scalar_term=self._scalar_term,
        )

    def update(self, path: Tensor) -> None:
        """Append ``path`` (batch, length, channels): its first point follows the last one given."""
        path, _ = validation.float_tensor("path", path)
        if path.ndim != 3:
            raise ValueError(
                f"path must have shape (batch, length, channels), got {tuple(path.shape)}"
            )
        if path.shape[0] != self._batch or path.shape[2] != self._channels:
            raise ValueError(
                f"path must have shape (batch, length, channels) = ({self._batch}, ·, "
                f"{self._channels}) to extend this Path, got {tuple(path.shape)}"
            )
        if path.shape[1] < 1:
            raise ValueError(f"path must hold at least one point, got {tuple(path.shape)}")
        validation.check_same("path", path, self._last_point)
        joined = torch.cat([self._last_point, path], dim=1)
        self._append_prefixes(joined, self._row(self._prefix, -1))
        self._length += path.shape[1]
        self._last_point = path[:, -1:]
        if self._remember_path:
            self._path.append(path)

    # ---- shapes ----------------------------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size([self._batch, self._length, self._channels])

    def size(self, index: Optional[int] = None):
        return self.shape if index is None else self.shape[index]

    def _signature_length(self) -> int:
        """Rows of the stored prefix signatures: one per (transformed) step."""
        return sum(chunk.shape[0] for chunk in self._prefix)

    @property
    def signature_shape(self) -> torch.Size:
        """(batch, signature length, signature channels), Signatory's meaning: the shape of the
        stream of prefix signatures, one per step of the path given so far."""
        return torch.Size(
            [
                self._batch,
                self._signature_length(),
                signature_channels(self._out_channels, self._depth, self._scalar_term),
            ]
        )

    def signature_size(self, index: Optional[int] = None):
        """As ``torch.Tensor.size`` of :attr:`signature_shape` (negative indices count from the
        end: -1 is the signature channels)."""
        return self.signature_shape if index is None else self.signature_shape[index]

    def signature_channels(self) -> int:
        return signature_channels(self._out_channels, self._depth, self._scalar_term)

    @property
    def logsignature_shape(self) -> torch.Size:
        """(batch, signature length, log-signature channels), as :attr:`signature_shape`."""
        return torch.Size([self._batch, self._signature_length(), self.logsignature_channels()])

    def logsignature_size(self, index: Optional[int] = None):
        return self.logsignature_shape if index is None else self.logsignature_shape[index]

    def logsignature_channels(self) -> int:
        return lyndon.logsignature_channels(self._out_channels, self._depth)

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def channels(self) -> int:
        """The input's channels: ``path.channels`` (sigcg) and ``path.channels()`` (Signatory's
        method) both read it."""
        return _CallableInt(self._channels)

    @property
    def remember_path(self) -> bool:
        return self._remember_path

    @property
    def path(self) -> list[Tensor]:
        """The tensors given so far (basepoint first, as a (batch, 1, channels) tensor)."""
        if not self._remember_path:
            raise RuntimeError("this Path was created with remember_path=False")
        return self._path

    # ---- batch selection (Signatory's indexing and shuffling) -------------------------------
    def __copy__(self) -> Path:
        new = Path.__new__(Path)
        new.__dict__.update(self.__dict__)
        for name in ("_prefix", "_inverse", "_path"):
            setattr(new, name, list(getattr(self, name)))
        return new

    def __getitem__(self, item) -> Path:
        """The Path of some of the batch: an int (kept as a batch of one), a slice, a 1-D tensor
        or NumPy array of indices, or a list of ints."""
        new = self.__copy__()
        new._select(item)
        return new

    def shuffle(self) -> tuple[Path, Tensor]:
        """(a new Path of the batch in a random order, the permutation)."""
        new = self.__copy__()
        return new.shuffle_()

    def shuffle_(self) -> tuple[Path, Tensor]:
        """Permute the batch in place at random; returns (self, the permutation)."""
        perm = torch.randperm(self._batch, device=self._last_point.device)
        self._select(perm)
        return self, perm

    def _select(self, item) -> None:
        if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            item = slice(int(item), int(item) + 1 if int(item) != -1 else None)
        elif isinstance(item, list) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in item
        ):
            item = torch.tensor(item, dtype=torch.long)
        elif isinstance(item, list) and item and all(isinstance(v, bool) for v in item):
            item = torch.tensor(item, dtype=torch.bool)  # a mask, as Signatory takes it
        elif isinstance(item, np.ndarray) and item.ndim == 1:
            item = torch.from_numpy(item)
        elif not (isinstance(item, slice) or (isinstance(item, Tensor) and item.ndim == 1)):
            raise IndexError(
                "a Path is indexed along its batch by an int, a slice, a 1-D tensor or NumPy "
                f"array, or a list of ints; got {type(item).__name__}"
            )
        batch = self._last_point[item].shape[0]
        if batch == 0:
            raise IndexError("this index selects no batch element; a Path needs at least one")
        # everything indexed before anything is assigned: an error leaves self as it was
        prefix = [chunk[:, item] for chunk in self._prefix]
        inverse = [chunk[:, item] for chunk in self._inverse]
        paths = [piece[item] for piece in self._path]
        self._prefix, self._inverse, self._path = prefix, inverse, paths
        self._last_point = self._last_point[item]
        if self._time_step is not None:
            self._time_step = self._time_step[item]
        self._batch = batch

    # ---- internals ---------------------------------------------------------------------------
    def _append_prefixes(self, path: Tensor, initial: Optional[Tensor]) -> None:
        if path.shape[1] < 2:
            return
        stream = transforms.raw_signature(
            path, initial, self._depth, True, self._transform, time_step=self._time_step
        ).transpose(0, 1)
        self._prefix.append(stream.contiguous())
        self._inverse.append(antipode(stream, self._out_channels, self._depth).contiguous())

    def _row(self, chunks: list[Tensor], index: int) -> Tensor:
        """Row ``index`` of the concatenated chunks (negative counts from the end)."""
        if index < 0:
            index += sum(c.shape[0] for c in chunks)
        for chunk in chunks:
            if index < chunk.shape[0]:
                return chunk[index]
            index -= chunk.shape[0]
        raise IndexError(index)

    def _interval(self, start: Optional[int], end: Optional[int]) -> tuple[int, int]:
        original = (start, end)
        start, end = _index_value(start), _index_value(end)
        start = None if start is None else validation.integer("start", start)
        end = None if end is None else validation.integer("end", end)
        start, end, _ = slice(start, end).indices(self._length)
        if end - start < 2:
            raise ValueError(
                f"the interval {original} of a path of length {self._length} holds "
                f"{max(end - start, 0)} point(s); a signature needs at least 2"
            )
        return start, end


def _index_value(value: Any) -> Any:
    """A 0-dim integer tensor as the int it holds (Signatory takes them as start/end); anything
    else as given, for validation.integer to judge."""
    if (
        isinstance(value, Tensor)
        and value.ndim == 0
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
    ):
        return int(value)
    return value
